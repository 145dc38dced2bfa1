"""Build the one-folder desktop app: ``python packaging/build.py [--self-test] [--no-strip]``.

Runs PyInstaller with packaging/model_workbench.spec into dist/ModelWorkbench/, strips torch's, pyarrow's and
Python's shared libraries (never numpy's OpenBLAS: stripping it breaks numpy), reports the size, and with
--self-test runs the frozen app's offscreen self-test, a headless example run and a Parquet pipeline. It uses whatever torch is installed in this
environment: install a CPU build for a small CPU bundle, a CUDA build for a CUDA bundle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist" / "ModelWorkbench"
EXE = DIST / ("model-workbench.exe" if os.name == "nt" else "model-workbench")


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


# Libraries whose symbol tables are safe to strip (checked by the frozen self-test). Not numpy's or scipy's
# bundled OpenBLAS: stripping that broke ``import numpy`` (engineering notes).
STRIP_GLOBS = ("torch/lib/*.so*", "pyarrow/libarrow*.so*", "pyarrow/libparquet*.so*", "libpython3*.so*")


def strip_libraries(dist: Path) -> int:
    """Strip unneeded symbols from the libraries in STRIP_GLOBS; returns bytes saved."""
    strip = shutil.which("strip")
    if strip is None or os.name == "nt":
        return 0
    before = folder_size(dist)
    internal = dist / "_internal"
    for pattern in STRIP_GLOBS:
        for lib in sorted(internal.glob(pattern)):
            if lib.is_file() and not lib.is_symlink():
                subprocess.run([strip, "--strip-unneeded", str(lib)], check=False, capture_output=True)
    return before - folder_size(dist)


def build(strip: bool = True) -> float:
    started = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(ROOT / "dist"),
        "--workpath",
        str(ROOT / "build" / "pyinstaller"),
        str(ROOT / "packaging" / "model_workbench.spec"),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    if strip:
        saved = strip_libraries(DIST)
        print(f"build: stripped torch, pyarrow and Python libraries, saved {saved / 1e6:.0f} MB")
    return time.perf_counter() - started


def self_test() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    print("build: running the frozen self-test", flush=True)
    done = subprocess.run([str(EXE), "--self-test", "--sweep", "3"], env=env, timeout=900)
    if done.returncode != 0:
        print(f"build: frozen self-test failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    example = DIST / "_internal" / "resources" / "examples" / "quickstart.pipeline.json"
    print(f"build: running the frozen CLI on {example.name}", flush=True)
    done = subprocess.run([str(EXE), "run", str(example), "--quiet"], env=env, timeout=900)
    if done.returncode != 0:
        print(f"build: frozen 'run' failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    return parquet_check(env)


def parquet_check(env: dict[str, str]) -> int:
    """Parquet reading is a feature: run a small pipeline over a Parquet file with the frozen CLI."""
    import json

    import pandas as pd

    folder = ROOT / "build" / "frozen-check"
    folder.mkdir(parents=True, exist_ok=True)
    pd.read_csv(ROOT / "resources" / "datasets" / "digits.csv").to_parquet(folder / "digits.parquet")
    pipeline = {
        "format_version": 1,
        "nodes": [
            {"id": "file", "type": "data.file", "params": {"path": "digits.parquet"}, "position": [0, 0]},
            {"id": "split", "type": "data.split", "params": {"target": "digit"}, "position": [250, 0]},
            {"id": "train", "type": "train.supervised", "params": {"epochs": 2}, "position": [500, 0]},
        ],
        "links": [
            {"from": ["file", "table"], "to": ["split", "table"]},
            {"from": ["split", "dataset"], "to": ["train", "dataset"]},
        ],
    }
    path = folder / "parquet.pipeline.json"
    path.write_text(json.dumps(pipeline), encoding="utf-8")
    print("build: running the frozen CLI on a Parquet pipeline", flush=True)
    done = subprocess.run([str(EXE), "run", str(path), "--quiet"], env=env, timeout=900)
    if done.returncode != 0:
        print(f"build: frozen Parquet pipeline failed (exit {done.returncode})", file=sys.stderr)
    return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--self-test", action="store_true", help="run the frozen app's self-test after building"
    )
    parser.add_argument("--no-strip", action="store_true", help="keep debug symbols in torch's libraries")
    parser.add_argument("--skip-build", action="store_true", help="only run the checks on an existing build")
    args = parser.parse_args(argv)
    if not args.skip_build:
        seconds = build(strip=not args.no_strip)
        print(f"build: {DIST} in {seconds:.0f} s, {folder_size(DIST) / 1e6:.0f} MB")
    if not EXE.exists():
        print(f"build: {EXE} is missing", file=sys.stderr)
        return 1
    return self_test() if args.self_test else 0


if __name__ == "__main__":
    sys.exit(main())

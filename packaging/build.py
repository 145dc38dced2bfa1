"""Build the one-folder desktop app: ``python packaging/build.py [--self-test] [--no-strip]``.

Runs PyInstaller with packaging/model_workbench.spec into dist/ModelWorkbench/, strips only torch's shared
libraries (stripping numpy's OpenBLAS breaks it), reports the size, and with --self-test runs the frozen
app's offscreen self-test and a headless example run. It uses whatever torch is installed in this
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


def strip_torch_libraries(dist: Path) -> int:
    """Strip debug symbols from torch's own .so files only; returns bytes saved."""
    strip = shutil.which("strip")
    if strip is None or os.name == "nt":
        return 0
    before = folder_size(dist)
    torch_lib = dist / "_internal" / "torch" / "lib"
    for lib in sorted(torch_lib.glob("*.so*")) if torch_lib.exists() else []:
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
        saved = strip_torch_libraries(DIST)
        print(f"build: stripped torch libraries, saved {saved / 1e6:.0f} MB")
    return time.perf_counter() - started


def self_test() -> int:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("PYTHONPATH", None)
    print("build: running the frozen self-test", flush=True)
    done = subprocess.run([str(EXE), "--self-test"], env=env, timeout=900)
    if done.returncode != 0:
        print(f"build: frozen self-test failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    example = DIST / "_internal" / "resources" / "examples" / "quickstart.pipeline.json"
    print(f"build: running the frozen CLI on {example.name}", flush=True)
    done = subprocess.run([str(EXE), "run", str(example), "--quiet"], env=env, timeout=900)
    if done.returncode != 0:
        print(f"build: frozen 'run' failed (exit {done.returncode})", file=sys.stderr)
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

"""Streaming benchmark: a table larger than we want in memory, streamed against loaded whole.

Generates 4,000,000 rows × 22 columns of Parquet (20 float features, one text category with 6 values, a
yes/no target; one file of 32 row groups), then runs the same pipeline twice through the CLI, each in its own
process: ``data.file`` (stream off / on) → ``data.split`` (5 % validation, 5 % test) → ``train.supervised``
(auto batch size, 2 epochs, one thread; the automatic one-hot/impute/scale chain). Reported per run: the
process's peak resident memory (``ru_maxrss`` of a wrapper's child), the median epoch time (the run folder's
per-epoch ``seconds``), and the whole command's time. Targets (issue 18): streamed peak ≤ 1/3 of loading
whole, streamed epoch ≤ 2.5× the in-memory epoch.

Run:  .venv/bin/python benchmarks/bench_stream.py [--rows 4000000] [--keep DIR] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

FLOATS, PARTS, GROUPS = 20, 8, 4
WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def make_data(path: Path, rows: int) -> None:
    """One Parquet file written part by part (never whole in memory), ``PARTS x GROUPS`` row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w = rng.normal(size=FLOATS)
    per = rows // PARTS
    writer = None
    try:
        for part in range(PARTS):
            n = per if part < PARTS - 1 else rows - per * (PARTS - 1)
            x = rng.normal(size=(n, FLOATS))
            frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(FLOATS)])
            frame["kind"] = rng.choice(["a", "b", "c", "d", "e", "f"], n)
            score = x @ w + (frame["kind"].to_numpy() == "a") * 1.5 + rng.normal(scale=1.0, size=n)
            frame["target"] = np.where(score > 0, "yes", "no")
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=-(-n // GROUPS))
    finally:
        if writer is not None:
            writer.close()


def make_pipeline(folder: Path, stream: bool, epochs: int) -> Path:
    source = {"path": "data.parquet", "stream": stream, "sample_rows": 100_000, "holdout_rows": 100_000}
    nodes = [
        {"id": "file", "type": "data.file", "params": source},
        {
            "id": "split",
            "type": "data.split",
            "params": {"target": "target", "val_fraction": 0.05, "test_fraction": 0.05},
        },
        {
            "id": "train",
            "type": "train.supervised",
            "params": {"epochs": epochs, "seed": 0, "threads": 1, "device": "cpu"},
        },
    ]
    for i, node in enumerate(nodes):
        node["position"] = [i * 200.0, 0.0]
    links = [
        {"from": ["file", "table"], "to": ["split", "table"]},
        {"from": ["split", "dataset"], "to": ["train", "dataset"]},
    ]
    path = folder / f"{'streamed' if stream else 'whole'}.pipeline.json"
    path.write_text(
        json.dumps({"format_version": 1, "app": "bench", "meta": {}, "nodes": nodes, "links": links})
    )
    return path


def measure(pipeline: Path, data_dir: Path) -> dict:
    report = pipeline.with_suffix(".report.json")
    cmd = [sys.executable, "-m", "workbench", "run", str(pipeline), "--quiet", "--report", str(report)]
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *cmd], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
    peak_mb = int(done.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    written = json.loads(report.read_text())
    curves = json.loads((Path(written["run_dir"]) / "curves.json").read_text())["train"]
    epochs = [record["seconds"] for record in curves]
    metrics = written["metrics"]["train"]
    return {
        "peak_mb": peak_mb,
        "epoch_s": statistics.median(epochs),
        "epochs": epochs,
        "wall_s": wall,
        "val_loss": metrics["final_val_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", help="generate (once) and keep the Parquet data in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        data = folder / "data.parquet"
        if not data.is_file():
            t0 = time.perf_counter()
            make_data(data, args.rows)
            size = data.stat().st_size / 2**20
            print(
                f"generated {args.rows:,} rows x {FLOATS + 2} columns: {size:,.0f} MB of Parquet in {time.perf_counter() - t0:.0f} s"
            )
        results = {}
        for stream in (False, True):
            name = "streamed" if stream else "whole"
            results[name] = measure(make_pipeline(folder, stream, args.epochs), folder / "userdata")
            r = results[name]
            print(
                f"  {name:9} peak {r['peak_mb']:7,.0f} MB   epoch {r['epoch_s']:6.2f} s {[round(e, 2) for e in r['epochs']]}"
                f"   whole command {r['wall_s']:6.1f} s   final val_loss {r['val_loss']:.4f}"
            )
        whole, streamed = results["whole"], results["streamed"]
        print(
            f"  streamed / whole: peak memory {streamed['peak_mb'] / whole['peak_mb']:.2f} (target <= 0.33), "
            f"epoch time {streamed['epoch_s'] / whole['epoch_s']:.2f}x (target <= 2.5x)"
        )


if __name__ == "__main__":
    main()

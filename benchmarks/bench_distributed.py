"""Distributed training benchmark: 1 process against N gloo processes, and the DDP wrapper's own cost.

Data as in bench_train.py: 200,000 × 64 float features, 10 classes, MLP 64→128→10, Adam, 2 epochs, here
through the whole CLI (``workbench run``: file → split → train) so the processes, the broadcast of the
prepared tensors and the per-epoch agreement are all in the figures.

  scaling   (a) one process with every core, (b) one process with one thread, (c) ``--nproc N`` (gloo, one
            thread each). Throughput = training samples per second over all processes (the report's
            ``samples_per_second``); efficiency = (c) / (N × (b)); speed-up = (c) / (a).
  wrapper   one process, in-process: the engine plain against the same fit through DDP with a process group
            of one (``--device cuda`` on a GPU machine: the issue's "1 GPU with and without DDP"), repeats
            interleaved, medians.

Run:  .venv/bin/python benchmarks/bench_distributed.py [--nproc 2] [--batch 512] [--rows 200000]
      .venv/bin/python benchmarks/bench_distributed.py --only wrapper --device cuda --repeats 5
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

FEATURES, CLASSES, EPOCHS = 64, 10, 2


def make_data(folder: Path, rows: int) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, FEATURES)).astype(np.float32)
    w = rng.normal(size=(FEATURES, CLASSES))
    y = (x @ w + rng.normal(scale=2.0, size=(rows, CLASSES))).argmax(axis=1)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)])
    frame["label"] = [f"c{v}" for v in y]
    path = folder / "train.parquet"
    frame.to_parquet(path, index=False)
    return path


def make_pipeline(folder: Path, batch: int, threads: int) -> Path:
    nodes = [
        {"id": "file", "type": "data.file", "params": {"path": "train.parquet"}},
        {
            "id": "split",
            "type": "data.split",
            "params": {"target": "label", "val_fraction": 0.1, "test_fraction": 0.0},
        },
        {"id": "mlp", "type": "model.mlp", "params": {"layers": [{"units": 128, "activation": "relu"}]}},
        {
            "id": "train",
            "type": "train.supervised",
            "params": {"epochs": EPOCHS, "batch_size": batch, "seed": 0, "threads": threads, "device": "cpu"},
        },
    ]
    for i, node in enumerate(nodes):
        node["position"] = [i * 200.0, 0.0]
    links = [
        {"from": ["file", "table"], "to": ["split", "table"]},
        {"from": ["split", "dataset"], "to": ["train", "dataset"]},
        {"from": ["mlp", "model"], "to": ["train", "model"]},
    ]
    path = folder / f"p{batch}-{threads}.pipeline.json"
    path.write_text(
        json.dumps({"format_version": 1, "app": "bench", "meta": {}, "nodes": nodes, "links": links})
    )
    return path


def run_cli(pipeline: Path, nproc: int, data_dir: Path) -> dict:
    report = pipeline.with_suffix(f".{nproc}.report.json")
    cmd = [
        sys.executable,
        "-m",
        "workbench",
        "run",
        str(pipeline),
        "--device",
        "cpu",
        "--quiet",
        "--report",
        str(report),
    ]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
    metrics = json.loads(report.read_text())["metrics"]["train"]
    return {"rate": metrics["samples_per_second"], "train_s": metrics["train_seconds"], "wall_s": wall}


def scaling(args: argparse.Namespace, folder: Path) -> None:
    cores = os.cpu_count() or 1
    print(
        f"scaling: {args.rows:,} rows x {FEATURES}, batch {args.batch} (global), {EPOCHS} epochs, {cores} cores"
    )
    runs = {
        f"(a) 1 process, {cores} threads": (make_pipeline(folder, args.batch, cores), 1),
        "(b) 1 process, 1 thread": (make_pipeline(folder, args.batch, 1), 1),
        f"(c) {args.nproc} processes (gloo), threads shared": (
            make_pipeline(folder, args.batch, 0),
            args.nproc,
        ),
    }
    results = {}
    for name, (pipeline, nproc) in runs.items():
        results[name] = run_cli(pipeline, nproc, folder / "data")
        r = results[name]
        print(
            f"  {name:42} {r['rate']:>10,.0f} samples/s  train {r['train_s']:6.2f} s  whole command {r['wall_s']:6.1f} s"
        )
    a, b, c = (results[k]["rate"] for k in runs)
    print(
        f"  efficiency (c) / ({args.nproc} x (b)) = {c / (args.nproc * b):.2f}; speed-up (c) / (a) = {c / a:.2f}"
    )


def wrapper(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist

    from workbench.distributed.world import World
    from workbench.engine import device as dev
    from workbench.engine.models import ModelSpec, build_model
    from workbench.engine.trainer import TrainConfig, TrainData, fit

    device = dev.resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(args.rows, FEATURES, generator=g)
    y = torch.randint(0, CLASSES, (args.rows,), generator=g)
    data = TrainData(x, y, None, None, "multiclass", CLASSES)
    backend = "nccl" if device.type == "cuda" else "gloo"
    store = dist.HashStore()
    dist.init_process_group(backend, store=dist.PrefixStore("pg", store), rank=0, world_size=1)
    world = World(0, 1, 0, 1, backend, device, dist.PrefixStore("w", store))
    spec = ModelSpec("mlp", {"layers": [{"units": 128, "activation": "relu"}]})
    times: dict[str, list[float]] = {"plain": [], "DDP (1 process)": []}
    for _ in range(args.repeats):
        for name in times:
            dev.seed_everything(0)
            module, arch = build_model(spec, (FEATURES,), CLASSES, "multiclass")
            config = TrainConfig(
                epochs=EPOCHS, batch_size=args.batch, device=str(device), threads=args.threads
            )
            result = fit(module, data, config, architecture=arch, world=world if name != "plain" else None)
            times[name].append(result.metrics["train_seconds"])
            world.forget_model()
    plain = statistics.median(times["plain"])
    print(f"wrapper: {args.rows:,} rows, batch {args.batch}, {EPOCHS} epochs on {dev.device_name(device)}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:18} median {med:6.2f} s  ({(med / plain - 1) * 100:+.1f} % vs plain)  {values}")
    world.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="wrapper: torch threads")
    parser.add_argument("--device", default="cpu", help="wrapper: cpu or cuda")
    parser.add_argument("--only", choices=("scaling", "wrapper"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dist-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "scaling"):
            make_data(folder, args.rows)
            scaling(args, folder)
        if args.only in (None, "wrapper"):
            wrapper(args)


if __name__ == "__main__":
    main()

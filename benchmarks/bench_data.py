"""Benchmark: a 1,000,000-row x 20-column mixed CSV -> training tensors, against a plain pandas baseline.

Columns: 16 numeric features (three with ~5 % missing), three text categoricals (5, 12 and 20 values) and a
binary target. Our path: workbench.tabular read_table -> split_table (70/15/15, stratified) ->
prepare_for_training (impute, one-hot, standardise) -> to_tensors. Baseline: pandas read_csv -> get_dummies ->
fillna(mean) -> standardise -> torch.tensor(float32). Both run in this process; time is measured first without
tracing (best of --repeat runs), then peak Python-heap memory (tracemalloc: numpy and pandas buffers) in a second pass.

    .venv/bin/python benchmarks/bench_data.py [--rows 1000000]
    .venv/bin/python benchmarks/bench_data.py --wide   # 2,000 rows x 10,000 numeric columns instead
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for index in range(16):
        column = rng.normal(index, 1 + index % 3, rows).round(4)
        if index in (2, 7, 11):
            column[rng.random(rows) < 0.05] = np.nan
        data[f"num_{index}"] = column
    for name, size in (("cat_a", 5), ("cat_b", 12), ("cat_c", 20)):
        labels = np.array([f"{name}_{i}" for i in range(size)])
        data[name] = labels[rng.integers(0, size, rows)]
    data["target"] = (data["num_0"] + rng.normal(0, 1, rows) > 0.5).astype(np.int64)
    pd.DataFrame(data).to_csv(path, index=False)


def make_wide_csv(path: Path, rows: int = 2000, columns: int = 10_000, seed: int = 0) -> None:
    """A wide numeric table (2 % missing) and a binary target: the shape that made per-column prep slow."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 1, (rows, columns)).round(3)
    data[rng.random(data.shape) < 0.02] = np.nan
    frame = pd.DataFrame(data, columns=[f"c{i}" for i in range(columns)])
    frame["target"] = rng.integers(0, 2, rows)
    frame.to_csv(path, index=False)


def baseline_wide(path: Path):
    frame = pd.read_csv(path)
    read_done = time.perf_counter()
    y = frame.pop("target")
    frame = frame.fillna(frame.median())
    frame = (frame - frame.mean()) / frame.std()
    x = torch.tensor(frame.values, dtype=torch.float32)
    torch.tensor(y.values, dtype=torch.int64)
    return x, read_done, x.numel() * x.element_size()


def ours(path: Path):
    from workbench.tabular.auto import prepare_for_training
    from workbench.tabular.io import read_table
    from workbench.tabular.split import split_table
    from workbench.tabular.tensors import to_tensors

    frame = read_table(path)
    read_done = time.perf_counter()
    dataset = split_table(frame, "target", seed=0)
    del frame
    dataset = prepare_for_training(dataset, lambda _m: None)
    splits = to_tensors(dataset)
    return (
        splits,
        read_done,
        sum(t.numel() * t.element_size() for t in (splits.x_train, splits.x_val, splits.x_test)),
    )


def baseline(path: Path):
    frame = pd.read_csv(path)
    read_done = time.perf_counter()
    y = frame.pop("target")
    frame = pd.get_dummies(frame, columns=["cat_a", "cat_b", "cat_c"], dtype=float)
    frame = frame.fillna(frame.mean())
    frame = (frame - frame.mean()) / frame.std()
    x = torch.tensor(frame.values, dtype=torch.float32)
    torch.tensor(y.values, dtype=torch.int64)
    return x, read_done, x.numel() * x.element_size()


def measure(func, path: Path, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` untraced runs (the machine is shared and noisy), then one traced run for memory."""
    runs = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result, read_done, final_bytes = func(path)
        end = time.perf_counter()
        del result
        runs.append((end - start, read_done - start, end - read_done))
    gc.collect()
    tracemalloc.start()
    result, _read, _ = func(path)
    _current, peak_total = tracemalloc.get_traced_memory()
    del result
    tracemalloc.stop()
    gc.collect()
    best = min(runs)
    return {
        "total_s": best[0],
        "read_s": best[1],
        "convert_s": best[2],
        "median_s": sorted(r[0] for r in runs)[len(runs) // 2],
        "peak_bytes": peak_total,
        "final_bytes": final_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per path; the best is reported")
    parser.add_argument("--wide", action="store_true", help="2,000 rows x 10,000 numeric columns instead")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as folder:  # noqa: SIM117
        path = Path(folder) / "mixed.csv"
        began = time.perf_counter()
        if args.wide:
            make_wide_csv(path)
        else:
            make_csv(path, args.rows)
        shape = "2,000 x 10,001" if args.wide else f"{args.rows:,} x 20"
        print(
            f"generated {shape} CSV ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - began:.1f} s"
        )
        results = {
            "baseline (get_dummies + standardise)": measure(
                baseline_wide if args.wide else baseline, path, args.repeat
            ),
            "workbench.tabular": measure(ours, path, args.repeat),
        }
    for name, r in results.items():
        print(
            f"{name:38s} best {r['total_s']:.2f} s (read {r['read_s']:.2f} s, convert {r['convert_s']:.2f} s; "
            f"median {r['median_s']:.2f} s)  "
            f"peak {r['peak_bytes'] / 1e6:.0f} MB = {r['peak_bytes'] / r['final_bytes']:.1f}x the final tensor "
            f"({r['final_bytes'] / 1e6:.0f} MB)"
        )
    base, mine = results["baseline (get_dummies + standardise)"], results["workbench.tabular"]
    print(f"time ratio ours/baseline: {mine['total_s'] / base['total_s']:.2f}")
    print(f"peak memory ratio ours/baseline: {mine['peak_bytes'] / base['peak_bytes']:.2f}")
    if args.wide:
        print(
            f"convert ratio ours/baseline (split + prep + tensors): {mine['convert_s'] / base['convert_s']:.2f}"
        )
    else:
        print("goal: total <= 2.0 s, peak <= 3x final tensor")


if __name__ == "__main__":
    main()

"""Sweep benchmark: the same 30-trial search with median pruning and without, same seed and budget.

On the bundled quick start (8x8 digits, MLP): search ``train.lr`` (1e-4..1e-1, log), the hidden units
(32/64/128) and the batch size (32/64/128) for the best ``val_accuracy``, 20 epochs per trial, one torch
thread. Reports:

- total epochs trained with pruning vs without (target: pruning cuts >= 40 %),
- the best validation accuracy of each (target: pruned within noise of unpruned),
- the sweep machinery's own time per trial (ask, set parameters, report/should_prune every epoch, tell,
  trial bookkeeping) as a share of that trial's training time (target <= 5 %),
- the time to record each run in the run history (target <= 20 ms).

Run:  .venv/bin/python benchmarks/bench_sweep.py [--trials 30] [--epochs 20] [--seed 0]
It uses a temporary data folder, so the user's run history is not touched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_sweep(prune: bool, trials: int, epochs: int, seed: int) -> dict[str, object]:
    from workbench.execution.executor import Executor, OutputCache
    from workbench.experiments.space import parse_param
    from workbench.experiments.sweep import Sweep
    from workbench.graph import Pipeline
    from workbench.paths import resource

    pipeline = Pipeline.load(resource("examples", "quickstart.pipeline.json"))
    pipeline.set_param("train", "epochs", epochs)
    pipeline.set_param("train", "threads", 1)
    space = [
        parse_param(text, pipeline)
        for text in ("train.lr=1e-4:1e-1:log", "mlp.units=32,64,128", "train.batch_size=32,64,128")
    ]
    sweep = Sweep.create(pipeline, space, metric="val_accuracy", trials=trials, seed=seed, prune=prune)
    recorded: list[float] = []
    executor = Executor(cache=OutputCache(16))
    original = executor.run

    def run(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        if result.recorded_s is not None:
            recorded.append(result.recorded_s)
        return result

    executor.run = run  # type: ignore[method-assign]
    began = time.perf_counter()
    result = sweep.run(executor=executor)
    wall = time.perf_counter() - began
    infos = sweep.trials()
    ratios = [o / t for o, t in zip(result.overhead_s, result.train_s, strict=True) if t > 0]
    return {
        "prune": prune,
        "trials": len(infos),
        "pruned": sum(t.state == "pruned" for t in infos),
        "epochs": sum(t.epochs for t in infos),
        "best": result.best.value if result.best else None,
        "best_params": result.best.params if result.best else None,
        "wall_s": wall,
        "overhead_ms_median": 1000 * statistics.median(result.overhead_s),
        "train_s_median": statistics.median(result.train_s),
        "overhead_share_median": statistics.median(ratios),
        "overhead_share_total": sum(result.overhead_s) / sum(result.train_s),
        "overhead_share_max": max(ratios),
        "record_ms_median": 1000 * statistics.median(recorded),
        "record_ms_max": 1000 * max(recorded),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["WORKBENCH_DATA_DIR"] = tempfile.mkdtemp(prefix="bench-sweep-")
    import torch

    torch.set_num_threads(1)
    rows = [one_sweep(prune, args.trials, args.epochs, args.seed) for prune in (False, True)]
    plain, pruned = rows
    for row in rows:
        print(
            f"{'pruned  ' if row['prune'] else 'unpruned'}: {row['trials']} trials, {row['pruned']} pruned, "
            f"{row['epochs']} epochs, best val_accuracy {row['best']:.4f}, {row['wall_s']:.0f} s; "
            f"machinery {row['overhead_ms_median']:.1f} ms/trial (median) = {100 * row['overhead_share_median']:.2f} % "
            f"of the trial's training (max {100 * row['overhead_share_max']:.2f} %, whole sweep "
            f"{100 * row['overhead_share_total']:.2f} %); record {row['record_ms_median']:.1f} ms "
            f"(max {row['record_ms_max']:.1f})"
        )
    cut = 1 - pruned["epochs"] / plain["epochs"]
    print(f"epochs cut by pruning: {100 * cut:.1f} % (target >= 40 %)")
    print(f"best val_accuracy: pruned {pruned['best']:.4f} vs unpruned {plain['best']:.4f} "
          f"(difference {pruned['best'] - plain['best']:+.4f})")  # fmt: skip
    print(f"best params: pruned {pruned['best_params']}; unpruned {plain['best_params']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

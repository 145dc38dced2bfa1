"""Benchmark: where an export's seconds go, for each bundled example's model: cold (the first export in a
fresh process, as a headless run has it) and app-warmed (the desktop app exports one tiny model in its
start-up warm-up thread, ``bundle.warm_exporter``, while the user builds the pipeline).

Stages, timed inside one export (``--stages``): torch.export, the ONNX program (registry build, decomposition,
optimisation), the network parity (.pt2 reload + onnxruntime), the raw-row parity (the bundle's predict.py on
held-out rows), and everything else (files, checksums, evaluation for the manifest's metrics).
Runs alternate fresh processes (cold/warmed) so a noisy machine hurts both sides alike; medians are printed.

    .venv/bin/python benchmarks/bench_export.py [--examples quickstart,student_grades] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
if sys.argv[1] == "warmed":
    from workbench.export.bundle import warm_exporter
    warm_exporter()  # what the app's warm-up thread does before the user presses Run
from workbench import run
from workbench.graph import Pipeline
p = Pipeline.load(sys.argv[2])
result = run(p)
report = result.report()
export = [n for n in p.nodes if n.type == "deploy.export"][0].id
train = [n for n in p.nodes if n.type == "train.supervised"][0].id
print(json.dumps({"status": result.status, "export": report["nodes"][export]["seconds"],
                  "train": report["nodes"][train]["seconds"], "total": report["seconds"]}))
"""


def _child(mode: str, pipeline: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(pipeline)], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"{pipeline.name} ({mode}) failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stages(example: str) -> dict[str, float]:
    """Seconds per stage of a warm export of ``example``'s trained model (this process)."""
    import tempfile

    import torch

    from workbench import run
    from workbench.export import bundle, parity, raw_parity
    from workbench.export.service import export_model
    from workbench.graph import Pipeline

    torch.set_num_threads(1)
    pipeline = Pipeline.load(ROOT / "resources" / "examples" / f"{example}.pipeline.json")
    train = [n for n in pipeline.nodes if n.type == "train.supervised"][0].id
    export = [n for n in pipeline.nodes if n.type == "deploy.export"][0].id
    link = pipeline.input_links(export)["dataset"]
    result = run(pipeline, [train, link.source])
    model, dataset = result.output(train, "model"), result.output(link.source, link.source_port)
    spent: dict[str, float] = {}

    def timed(name: str, fn):  # noqa: ANN001, ANN202
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    bundle._export_programs = timed("torch.export + ONNX", bundle._export_programs)
    bundle.check_parity = timed("network parity", parity.check_parity)
    raw_parity.check_raw_parity = timed("raw-row parity", raw_parity.check_raw_parity)
    with tempfile.TemporaryDirectory() as folder:
        export_model(model, dataset, Path(folder) / "cold", False, lambda _m: None)
        spent.clear()
        start = time.perf_counter()
        export_model(model, dataset, Path(folder) / "warm", False, lambda _m: None)
        spent["total (warm)"] = time.perf_counter() - start
    spent["other"] = spent["total (warm)"] - sum(v for k, v in spent.items() if k != "total (warm)")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default="quickstart,student_grades,credit_risk,disease,price_trend")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="also time each stage of a warm export")
    args = parser.parse_args()
    print(f"{'example':16} {'export cold':>11} {'export warmed':>13} (median s of whole export nodes)")
    for example in args.examples.split(","):
        pipeline = ROOT / "resources" / "examples" / f"{example}.pipeline.json"
        runs: dict[str, list[dict]] = {"cold": [], "warmed": []}
        for _ in range(args.repeats):
            for mode in ("cold", "warmed"):
                runs[mode].append(_child(mode, pipeline))

        def med(mode: str, key: str, runs: dict = runs) -> float:
            return statistics.median(r[key] for r in runs[mode])

        print(f"{example:16} {med('cold', 'export'):11.2f} {med('warmed', 'export'):13.2f}")
        if args.stages:
            for name, seconds in stages(example).items():
                print(f"    {name:24} {seconds:6.2f}")


if __name__ == "__main__":
    main()

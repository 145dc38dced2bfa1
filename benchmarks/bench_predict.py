"""Benchmark: rows/s of the bundle predictor (preprocessing included) against raw onnxruntime, same run.

Model: the credit-risk sample (14 raw input columns: numbers with gaps, 4 categories → 31 model inputs) with
the default network (Dense 128 → 1 logit), exported as a bundle. Ours: ``Predictor.from_bundle(...).predict(
raw DataFrame)`` — input checks, ``chain.transform`` (impute, one-hot, scale), onnxruntime, labels and
probabilities. Baseline: ``session.run`` of the same model.onnx on the already-numeric float32 array, the
faster of a session with ``--threads`` and one with 1 thread (the predictor itself runs small batches on one
thread; the baseline gets the same choice). Spinning is off on every session. Goal: ≥ 0.5× at 1024.
The last columns split one predictor call (best of many) into input checks + preprocessing, onnxruntime, and
labels/probabilities/output table, in microseconds. "paired" is the median over calls made in turn (ours, then
raw onnxruntime on the faster session, repeated) of raw time / our time: the figure to trust on a shared
machine, where other work slows the two rate measurements taken seconds apart by different amounts.

    .venv/bin/python benchmarks/bench_predict.py [--threads 2] [--seconds 2] [--batches 1,1024,65536]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rate(fn, rows: int, seconds: float) -> float:  # noqa: ANN001
    """Rows per second: repeat ``fn`` for about ``seconds`` after a warm-up; best of three rounds."""
    fn()
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            fn()
            calls += 1
        best = max(best, calls * rows / elapsed)
    return best


def paired(ours, base, seconds: float) -> float:  # noqa: ANN001
    """Median of base time / our time over calls made in turn (each pair sees the same machine load)."""
    ours()
    base()
    ratios = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(ratios) < 5:
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        base()
        t2 = time.perf_counter()
        ratios.append((t2 - t1) / (t1 - t0))
    return float(np.median(ratios))


def stages(predictor, frame, repeat: int = 7) -> tuple[float, float, float]:  # noqa: ANN001
    """Best-of-``repeat`` microseconds of (checks + preprocessing, onnxruntime, outputs) in one predict call."""
    from workbench.export import predict_template as tpl

    best = [float("inf")] * 3
    calls = max(1, 2048 // len(frame))
    for _ in range(repeat):
        times = [0.0, 0.0, 0.0]
        for _ in range(calls):
            t0 = time.perf_counter()
            x = predictor.features(frame)[0]
            t1 = time.perf_counter()
            raw = predictor.raw(x)
            t2 = time.perf_counter()
            values, proba = tpl.postprocess(raw, predictor.prep)
            predictor._output(values, proba, True)
            t3 = time.perf_counter()
            times = [times[0] + t1 - t0, times[1] + t2 - t1, times[2] + t3 - t2]
        best = [min(b, t / calls * 1e6) for b, t in zip(best, times, strict=True)]
    return best[0], best[1], best[2]


def build_bundle(folder: Path) -> Path:
    import torch

    from workbench import params as P
    from workbench.execution.context import NodeContext, RunContext
    from workbench.export.bundle import write_bundle
    from workbench.nodes.train import SupervisedTrain
    from workbench.tabular.samples import load_sample
    from workbench.tabular.split import split_table

    torch.set_num_threads(1)
    frame = load_sample("credit_risk").drop(columns=["applicant_id"])
    dataset = split_table(frame, "default", seed=0)
    params = P.resolve(SupervisedTrain.spec.params, {"epochs": 1, "device": "cpu", "threads": 1})
    model = SupervisedTrain().run(NodeContext(RunContext(), "train"), {"dataset": dataset}, params)["model"]
    return write_bundle(model, folder / "bundle").path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (both sides)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--batches", default="1,1024", help="comma-separated batch sizes (rows per call)")
    args = parser.parse_args()

    from workbench.export.parity import ort_session
    from workbench.export.predictor import Predictor
    from workbench.tabular.samples import load_sample

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(Path(tmp))
        predictor = Predictor.from_bundle(bundle, threads=args.threads)
        sessions = [ort_session(bundle / "model.onnx", t) for t in dict.fromkeys([args.threads, 1])]
        name = sessions[0].get_inputs()[0].name
        raw = load_sample("credit_risk").drop(columns=["applicant_id", "default"])
        print(
            f"bundle predictor vs raw onnxruntime (best of {args.threads} and 1 thread), model inputs: 31 floats"
        )
        print(
            f"{'batch':>6} {'predictor rows/s':>18} {'raw ORT rows/s':>16} {'ratio':>7}"
            f" {'paired':>7} {'prep µs':>9} {'ORT µs':>9} {'output µs':>9}"
        )
        for batch in [int(b) for b in args.batches.split(",")]:
            frame = raw.sample(batch, replace=batch > len(raw), random_state=0).reset_index(drop=True)
            x = np.ascontiguousarray(predictor.features(frame)[0])
            ours = rate(lambda f=frame: predictor.predict(f, proba=True), batch, args.seconds)
            rates = [rate(lambda a=x, s=s: s.run(None, {name: a}), batch, args.seconds) for s in sessions]
            base, fastest = max(zip(rates, sessions, strict=True), key=lambda pair: pair[0])
            pair = paired(
                lambda f=frame: predictor.predict(f, proba=True),
                lambda a=x, s=fastest: s.run(None, {name: a}),
                args.seconds,
            )
            prep, ort, output = stages(predictor, frame)
            print(
                f"{batch:>6} {ours:>18,.0f} {base:>16,.0f} {ours / base:>7.3f} {pair:>7.3f}"
                f" {prep:>9,.0f} {ort:>9,.0f} {output:>9,.0f}"
            )


if __name__ == "__main__":
    main()

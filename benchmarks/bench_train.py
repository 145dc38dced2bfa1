"""Training-loop benchmark: the engine through ``train.supervised`` against plain PyTorch loops.

One process, repeats interleaved (variant by variant, batch size by batch size), medians printed with
ratios to (b). Data: 200,000 × 64 float features, 10 classes; MLP 64→128→10; Adam; 2 epochs.

  (a) textbook ``DataLoader(TensorDataset(X, y), shuffle=True)`` loop
  (b) hand-written in-memory loop: tensors once, ``randperm`` per epoch, ``X[idx[i:i+B]]``, plain Adam
  (b+) the same with ``Adam(fused=True)`` (shown for transparency: the engine uses fused kernels)
  (c) the engine driven through the ``train.supervised`` node with every event on (progress, metrics, log)
  (L) PyTorch Lightning, only if it happens to be installed

All loops run with the same torch thread count (default: the engine's GUI-friendly choice, all cores but
one). (c) is timed over its training loop (``metrics['train_seconds']``) like (a)/(b), whose tensor
preparation is not timed either; the node's whole wall time, including DataFrame → tensor conversion and
the automatic impute/standardise chain, is printed alongside.

Run:  .venv/bin/python benchmarks/bench_train.py [--repeats 3] [--rows 200000] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

FEATURES, CLASSES, HIDDEN, EPOCHS = 64, 10, 128, 2


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def loop_dataloader(x: torch.Tensor, y: torch.Tensor, bs: int, device: torch.device) -> float:
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = make_model().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)
    t0 = time.perf_counter()
    for _ in range(EPOCHS):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - t0


def loop_in_memory(
    x: torch.Tensor, y: torch.Tensor, bs: int, device: torch.device, fused: bool = False
) -> float:
    torch.manual_seed(0)
    model = make_model().to(device)
    opt = (
        torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
        if fused
        else torch.optim.Adam(model.parameters(), lr=1e-3)
    )
    loss_fn = nn.CrossEntropyLoss()
    x, y = x.to(device), y.to(device)
    n = x.shape[0]
    t0 = time.perf_counter()
    for _ in range(EPOCHS):
        idx = torch.randperm(n, device=device)
        total = torch.zeros((), device=device)
        for i in range(0, n, bs):
            b = idx[i : i + bs]
            xb, yb = x[b], y[b]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.detach()
        total.item()
    _sync(device)
    return time.perf_counter() - t0


def make_dataset(x: np.ndarray, y: np.ndarray):  # noqa: ANN201
    from workbench.tabular.dataset import Dataset

    names = [f"f{i}" for i in range(FEATURES)]
    frame = pd.DataFrame(x, columns=names)
    frame["label"] = y
    empty = frame.iloc[:0]
    return Dataset(
        train=frame,
        val=empty,
        test=empty,
        target="label",
        task="classification",
        features=names,
        input_schema={n: "numeric" for n in names},
        classes=list(range(CLASSES)),
    )


def loop_engine(dataset, bs: int, device: str, threads: int) -> tuple[float, float]:  # noqa: ANN001
    from workbench import params as P
    from workbench.events import CollectingReporter
    from workbench.execution.context import NodeContext, RunContext
    from workbench.nodes.train import SupervisedTrain

    reporter = CollectingReporter()  # every event kept: progress, metrics, log
    ctx = NodeContext(RunContext(reporter=reporter, device=device), "train")
    params = P.resolve(SupervisedTrain.spec.params, {"epochs": EPOCHS, "batch_size": bs, "threads": threads})
    t0 = time.perf_counter()
    out = SupervisedTrain().run(ctx, {"dataset": dataset}, params)
    wall = time.perf_counter() - t0
    return out["model"].metrics["train_seconds"], wall


def loop_lightning(x: torch.Tensor, y: torch.Tensor, bs: int) -> float | None:
    try:
        import lightning.pytorch as pl  # type: ignore[import-not-found]
    except ImportError:
        try:
            import pytorch_lightning as pl  # type: ignore[import-not-found,no-redef]
        except ImportError:
            return None
    from torch.utils.data import DataLoader, TensorDataset

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = make_model()

        def training_step(self, batch, _index):  # noqa: ANN001, ANN202
            xb, yb = batch
            return nn.functional.cross_entropy(self.net(xb), yb)

        def configure_optimizers(self):  # noqa: ANN202
            return torch.optim.Adam(self.parameters(), lr=1e-3)

    torch.manual_seed(0)
    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="auto",
        devices=1,
    )
    t0 = time.perf_counter()
    trainer.fit(Module(), DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True))
    return time.perf_counter() - t0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    from workbench.engine.device import default_threads, device_name, resolve_device

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads for every loop (0 = all but one core)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto …")
    parser.add_argument("--batch-sizes", default="64,512")
    args = parser.parse_args()
    os.environ.setdefault("WORKBENCH_DATA_DIR", tempfile.mkdtemp(prefix="wb-bench-"))
    threads = args.threads or default_threads()
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.rows, FEATURES), dtype=np.float32)
    y_np = rng.integers(0, CLASSES, args.rows)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    dataset = make_dataset(x_np, y_np)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    variants = ["a", "b", "b+", "c", "L"]
    times: dict[tuple[str, int], list[float]] = {(v, bs): [] for v in variants for bs in sizes}
    walls: dict[int, list[float]] = {bs: [] for bs in sizes}
    print(
        f"torch {torch.__version__} · {device_name(device)} · {args.rows:,} rows × {FEATURES} · {EPOCHS} epochs "
        f"· threads {threads} · repeats {args.repeats}",
        flush=True,
    )
    for rep in range(args.repeats):
        for bs in sizes:
            times[("a", bs)].append(loop_dataloader(x, y, bs, device))
            times[("b", bs)].append(loop_in_memory(x, y, bs, device))
            times[("b+", bs)].append(loop_in_memory(x, y, bs, device, fused=True))
            train_s, wall_s = loop_engine(dataset, bs, str(device), threads)
            torch.set_num_threads(threads)
            times[("c", bs)].append(train_s)
            walls[bs].append(wall_s)
            lightning = loop_lightning(x, y, bs) if rep == 0 or times[("L", bs)] else None
            if lightning is not None:
                times[("L", bs)].append(lightning)
            print(
                f"  repeat {rep + 1} bs {bs}: "
                + ", ".join(f"{v} {times[(v, bs)][-1]:.2f}s" for v in variants if times[(v, bs)]),
                flush=True,
            )
    names = {
        "a": "(a) DataLoader(TensorDataset)",
        "b": "(b) hand-written in-memory",
        "b+": "(b+) same, fused Adam",
        "c": "(c) engine via train.supervised",
        "L": "(L) Lightning",
    }
    print("\nmedian samples/s and ratio to (b)   [ratio = (b) time / variant time; > 1 is faster]")
    for bs in sizes:
        base = statistics.median(times[("b", bs)])
        print(f"batch {bs}:")
        for v in variants:
            if not times[(v, bs)]:
                print(f"  {names[v]:34s} not installed" if v == "L" else f"  {names[v]:34s} -")
                continue
            med = statistics.median(times[(v, bs)])
            print(f"  {names[v]:34s} {EPOCHS * args.rows / med:>10,.0f}/s  {base / med:5.2f}×")
        wall = statistics.median(walls[bs])
        print(
            f"  {'(c) whole node run incl. data prep':34s} {EPOCHS * args.rows / wall:>10,.0f}/s  {base / wall:5.2f}×"
        )


if __name__ == "__main__":
    main()

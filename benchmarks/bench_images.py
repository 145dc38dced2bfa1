"""Image training benchmark: the engine's streamed image batches against a hand-written loop, same process.

The whole training step per picture: decode (Pillow, a thread pool reading ahead) → to the device → augment
(Kornia: rotation, resized crop, shift) → forward/backward/Adam step of the default image CNN. Data: the
bundled digits pictures (1,797 PNG files) at 16 px, or a folder given with --folder.

  (b) hand-written: the same ImageBatches-free loop a user would write — a ThreadPoolExecutor decoding the
      next batches with ``load_pixels``, ``torch.from_numpy``, the same Kornia module, the same model/Adam
  (c) the engine: ``workbench.engine.trainer.fit`` pulling batches from ``workbench.images.source``

Both decode every file every epoch (the engine's in-memory cache is off, --cache turns it on for (c) to
show what a second epoch costs then). Reported: pictures/s of the training epochs, medians over repeats
(interleaved), the ratio (c)/(b) (target ≥ 0.9), and where (b)'s time goes (decode wait, augment, step).
On CUDA the pictures go through pinned memory with non-blocking copies, and GPU utilisation is sampled.

Run:  .venv/bin/python benchmarks/bench_images.py [--repeats 3] [--epochs 2] [--device cpu] [--size 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The digits example's own augmentation (read from the pipeline, so the two cannot drift apart).
AUGMENT = next(
    node["params"]
    for node in json.loads((ROOT / "resources/examples/digits_images.pipeline.json").read_text())["nodes"]
    if node["type"] == "prep.image_augment"
)


def files(folder: Path) -> tuple[list[str], np.ndarray, int]:
    from workbench.images.decode import list_folder

    listing = list_folder(folder)
    classes = sorted(set(listing.labels))
    return listing.paths, np.array([classes.index(label) for label in listing.labels]), len(classes)


def model_for(size: int, n_classes: int, seed: int = 0) -> torch.nn.Module:
    from workbench.engine.vision import DEFAULT_CNN, build_vision, vision_architecture

    torch.manual_seed(seed)
    arch = vision_architecture("cnn", dict(DEFAULT_CNN), [size, size, 1], n_classes, "multiclass")
    return build_vision(arch)


def hand_written(
    paths: list[str], y: np.ndarray, n_classes: int, args: argparse.Namespace
) -> dict[str, float]:
    from workbench.images.augment import Augmenter
    from workbench.images.decode import decode_threads, load_pixels

    device = torch.device(args.device)
    model = model_for(args.size, n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    augment = Augmenter(AUGMENT, args.size, 1)
    labels = torch.from_numpy(y).to(device)
    pool = ThreadPoolExecutor(decode_threads())

    def batch_pixels(index: np.ndarray) -> np.ndarray:
        return np.stack([load_pixels(paths[i], args.size, "squash", 1) for i in index.tolist()])

    times = {"wait": 0.0, "augment": 0.0, "step": 0.0}
    t0 = time.perf_counter()
    seen = 0
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(paths)).numpy()
        chunks = [order[i : i + args.batch] for i in range(0, len(order), args.batch)]
        futures = [pool.submit(batch_pixels, c) for c in chunks[:4]]
        for k, chunk in enumerate(chunks):
            t = time.perf_counter()
            pixels = futures[k].result()
            if k + 4 < len(chunks):
                futures.append(pool.submit(batch_pixels, chunks[k + 4]))
            x = torch.from_numpy(pixels)
            x = (x.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else x).float()
            t1 = time.perf_counter()
            x = augment(x)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), labels[torch.from_numpy(chunk).to(device)])
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t3 = time.perf_counter()
            times["wait"] += t1 - t
            times["augment"] += t2 - t1
            times["step"] += t3 - t2
            seen += len(chunk)
    pool.shutdown()
    seconds = time.perf_counter() - t0
    return {"per_s": seen / seconds, **{k: v / seconds for k, v in times.items()}}


def engine(paths: list[str], y: np.ndarray, n_classes: int, args: argparse.Namespace) -> dict[str, float]:
    from workbench.engine.trainer import TrainConfig, TrainData, fit
    from workbench.images.augment import Augmenter
    from workbench.images.source import ImageBatches

    settings = {"size": args.size, "policy": "squash", "channels": 1}
    source = ImageBatches(
        paths, settings, Augmenter(AUGMENT, args.size, 1), cache_bytes=(1 << 30) if args.cache else 0
    )
    model = model_for(args.size, n_classes)
    config = TrainConfig(
        epochs=args.epochs, batch_size=args.batch, device=args.device, precision="fp32", threads=-1
    )
    data = TrainData(source, torch.from_numpy(y), head="multiclass", n_classes=n_classes)
    try:
        result = fit(model, data, config)
    finally:
        source.close()
    return {"per_s": result.metrics["samples_per_second"], "decoded": source.decoded}


def gpu_utilisation() -> str:
    try:
        import subprocess

        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=ROOT / "resources" / "datasets" / "digits_images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores but one)")
    parser.add_argument("--cache", action="store_true", help="let the engine keep decoded pictures in memory")
    args = parser.parse_args()
    import os

    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 2) - 1))  # the engine's own default
    paths, y, n_classes = files(args.folder)
    print(f"{len(paths)} pictures, {n_classes} classes, {args.size} px, batch {args.batch}, {args.epochs} epochs, "
          f"{args.device}, {torch.get_num_threads()} torch thread(s)")  # fmt: skip
    hand, mine = [], []
    for _ in range(args.repeats):
        hand.append(hand_written(paths, y, n_classes, args))
        mine.append(engine(paths, y, n_classes, args))
    b = statistics.median(r["per_s"] for r in hand)
    c = statistics.median(r["per_s"] for r in mine)
    share = {k: statistics.median(r[k] for r in hand) for k in ("wait", "augment", "step")}
    print(f"(b) hand-written loop: {b:8.0f} pictures/s  (time: decode wait {share['wait']:.0%}, "
          f"augment {share['augment']:.0%}, forward/backward/step {share['step']:.0%})")  # fmt: skip
    print(f"(c) engine (fit + ImageBatches): {c:8.0f} pictures/s  ratio (c)/(b) = {c / b:.2f}"
          + (f"  [cache on: {mine[-1]['decoded']} decodes]" if args.cache else ""))  # fmt: skip
    if args.device.startswith("cuda"):
        print(f"GPU utilisation after the runs: {gpu_utilisation()}")


if __name__ == "__main__":
    main()

"""Image datasets in the ordinary pipeline: how a Dataset whose feature is an image path becomes training data.

data.images outputs a plain table (``path``, ``label``) whose ``attrs`` carry the image settings (size, resize
policy, channels); pandas keeps ``attrs`` through data.split's row selections, so the Dataset's frames still
know them and ``column_kind`` calls the path column ``image``. The train node asks ``image_training`` and,
for an image dataset, gets batches that stream from files instead of a feature matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.images import IMAGES_ATTR

STATS_SAMPLE = 512  # training images decoded to measure the per-channel mean and spread
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def frame_settings(frame: Any) -> dict[str, Any] | None:
    attrs = getattr(frame, "attrs", None) or {}
    found = attrs.get(IMAGES_ATTR)
    return dict(found) if isinstance(found, dict) else None


def dataset_settings(dataset: Any) -> dict[str, Any] | None:
    """The image settings when ``dataset``'s model input is an image column, else None (a table)."""
    found = frame_settings(getattr(dataset, "train", None))
    if found is None:
        return None
    column = found.get("column", "path")
    if column not in list(getattr(dataset, "features", [])):
        raise UserError(
            f"data.split: the image column {column!r} is not a feature; leave data.split's features empty "
            "or name it there"
        )
    others = [c for c in dataset.features if c != column]
    if others:
        raise UserError(
            f"train: images and other feature columns ({', '.join(others[:5])}) together are not supported; "
            f"keep only {column!r} in data.split's features"
        )
    if getattr(dataset, "task", "") != "classification":
        raise UserError("train: image models classify; set data.split's task to classification")
    return found


def model_settings(settings: dict[str, Any], mean: list[float], std: list[float]) -> dict[str, Any]:
    """What a trained image model records (TrainedModel.images, preprocessing.json's ``image``)."""
    return {
        "column": str(settings.get("column", "path")),
        "size": int(settings["size"]),
        "policy": str(settings["policy"]),
        "channels": int(settings["channels"]),
        "layout": "NHWC uint8",
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
    }


def pixel_stats(paths: list[str], settings: dict[str, Any], seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation (0..1 units) of up to STATS_SAMPLE training images."""
    from concurrent.futures import ThreadPoolExecutor

    from workbench.images.decode import decode_many, decode_threads

    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(len(paths), min(len(paths), STATS_SAMPLE), replace=False).tolist())
    with ThreadPoolExecutor(decode_threads()) as pool:
        pixels = decode_many([paths[i] for i in pick], settings, pool)
    values = pixels.reshape(-1, pixels.shape[-1]).astype(np.float64) / 255.0
    std = np.maximum(values.std(axis=0), 1e-3)
    return values.mean(axis=0).tolist(), std.tolist()


@dataclass
class ImageSplits:
    """What the train node reads from ``to_tensors`` for tables, for images: x_* stream from files."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    feature_names: list[str]
    classes: list
    task: str
    images: dict[str, Any]
    window: None = None

    def close(self) -> None:
        for source in (self.x_train, self.x_val, self.x_test):
            if source is not None and hasattr(source, "close"):
                source.close()


def _labels(dataset: Any, frame: Any) -> Any:
    import torch

    from workbench.tabular.chain import encode_labels

    return torch.from_numpy(np.asarray(encode_labels(frame[dataset.target], dataset.classes), dtype=np.int64))


def image_splits(dataset: Any, settings: dict[str, Any], log: Callable[[str], None]) -> ImageSplits:
    """Streaming sources for the three splits; the training one augments when prep.image_augment asked."""
    from workbench.images.augment import AUGMENT_OP, Augmenter
    from workbench.images.source import ImageBatches

    column = settings.get("column", "path")
    train_paths = [str(p) for p in dataset.train[column].tolist()]
    if not train_paths:
        raise UserError("the training split is empty; give the split a larger train fraction or more images")
    records = [a for a in getattr(dataset, "augmentations", []) if a.get("op") == AUGMENT_OP]
    augment = None
    if records:
        augment = Augmenter(records[-1]["settings"], int(settings["size"]), int(settings["channels"]))
        log("augmenting training images on the fly: " + describe(records[-1]["settings"]))
    mean, std = pixel_stats(train_paths, settings, int(getattr(dataset, "seed", 0)))
    sources = {
        name: ImageBatches(
            [str(p) for p in frame[column].tolist()], settings, augment if name == "train" else None
        )
        for name, frame in dataset.splits().items()
    }
    size = int(settings["size"])
    log(
        f"images: {size}×{size} px, {'colour' if int(settings['channels']) == 3 else 'grey'}, "
        f"{settings['policy']}; decoded in {sources['train']._pool._max_workers} thread(s), "
        f"{'kept in memory after the first epoch' if sources['train']._cache is not None else 'decoded every epoch'}"
    )
    return ImageSplits(
        x_train=sources["train"],
        y_train=_labels(dataset, dataset.train),
        x_val=sources["val"],
        y_val=_labels(dataset, dataset.val),
        x_test=sources["test"],
        y_test=_labels(dataset, dataset.test),
        feature_names=[column],
        classes=list(dataset.classes),
        task=dataset.task,
        images=model_settings(settings, mean, std),
    )


def describe(config: dict[str, Any]) -> str:
    from workbench.images.augment import settings

    c = settings(config)
    parts = []
    if c["rotation"]:
        parts.append(f"rotate ±{c['rotation']:g}°")
    if c["scale_min"] < 1:
        parts.append(f"resized crop {c['scale_min']:g}–1")
    if c["translate"]:
        parts.append(f"shift ±{c['translate']:g}")
    if c["hflip"]:
        parts.append(f"h-flip {c['hflip']:g}")
    if c["vflip"]:
        parts.append(f"v-flip {c['vflip']:g}")
    jitter = [k for k in ("brightness", "contrast", "saturation", "hue") if c[k]]
    if jitter:
        parts.append("jitter " + "/".join(jitter))
    return ", ".join(parts) + f" (p {c['p']:g})" if parts else "nothing"


def model_pixels(model: Any, paths: list[str]) -> np.ndarray:
    """uint8 (n, size, size, channels) pixels of ``paths`` exactly as the model was trained to read them."""
    from concurrent.futures import ThreadPoolExecutor

    from workbench.images.decode import decode_many, decode_threads

    with ThreadPoolExecutor(decode_threads()) as pool:
        return decode_many(paths, model.images, pool)


def split_pixels(model: Any, dataset: Any) -> dict[str, np.ndarray]:
    """Evaluation arrays for an image model: uint8 pixels of the validation and test images, class ids.

    The training split is left empty (nothing reads it: no baseline is fitted on pixels)."""
    from workbench.tabular.chain import encode_labels

    settings = model.images
    column = settings.get("column", "path")
    if column not in dataset.train.columns:
        raise UserError(
            f"dataset: it has no image column {column!r}; connect the dataset the model was trained on"
        )
    if list(dataset.classes) != list(model.classes or []):
        raise UserError(
            f"dataset: classes {list(dataset.classes)} differ from the model's {list(model.classes or [])}"
        )
    size, channels = int(settings["size"]), int(settings["channels"])
    out: dict[str, np.ndarray] = {
        "x_train": np.zeros((0, size, size, channels), dtype=np.uint8),
        "y_train": np.zeros(0, dtype=np.int64),
    }
    for name in ("val", "test"):
        frame = getattr(dataset, name)
        out[f"x_{name}"] = model_pixels(model, [str(p) for p in frame[column].tolist()])
        out[f"y_{name}"] = np.asarray(encode_labels(frame[dataset.target], dataset.classes), dtype=np.int64)
    return out


def with_image_stats(spec: Any, images: dict[str, Any], log: Callable[[str], None]) -> Any:
    """The model spec with the input normalisation filled in: ImageNet's for a ResNet started from weights
    (what those weights were trained with), else the training images' own mean and spread."""
    from workbench.engine.models import ModelSpec

    config = dict(spec.config)
    if spec.kind not in ("cnn", "resnet") or "mean" in config:
        return spec
    channels = int(images["channels"])
    if spec.kind == "resnet" and config.get("weights"):
        mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        if channels == 1:
            mean, std = [float(np.mean(mean))], [float(np.mean(std))]
        log("inputs normalised with ImageNet's mean and spread (what the weights were trained with)")
    else:
        mean, std = list(images["mean"]), list(images["std"])
        shown = ", ".join(f"{m:.3f}±{s:.3f}" for m, s in zip(mean, std, strict=True))
        log(f"inputs normalised per channel with the training images' mean ± spread: {shown}")
    config.update(mean=mean, std=std)
    return ModelSpec(spec.kind, config)

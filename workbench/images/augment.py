"""Batched image augmentation with Kornia, on whatever device the batch is on (the GPU when training there).

Only the training split is augmented, and never at prediction time, so nothing of it travels with the model:
the Dataset records the settings in ``augmentations`` (like ``prep.augment`` for tables). Draws come from
torch's generator on the batch's device, which the trainer seeds: the same seed gives the same draws.

Batches arrive and leave as the models read them: float pixels 0–255, (n, height, width, channels).
"""

from __future__ import annotations

from typing import Any

AUGMENT_OP = "image_augment"
DEFAULTS: dict[str, Any] = {
    "rotation": 10.0,  # degrees either way
    "scale_min": 0.85,  # random resized crop keeps at least this share of the area (1 = off)
    "translate": 0.05,  # shift as a share of the side
    "hflip": 0.5,
    "vflip": 0.0,
    "brightness": 0.1,
    "contrast": 0.1,
    "saturation": 0.0,
    "hue": 0.0,
    "p": 0.8,  # probability that each random transform is applied to an image
}


def settings(values: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``values`` (unknown keys dropped), as plain floats."""
    return {key: float(values.get(key, default)) for key, default in DEFAULTS.items()}


def is_identity(config: dict[str, Any]) -> bool:
    c = settings(config)
    return (
        c["p"] <= 0
        or (c["rotation"] == 0 and c["scale_min"] >= 1 and c["translate"] == 0)
        and c["hflip"] == 0
        and c["vflip"] == 0
        and not any(c[k] for k in ("brightness", "contrast", "saturation", "hue"))
    )


class Augmenter:
    """A callable over (n, h, w, c) float 0–255 batches; built once per training run."""

    def __init__(self, config: dict[str, Any], size: int, channels: int) -> None:
        import kornia.augmentation as K  # noqa: N812
        import torch

        c = settings(config)
        p = min(1.0, max(0.0, c["p"]))
        steps: list[Any] = []
        if c["rotation"] > 0 or c["translate"] > 0:
            translate = (c["translate"], c["translate"]) if c["translate"] > 0 else None
            steps.append(K.RandomAffine(degrees=c["rotation"], translate=translate, p=p))
        if c["scale_min"] < 1:
            steps.append(K.RandomResizedCrop((size, size), scale=(max(0.05, c["scale_min"]), 1.0), p=p))
        if c["hflip"] > 0:
            steps.append(K.RandomHorizontalFlip(p=min(1.0, c["hflip"])))
        if c["vflip"] > 0:
            steps.append(K.RandomVerticalFlip(p=min(1.0, c["vflip"])))
        colour = channels == 3
        jitter = {
            "brightness": c["brightness"],
            "contrast": c["contrast"],
            "saturation": c["saturation"] if colour else 0.0,
            "hue": min(0.5, c["hue"]) if colour else 0.0,
        }
        if any(jitter.values()):
            steps.append(K.ColorJitter(**jitter, p=p))
        self.steps = torch.nn.Sequential(*steps)
        self.empty = not steps

    def __call__(self, batch: Any) -> Any:
        """Augmented copy of ``batch``: (n, h, w, c) floats 0–255 in, the same shape and range out."""
        if self.empty or batch.shape[0] == 0:
            return batch
        x = batch.permute(0, 3, 1, 2) / 255.0  # Kornia works on (n, c, h, w) in 0..1
        x = self.steps(x).clamp_(0.0, 1.0)
        return (x * 255.0).permute(0, 2, 3, 1)


def preview(pixels: Any, config: dict[str, Any], n: int = 8, seed: int = 0) -> list[Any]:
    """``n`` augmented draws of one image (uint8 (h, w, c) numpy) as uint8 arrays: the preview grid."""
    import numpy as np
    import torch

    size, channels = int(pixels.shape[0]), int(pixels.shape[2])
    augmenter = Augmenter(config, size, channels)
    batch = torch.from_numpy(np.array(pixels, dtype=np.float32)).unsqueeze(0).repeat(n, 1, 1, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = augmenter(batch)
    return [frame.round().clamp(0, 255).to(torch.uint8).numpy() for frame in out]

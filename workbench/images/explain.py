"""Explaining a picture's prediction: integrated gradients from a black picture, drawn as a red overlay.

The integration itself is shared with tables (``workbench.evaluation.attribution``); what is image-specific
is the baseline (a black picture: image models read (h, w, c) pixels 0–255) and the overlay. The names
``integrated_gradients`` and ``completeness_gap`` stay importable from here for the image views.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.evaluation.attribution import class_output, completeness_gap, integrated_gradients

__all__ = ["class_output", "completeness_gap", "integrated_gradients", "overlay", "pixel_attributions"]


def pixel_attributions(
    module: Any, pixels: np.ndarray, target: int, head: str, steps: int = 64
) -> np.ndarray:
    """Attributions (h, w, c) of one picture's pixels to ``target``, from a black picture."""
    return integrated_gradients(module, np.asarray(pixels, dtype=np.float32), target, head, None, steps)


def overlay(pixels: np.ndarray, attributions: np.ndarray, strength: float = 0.7) -> np.ndarray:
    """An RGB uint8 picture: the input in grey with the strongest attributions (|a| summed over channels,
    99th percentile = full) in red on top."""
    grey = pixels.astype(np.float64).mean(axis=2) if pixels.ndim == 3 else pixels.astype(np.float64)
    heat = np.abs(attributions).sum(axis=2) if attributions.ndim == 3 else np.abs(attributions)
    top = np.percentile(heat, 99) or heat.max() or 1.0
    heat = np.clip(heat / top, 0.0, 1.0) * strength
    base = np.stack([grey] * 3, axis=2) * 0.6
    red = np.zeros_like(base)
    red[..., 0] = 255.0
    out = base * (1 - heat[..., None]) + red * heat[..., None]
    return np.clip(out.round(), 0, 255).astype(np.uint8)

"""Integrated gradients: which pixels (or table features) moved a model's output for one input.

Own implementation (Sundararajan et al., 2017): attributions = (x − baseline) × the average gradient of the
class's output along the straight path from the baseline to x, by the midpoint rule. Completeness — the
attributions add up to f(x) − f(baseline) — holds up to the integration error, and is what the tests check
(exactly for a linear model). Works for any of the app's modules: image models read (n, h, w, c) pixels
0–255 (baseline: a black picture), table models read prepared feature rows (baseline: zeros, the training
mean after standardisation).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_output(outputs: Any, target: int, head: str) -> Any:
    """The scalar that stands for ``target``: its logit, or ± the one logit of a two-class model."""
    if head == "binary":
        return outputs[:, 0] if target == 1 else -outputs[:, 0]
    if head == "regression":
        return outputs[:, target]
    return outputs[:, target]


def integrated_gradients(
    module: Any,
    x: np.ndarray,
    target: int,
    head: str = "multiclass",
    baseline: np.ndarray | None = None,
    steps: int = 64,
    batch: int = 32,
) -> np.ndarray:
    """Attributions with the shape of one input ``x`` (no batch axis), float64."""
    import torch

    was_training = module.training
    module.eval()
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    point = torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)
    start = (
        torch.zeros_like(point)
        if baseline is None
        else torch.as_tensor(baseline, dtype=torch.float32, device=device)
    )
    alphas = (torch.arange(steps, dtype=torch.float32, device=device) + 0.5) / steps
    total = torch.zeros_like(point)
    try:
        for i in range(0, steps, batch):
            a = alphas[i : i + batch].view(-1, *([1] * point.dim()))
            path = (start + a * (point - start)).requires_grad_(True)
            value = class_output(module(path).float(), int(target), head).sum()
            (grad,) = torch.autograd.grad(value, path)
            total += grad.sum(dim=0)
    finally:
        module.train(was_training)
    return ((point - start) * total / steps).double().cpu().numpy()


def completeness_gap(module: Any, x: np.ndarray, attributions: np.ndarray, target: int, head: str = "multiclass",
                     baseline: np.ndarray | None = None) -> float:  # fmt: skip
    """|sum(attributions) − (f(x) − f(baseline))|: how far the integration is from exact."""
    import torch

    module.eval()
    point = torch.as_tensor(np.asarray(x, dtype=np.float32)).unsqueeze(0)
    start = (
        torch.zeros_like(point) if baseline is None else torch.as_tensor(baseline, dtype=torch.float32)[None]
    )
    with torch.no_grad():
        delta = class_output(module(point), target, head) - class_output(module(start), target, head)
    return float(abs(attributions.sum() - float(delta[0])))


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

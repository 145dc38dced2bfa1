"""Standardised regression targets: learn in standard units, predict in original ones.

Why (docs/architecture.md): a price target (≈ 2,500) started at loss ≈ 2,700 and a linear model stayed
thousands off after 40 epochs. The targets are scaled to mean 0, std 1 on the training split for training,
and the inverse is folded into the output layer afterwards (W' = W·std, b' = b·std + mean): the architecture
is unchanged, so the in-app model, the ONNX export and the bundle all predict in original units with no
extra step to forget. Per-epoch MAE figures are reported in original units (:attr:`mae_factor`); losses stay
in standard units.
"""

from __future__ import annotations

from typing import Any

import torch


class TargetScaling:
    """The training split's target mean and spread (one value per target column)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, y: torch.Tensor) -> TargetScaling:
        """From the training targets; a constant column gets a tiny spread instead of a division by zero."""
        return cls(y.mean(dim=0), y.std(dim=0, unbiased=False).clamp_min(1e-12))

    @property
    def mae_factor(self) -> float:
        """What a standard-unit MAE is multiplied by for original units: the std for one target; 1.0 for
        several (their MAE averages columns of different spreads, so no one factor converts it)."""
        return float(self.std.reshape(())) if self.std.numel() == 1 else 1.0

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mean.to(y.device)) / self.std.to(y.device)

    def fold_into(self, module: torch.nn.Module) -> None:
        """Make ``module`` (trained on standardised targets) predict in original units."""
        head = getattr(module, "head", None)
        if not isinstance(head, torch.nn.Linear):
            raise RuntimeError("cannot fold target scaling: the model has no linear output layer 'head'")
        mean, std = self.mean.to("cpu", torch.float32), self.std.to("cpu", torch.float32)
        with torch.no_grad():
            head.weight.mul_(std.unsqueeze(1))
            head.bias.mul_(std).add_(mean)

    def to_original_units(self, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """MAE figures scale back exactly for one target; losses stay in standard units (said in the name)."""
        if self.std.numel() != 1:
            return
        factor = self.mae_factor
        for record in [metrics, *history]:
            for key in list(record):
                if key.endswith("_mae") and isinstance(record[key], int | float):
                    record[key] = record[key] * factor
        metrics["target_scaled"] = True

"""The trained model that flows on a MODEL wire: weights plus everything needed to use them on new rows.

Output semantics of ``predict_tensor`` (raw outputs, no activation applied):

* classification with 2 classes: ONE logit per row, shape (n, 1) — ``sigmoid`` gives P(``classes[1]``);
* classification with C > 2 classes: C logits per row — ``softmax`` gives the class probabilities, in the
  order of ``classes``;
* regression: k values per row, one per target column (in the scale the dataset's chain produced).

``architecture["head"]`` records which ("binary", "multiclass" or "regression").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class TrainedModel:
    module: nn.Module
    architecture: dict[str, Any]
    task: str
    classes: list[Any] | None = None
    target: Any = None
    feature_names: list[str] = field(default_factory=list)
    input_schema: Any = None
    chain: Any = None
    window: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    images: dict[str, Any] | None = (
        None  # image models: size, resize policy, channels, mean/std (images/data.py)
    )

    @property
    def head(self) -> str:
        return str(self.architecture.get("head", ""))

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights as plain CPU tensors (safetensors-ready: contiguous, no shared storage)."""
        return {k: v.detach().cpu().contiguous().clone() for k, v in self.module.state_dict().items()}

    @torch.no_grad()
    def predict_tensor(self, x: torch.Tensor, batch_size: int = 65536) -> torch.Tensor:
        """Raw outputs (logits or values) for already-preprocessed features, on the CPU, in chunks."""
        self.module.eval()
        param = next(self.module.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        x = torch.as_tensor(x, dtype=torch.float32)
        outs = [
            self.module(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)
        ]
        if not outs:
            return torch.empty((0, int(self.architecture.get("n_outputs", 1))))
        return torch.cat(outs)

    @torch.no_grad()
    def predict_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices (into ``classes``) for classification; the values themselves for regression."""
        out = self.predict_tensor(x)
        if self.head == "binary":
            return (out[:, 0] > 0).long()
        if self.head == "multiclass":
            return out.argmax(1)
        return out

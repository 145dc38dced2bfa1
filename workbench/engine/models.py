"""Model specs and the modules they build.

A :class:`ModelSpec` is what a ``model.*`` node outputs: a kind and a JSON config, with sizes left open.
:func:`build_model` turns it into an ``nn.Module`` once the dataset's shapes are known and returns the
*architecture* — a JSON dict with everything needed to rebuild the same module
(:func:`build_model_from_architecture`), so bundles and checkpoints never need pickle.

Every module has a ``head`` attribute (the last ``nn.Linear``); the head follows the task:

* ``binary`` — classification with 2 classes: ONE logit (apply a sigmoid for P(class 1));
* ``multiclass`` — C > 2 classes: C logits (apply a softmax);
* ``regression`` — k outputs, one per target column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from workbench.errors import UserError

ARCHITECTURE_FORMAT = 1
HEADS = ("binary", "multiclass", "regression")
ACTIVATIONS = ("relu", "gelu", "tanh", "sigmoid", "leaky_relu", "silu")
SEQUENCE_CELLS = ("gru", "lstm", "cnn1d")
DEFAULT_LAYERS: tuple[dict[str, Any], ...] = (
    {"units": 128, "activation": "relu", "dropout": 0.0, "batch_norm": False},
)


@dataclass
class ModelSpec:
    """An untrained architecture choice: ``kind`` is mlp, linear, sequence, cnn, resnet or pretrained."""

    kind: str = "mlp"
    config: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": dict(self.config)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(kind=str(data["kind"]), config=dict(data.get("config", {})))


DEFAULT_SEQUENCE: dict[str, Any] = {
    "cell": "gru",
    "hidden": 64,
    "num_layers": 1,
    "dropout": 0.0,
    "bidirectional": False,
    "kernel_size": 3,
}


def default_spec(input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """The model trained when none is wired in: what ``model.mlp`` (or, for windows, ``model.sequence``)
    gives with its defaults.

    Tables get the product brief's classic example, Dense(128, relu) → head. Windows from ``prep.window``
    (one row is ``(lookback, features)``) get a GRU(64): on the bundled price series the flattened MLP stayed
    at R² 0.90–0.91, below gradient boosting (0.93), while the GRU reached 0.94–0.95 (docs/examples.md).
    """
    if input_shape is not None and len(input_shape) == 2:
        return ModelSpec("sequence", dict(DEFAULT_SEQUENCE))
    if input_shape is not None and len(input_shape) == 3:  # images (h, w, c) from data.images: model.cnn
        from workbench.engine.vision import DEFAULT_CNN

        return ModelSpec("cnn", dict(DEFAULT_CNN))
    return ModelSpec("mlp", {"layers": [dict(layer) for layer in DEFAULT_LAYERS]})


def _activation(name: str) -> nn.Module:
    table = {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": nn.LeakyReLU,
        "silu": nn.SiLU,
    }
    if name not in table:
        raise UserError(f"activation: {name!r} is not one of {', '.join(ACTIVATIONS)}")
    return table[name]()


class MLPNet(nn.Module):
    """Dense layers (Linear → optional BatchNorm → activation → optional Dropout), then the head.

    Windowed input (n, lookback, f) is flattened, so an MLP also works after ``prep.window``.
    """

    def __init__(self, in_features: int, layers: list[dict[str, Any]], n_outputs: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_features
        for layer in layers:
            units = int(layer["units"])
            parts: list[nn.Module] = [nn.Linear(width, units)]
            if layer.get("batch_norm"):
                parts.append(nn.BatchNorm1d(units))
            parts.append(_activation(layer.get("activation", "relu")))
            if float(layer.get("dropout", 0.0)) > 0:
                parts.append(nn.Dropout(float(layer["dropout"])))
            blocks.append(nn.Sequential(*parts))
            width = units
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.flatten(1)
        return self.head(self.body(x))


class RecurrentNet(nn.Module):
    """GRU or LSTM over (n, lookback, f) windows; the head reads the last time step."""

    def __init__(
        self,
        n_features: int,
        cell: str,
        hidden: int,
        num_layers: int,
        dropout: float,
        bidirectional: bool,
        n_outputs: int,
    ) -> None:
        super().__init__()
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.body = rnn(
            n_features,
            hidden,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.body(x)
        return self.head(out[:, -1])


class ConvNet1d(nn.Module):
    """1-D convolutions over time (same padding), global average pooling, then the head."""

    def __init__(
        self, n_features: int, channels: list[int], kernel_size: int, dropout: float, n_outputs: int
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_features
        for ch in channels:
            parts: list[nn.Module] = [nn.Conv1d(width, ch, kernel_size, padding=kernel_size // 2), nn.ReLU()]
            if dropout > 0:
                parts.append(nn.Dropout(dropout))
            blocks.append(nn.Sequential(*parts))
            width = ch
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x.transpose(1, 2))  # (n, f, L)
        return self.head(h.mean(dim=2))


def head_for(task: str, n_classes: int = 0, n_targets: int = 1) -> tuple[str, int]:
    """(head kind, number of outputs) for a task: 2 classes → 1 logit, C > 2 → C logits, regression → k."""
    if task == "classification":
        if n_classes < 2:
            raise UserError(f"target: classification needs at least 2 classes, found {n_classes}")
        return ("binary", 1) if n_classes == 2 else ("multiclass", n_classes)
    if task == "regression":
        return "regression", max(1, n_targets)
    raise UserError(f"task: {task!r} is neither classification nor regression")


def build_model(
    spec: ModelSpec, input_shape: tuple[int, ...], n_outputs: int, head: str
) -> tuple[nn.Module, dict[str, Any]]:
    """Build the module for ``spec`` now that the data's shape is known; returns (module, architecture).

    ``input_shape`` is one row's shape: ``(f,)`` for tables, ``(lookback, f)`` after windows.
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}")
    shape = [int(s) for s in input_shape]
    config = dict(spec.config)
    if spec.kind == "pretrained":
        from workbench.engine.transfer import build_pretrained

        return build_pretrained(config, shape, n_outputs, head)
    if spec.kind in ("cnn", "resnet"):
        from workbench.engine.vision import build_vision_model

        return build_vision_model(spec.kind, config, shape, n_outputs, head)
    arch: dict[str, Any] = {
        "format": ARCHITECTURE_FORMAT,
        "kind": spec.kind,
        "input_shape": shape,
        "n_outputs": int(n_outputs),
        "head": head,
    }
    if spec.kind == "mlp":
        layers = [dict(layer) for layer in config.get("layers", DEFAULT_LAYERS)]
        for index, layer in enumerate(layers, start=1):
            if int(layer.get("units", 0)) < 1:
                raise UserError(f"layers item {index}: units must be at least 1")
            layer.setdefault("activation", "relu")
            layer.setdefault("dropout", 0.0)
            layer.setdefault("batch_norm", False)
        arch["layers"] = layers
    elif spec.kind == "linear":
        arch["kind"] = "mlp"
        arch["layers"] = []
        arch["variant"] = "linear"
    elif spec.kind == "sequence":
        if len(shape) != 2:
            raise UserError(
                "model.sequence needs windowed data (rows × lookback × features): add prep.window "
                "before the split, or use model.mlp for plain tables"
            )
        cell = str(config.get("cell", "gru")).lower()
        if cell not in SEQUENCE_CELLS:
            raise UserError(f"cell: {cell!r} is not one of {', '.join(SEQUENCE_CELLS)}")
        arch["cell"] = cell
        arch["hidden"] = int(config.get("hidden", 64))
        arch["num_layers"] = int(config.get("num_layers", 1))
        arch["dropout"] = float(config.get("dropout", 0.0))
        arch["bidirectional"] = bool(config.get("bidirectional", False))
        arch["kernel_size"] = int(config.get("kernel_size", 3))
    else:
        raise UserError(
            f"model: unknown kind {spec.kind!r}; use mlp, linear, sequence, cnn, resnet or pretrained"
        )
    return build_model_from_architecture(arch), arch


def build_model_from_architecture(arch: dict[str, Any]) -> nn.Module:
    """Rebuild the (untrained) module an architecture dict describes; load weights into it afterwards."""
    kind = arch.get("kind")
    if kind in ("cnn", "resnet"):
        from workbench.engine.vision import build_vision

        return build_vision(arch)
    shape = [int(s) for s in arch["input_shape"]]
    n_outputs = int(arch["n_outputs"])
    if kind == "mlp":
        return MLPNet(math.prod(shape), list(arch.get("layers", [])), n_outputs)
    if kind == "sequence":
        cell = arch["cell"]
        if cell == "cnn1d":
            channels = [arch["hidden"]] * max(1, arch["num_layers"])
            return ConvNet1d(shape[-1], channels, arch["kernel_size"], arch["dropout"], n_outputs)
        return RecurrentNet(
            shape[-1],
            cell,
            arch["hidden"],
            arch["num_layers"],
            arch["dropout"],
            arch["bidirectional"],
            n_outputs,
        )
    raise ValueError(f"unknown architecture kind {kind!r}")

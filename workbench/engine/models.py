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

from workbench.engine import architectures as registry
from workbench.errors import UserError
from workbench.export.reader import ACTIVATIONS, HEADS, SEQUENCE_CELLS  # noqa: F401 - the app's one list

ARCHITECTURE_FORMAT = 1


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


def default_spec(input_shape: tuple[int, ...] | None = None) -> ModelSpec:
    """The model trained when none is wired in: the registered default for the data, with its node's defaults.

    Tables get the product brief's classic example, Dense(128, relu) → head. Windows from ``prep.window``
    (one row is ``(lookback, features)``) get a GRU(64): on the bundled price series the flattened MLP stayed
    at R² 0.90–0.91, below gradient boosting (0.93), while the GRU reached 0.94–0.95 (docs/examples.md).
    Images (h, w, c) from data.images get the small CNN.
    """
    entry = registry.default_for(registry.reads_for_shape(input_shape))
    return ModelSpec(entry.kind, entry.defaults())


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

    ``input_shape`` is one row's shape: ``(f,)`` for tables, ``(lookback, f)`` after windows. The kind's
    builder comes from the architecture registry (workbench/engine/architectures.py).
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}")
    entry = registry.get(spec.kind)
    return entry.builder()(dict(spec.config), [int(s) for s in input_shape], int(n_outputs), head)


def build_model_from_architecture(arch: dict[str, Any]) -> nn.Module:
    """Rebuild the (untrained) module an architecture dict describes; load weights into it afterwards."""
    return registry.for_architecture(arch.get("kind")).rebuilder()(arch)


def architecture_header(kind: str, shape: list[int], n_outputs: int, head: str) -> dict[str, Any]:
    """The fields every architecture dict starts with; a builder adds its own."""
    return {"format": ARCHITECTURE_FORMAT, "kind": kind, "input_shape": list(shape), "n_outputs": int(n_outputs),
            "head": head}  # fmt: skip


def build_mlp(config: dict[str, Any], shape: list[int], n_outputs: int, head: str) -> tuple[nn.Module, dict]:
    arch = architecture_header("mlp", shape, n_outputs, head)
    layers = [dict(layer) for layer in config.get("layers", registry.DEFAULT_LAYERS)]
    for index, layer in enumerate(layers, start=1):
        if int(layer.get("units", 0)) < 1:
            raise UserError(f"layers item {index}: units must be at least 1")
        layer.setdefault("activation", "relu")
        layer.setdefault("dropout", 0.0)
        layer.setdefault("batch_norm", False)
    arch["layers"] = layers
    return rebuild_mlp(arch), arch


def build_linear(
    config: dict[str, Any], shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict]:
    """No hidden layers; saved as an ``mlp`` with ``variant: linear``, so bundles need no kind of their own."""
    arch = architecture_header("mlp", shape, n_outputs, head)
    arch["layers"] = []
    arch["variant"] = "linear"
    return rebuild_mlp(arch), arch


def build_sequence(
    config: dict[str, Any], shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict]:
    if len(shape) != 2:
        raise UserError(
            "model.sequence needs windowed data (rows × lookback × features): add prep.window "
            "before the split, or use model.mlp for plain tables"
        )
    cell = str(config.get("cell", "gru")).lower()
    if cell not in SEQUENCE_CELLS:
        raise UserError(f"cell: {cell!r} is not one of {', '.join(SEQUENCE_CELLS)}")
    defaults = registry.get("sequence").defaults()
    arch = architecture_header("sequence", shape, n_outputs, head)
    arch["cell"] = cell
    arch["hidden"] = int(config.get("hidden", defaults["hidden"]))
    arch["num_layers"] = int(config.get("num_layers", defaults["num_layers"]))
    arch["dropout"] = float(config.get("dropout", defaults["dropout"]))
    arch["bidirectional"] = bool(config.get("bidirectional", defaults["bidirectional"]))
    arch["kernel_size"] = int(config.get("kernel_size", defaults["kernel_size"]))
    return rebuild_sequence(arch), arch


def rebuild_mlp(arch: dict[str, Any]) -> nn.Module:
    shape = [int(s) for s in arch["input_shape"]]
    return MLPNet(math.prod(shape), list(arch.get("layers", [])), int(arch["n_outputs"]))


def rebuild_sequence(arch: dict[str, Any]) -> nn.Module:
    shape = [int(s) for s in arch["input_shape"]]
    n_outputs = int(arch["n_outputs"])
    if arch["cell"] == "cnn1d":
        channels = [arch["hidden"]] * max(1, arch["num_layers"])
        return ConvNet1d(shape[-1], channels, arch["kernel_size"], arch["dropout"], n_outputs)
    return RecurrentNet(
        shape[-1],
        arch["cell"],
        arch["hidden"],
        arch["num_layers"],
        arch["dropout"],
        arch["bidirectional"],
        n_outputs,
    )

"""Transfer learning: start from this app's bundle or checkpoint, freeze layers, replace the head.

Weights are read safely and checked the same way everywhere: a bundle (folder, its .zip, or a file in it)
through ``workbench.export.reader.open_bundle`` (manifest checksums, field checks, architecture limits), a
checkpoint through ``torch.load(weights_only=True)`` with the same architecture limits. Nothing is unpickled,
and the weights' names and shapes are compared with the architecture before the real module is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.errors import UserError

FREEZE_MODES = ("none", "all_but_head", "layers")


def _bundle_folder(path: Path) -> Path | None:
    """The bundle a source names: a folder, a .zip, or one of a bundle's files (e.g. weights.safetensors)."""
    from workbench.export.bundle import FILES

    if path.is_dir() or path.suffix.lower() == ".zip":
        return path
    if path.name in (*FILES, "manifest.json"):
        return path.parent
    return None


def load_pretrained(source: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the source's module and load its weights (strictly), after every check a bundle or checkpoint
    gets anywhere else in the app."""
    from workbench.export.reader import build_checked, check_architecture, load_module, open_bundle

    path = Path(source)
    if not path.exists():
        raise UserError(
            f"source: {path} does not exist; choose an exported bundle folder or a checkpoint (.pt)"
        )
    folder = _bundle_folder(path)
    if folder is not None:
        bundle = open_bundle(folder)
        return load_module(bundle), dict(bundle.architecture)
    from workbench.engine.checkpoint import load_checkpoint

    try:
        data = load_checkpoint(path)
    except (ValueError, RecursionError):  # its architecture text is not JSON
        raise UserError(
            f"checkpoint {path.name}: architecture is not valid JSON; use another checkpoint"
        ) from None
    if not data.get("architecture"):
        raise UserError(f"source: {path.name} has no architecture; export a bundle or use a newer checkpoint")
    where = f"checkpoint {path.name}: architecture"
    arch = check_architecture(data["architecture"], where)
    state = data["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(
            f"checkpoint {path.name}: the model weights are not a set of tensors; use another file"
        )
    module = build_checked(arch, {str(k): tuple(v.shape) for k, v in state.items()}, where)
    try:
        module.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise UserError(
            f"source: weights do not match the saved architecture ({str(exc).splitlines()[0]})"
        ) from None
    return module, dict(arch)


def replace_head(module: nn.Module, n_outputs: int) -> nn.Module:
    """A fresh ``nn.Linear`` head with ``n_outputs`` outputs (same input width)."""
    old = module.head
    module.head = nn.Linear(old.in_features, n_outputs)
    return module


def layer_names(module: nn.Module) -> list[str]:
    """Names that can be frozen: each block of ``body`` (``body.0``, ``body.1`` …, or ``body``), and ``head``."""
    body = getattr(module, "body", None)
    names = (
        [f"body.{name}" for name, _ in body.named_children()] if isinstance(body, nn.Sequential) else ["body"]
    )
    return [n for n in names if any(True for _ in module.get_submodule(n).parameters())] + ["head"]


def freeze(module: nn.Module, mode: str = "all_but_head", layers: list[str] | None = None) -> list[str]:
    """Freeze parameters (``requires_grad=False``); returns the frozen layer names.

    Frozen layers are also kept in eval mode during training (see :class:`FrozenEval`), so batch-norm
    statistics stay bit-identical too.
    """
    if mode not in FREEZE_MODES:
        raise UserError(f"freeze: {mode!r} is not one of {', '.join(FREEZE_MODES)}")
    available = layer_names(module)
    if mode == "none":
        chosen: list[str] = []
    elif mode == "all_but_head":
        chosen = [n for n in available if n != "head"]
    else:
        chosen = list(layers or [])
        unknown = [n for n in chosen if n not in available]
        if unknown:
            raise UserError(f"layers: {', '.join(unknown)} not found; this model has {', '.join(available)}")
    for name in chosen:
        for p in module.get_submodule(name).parameters():
            p.requires_grad_(False)
    module.frozen_layers = chosen  # type: ignore[assignment]
    _install_frozen_eval(module)
    return chosen


def _install_frozen_eval(module: nn.Module) -> None:
    """Make ``module.train()`` leave frozen layers in eval mode (dropout/batch norm stay fixed)."""
    if getattr(module, "_frozen_eval_installed", False):
        return
    original = module.train

    def train(mode: bool = True) -> nn.Module:
        original(mode)
        for name in getattr(module, "frozen_layers", []):
            module.get_submodule(name).eval()
        return module

    module.train = train  # type: ignore[method-assign]
    module._frozen_eval_installed = True  # type: ignore[attr-defined]


def build_pretrained(
    config: dict[str, Any], input_shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict[str, Any]]:
    """The ``pretrained`` ModelSpec kind: load, check the input shape, replace the head if needed, freeze."""
    source = config.get("source")
    if not source:
        raise UserError("source: choose an exported bundle folder or a checkpoint file")
    module, arch = load_pretrained(source)
    if list(arch["input_shape"]) != list(input_shape):
        raise UserError(
            f"source: the pretrained model expects inputs of shape {arch['input_shape']} but this dataset gives "
            f"{input_shape}; use the same feature columns (and window) as the original"
        )
    replace = config.get("replace_head", "auto")
    if replace == "always" or int(arch["n_outputs"]) != n_outputs or arch.get("head") != head:
        replace_head(module, n_outputs)
        arch["n_outputs"] = n_outputs
        arch["head_replaced"] = True
    arch["head"] = head
    arch["pretrained_from"] = str(source)
    frozen = freeze(module, config.get("freeze", "all_but_head"), config.get("layers"))
    arch["frozen_layers"] = frozen
    return module, arch

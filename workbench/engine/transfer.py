"""Transfer learning: start from this app's bundle or checkpoint, or a torchvision/timm ResNet weights file;
freeze layers, replace the head, let frozen layers learn again after N epochs.

Weights are read safely and checked the same way everywhere: a bundle (folder, its .zip, or a file in it;
tables and images alike) through ``workbench.export.reader.open_bundle`` (manifest checksums, field checks,
architecture limits), a checkpoint through ``torch.load(weights_only=True)`` with the same architecture
limits, and a user's ResNet-18/34 state dict (``.safetensors``, or a ``.pt``/``.pth`` read with
``weights_only=True``) by comparing its names with torchvision's before anything is loaded. Nothing is
unpickled. An exported bundle's ``model.pt2``/``model.onnx`` are not trainable; its ``weights.safetensors`` +
``architecture.json`` are what is loaded here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.engine.callbacks import Callback
from workbench.errors import UserError

FREEZE_MODES = ("none", "all_but_head", "layers")
_IMAGE_KINDS = ("cnn", "resnet")


def _bundle_folder(path: Path) -> Path | None:
    """The bundle a source names: a folder, a .zip, or one of a bundle's files (e.g. weights.safetensors);
    a weights file on its own (no manifest or architecture beside it) is a user's weights file instead."""
    from workbench.export.bundle import FILES

    if path.is_dir() or path.suffix.lower() == ".zip":
        return path
    if path.name in (*FILES, "manifest.json") and any(
        (path.parent / name).is_file() for name in ("manifest.json", "architecture.json")
    ):
        return path.parent
    return None


def _read_file(path: Path) -> Any:
    """What a non-bundle source holds: tensors from .safetensors, else ``torch.load(weights_only=True)``."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(f"source: {path.name} cannot be read as safetensors ({first})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        # torch's text advises turning the safety off (weights_only=False): never repeat that advice
        if "weights_only" in text or "Weights only" in text:
            text = "it is damaged or holds objects other than tensors and plain values; it is not loaded"
        raise UserError(f"source: {path.name} cannot be read safely ({text})") from None


def _is_checkpoint(data: Any) -> bool:
    """A Model Workbench checkpoint (``model`` weights and, from newer versions, an ``architecture``)."""
    return isinstance(data, dict) and "model" in data and ("architecture" in data or "optimizer" in data)


def weights_state(data: Any, path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from what a weights file holds (also one level down under ``state_dict`` or
    ``model``, as timm and Lightning save it), its names without wrapper prefixes (``module.`` …)."""
    from workbench.engine.vision import strip_prefixes

    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise UserError(
            f"source: {path.name} is not a state dict (names → tensors); save the model's state_dict() with "
            "safetensors or torch.save"
        )
    state: dict[str, torch.Tensor] = {}
    for key, value in data.items():
        state[strip_prefixes(str(key))] = value
    return state


def load_pretrained(source: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the source's module and load its weights (strictly), after every check a bundle or checkpoint
    gets anywhere else in the app."""
    from workbench.export.reader import load_module, open_bundle

    path = Path(source)
    if not path.exists():
        raise UserError(
            f"source: {path} does not exist; choose an exported bundle folder or a checkpoint (.pt)"
        )
    folder = _bundle_folder(path)
    if folder is not None:
        bundle = open_bundle(folder)
        return load_module(bundle), dict(bundle.architecture)
    data = _read_file(path)
    if not _is_checkpoint(data):
        if isinstance(data, dict) and "model" in data:
            raise UserError(
                f"source: {path.name} has no architecture; export a bundle or use a newer checkpoint"
            )
        raise UserError(
            f"source: {path.name} holds weights without an architecture; start an image model from it with "
            "model.pretrained in a pipeline (a torchvision/timm ResNet-18/34), or export a bundle"
        )
    return _from_checkpoint(data, path)


def _from_checkpoint(data: dict[str, Any], path: Path) -> tuple[nn.Module, dict[str, Any]]:
    from workbench.export.reader import build_checked, check_architecture

    if isinstance(data.get("architecture"), str):
        try:
            data["architecture"] = json.loads(data["architecture"])
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
    """A fresh ``nn.Linear`` head with ``n_outputs`` outputs (same input width). A ResNet keeps torchvision's
    name ``fc`` for it (``head`` is a read-only alias there), so the new layer goes where the module keeps it."""
    old = module.head
    if not isinstance(old, nn.Linear):
        raise UserError(
            f"the model's head is a {type(old).__name__}, not a linear layer; it cannot be replaced"
        )
    name = "fc" if isinstance(getattr(type(module), "head", None), property) else "head"
    setattr(module, name, nn.Linear(old.in_features, n_outputs))
    return module


def layer_names(module: nn.Module) -> list[str]:
    """Names that can be frozen: each block of ``body`` (``body.0``, ``body.1`` …), or for a model without a
    body (the ResNet) its top-level layers (``conv1``, ``bn1``, ``layer1`` … ``layer4``); and ``head``."""
    body = getattr(module, "body", None)
    if isinstance(body, nn.Sequential):
        names = [f"body.{name}" for name, _ in body.named_children()]
    elif body is None and isinstance(getattr(module, "head", None), nn.Module):
        names = [name for name, child in module.named_children() if child is not module.head]
    else:
        names = ["body"]
    return [n for n in names if any(True for _ in module.get_submodule(n).parameters())] + ["head"]


def freeze(
    module: nn.Module,
    mode: str = "all_but_head",
    layers: list[str] | None = None,
    fresh: tuple[str, ...] = (),
) -> list[str]:
    """Freeze parameters (``requires_grad=False``); returns the frozen layer names. ``fresh`` layers (started
    afresh because the weights did not fit them) are left out of ``all_but_head``: frozen, they would stay random.

    Frozen layers are also kept in eval mode during training (see ``_install_frozen_eval``), so batch-norm
    statistics stay bit-identical too.
    """
    if mode not in FREEZE_MODES:
        raise UserError(f"freeze: {mode!r} is not one of {', '.join(FREEZE_MODES)}")
    available = layer_names(module)
    if mode == "none":
        chosen: list[str] = []
    elif mode == "all_but_head":
        chosen = [n for n in available if n != "head" and n not in fresh]
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
    setattr(module, "_frozen_eval_installed", True)  # noqa: B010 - an attribute nn.Module does not declare


class Unfreeze(Callback):
    """From epoch ``after + 1`` on, the frozen layers learn too (and leave eval mode). The trainer puts every
    parameter of a model carrying this callback in the optimiser from the start — without a gradient a frozen
    one is skipped — so a checkpoint's optimiser state fits before and after, and resuming works."""

    def __init__(self, after: int) -> None:
        self.after = int(after)

    def on_epoch_start(self, state: Any) -> None:
        model = state.model
        names = list(getattr(model, "frozen_layers", []))
        if state.epoch <= self.after or not names:
            return
        for name in names:
            for p in model.get_submodule(name).parameters():
                p.requires_grad_(True)
        model.frozen_layers = []
        model.train()
        state.n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        state.log(f"epoch {state.epoch}: {', '.join(names)} unfrozen; every layer learns from now on")


def build_pretrained(
    config: dict[str, Any], input_shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict[str, Any]]:
    """The ``pretrained`` ModelSpec kind: load (a bundle, a checkpoint, or a ResNet weights file for images),
    fit the input, replace the head if needed, freeze, and schedule the unfreezing (``unfreeze_after``)."""
    source = config.get("source")
    if not source:
        raise UserError("source: choose an exported bundle folder, a checkpoint or a weights file")
    path = Path(source)
    fresh: tuple[str, ...] = ()
    if not path.exists():
        raise UserError(
            f"source: {path} does not exist; choose an exported bundle folder, a checkpoint (.pt) or a weights "
            "file (.safetensors)"
        )
    if _bundle_folder(path) is not None:
        module, arch = load_pretrained(path)
    elif _is_checkpoint(data := _read_file(path)):
        module, arch = _from_checkpoint(data, path)
    else:  # a user's weights file: the architecture comes from its names and this data
        module, arch = _from_weights(weights_state(data, path), path, list(input_shape), n_outputs, head)
        fresh = tuple(arch.get("fresh_layers", ()))
    if arch.get("kind") in _IMAGE_KINDS:
        module, arch = _fit_picture_size(module, arch, list(input_shape), path)
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
    frozen = freeze(module, config.get("freeze", "all_but_head"), config.get("layers"), fresh)
    arch["frozen_layers"] = frozen
    after = int(config.get("unfreeze_after", 0) or 0)
    if after > 0 and frozen:
        setattr(module, "fit_callbacks", [Unfreeze(after)])  # noqa: B010 - the trainer adds these
        arch["unfreeze_after"] = after
    return module, arch


def _fit_picture_size(
    module: nn.Module, arch: dict[str, Any], shape: list[int], path: Path
) -> tuple[nn.Module, dict[str, Any]]:
    """An image model for this data's picture size: its weights do not depend on the size (convolutions and
    global pooling), only on the channels, which must match."""
    from workbench.engine.vision import build_vision

    have = list(arch["input_shape"])
    if len(shape) != 3:
        raise UserError(
            f"source: {path.name} is an image model; connect data.images → data.split (rows of shape {shape} are "
            "not pictures)"
        )
    if shape[2] != have[2]:
        word = {1: "grey", 3: "colour"}
        raise UserError(
            f"source: the pretrained model reads {word[have[2]]} pictures but this data gives {word[shape[2]]} "
            f"ones; set data.images channels to {word[have[2]]}"
        )
    if shape == have:
        return module, arch
    arch = dict(arch, input_shape=shape, pretrained_input_shape=have)
    resized = build_vision(arch)
    resized.load_state_dict(module.state_dict())
    return resized, arch


def _resnet_depth(state: dict[str, torch.Tensor], path: Path) -> int:
    """18 or 34 from the blocks of ``layer3`` in a torchvision-named state dict."""
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("layer3.") and k.split(".")[1].isdigit()}
    if any(".conv3." in k for k in state if k.startswith("layer")):
        raise UserError(
            f"source: {path.name} is a ResNet with bottleneck blocks (ResNet-50 or deeper); give ResNet-18/34 weights"
        )
    depth = {2: 18, 6: 34}.get(len(blocks))
    if depth is None or "conv1.weight" not in state:
        first = ", ".join(list(state)[:3])
        raise UserError(
            f"source: {path.name} does not hold a torchvision/timm ResNet-18/34 state dict (its first names: "
            f"{first}); names must be torchvision's: conv1.weight, layer1.0.conv1.weight, …, fc.weight (a model "
            "this app exported: choose its bundle folder)"
        )
    return depth


def _from_weights(
    state: dict[str, torch.Tensor], path: Path, shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict[str, Any]]:
    """A ResNet-18/34 for this data from a user's torchvision/timm state dict: the names must all match (the
    head ``fc`` aside); a colour ``conv1`` is summed for grey pictures, a 7×7 one is started afresh for small
    pictures (the 3×3 stem), and the inputs are normalised as those weights were trained (ImageNet's)."""
    from workbench.engine.vision import build_vision, fit_resnet_state, vision_architecture
    from workbench.images.data import IMAGENET_MEAN, IMAGENET_STD

    if len(shape) != 3:
        raise UserError(
            f"source: {path.name} holds ResNet weights, for pictures; connect data.images → data.split (rows of "
            f"shape {shape} are not pictures)"
        )
    depth = _resnet_depth(state, path)
    mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    if shape[2] == 1:
        mean, std = [sum(mean) / 3], [sum(std) / 3]
    stem = "small" if state["conv1.weight"].shape[-1] == 3 else "auto"
    config = {"depth": depth, "stem": stem, "mean": mean, "std": std}
    arch = vision_architecture("resnet", config, shape, n_outputs, head)
    module = build_vision(arch)
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith("fc.")]
    unexpected = [k for k in state if k not in own and not k.startswith("fc.")]
    if missing or unexpected:
        parts = ([f"missing {', '.join(missing[:3])}"] if missing else []) + (
            [f"unexpected {', '.join(unexpected[:3])}"] if unexpected else []
        )
        raise UserError(
            f"source: {path.name} does not match a torchvision ResNet-{depth} ({'; '.join(parts)}); "
            "the names must be torchvision's"
        )
    notes, fresh, head_replaced = fit_resnet_state(module, state, path.name, "source")
    if head_replaced:
        arch["head_replaced"] = True  # a new head for these classes
    arch.update(weights_notes=notes, fresh_layers=fresh)
    return module, arch

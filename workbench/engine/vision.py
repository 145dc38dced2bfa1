"""Image models: a configurable small CNN and ResNet-18/34 with torchvision's parameter names.

Every image model reads what a file gives: pixels 0–255, (n, height, width, channels), uint8 or float. The
first module (``PixelInput``) turns them into normalised (n, c, h, w) floats with the mean and spread the
architecture records (non-persistent buffers, so state dicts hold only the network's own weights and a
torchvision/timm ResNet state dict saved as safetensors loads by name). The exported ONNX graph therefore
takes uint8 images and normalises inside; predict.py only decodes and resizes.

``head`` is the last ``nn.Linear`` as for every model in the app; the ResNet keeps torchvision's name ``fc``
for it (``head`` is an alias) so weight files need no renaming.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from workbench.engine.architectures import MAX_BLOCKS, MAX_WIDTH, RESNET_DEPTHS, get
from workbench.errors import UserError

DEFAULT_CNN: dict[str, Any] = get("cnn").defaults()  # model.cnn's defaults (registered there)


class PixelInput(nn.Module):
    """(n, h, w, c) pixels 0–255 → normalised (n, c, h, w) floats: ``(x / 255 - mean) / std`` per channel."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        mean_t = torch.tensor([float(m) * 255.0 for m in mean]).view(1, -1, 1, 1)
        std_t = torch.tensor([float(s) * 255.0 for s in std]).view(1, -1, 1, 1)
        self.register_buffer("mean", mean_t, persistent=False)
        self.register_buffer("std", std_t, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float()
        return (x - self.mean) / self.std


def _conv_block(c_in: int, c_out: int, batch_norm: bool) -> list[nn.Module]:
    parts: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        parts.append(nn.BatchNorm2d(c_out))
    parts.append(nn.ReLU(inplace=True))
    return parts


class SmallCNN(nn.Module):
    """``blocks`` × (conv3×3 → BN → ReLU → conv3×3 → BN → ReLU → max-pool 2), the width doubling each block,
    then global average pooling, dropout and the head. Defaults (3 blocks from 32 channels, BN, dropout 0.25)
    reach ~98 % on the 8×8 digits upscaled to 32 px in a few CPU epochs."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        size, channels = int(arch["input_shape"][0]), int(arch["input_shape"][2])
        self.input = PixelInput(arch["mean"], arch["std"])
        layers: list[nn.Module] = []
        width, c_in = int(arch["width"]), channels
        for _ in range(int(arch["blocks"])):
            layers += _conv_block(c_in, width, arch["batch_norm"]) + _conv_block(
                width, width, arch["batch_norm"]
            )
            if size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in, width = width, min(MAX_WIDTH, width * 2)
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(float(arch["dropout"])) if float(arch["dropout"]) > 0 else nn.Identity()
        self.head = nn.Linear(c_in, int(arch["n_outputs"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.body(self.input(x))).flatten(1)
        return self.head(self.dropout(h))


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock, with its attribute names (conv1, bn1, conv2, bn2, downsample)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet-18/34 laid out as torchvision's (conv1, bn1, layer1–4, fc). ``stem='small'`` swaps the 7×7/2
    convolution and max-pool for a 3×3/1 convolution, for images of 32–64 px (conv1 then loads no weights)."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        channels = int(arch["input_shape"][2])
        self.input = PixelInput(arch["mean"], arch["std"])
        small = arch.get("stem") == "small"
        self.conv1 = nn.Conv2d(
            channels, 64, 3 if small else 7, 1 if small else 2, 1 if small else 3, bias=False
        )
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool: nn.Module = nn.Identity() if small else nn.MaxPool2d(3, 2, 1)
        c_in = 64
        for index, (blocks, width) in enumerate(
            zip(RESNET_DEPTHS[int(arch["depth"])], (64, 128, 256, 512), strict=True)
        ):
            stride = 1 if index == 0 else 2
            layer = [BasicBlock(c_in, width, stride)] + [
                BasicBlock(width, width, 1) for _ in range(blocks - 1)
            ]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
            c_in = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, int(arch["n_outputs"]))

    @property
    def head(self) -> nn.Linear:
        return self.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input(x)))))
        for index in range(1, 5):  # layer1 … layer4 (set by name, as torchvision's)
            x = getattr(self, f"layer{index}")(x)
        return self.fc(self.avgpool(x).flatten(1))


def vision_architecture(
    kind: str, config: dict[str, Any], shape: list[int], n_outputs: int, head: str
) -> dict[str, Any]:
    """The architecture dict of an image model; ``shape`` is one image's (h, w, c)."""
    from workbench.engine.models import ARCHITECTURE_FORMAT

    if len(shape) != 3 or shape[2] not in (1, 3):
        raise UserError(
            f"model.{kind} reads images: connect data.images → data.split (rows of shape {shape} are not images)"
        )
    channels = shape[2]
    mean = [float(v) for v in config.get("mean", [0.5] * channels)]
    std = [float(v) for v in config.get("std", [0.25] * channels)]
    arch: dict[str, Any] = {"format": ARCHITECTURE_FORMAT, "kind": kind, "input_shape": list(shape),
                            "n_outputs": int(n_outputs), "head": head, "mean": mean, "std": std}  # fmt: skip
    if kind == "cnn":
        blocks, width = (
            int(config.get("blocks", DEFAULT_CNN["blocks"])),
            int(config.get("width", DEFAULT_CNN["width"])),
        )
        if not 1 <= blocks <= MAX_BLOCKS or not 1 <= width <= MAX_WIDTH:
            raise UserError(
                f"model.cnn: blocks 1–{MAX_BLOCKS} and width 1–{MAX_WIDTH}, not {blocks} and {width}"
            )
        arch.update(blocks=blocks, width=width, dropout=float(config.get("dropout", DEFAULT_CNN["dropout"])),
                    batch_norm=bool(config.get("batch_norm", DEFAULT_CNN["batch_norm"])))  # fmt: skip
    else:
        depth = int(config.get("depth", get("resnet").defaults()["depth"]))
        if depth not in RESNET_DEPTHS:
            raise UserError(f"model.resnet: depth must be 18 or 34, not {depth}")
        stem = str(config.get("stem", "auto"))
        if stem == "auto":  # the 7×7/2 stem and pooling leave a 32 px picture 8 px wide before layer1
            stem = "small" if shape[0] < 96 else "imagenet"
        arch.update(depth=depth, stem=stem)
    return arch


def build_vision(arch: dict[str, Any]) -> nn.Module:
    return SmallCNN(arch) if arch["kind"] == "cnn" else ResNet(arch)


def build_vision_model(kind: str, config: dict[str, Any], shape: list[int], n_outputs: int,
                       head: str) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """(module, architecture) for model.cnn / model.resnet; loads and freezes as the config asks."""
    arch = vision_architecture(kind, config, shape, n_outputs, head)
    module = build_vision(arch)
    fresh: list[str] = []
    if kind == "resnet" and config.get("weights"):
        arch["weights_notes"], fresh = load_resnet_weights(module, Path(config["weights"]))
    freeze = str(config.get("freeze", "none"))
    if freeze == "backbone":  # the head and any layer started afresh keep learning
        learning = ("fc.", "head.", *(f"{layer}." for layer in fresh))
        for name, param in module.named_parameters():
            param.requires_grad = name.startswith(learning)
    return module, arch


def build_cnn(config: dict[str, Any], shape: list[int], n_outputs: int, head: str) -> tuple[nn.Module, dict]:
    return build_vision_model("cnn", config, shape, n_outputs, head)


def build_resnet(
    config: dict[str, Any], shape: list[int], n_outputs: int, head: str
) -> tuple[nn.Module, dict]:
    return build_vision_model("resnet", config, shape, n_outputs, head)


WEIGHT_PREFIXES = ("module.", "model.", "backbone.")  # DataParallel, Lightning and timm wrappers


def strip_prefixes(name: str) -> str:
    """A weight's name without the wrappers' prefixes, as torchvision names it."""
    for prefix in WEIGHT_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
    return name


def load_resnet_weights(module: nn.Module, path: Path) -> tuple[list[str], list[str]]:
    """Load a torchvision/timm ResNet state dict from ``path`` (safetensors only: never pickle) into
    ``module`` (see fit_resnet_state). Returns (notes for the log, layers started afresh)."""
    if path.suffix.lower() != ".safetensors":
        raise UserError(
            f"weights: {path.name} is not a .safetensors file; save the state dict with safetensors"
        )
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        loaded = {strip_prefixes(k): v for k, v in load_file(str(path)).items()}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"weights: {path.name} cannot be read ({str(exc).splitlines()[0]})") from None
    missing = [k for k in module.state_dict() if k not in loaded and not k.startswith("fc.")]
    if missing:
        raise UserError(
            f"weights: {path.name} does not fit this ResNet: {len(missing)} weight(s) missing, e.g. "
            f"{', '.join(missing[:3])}; give a torchvision/timm ResNet of the same depth"
        )
    notes, fresh, _ = fit_resnet_state(module, loaded, path.name, "weights")
    return notes, fresh


def fit_resnet_state(
    module: nn.Module, state: dict[str, torch.Tensor], source: str, field: str
) -> tuple[list[str], list[str], bool]:
    """Copy a torchvision-named ResNet state dict into ``module`` (model.resnet's weights file and
    model.pretrained's both come here). The head ``fc`` is started afresh when its shape differs (new classes);
    a colour ``conv1`` is summed to one channel for grey pictures; a ``conv1`` of another shape (the small
    pictures' 3×3 stem) is started afresh with ``bn1``, both to keep learning; anything else that does not fit
    is one UserError naming ``field``, the file and the weight. Returns (notes, layers afresh, head replaced)."""
    own = module.state_dict()
    take: dict[str, torch.Tensor] = {}
    notes: list[str] = []
    fresh: list[str] = []
    head_replaced = False
    for key, target in own.items():
        value = state.get(key)
        if value is None:
            continue
        if key == "conv1.weight" and value.shape != target.shape:
            if (
                value.shape[0] == target.shape[0]
                and value.shape[2:] == target.shape[2:]
                and target.shape[1] == 1
            ):
                value = value.sum(dim=1, keepdim=True)
                notes.append("conv1: colour weights summed for grey pictures")
            else:
                notes.append("conv1: started afresh (small pictures: the 3×3 stem); it and bn1 keep learning")
                fresh += ["conv1", "bn1"]
                continue
        if key.startswith("fc.") and value.shape != target.shape:
            if not head_replaced:
                notes.append(
                    f"fc: new head for {target.shape[0]} output(s) (the file's has {value.shape[0]})"
                )
            head_replaced = True
            continue
        if value.shape != target.shape:
            raise UserError(
                f"{field}: {source}: {key} has shape {list(value.shape)} but the model needs {list(target.shape)}"
            )
        take[key] = value.to(target.dtype)
    module.load_state_dict(take, strict=False)
    notes.insert(0, f"loaded {len(take)} of {len(own)} tensors from {source}")
    return notes, fresh, head_replaced

"""The architecture registry: every model kind the app can build, registered once.

An :class:`Architecture` names its kind (what a ``ModelSpec`` and an ``architecture.json`` say), its
parameters (choices, defaults and limits: the ``model.<kind>`` node is generated from them, so the node and
the engine cannot disagree), the function that builds the module for a dataset's shapes and the one that
rebuilds it from a saved architecture dict. Adding an architecture is one :func:`register` call; no
if/elif chain anywhere needs editing.

Builders are named as ``"module:function"`` strings and imported on first use, so this module (and the node
catalog reading it) imports neither torch nor the model code. The built-in catalog reads the registry when it
is built; a plugin registers its architecture and lists ``workbench.nodes.model.model_node(kind)`` in its
``NODE_TYPES`` (plugins load after the built-in nodes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from workbench import params as P
from workbench.errors import UserError
from workbench.export import reader as limits  # the limits bundles and checkpoints are checked against

# build(config, input_shape, n_outputs, head) -> (module, architecture dict)
Builder = Callable[[dict[str, Any], list[int], int, str], tuple[Any, dict[str, Any]]]
# rebuild(architecture dict) -> untrained module
Rebuilder = Callable[[dict[str, Any]], Any]


class PathResolver(Protocol):
    """What a model node's config needs from its run context (a ``NodeContext`` is one): finding files."""

    def resolve_path(self, value: str | Path, must_exist: bool = True) -> Path: ...


# node_config(ctx, params) -> the ModelSpec config a model node outputs
NodeConfig = Callable[[PathResolver, Mapping[str, Any]], dict[str, Any]]

READS = ("rows", "windows", "images")  # what one example is: a row (f,), a window (lookback, f), an image
MAX_BLOCKS, MAX_WIDTH = 6, 512  # model.cnn
RESNET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


@dataclass(frozen=True)
class Architecture:
    """One model kind. ``build``/``rebuild``/``node_config`` are callables or ``"module:function"``.

    ``reads``: the data it takes (rows, windows or images; the node sits with the nodes for that data);
    ``default``: trained when no model node is wired in, for that data; ``node``: generate a ``model.<kind>``
    node (False for kinds with a hand-written node); ``rebuilds``: the architecture-dict kind its
    ``rebuild`` handles when it differs from ``kind`` (``linear`` saves as an ``mlp``).
    """

    kind: str
    title: str
    build: Builder | str
    rebuild: Rebuilder | str | None = None
    params: tuple[P.Param, ...] = ()
    help: str = ""
    summary: tuple[str, ...] = ()
    reads: str = "rows"
    default: bool = False
    node: bool = True
    node_config: NodeConfig | str | None = None
    rebuilds: str | None = None

    def builder(self) -> Builder:
        return _load(self.build)

    def rebuilder(self) -> Rebuilder:
        if self.rebuild is None:
            raise ValueError(f"architecture {self.kind!r} cannot be rebuilt from a saved architecture")
        return _load(self.rebuild)

    def defaults(self) -> dict[str, Any]:
        """The config a model node gives with its defaults (fresh copies)."""
        return P.default_values(self.params)

    def config_from_params(self, ctx: PathResolver, params: Mapping[str, Any]) -> dict[str, Any]:
        """What the ``model.<kind>`` node outputs as the spec's config."""
        if self.node_config is not None:
            return _load(self.node_config)(ctx, params)
        return {p.name: _copy(params[p.name]) for p in self.params}


_REGISTRY: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    """Add an architecture (a plugin may call this); a kind registered twice is a programming error."""
    if architecture.kind in _REGISTRY:
        raise ValueError(f"architecture {architecture.kind!r} is registered twice")
    if architecture.reads not in READS:
        raise ValueError(f"architecture {architecture.kind!r}: reads must be one of {READS}")
    _REGISTRY[architecture.kind] = architecture
    return architecture


def unregister(kind: str) -> None:
    """Remove a registered architecture (tests, plugins being unloaded)."""
    _REGISTRY.pop(kind, None)


def get(kind: str) -> Architecture:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UserError(f"model: unknown kind {kind!r}; use {', '.join(_REGISTRY)}") from None


def for_architecture(arch_kind: Any) -> Architecture:
    """The entry that rebuilds an architecture dict whose ``kind`` is ``arch_kind``."""
    for entry in _REGISTRY.values():
        if entry.rebuild is not None and (entry.rebuilds or entry.kind) == arch_kind:
            return entry
    raise ValueError(f"unknown architecture kind {arch_kind!r}")


def all_architectures() -> Iterator[Architecture]:
    return iter(tuple(_REGISTRY.values()))


def default_for(reads: str) -> Architecture:
    """The architecture trained when no model node is wired in, for ``reads`` data."""
    for entry in _REGISTRY.values():
        if entry.default and entry.reads == reads:
            return entry
    raise ValueError(f"no default architecture for {reads}")


def reads_for_shape(input_shape: tuple[int, ...] | None) -> str:
    """One example's shape → what it is: (f,) a row, (lookback, f) a window, (h, w, c) an image."""
    rank = len(input_shape) if input_shape is not None else 1
    return {2: "windows", 3: "images"}.get(rank, "rows")


def _load(ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _copy(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    return value


# ---- the built-in architectures ---------------------------------------------------------------------------

DEFAULT_LAYERS = ({"units": 128, "activation": "relu", "dropout": 0.0, "batch_norm": False},)
LAYER_FIELDS = (
    P.Int("units", 128, minimum=1, maximum=limits.MAX_UNITS, help="Neurons in this layer."),
    P.Choice("activation", "relu", choices=limits.ACTIVATIONS, help="Non-linearity after the layer."),
    P.Float(
        "dropout",
        0.0,
        minimum=0.0,
        maximum=limits.MAX_DROPOUT,
        help="Share of units dropped while training (0 = off).",
    ),
    P.Bool("batch_norm", False, help="Normalise the layer's outputs per batch (helps deep stacks)."),
)


def _resnet_config(ctx: PathResolver, params: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "depth": int(params["depth"]),
        "stem": params["stem"],
        "freeze": params["freeze"],
    }
    if params.get("weights"):
        config["weights"] = str(ctx.resolve_path(params["weights"]))
    elif params["freeze"] != "none":
        raise UserError("model.resnet: freezing the backbone needs weights; choose a .safetensors file")
    return config


register(
    Architecture(
        "mlp",
        "Neural network (MLP)",
        build="workbench.engine.models:build_mlp",
        rebuild="workbench.engine.models:rebuild_mlp",
        help=(
            "A stack of dense layers. Input and output sizes come from the dataset; the head follows the task: "
            "class logits (softmax), one logit for two classes (sigmoid), or regression outputs. The default "
            "is the classic Dense(128, relu) → softmax."
        ),
        params=(
            P.ListOf(
                "layers",
                default=DEFAULT_LAYERS,
                fields=LAYER_FIELDS,
                min_items=0,
                max_items=limits.MAX_LAYERS,
                help="Hidden layers from input to output; the output layer is added automatically.",
            ),
        ),
        summary=("layers",),
        default=True,
    )
)
register(
    Architecture(
        "linear",
        "Linear / logistic regression",
        build="workbench.engine.models:build_linear",
        help="No hidden layers: linear regression for numbers, logistic regression for classes. A baseline.",
    )
)
register(
    Architecture(
        "sequence",
        "Sequence model (GRU / LSTM / 1-D CNN)",
        build="workbench.engine.models:build_sequence",
        rebuild="workbench.engine.models:rebuild_sequence",
        help="For windows made by prep.window (price series, sensor data): reads each window of past rows.",
        params=(
            P.Choice(
                "cell",
                "gru",
                choices=limits.SEQUENCE_CELLS,
                labels={"gru": "GRU", "lstm": "LSTM", "cnn1d": "1-D convolution"},
            ),
            P.Int(
                "hidden",
                64,
                minimum=1,
                maximum=limits.MAX_HIDDEN,
                help="Hidden units (channels for the 1-D CNN).",
            ),
            P.Int(
                "num_layers",
                1,
                minimum=1,
                maximum=limits.MAX_RNN_LAYERS,
                help="Stacked recurrent / convolution layers.",
            ),
            P.Float(
                "dropout",
                0.0,
                minimum=0.0,
                maximum=limits.MAX_RNN_DROPOUT,
                help="Dropout between stacked layers.",
            ),
            P.Bool(
                "bidirectional",
                False,
                visible_if={"cell": ["gru", "lstm"]},
                help="Also read each window backwards.",
            ),
            P.Int(
                "kernel_size",
                3,
                minimum=1,
                maximum=limits.MAX_KERNEL,
                visible_if={"cell": "cnn1d"},
                help="Time steps per filter.",
            ),
        ),
        summary=("cell", "hidden"),
        reads="windows",
        default=True,
    )
)
register(
    Architecture(
        "cnn",
        "Image CNN",
        build="workbench.engine.vision:build_cnn",
        rebuild="workbench.engine.vision:build_vision",
        help=(
            "A small convolutional network for images from data.images: blocks of two 3×3 convolutions and a "
            "2× pooling, the channels doubling each block, then global pooling and the class head. The "
            "defaults train a good classifier for small pictures (digits: ~98 % in a few CPU epochs)."
        ),
        params=(
            P.Int(
                "blocks",
                3,
                minimum=1,
                maximum=MAX_BLOCKS,
                help="Convolution blocks; each halves the picture.",
            ),
            P.Int(
                "width",
                32,
                minimum=4,
                maximum=MAX_WIDTH,
                help="Channels of the first block (doubled per block).",
            ),
            P.Float("dropout", 0.25, minimum=0.0, maximum=0.9, help="Dropout before the head."),
            P.Bool("batch_norm", True, help="Batch normalisation after each convolution (trains faster)."),
        ),
        summary=("blocks", "width"),
        reads="images",
        default=True,
    )
)
register(
    Architecture(
        "resnet",
        "ResNet-18/34",
        build="workbench.engine.vision:build_resnet",
        rebuild="workbench.engine.vision:build_vision",
        help=(
            "A residual network laid out like torchvision's, so a torchvision or timm ResNet state dict "
            "saved as .safetensors loads by name (nothing is downloaded). Train from scratch, or start from "
            "weights: the head is replaced for your classes and the backbone can be frozen."
        ),
        params=(
            P.Choice("depth", "18", choices=("18", "34"), labels={"18": "ResNet-18", "34": "ResNet-34"}),
            P.Choice(
                "stem",
                "auto",
                choices=("auto", "imagenet", "small"),
                help="imagenet: 7×7/2 convolution and pooling (pictures ≥ 96 px); small: 3×3/1 for small "
                "pictures (conv1 then starts fresh); auto chooses by the image size.",
            ),
            P.Path(
                "weights",
                "",
                optional=True,
                filters=("Weights (*.safetensors)",),
                help="A torchvision/timm ResNet state dict saved with safetensors (optional).",
            ),
            P.Choice(
                "freeze",
                "none",
                choices=("none", "backbone"),
                labels={"none": "Nothing (train all)", "backbone": "Backbone (train the head only)"},
                help="backbone: only the new head learns; good with few pictures and good weights.",
            ),
        ),
        summary=("depth", "weights"),
        reads="images",
        node_config=_resnet_config,
    )
)
register(  # model.pretrained is a hand-written node (it stamps the bundle's files); saved as its base kind
    Architecture(
        "pretrained",
        "Pretrained model (transfer learning)",
        build="workbench.engine.transfer:build_pretrained",
        node=False,
    )
)

"""Model nodes: each outputs a ModelSpec (an architecture choice); sizes are inferred when training starts.

No torch here: the catalog loads before torch is imported. ``train.supervised`` builds the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench import params as P
from workbench.export import reader as limits  # the same limits bundles and checkpoints are checked against
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.paths import file_stamp
from workbench.ports import MODEL_SPEC

ACTIVATIONS = limits.ACTIVATIONS
DEFAULT_LAYERS = ({"units": 128, "activation": "relu", "dropout": 0.0, "batch_norm": False},)
MODEL_OUT = (PortSpec("model", MODEL_SPEC, help="The architecture; train.supervised builds and trains it."),)

LAYER_FIELDS = (
    P.Int("units", 128, minimum=1, maximum=limits.MAX_UNITS, help="Neurons in this layer."),
    P.Choice("activation", "relu", choices=ACTIVATIONS, help="Non-linearity after the layer."),
    P.Float(
        "dropout",
        0.0,
        minimum=0.0,
        maximum=limits.MAX_DROPOUT,
        help="Share of units dropped while training (0 = off).",
    ),
    P.Bool("batch_norm", False, help="Normalise the layer's outputs per batch (helps deep stacks)."),
)


def model_spec(kind: str, config: dict[str, Any]) -> Any:
    from workbench.engine.models import ModelSpec

    return ModelSpec(kind, config)


class MLPModel(NodeType):
    spec = NodeSpec(
        type_id="model.mlp",
        title="Neural network (MLP)",
        category="model",
        help=(
            "A stack of dense layers. Input and output sizes come from the dataset; the head follows the task: "
            "class logits (softmax), one logit for two classes (sigmoid), or regression outputs. The default "
            "is the classic Dense(128, relu) → softmax."
        ),
        outputs=MODEL_OUT,
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
    )

    def run(self, ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        return {"model": model_spec("mlp", {"layers": [dict(layer) for layer in params["layers"]]})}


class LinearModel(NodeType):
    spec = NodeSpec(
        type_id="model.linear",
        title="Linear / logistic regression",
        category="model",
        help="No hidden layers: linear regression for numbers, logistic regression for classes. A baseline.",
        outputs=MODEL_OUT,
    )

    def run(self, ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        return {"model": model_spec("linear", {})}


class SequenceModel(NodeType):
    spec = NodeSpec(
        type_id="model.sequence",
        title="Sequence model (GRU / LSTM / 1-D CNN)",
        category="model",
        help="For windows made by prep.window (price series, sensor data): reads each window of past rows.",
        outputs=MODEL_OUT,
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
    )

    def run(self, ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("cell", "hidden", "num_layers", "dropout", "bidirectional", "kernel_size")
        return {"model": model_spec("sequence", {k: params[k] for k in keys})}


class PretrainedModel(NodeType):
    spec = NodeSpec(
        type_id="model.pretrained",
        title="Pretrained model (transfer learning)",
        category="model",
        help=(
            "Start from a model exported by this app (bundle folder or its .zip) or a training checkpoint "
            "(.pt). Weights are loaded safely (safetensors / weights-only) and only after the bundle's "
            "checksums and architecture are checked, as for prediction. Freeze layers and fine-tune on new "
            "data; the head is replaced when the number of outputs differs."
        ),
        outputs=MODEL_OUT,
        params=(
            P.Path(
                "source",
                "",
                mode="open",
                filters=("Bundle or checkpoint (*.pt *.zip *.safetensors *.json)",),
                help="An exported bundle folder (its .zip, or a file in it) or a checkpoint .pt file.",
            ),
            P.Choice(
                "freeze",
                "all_but_head",
                choices=("none", "all_but_head", "layers"),
                labels={
                    "none": "Nothing (fine-tune all)",
                    "all_but_head": "All but the head",
                    "layers": "Chosen layers",
                },
            ),
            P.Str(
                "layers",
                "",
                visible_if={"freeze": "layers"},
                placeholder="body.0, body.1",
                help="Comma-separated layer names to freeze (body.0, body.1, …).",
            ),
            P.Choice(
                "replace_head",
                "auto",
                choices=("auto", "always"),
                help="auto: only when the number of outputs differs; always: start the head afresh.",
            ),
        ),
        summary=("source", "freeze"),
    )

    def run(self, ctx: Any, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        source = ctx.resolve_path(params["source"], must_exist=True)
        layers = [part.strip() for part in str(params.get("layers", "")).split(",") if part.strip()]
        config = {
            "source": str(source),
            "freeze": params["freeze"],
            "layers": layers,
            "replace_head": params["replace_head"],
        }
        return {"model": model_spec("pretrained", config)}

    def fingerprint_extra(self, params: Mapping[str, Any], resolve_path: Any) -> str:
        try:
            path = Path(resolve_path(params.get("source", "")))
        except Exception:  # noqa: BLE001 - a missing file is reported by run()
            return ""
        parts = []
        try:  # a bundle is all of its files (the manifest, weights, architecture … are all checked)
            if path.is_file() and path.suffix != ".zip" and (path.parent / limits.MANIFEST).is_file():
                path = path.parent  # a file inside a bundle stands for the bundle
            names = (f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
            files = sorted(names, key=lambda f: (f.name != "weights.safetensors", f.name))  # weights first
            for file in files[:64]:
                if file.exists():
                    parts.append(f"{file.name}:{file_stamp(file)}")  # size, mtime, hash of small files
        except OSError:
            return ";".join(parts)
        return ";".join(parts)


NODE_TYPES = (MLPModel, LinearModel, SequenceModel, PretrainedModel)

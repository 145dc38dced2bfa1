"""Model nodes: each outputs a ModelSpec (an architecture choice); sizes are inferred when training starts.

The ``model.<kind>`` nodes are generated from the architecture registry (workbench/engine/architectures.py):
their parameters, choices and defaults are the registered ones. ``model.pretrained`` is written by hand.
No torch here: the catalog loads before torch is imported. ``train.supervised`` builds the module.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import params as P
from workbench.engine import architectures
from workbench.export import reader as limits
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.paths import file_stamp
from workbench.ports import MODEL_SPEC

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

MODEL_OUT = (PortSpec("model", MODEL_SPEC, help="The architecture; train.supervised builds and trains it."),)


def model_spec(kind: str, config: dict[str, Any]) -> Any:
    from workbench.engine.models import ModelSpec

    return ModelSpec(kind, config)


class ArchitectureNode(NodeType):
    """A ``model.<kind>`` node generated from a registered architecture: its params are the entry's."""

    architecture: architectures.Architecture

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "model": model_spec(self.architecture.kind, self.architecture.config_from_params(ctx, params))
        }


_NODES: dict[str, type[ArchitectureNode]] = {}


def model_node(kind: str) -> type[ArchitectureNode]:
    """The node type for a registered architecture (made once per kind, so its identity is stable)."""
    entry = architectures.get(kind)
    node = _NODES.get(kind)
    if node is None or node.architecture is not entry:
        spec = NodeSpec(
            type_id=f"model.{kind}",
            title=entry.title,
            category="model",
            help=entry.help,
            outputs=MODEL_OUT,
            params=entry.params,
            summary=entry.summary,
        )
        name = "".join(part.title() for part in kind.split("_")) + "Model"
        node = type(name, (ArchitectureNode,), {"spec": spec, "architecture": entry, "__module__": __name__})
        _NODES[kind] = node
    return node


def model_nodes(reads: tuple[str, ...]) -> tuple[type[NodeType], ...]:
    """Node types of the registered architectures that read ``reads`` data (rows, windows, images)."""
    return tuple(model_node(a.kind) for a in architectures.all_architectures() if a.node and a.reads in reads)


MLPModel = model_node("mlp")
LinearModel = model_node("linear")
SequenceModel = model_node("sequence")


class PretrainedModel(NodeType):
    spec = NodeSpec(
        type_id="model.pretrained",
        title="Pretrained model (transfer learning)",
        category="model",
        help=(
            "Start from a model exported by this app (a table or image bundle folder, or its .zip), a training "
            "checkpoint (.pt), or for pictures a torchvision/timm ResNet-18/34 state dict (.safetensors, or a "
            ".pt saved with torch.save). Weights are loaded safely (safetensors / weights-only) and only after "
            "the bundle's checksums and architecture are checked, as for prediction. Freeze layers and "
            "fine-tune on new data; the head is replaced when the number of outputs differs."
        ),
        outputs=MODEL_OUT,
        params=(
            P.Path(
                "source",
                "",
                mode="open",
                filters=("Bundle, checkpoint or weights (*.pt *.pth *.zip *.safetensors *.json)",),
                help="An exported bundle folder (its .zip, or a file in it), a checkpoint .pt file, or a "
                "ResNet-18/34 weights file with torchvision's names.",
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
                help="Comma-separated layer names to freeze (body.0, body.1, …; a ResNet: conv1, bn1, layer1 … "
                "layer4).",
            ),
            P.Int(
                "unfreeze_after",
                0,
                minimum=0,
                maximum=10000,
                visible_if={"freeze": ["all_but_head", "layers"]},
                help="Epochs after which the frozen layers learn too (0 = they stay frozen).",
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

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        source = ctx.resolve_path(params["source"], must_exist=True)
        layers = [part.strip() for part in str(params.get("layers", "")).split(",") if part.strip()]
        config = {
            "source": str(source),
            "freeze": params["freeze"],
            "layers": layers,
            "replace_head": params["replace_head"],
            "unfreeze_after": int(params["unfreeze_after"]),
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


def __getattr__(name: str) -> Any:
    """``NODE_TYPES`` is read from the architecture registry when the catalog asks, so an architecture
    registered by a plugin (or a test) gets its node with no edit here."""
    if name == "NODE_TYPES":
        return (*model_nodes(("rows", "windows")), PretrainedModel)
    raise AttributeError(name)

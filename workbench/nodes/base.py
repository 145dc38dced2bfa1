"""The node contract: a frozen declarative spec plus ``run(ctx, inputs, params) -> outputs``.

Node classes stay thin adapters; the real work lives in libraries (tabular, engine, export) that know
nothing of graphs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from workbench.params import Param

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

# Pipeline stages, in the order a pipeline flows; the palette groups by them.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("collect", "Collect data"),
    ("clean", "Clean"),
    ("transform", "Split & transform"),
    ("model", "Model"),
    ("train", "Train"),
    ("evaluate", "Evaluate"),
    ("deploy", "Export & predict"),
    ("other", "Other"),
)


@dataclass(frozen=True)
class PortSpec:
    name: str
    type: str
    optional: bool = False
    help: str = ""
    title: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "optional": self.optional, "help": self.help}


@dataclass(frozen=True)
class NodeSpec:
    """Everything the catalog, the file format and the GUI need to know about a node type."""

    type_id: str
    title: str
    category: str
    version: int = 1
    help: str = ""
    inputs: tuple[PortSpec, ...] = ()
    outputs: tuple[PortSpec, ...] = ()
    params: tuple[Param, ...] = ()
    replaces: tuple[str, ...] = ()  # old type ids that files may still use
    cacheable: bool = True
    summary: tuple[str, ...] = ()  # param names shown on the node's face
    extra: Mapping[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> PortSpec | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortSpec | None:
        return next((p for p in self.outputs if p.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type_id,
            "title": self.title,
            "category": self.category,
            "version": self.version,
            "help": self.help,
            "inputs": [p.to_json() for p in self.inputs],
            "outputs": [p.to_json() for p in self.outputs],
            "params": [p.to_json() for p in self.params],
            "replaces": list(self.replaces),
            "cacheable": self.cacheable,
        }


class NodeType:
    """Base class of node types. Subclasses set ``spec`` and implement ``run``.

    ``run`` receives resolved parameters (defaults filled, values coerced) and a dict of input values by port
    name (optional inputs that are not connected are absent). It returns a dict of outputs by port name.
    Raise ``workbench.errors.UserError`` for problems the user can fix.
    """

    spec: ClassVar[NodeSpec]

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def check(self, params: Mapping[str, Any], base_dir: Path | None) -> dict[str, str]:
        """Problems that need more than one value to see (a path that would be unsafe to write, …), by
        parameter name. Called on every edit by the canvas, so it must stay cheap: stat calls, no reading.
        ``params`` are the node's resolved values; ``base_dir`` is the pipeline file's folder (None if unsaved).
        """
        return {}

    def fingerprint_extra(self, params: Mapping[str, Any], resolve_path: Callable[[str | Path], Path]) -> str:
        """Extra cache-key material, e.g. a source file's size and mtime. Empty for pure nodes.
        ``resolve_path`` finds a file the node reads (as ``NodeContext.resolve_path``) or raises UserError."""
        return ""

    def migrate_params(self, version: int, params: dict[str, Any]) -> dict[str, Any]:
        """Upgrade params saved by an older ``spec.version`` of this node."""
        return params

"""The pipeline file format (format_version 1): the document's fields, its migrations and its checks.

It sits beside the model (``workbench.graph``) without importing it: ``Pipeline.to_json/from_json/save/load``
call in here, and ``workbench.project`` (recovery files, conveniences) sits above both. Reading is step by
step (``Document.nodes``, then ``Document.links``) so the pipeline adds each node as it is read and a file
with several problems reports the first one in file order. Never pickle; loading never writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._version import __version__
from workbench.errors import PipelineFileError
from workbench.files import atomic_write_text

if TYPE_CHECKING:
    from workbench.registry import NodeRegistry

FORMAT_VERSION = 1

# format_version N -> function turning a version-N document into version N+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def document(nodes: Iterable[Any], links: Iterable[Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The file's content for these nodes and links (``graph.Node``/``graph.Link``, read by attribute)."""
    entries = []
    for node in nodes:
        entry: dict[str, Any] = {"id": node.id, "type": node.type}
        if node.version != 1 or node.unknown:
            entry["version"] = node.version
        if node.title:
            entry["title"] = node.title
        entry["params"] = node.params
        entry["position"] = [float(round(node.position[0], 2)), float(round(node.position[1], 2))]
        entries.append(entry)
    wires = [{"from": [k.source, k.source_port], "to": [k.target, k.target_port]} for k in links]
    out: dict[str, Any] = {"format_version": FORMAT_VERSION, "app": f"model-workbench {__version__}"}
    if meta:
        out["meta"] = meta
    out["nodes"] = entries
    out["links"] = wires
    return out


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(doc: Mapping[str, Any], path: str | Path) -> None:
    """Save atomically. A value that JSON cannot hold is a PipelineFileError and nothing is written."""
    try:
        text = dumps(doc)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PipelineFileError(f"{path}: cannot save: a parameter value is not plain data ({exc})") from None
    atomic_write_text(path, text)


def migrate(data: dict[str, Any], source: str) -> dict[str, Any]:
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PipelineFileError(
            f"{source}: format_version: missing or not a number — is this a pipeline file?"
        )
    if version > FORMAT_VERSION:
        raise PipelineFileError(
            f"{source}: saved by a newer Model Workbench (format {version}); this version reads up to "
            f"{FORMAT_VERSION} — update the app"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise PipelineFileError(f"{source}: format {version} is too old to read (no migration)")
        data = step(data)
        version = data["format_version"]
    return data


@dataclass(frozen=True)
class NodeEntry:
    """One checked node of the file, with its type id made current and its params migrated."""

    where: str  # "nodes[3]", for messages
    id: str
    type: str
    params: dict[str, Any]
    position: tuple[float, float]
    title: str
    version: int
    unknown: bool


@dataclass(frozen=True)
class LinkEntry:
    where: str
    source: str
    source_port: str
    target: str
    target_port: str
    checked: bool  # False when it touches an unknown placeholder: kept without port type checks


class Document:
    """A decoded file, checked as it is read, with precise field paths in its error messages."""

    def __init__(self, data: Any, source: str = "<data>") -> None:
        self.source = source
        if not isinstance(data, dict):
            raise self.fail("top level", "expected a JSON object with 'nodes' and 'links'")
        self.data = migrate(dict(data), source)
        self.meta = dict(self.get(self.data, "meta", "top level", dict, {}))
        self.warnings: list[str] = []
        self._unknown: dict[str, bool] = {}  # node id -> placeholder, for the nodes read so far

    def fail(self, where: str, what: str) -> PipelineFileError:
        return PipelineFileError(f"{self.source}: {where}: {what}")

    def get(
        self, obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in obj:
            if default is ...:
                raise self.fail(where, f"missing field {key!r}")
            return default
        value = obj[key]
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {_json_name(names)}, got {json.dumps(value)[:60]}")
        return value

    def nodes(self, registry: NodeRegistry) -> Iterator[NodeEntry]:
        """The nodes in file order; old type ids and old param versions are brought up to date."""
        for index, raw in enumerate(self.get(self.data, "nodes", "top level", list)):
            where = f"nodes[{index}]"
            if not isinstance(raw, dict):
                raise self.fail(where, "expected an object")
            node_id = self.get(raw, "id", where, str)
            type_id = self.get(raw, "type", where, str)
            params = dict(self.get(raw, "params", where, dict, {}))
            position = self.get(raw, "position", where, list, [0, 0])
            if len(position) != 2 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in position
            ):
                raise self.fail(f"{where}.position", "expected [x, y] numbers")
            version = self.get(raw, "version", where, int, 1)
            title = self.get(raw, "title", where, str, "")
            unknown = type_id not in registry
            if unknown:
                self.warnings.append(
                    f"node {node_id!r} has unknown type {type_id!r}; it is kept unchanged but cannot run"
                )
            else:
                node_type = registry.get(type_id)
                canonical = node_type.spec.type_id
                if canonical != type_id:
                    self.warnings.append(f"node {node_id!r}: type {type_id!r} is now {canonical!r}")
                    type_id = canonical
                if version < node_type.spec.version:
                    params = node_type().migrate_params(version, params)
                    version = node_type.spec.version
            at = (float(position[0]), float(position[1]))
            yield NodeEntry(where, node_id, type_id, params, at, title, version, unknown)
            self._unknown.setdefault(node_id, unknown)

    def links(self) -> Iterator[LinkEntry]:
        """The links in file order, once ``nodes`` has been read to the end."""
        for index, raw in enumerate(self.get(self.data, "links", "top level", list, [])):
            where = f"links[{index}]"
            if not isinstance(raw, dict):
                raise self.fail(where, "expected an object with 'from' and 'to'")
            ends = []
            for key in ("from", "to"):
                end = self.get(raw, key, where, list)
                if len(end) != 2 or not all(isinstance(v, str) for v in end):
                    raise self.fail(f"{where}.{key}", "expected [node_id, port]")
                ends.append(end)
            for node_id in (ends[0][0], ends[1][0]):
                if node_id not in self._unknown:
                    raise self.fail(where, f"refers to node {node_id!r}, which is not in 'nodes'")
            checked = not (self._unknown[ends[0][0]] or self._unknown[ends[1][0]])
            yield LinkEntry(where, ends[0][0], ends[0][1], ends[1][0], ends[1][1], checked)


def _json_name(python_names: str) -> str:
    return (
        python_names.replace("dict", "an object")
        .replace("list", "a list")
        .replace("str", "text")
        .replace("int", "a number")
        .replace("float", "a number")
    )

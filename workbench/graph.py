"""The pipeline model: nodes, links, typed connection errors, ordering and per-node problems.

Plain Python with observer callbacks, so the canvas can mirror it and tests need no QApplication.
Interactive edits go through ``workbench.commands``; scripts may call these methods directly.
"""

from __future__ import annotations

import copy
import difflib
import heapq
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import fileformat
from workbench import params as P
from workbench.files import read_json_file
from workbench.nodes.base import NodeSpec
from workbench.ports import is_compatible
from workbench.ports import title as port_title
from workbench.registry import NodeRegistry, builtin_registry

# --------------------------------------------------------------------------- errors


class GraphError(ValueError):
    """Base of the typed errors a UI shows when an edit is refused."""


class UnknownNodeError(GraphError):
    pass


class UnknownPortError(GraphError):
    pass


class PortTypeError(GraphError):
    pass


class CycleError(GraphError):
    pass


class InputOccupiedError(GraphError):
    def __init__(self, message: str, existing: Link) -> None:
        super().__init__(message)
        self.existing = existing


class DuplicateNodeError(GraphError):
    pass


# --------------------------------------------------------------------------- data


@dataclass
class Node:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    title: str = ""
    version: int = 1
    unknown: bool = False  # a placeholder for a type this installation does not know; kept verbatim

    def copy(self) -> Node:
        return Node(
            self.id,
            self.type,
            copy.deepcopy(self.params),
            self.position,
            self.title,
            self.version,
            self.unknown,
        )


@dataclass(frozen=True)
class Link:
    source: str
    source_port: str
    target: str
    target_port: str

    def __str__(self) -> str:
        return f"{self.source}.{self.source_port} → {self.target}.{self.target_port}"


# Events sent to observers after each change.
@dataclass(frozen=True)
class NodeAdded:
    node: Node


@dataclass(frozen=True)
class NodeRemoved:
    node: Node


@dataclass(frozen=True)
class LinkAdded:
    link: Link


@dataclass(frozen=True)
class LinkRemoved:
    link: Link


@dataclass(frozen=True)
class ParamChanged:
    node_id: str
    name: str
    value: Any


@dataclass(frozen=True)
class NodeMoved:
    node_id: str
    position: tuple[float, float]


@dataclass(frozen=True)
class NodeRenamed:
    node_id: str
    title: str


GraphEvent = NodeAdded | NodeRemoved | LinkAdded | LinkRemoved | ParamChanged | NodeMoved | NodeRenamed

_default_registry: NodeRegistry | None = None


def default_registry() -> NodeRegistry:
    """The process-wide built-in registry, built on first use (tests pass their own)."""
    global _default_registry
    if _default_registry is None:
        _default_registry = builtin_registry()
    return _default_registry


# --------------------------------------------------------------------------- pipeline


class Pipeline:
    def __init__(self, registry: NodeRegistry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry()
        self._nodes: dict[str, Node] = {}
        self._links: list[Link] = []
        # Indexes over _links, kept in step by add_link/remove_link, so queries are O(degree), not O(links):
        # a 10,000-node pipeline loaded and validated in quadratic time before.
        self._in: dict[str, dict[str, Link]] = {}
        self._out: dict[str, list[Link]] = {}
        self._observers: list[Callable[[GraphEvent], None]] = []
        self.meta: dict[str, Any] = {}
        self.path: Path | None = None  # file it was loaded from / saved to
        self.load_warnings: list[str] = []

    # -- observers
    def subscribe(self, callback: Callable[[GraphEvent], None]) -> None:
        self._observers.append(callback)

    def unsubscribe(self, callback: Callable[[GraphEvent], None]) -> None:
        if callback in self._observers:
            self._observers.remove(callback)

    def _emit(self, event: GraphEvent) -> None:
        for callback in list(self._observers):
            callback(event)

    # -- queries
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def links(self) -> list[Link]:
        return list(self._links)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise UnknownNodeError(f"no node {node_id!r} in the pipeline") from None

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def spec(self, node_id: str) -> NodeSpec | None:
        """The node's spec, or None for an unknown-type placeholder."""
        node = self.node(node_id)
        if node.unknown:
            return None
        return self.registry.get(node.type).spec

    def index_of(self, node_id: str) -> int:
        return list(self._nodes).index(node_id)

    def link_index(self, link: Link) -> int:
        return self._links.index(link)

    def links_of(self, node_id: str) -> list[Link]:
        mine = {*self._in.get(node_id, {}).values(), *self._out.get(node_id, ())}
        return [link for link in self._links if link in mine] if mine else []

    def input_links(self, node_id: str) -> dict[str, Link]:
        return dict(self._in.get(node_id, {}))

    def output_links(self, node_id: str) -> list[Link]:
        return list(self._out.get(node_id, ()))

    def upstream(self, node_id: str) -> set[str]:
        """All ancestors of ``node_id`` (not including it)."""
        return self._walk(node_id, lambda n: [link.source for link in self._in.get(n, {}).values()])

    def downstream(self, node_id: str) -> set[str]:
        """All descendants of ``node_id`` (not including it)."""
        return self._walk(node_id, lambda n: [link.target for link in self._out.get(n, ())])

    @staticmethod
    def _walk(start: str, step: Callable[[str], list[str]]) -> set[str]:
        seen: set[str] = set()
        todo = step(start)
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(step(current))
        return seen

    def topological_order(self, targets: Iterable[str] | None = None) -> list[str]:
        """Node ids in an order where every node follows its inputs; ties keep file order (stable).

        With ``targets`` only those nodes and their ancestors are returned.
        """
        if targets is None:
            wanted = set(self._nodes)
        else:
            wanted = set()
            for target in targets:
                self.node(target)
                wanted |= {target} | self.upstream(target)
        order_index = {node_id: i for i, node_id in enumerate(self._nodes)}
        indegree = {n: 0 for n in wanted}
        for link in self._links:
            if link.source in wanted and link.target in wanted:
                indegree[link.target] += 1
        ready = [order_index[n] for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        ids = list(self._nodes)
        out: list[str] = []
        while ready:
            current = ids[heapq.heappop(ready)]
            out.append(current)
            for link in self._out.get(current, ()):
                if link.target in wanted:
                    indegree[link.target] -= 1
                    if indegree[link.target] == 0:
                        heapq.heappush(ready, order_index[link.target])
        if len(out) != len(wanted):
            raise CycleError("the pipeline contains a cycle")
        return out

    # -- ids
    def new_id(self, type_id: str) -> str:
        """A readable id unique in this pipeline: ``file``, ``file_2``, …"""
        base = re.sub(r"[^a-z0-9_]+", "_", type_id.split(".")[-1].lower()).strip("_") or "node"
        if base not in self._nodes:
            return base
        index = 2
        while f"{base}_{index}" in self._nodes:
            index += 1
        return f"{base}_{index}"

    # -- low-level edits (commands call these; each emits one event)
    def add_node(self, node: Node, index: int | None = None) -> Node:
        if node.id in self._nodes:
            raise DuplicateNodeError(f"a node with id {node.id!r} already exists")
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", node.id):
            raise GraphError(f"node id {node.id!r} may only use letters, digits, '_' and '-'")
        if index is None or index >= len(self._nodes):
            self._nodes[node.id] = node
        else:
            items = list(self._nodes.items())
            items.insert(max(0, index), (node.id, node))
            self._nodes = dict(items)
        self._emit(NodeAdded(node))
        return node

    def remove_node(self, node_id: str) -> Node:
        """Remove a node that has no links left (RemoveNodes removes links first, as one undo step)."""
        node = self.node(node_id)
        if self.links_of(node_id):
            raise GraphError(f"node {node_id!r} still has links; remove them first")
        del self._nodes[node_id]
        self._emit(NodeRemoved(node))
        return node

    def add_link(self, link: Link, index: int | None = None, check: bool = True) -> Link:
        if check:
            self.check_connect(link.source, link.source_port, link.target, link.target_port)
        if index is None:
            self._links.append(link)
        else:
            self._links.insert(index, link)
        self._in.setdefault(link.target, {})[link.target_port] = link
        self._out.setdefault(link.source, []).append(link)
        self._emit(LinkAdded(link))
        return link

    def remove_link(self, link: Link) -> Link:
        try:
            self._links.remove(link)
        except ValueError:
            raise GraphError(f"no link {link}") from None
        inputs = self._in.get(link.target, {})
        if inputs.get(link.target_port) == link:
            del inputs[link.target_port]
        outputs = self._out.get(link.source, [])
        if link in outputs:
            outputs.remove(link)
        self._emit(LinkRemoved(link))
        return link

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        if value is _MISSING:
            node.params.pop(name, None)
        else:
            node.params[name] = copy.deepcopy(value)
        self._emit(ParamChanged(node_id, name, value))

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        node.position = (float(position[0]), float(position[1]))
        self._emit(NodeMoved(node_id, node.position))

    def rename_node(self, node_id: str, title: str) -> None:
        self.node(node_id).title = title
        self._emit(NodeRenamed(node_id, title))

    # -- checks
    def check_connect(self, source: str, source_port: str, target: str, target_port: str) -> None:
        """Raise a specific GraphError when the link cannot be made; return None when it can."""
        src, dst = self.node(source), self.node(target)
        if source == target:
            raise CycleError(f"cannot connect {self.label(source)} to itself")
        src_spec, dst_spec = self.spec(source), self.spec(target)
        out_port = src_spec.output(source_port) if src_spec else None
        in_port = dst_spec.input(target_port) if dst_spec else None
        if src_spec and out_port is None:
            raise UnknownPortError(f"{self.label(source)} has no output {source_port!r}")
        if dst_spec and in_port is None:
            raise UnknownPortError(f"{self.label(target)} has no input {target_port!r}")
        if out_port and in_port and not is_compatible(out_port.type, in_port.type):
            raise PortTypeError(
                f"{self.label(source)} gives a {port_title(out_port.type)} but {self.label(target)}'s "
                f"input {target_port!r} needs a {port_title(in_port.type)}"
            )
        link = self._in.get(target, {}).get(target_port)
        if link is not None:
            raise InputOccupiedError(
                f"{self.label(target)}'s input {target_port!r} is already connected to "
                f"{self.label(link.source)}",
                link,
            )
        if source in self.downstream(target) or source == target:
            raise CycleError(f"connecting {src.id} → {dst.id} would make a cycle")

    def label(self, node_id: str) -> str:
        node = self._nodes.get(node_id)
        if node is None:
            return repr(node_id)
        return f"'{node.title}' ({node.id})" if node.title else f"'{node.id}'"

    def problems(
        self, node_ids: Iterable[str] | None = None, *, warnings: bool = False
    ) -> dict[str, list[str]]:
        """Per-node problems (missing required inputs, invalid parameters, unknown types); never raises.

        With ``warnings`` also what does not stop a run but is almost surely a mistake (a parameter the node
        does not have): validate and the canvas show them, a run only prints them."""
        found: dict[str, list[str]] = {}
        for node_id in node_ids if node_ids is not None else self._nodes:
            node = self._nodes[node_id]
            issues: list[str] = []
            if node.unknown:
                issues.append(f"unknown node type {node.type!r} (a plugin may be missing); it is kept as is")
            else:
                spec = self.registry.get(node.type).spec
                connected = self.input_links(node_id)
                for port in spec.inputs:
                    if not port.optional and port.name not in connected:
                        issues.append(f"input {port.name!r} is not connected")
                for name, message in self.param_problems(node_id).items():
                    issues.append(message if message.startswith(name) else f"{name}: {message}")
                if warnings:
                    issues.extend(self.param_warnings(node_id).values())
            if issues:
                found[node_id] = issues
        return found

    def param_problems(self, node_id: str) -> dict[str, str]:
        """Problems with the node's parameters by name: invalid values, then the node type's own checks
        (which see all values together and the pipeline's folder). Shared by validate, canvas and inspector."""
        node = self._nodes[node_id]
        if node.unknown:
            return {}
        node_type = self.registry.get(node.type)
        found = P.problems(node_type.spec.params, node.params)
        if found:
            return found
        try:
            values = P.resolve(node_type.spec.params, node.params)
            extra = node_type().check(values, self.path.parent if self.path else None)
        except Exception as exc:  # noqa: BLE001 - a check must never break editing
            extra = {"": f"could not check this node ({type(exc).__name__}: {exc})"}
        return {**found, **extra}

    def param_warnings(self, node_id: str) -> dict[str, str]:
        """Parameters in the file that the node type does not have (a typo, or a renamed parameter whose value
        is silently ignored), with the closest real name."""
        node = self._nodes[node_id]
        if node.unknown:
            return {}
        spec = self.registry.get(node.type).spec
        names = [p.name for p in spec.params]
        found = {}
        for name in node.params:
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                hint = (
                    f"; did you mean {close[0]!r}?" if close else f" (it has: {', '.join(names) or 'none'})"
                )
                found[name] = f"{name}: {spec.type_id} has no parameter {name!r}, so it is ignored{hint}"
        return found

    # -- script API
    def add(
        self,
        type_id: str,
        node_id: str | None = None,
        *,
        position: tuple[float, float] | None = None,
        title: str = "",
        **values: Any,
    ) -> Node:
        """Add a node of ``type_id`` with parameter ``values``; returns it (for scripts and tests)."""
        node_type = self.registry.get(type_id)
        spec = node_type.spec
        params = P.default_values(spec.params)
        params.update(values)
        if position is None:
            position = (len(self._nodes) * 220.0, 0.0)
        node = Node(node_id or self.new_id(spec.type_id), spec.type_id, params, position, title, spec.version)
        return self.add_node(node)

    def connect(
        self, source: str, source_port: str, target: str | None = None, target_port: str | None = None
    ) -> Link:
        """``connect("a", "table", "b", "table")`` or ``connect("a.table", "b.table")``."""
        if target is None or target_port is None:
            (source, source_port), (target, target_port) = source.split(".", 1), source_port.split(".", 1)
        return self.add_link(Link(source, source_port, target, target_port))

    def disconnect(self, link: Link) -> None:
        self.remove_link(link)

    def resolved_params(self, node_id: str) -> dict[str, Any]:
        """The node's parameters with defaults filled and values coerced; raises ParamError."""
        spec = self.spec(node_id)
        node = self.node(node_id)
        if spec is None:
            return dict(node.params)
        return P.resolve(spec.params, node.params)

    # -- files (the format: workbench/fileformat.py; recovery files: workbench/project.py)
    def to_json(self) -> dict[str, Any]:
        return fileformat.document(self.nodes, self.links, self.meta)

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], registry: NodeRegistry | None = None, source: str = "<data>"
    ) -> Pipeline:
        """Build a Pipeline from a decoded document; PipelineFileError names the field that is wrong."""
        doc = fileformat.Document(data, source)
        pipeline = cls(registry)
        pipeline.meta = doc.meta
        for entry in doc.nodes(pipeline.registry):
            node = Node(
                entry.id, entry.type, entry.params, entry.position, entry.title, entry.version, entry.unknown
            )
            try:
                pipeline.add_node(node)
            except GraphError as exc:
                raise doc.fail(entry.where, str(exc)) from None
        for wire in doc.links():
            link = Link(wire.source, wire.source_port, wire.target, wire.target_port)
            try:
                pipeline.add_link(link, check=wire.checked)
            except GraphError as exc:
                raise doc.fail(wire.where, str(exc)) from None
        pipeline.load_warnings.extend(doc.warnings)
        return pipeline

    def save(self, path: str | Path) -> None:
        """Save atomically; a value that is not plain JSON is a PipelineFileError and nothing is written."""
        fileformat.write(self.to_json(), path)
        self.path = Path(path).resolve()

    @classmethod
    def load(cls, path: str | Path, registry: NodeRegistry | None = None) -> Pipeline:
        """Read a pipeline file. The file is only read, never modified, whatever happens."""
        path = Path(path)
        pipeline = cls.from_json(read_json_file(path), registry, str(path))
        pipeline.path = path.resolve()
        return pipeline


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
MISSING = _MISSING

"""Undoable edits of a Pipeline, and the stack that runs them — the only way the GUI changes the model.

Plain Python (no Qt), so undo/redo is tested without a screen. Each command stores what it needs to put the
pipeline back exactly, including node and link order, so undoing everything gives the identical file.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from workbench import params as P
from workbench.graph import MISSING, InputOccupiedError, Link, Node, Pipeline


class Command:
    text = "edit"

    def do(self, pipeline: Pipeline) -> None:
        raise NotImplementedError

    def undo(self, pipeline: Pipeline) -> None:
        raise NotImplementedError

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (the next command) into this one; return True when merged."""
        return False


class AddNode(Command):
    def __init__(
        self,
        type_id: str,
        position: tuple[float, float] = (0.0, 0.0),
        params: Mapping[str, Any] | None = None,
        node_id: str | None = None,
        title: str = "",
    ) -> None:
        self.type_id, self.position, self.params = type_id, position, dict(params or {})
        self.node_id, self.title = node_id, title
        self.text = f"add {type_id}"

    def do(self, pipeline: Pipeline) -> None:
        spec = pipeline.registry.get(self.type_id).spec
        if self.node_id is None:
            self.node_id = pipeline.new_id(spec.type_id)
        values = P.default_values(spec.params)
        values.update(copy.deepcopy(self.params))
        pipeline.add_node(Node(self.node_id, spec.type_id, values, self.position, self.title, spec.version))

    def undo(self, pipeline: Pipeline) -> None:
        assert self.node_id is not None, "undo before do"  # do() picks the id when none was given
        pipeline.remove_node(self.node_id)


class RemoveNodes(Command):
    """Removes nodes and every link touching them, as one step."""

    def __init__(self, node_ids: Iterable[str]) -> None:
        self.node_ids = list(dict.fromkeys(node_ids))
        self.text = "delete " + (
            self.node_ids[0] if len(self.node_ids) == 1 else f"{len(self.node_ids)} nodes"
        )
        self._nodes: list[tuple[int, Node]] = []
        self._links: list[tuple[int, Link]] = []

    def do(self, pipeline: Pipeline) -> None:
        wanted = set(self.node_ids)
        self._links = [
            (i, k) for i, k in enumerate(pipeline.links) if k.source in wanted or k.target in wanted
        ]
        for _, link in reversed(self._links):
            pipeline.remove_link(link)
        self._nodes = [(pipeline.index_of(n), pipeline.node(n)) for n in self.node_ids]
        for _, node in sorted(self._nodes, key=lambda item: -item[0]):
            pipeline.remove_node(node.id)

    def undo(self, pipeline: Pipeline) -> None:
        for index, node in sorted(self._nodes, key=lambda item: item[0]):
            pipeline.add_node(node, index)
        for index, link in self._links:
            pipeline.add_link(link, index, check=False)


class Connect(Command):
    """Connect two ports; with ``replace`` an occupied input is first disconnected (same undo step)."""

    def __init__(
        self, source: str, source_port: str, target: str, target_port: str, replace: bool = False
    ) -> None:
        self.link = Link(source, source_port, target, target_port)
        self.replace = replace
        self._replaced: tuple[int, Link] | None = None
        self.text = f"connect {source} → {target}"

    def do(self, pipeline: Pipeline) -> None:
        try:
            pipeline.check_connect(*_ends(self.link))
        except InputOccupiedError as exc:
            if not self.replace:
                raise
            self._replaced = (pipeline.link_index(exc.existing), exc.existing)
            pipeline.remove_link(exc.existing)
            try:
                pipeline.check_connect(*_ends(self.link))
            except Exception:
                pipeline.add_link(exc.existing, self._replaced[0], check=False)
                self._replaced = None
                raise
        pipeline.add_link(self.link, check=False)

    def undo(self, pipeline: Pipeline) -> None:
        pipeline.remove_link(self.link)
        if self._replaced is not None:
            pipeline.add_link(self._replaced[1], self._replaced[0], check=False)


def _ends(link: Link) -> tuple[str, str, str, str]:
    return link.source, link.source_port, link.target, link.target_port


class Disconnect(Command):
    def __init__(self, link: Link) -> None:
        self.link = link
        self._index = -1
        self.text = f"disconnect {link.source} → {link.target}"

    def do(self, pipeline: Pipeline) -> None:
        self._index = pipeline.link_index(self.link)
        pipeline.remove_link(self.link)

    def undo(self, pipeline: Pipeline) -> None:
        pipeline.add_link(self.link, self._index, check=False)


class SetParam(Command):
    """Set one parameter; consecutive edits of the same parameter merge into one undo step."""

    def __init__(self, node_id: str, name: str, value: Any) -> None:
        self.node_id, self.name, self.value = node_id, name, copy.deepcopy(value)
        self._old: Any = MISSING
        self.text = f"set {node_id}.{name}"

    def do(self, pipeline: Pipeline) -> None:
        self._old = copy.deepcopy(pipeline.node(self.node_id).params.get(self.name, MISSING))
        pipeline.set_param(self.node_id, self.name, self.value)

    def undo(self, pipeline: Pipeline) -> None:
        pipeline.set_param(self.node_id, self.name, self._old)

    def merge(self, other: Command) -> bool:
        if isinstance(other, SetParam) and (other.node_id, other.name) == (self.node_id, self.name):
            self.value = other.value
            return True
        return False


class MoveNodes(Command):
    """Move nodes to new positions; consecutive moves of the same nodes merge (a drag is one step)."""

    def __init__(self, moves: Mapping[str, tuple[float, float]]) -> None:
        self.moves = {k: (float(v[0]), float(v[1])) for k, v in moves.items()}
        self._old: dict[str, tuple[float, float]] = {}
        self.text = "move " + (next(iter(self.moves)) if len(self.moves) == 1 else f"{len(self.moves)} nodes")

    def do(self, pipeline: Pipeline) -> None:
        self._old = {node_id: pipeline.node(node_id).position for node_id in self.moves}
        for node_id, position in self.moves.items():
            pipeline.move_node(node_id, position)

    def undo(self, pipeline: Pipeline) -> None:
        for node_id, position in self._old.items():
            pipeline.move_node(node_id, position)

    def merge(self, other: Command) -> bool:
        if isinstance(other, MoveNodes) and set(other.moves) == set(self.moves):
            self.moves = dict(other.moves)
            return True
        return False


class RenameNode(Command):
    def __init__(self, node_id: str, title: str) -> None:
        self.node_id, self.title = node_id, title
        self._old = ""
        self.text = f"rename {node_id}"

    def do(self, pipeline: Pipeline) -> None:
        self._old = pipeline.node(self.node_id).title
        pipeline.rename_node(self.node_id, self.title)

    def undo(self, pipeline: Pipeline) -> None:
        pipeline.rename_node(self.node_id, self._old)


class PasteGroup(Command):
    """Add copies of nodes (from ``copy_group``) with fresh ids, and the links among them."""

    def __init__(self, group: Mapping[str, Any], offset: tuple[float, float] = (40.0, 40.0)) -> None:
        self.group = copy.deepcopy(dict(group))
        self.offset = offset
        self.new_ids: dict[str, str] = {}
        self._added_links: list[Link] = []
        self.text = f"paste {len(self.group.get('nodes', []))} node(s)"

    def do(self, pipeline: Pipeline) -> None:
        fresh = not self.new_ids
        for raw in self.group.get("nodes", []):
            if fresh:
                self.new_ids[raw["id"]] = _unique_id(pipeline, raw["type"], set(self.new_ids.values()))
            x, y = raw.get("position", (0, 0))
            spec_type = pipeline.registry.get(raw["type"]).spec
            pipeline.add_node(
                Node(
                    self.new_ids[raw["id"]],
                    spec_type.type_id,
                    copy.deepcopy(raw["params"]),
                    (x + self.offset[0], y + self.offset[1]),
                    raw.get("title", ""),
                    spec_type.version,
                )
            )
        self._added_links = []
        for raw in self.group.get("links", []):
            (src, sport), (dst, dport) = raw["from"], raw["to"]
            if src in self.new_ids and dst in self.new_ids:
                link = Link(self.new_ids[src], sport, self.new_ids[dst], dport)
                pipeline.add_link(link)
                self._added_links.append(link)

    def undo(self, pipeline: Pipeline) -> None:
        for link in reversed(self._added_links):
            pipeline.remove_link(link)
        for new_id in reversed(list(self.new_ids.values())):
            pipeline.remove_node(new_id)


def _unique_id(pipeline: Pipeline, type_id: str, taken: set[str]) -> str:
    candidate = pipeline.new_id(type_id)
    index = 2
    base = candidate.rsplit("_", 1)[0] if candidate[-1].isdigit() and "_" in candidate else candidate
    while candidate in taken or candidate in pipeline:
        candidate = f"{base}_{index}"
        index += 1
    return candidate


def copy_group(pipeline: Pipeline, node_ids: Iterable[str]) -> dict[str, Any]:
    """A JSON-able copy of some nodes and the links between them (the clipboard format)."""
    wanted = set(node_ids)
    nodes = [
        {
            "id": n.id,
            "type": n.type,
            "params": copy.deepcopy(n.params),
            "position": list(n.position),
            "title": n.title,
        }
        for n in pipeline.nodes
        if n.id in wanted and not n.unknown
    ]
    links = [
        {"from": [k.source, k.source_port], "to": [k.target, k.target_port]}
        for k in pipeline.links
        if k.source in wanted and k.target in wanted
    ]
    return {"workbench_clipboard": 1, "nodes": nodes, "links": links}


class Macro(Command):
    """Several commands as one undo step."""

    def __init__(self, text: str, commands: Iterable[Command]) -> None:
        self.text = text
        self.commands = list(commands)

    def do(self, pipeline: Pipeline) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.do(pipeline)
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.undo(pipeline)
            raise

    def undo(self, pipeline: Pipeline) -> None:
        for command in reversed(self.commands):
            command.undo(pipeline)


class CommandStack:
    """Undo/redo with merging and a clean mark. Listeners are called after every change of state."""

    def __init__(self, pipeline: Pipeline, limit: int = 500) -> None:
        self.pipeline = pipeline
        self.limit = limit
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_depth: int | None = 0
        self._merge_open = False
        self.listeners: list[Callable[[], None]] = []

    def push(self, command: Command, merge: bool = True) -> Command:
        """Run ``command``; a refused edit raises its GraphError/ParamError and leaves the stack unchanged."""
        command.do(self.pipeline)
        if self._undone:
            # The redo branch is dropped; a clean mark that lay on it can no longer be reached.
            if self._clean_depth is not None and self._clean_depth > len(self._done):
                self._clean_depth = None
            self._undone.clear()
        top = self._done[-1] if self._done else None
        can_merge = merge and self._merge_open and top is not None and len(self._done) != self._clean_depth
        if can_merge and top is not None and top.merge(command):
            pass
        else:
            self._done.append(command)
            if len(self._done) > self.limit:
                self._done.pop(0)
                if self._clean_depth is not None:
                    self._clean_depth -= 1
        self._merge_open = True
        self._notify()
        return command

    def break_merge(self) -> None:
        """The next command starts a new undo step even if it could merge (e.g. a new drag begins)."""
        self._merge_open = False

    def undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        command.undo(self.pipeline)
        self._undone.append(command)
        self._merge_open = False
        self._notify()
        return command

    def redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        command.do(self.pipeline)
        self._done.append(command)
        self._merge_open = False
        self._notify()
        return command

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    def set_clean(self) -> None:
        self._clean_depth = len(self._done)
        self._merge_open = False
        self._notify()

    @property
    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)

    def clear(self) -> None:
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0
        self._notify()

    def _notify(self) -> None:
        for listener in list(self.listeners):
            listener()

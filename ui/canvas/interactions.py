"""Mouse modes of the canvas, one small object each, so the scene's mouse handlers stay short.

A mode is created on press and gets ``move`` and ``release``; it edits the model only through the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF

from ui.canvas.link_item import LinkItem
from ui.canvas.node_item import NodeItem
from ui.canvas.port_item import COMPATIBLE, DIMMED, NORMAL, PortItem
from workbench import commands as C
from workbench.graph import GraphError, InputOccupiedError
from workbench.ports import title as port_title

if TYPE_CHECKING:
    from ui.canvas.scene import PipelineScene

SNAP = 14.0  # how near a port a wire may be dropped


class Interaction:
    def __init__(self, scene: PipelineScene) -> None:
        self.scene = scene

    def move(self, pos: QPointF) -> None:
        pass

    def release(self, pos: QPointF) -> None:
        pass

    def cancel(self) -> None:
        pass


class MoveNodes(Interaction):
    """Qt moves the selected items; on release the net move becomes one MoveNodes command."""

    def __init__(self, scene: PipelineScene) -> None:
        super().__init__(scene)
        self.start = {item.node_id: item.pos() for item in scene.selected_node_items()}

    def release(self, pos: QPointF) -> None:
        moves = {}
        for node_id, before in self.start.items():
            item = self.scene.nodes.get(node_id)
            if item is not None and item.pos() != before:
                moves[node_id] = (item.pos().x(), item.pos().y())
        if moves:
            self.scene.document.stack.break_merge()
            self.scene.document.push(C.MoveNodes(moves))


class NewLink(Interaction):
    """Drag from a port: compatible ports light up; release on a port connects, on empty canvas offers nodes."""

    def __init__(self, scene: PipelineScene, port: PortItem) -> None:
        super().__init__(scene)
        self.port = port
        self.wire = LinkItem(None, port.spec.type)
        scene.addItem(self.wire)
        self.wire.set_ends(port.scene_centre(), port.scene_centre())
        for other in scene.all_ports():
            other.set_highlight(COMPATIBLE if self._connectable(other) else DIMMED)
        port.set_highlight(NORMAL)

    def _ends(self, other: PortItem) -> tuple[str, str, str, str] | None:
        if other.is_output == self.port.is_output or other.node_id == self.port.node_id:
            return None
        src, dst = (self.port, other) if self.port.is_output else (other, self.port)
        return src.node_id, src.name, dst.node_id, dst.name

    def _connectable(self, other: PortItem) -> bool:
        ends = self._ends(other)
        if ends is None:
            return False
        try:
            self.scene.document.pipeline.check_connect(*ends)
        except InputOccupiedError:
            return True  # dropping there replaces the old wire
        except GraphError:
            return False
        return True

    def move(self, pos: QPointF) -> None:
        start = self.port.scene_centre()
        if self.port.is_output:
            self.wire.set_ends(start, pos)
        else:
            self.wire.set_ends(pos, start)

    def release(self, pos: QPointF) -> None:
        self.cancel()
        target = self.scene.port_near(pos, SNAP)
        if target is None:
            node = next((i for i in self.scene.items(pos) if isinstance(i, NodeItem)), None)
            if node is None:
                self.scene.offer_nodes_for(self.port, pos)
                return
            target = self._best_port_on(node)
            if target is None:
                if node.node_id != self.port.node_id:
                    side = "input" if self.port.is_output else "output"
                    self.scene.document.message.emit(
                        f"{node.title} has no {side} that fits a {port_title(self.port.spec.type)}"
                    )
                return
        if target is self.port:
            return
        ends = self._ends(target)
        if ends is None:
            if target.node_id == self.port.node_id:
                self.scene.document.message.emit("Cannot connect a node to itself")
            else:
                kind = "outputs" if target.is_output else "inputs"
                self.scene.document.message.emit(
                    f"Cannot connect two {kind}; drag from an output to an input"
                )
            return
        self.scene.document.push(C.Connect(*ends, replace=True))

    def _best_port_on(self, node: NodeItem) -> PortItem | None:
        """A wire dropped on a node's body goes to its first fitting port, preferring a free one."""
        ports = list((node.inputs if self.port.is_output else node.outputs).values())
        fitting = [p for p in ports if self._connectable(p)]
        free = [p for p in fitting if not p.connected]
        return (free or fitting or [None])[0]

    def cancel(self) -> None:
        if self.wire.scene() is not None:
            self.scene.removeItem(self.wire)
        for other in self.scene.all_ports():
            other.set_highlight(NORMAL)

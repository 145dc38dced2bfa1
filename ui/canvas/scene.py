"""The scene mirrors the document's Pipeline: every model event adds, removes or updates one item.

Items never change the model themselves; mouse modes (``interactions``) and menus push commands on the
document, and the resulting model events update the items. So undo/redo needs no special code here.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QPainter
from PySide6.QtWidgets import (
    QGraphicsScene,
    QGraphicsSceneContextMenuEvent,
    QGraphicsSceneMouseEvent,
    QMenu,
)

from ui import theme
from ui.canvas.interactions import Interaction, MoveNodes, NewLink
from ui.canvas.link_item import LinkItem
from ui.canvas.node_item import NodeItem
from ui.canvas.port_item import PortItem
from ui.document import Document
from workbench import commands as C
from workbench import events as E
from workbench import graph as G
from workbench.ports import is_compatible

GRID = 24


class PipelineScene(QGraphicsScene):
    run_to_requested = Signal(str)
    rename_requested = Signal(str)
    help_requested = Signal(str)
    duplicate_requested = Signal()
    canvas_menu_requested = Signal(QPointF, QPoint)  # right-click on empty canvas: scene and screen position

    def __init__(self, document: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSceneRect(QRectF(-4000, -4000, 8000, 8000))
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self.links: dict[G.Link, LinkItem] = {}
        self.interaction: Interaction | None = None
        self.offer_menu: QMenu | None = None  # the last "add a node here" menu (tests trigger its actions)
        self._bind(document)

    # -- document binding
    def set_document(self, document: Document) -> None:
        self.document.pipeline.unsubscribe(self._on_event)
        self.document.changed.disconnect(self._refresh_problems)
        for item in list(self.nodes.values()) + list(self.links.values()):
            self.removeItem(item)
        self.nodes.clear()
        self.links.clear()
        self.document = document
        self._bind(document)

    def _bind(self, document: Document) -> None:
        document.pipeline.subscribe(self._on_event)
        document.changed.connect(self._refresh_problems)
        for node in document.pipeline.nodes:
            self._add_node(node)
        for link in document.pipeline.links:
            self._add_link(link)
        self._refresh_problems()

    def _on_event(self, event: G.GraphEvent) -> None:
        if isinstance(event, G.NodeAdded):
            self._add_node(event.node)
        elif isinstance(event, G.NodeRemoved):
            item = self.nodes.pop(event.node.id, None)
            if item is not None:
                self.removeItem(item)
            self._repaint_views_if_empty_changed()
        elif isinstance(event, G.LinkAdded):
            self._add_link(event.link)
            self.mark_stale(event.link.target)
        elif isinstance(event, G.LinkRemoved):
            self._remove_link(event.link)
            self.mark_stale(event.link.target)
        elif isinstance(event, G.ParamChanged):
            item = self.nodes.get(event.node_id)
            if item is not None:
                item.refresh()
            self.mark_stale(event.node_id)
        elif isinstance(event, G.NodeMoved):
            item = self.nodes.get(event.node_id)
            if item is not None and (item.pos().x(), item.pos().y()) != event.position:
                item.setPos(QPointF(*event.position))
        elif isinstance(event, G.NodeRenamed):
            item = self.nodes.get(event.node_id)
            if item is not None:
                item.refresh()

    def _add_node(self, node: G.Node) -> None:
        item = NodeItem(node, self.document.pipeline.spec(node.id))
        self.nodes[node.id] = item
        self.addItem(item)
        self._repaint_views_if_empty_changed()

    def _repaint_views_if_empty_changed(self) -> None:
        """The views draw a hint over an empty canvas; repaint them fully when that changes."""
        if len(self.nodes) <= 1:
            for view in self.views():
                view.viewport().update()

    def _add_link(self, link: G.Link) -> None:
        source, target = self.nodes.get(link.source), self.nodes.get(link.target)
        if source is None or target is None:
            return
        out_port = source.port(link.source_port, True)
        in_port = target.port(link.target_port, False)
        item = LinkItem(link, out_port.spec.type if out_port else "any")
        self.links[link] = item
        source.links.append(item)
        target.links.append(item)
        if in_port is not None:
            in_port.connected = True
            in_port.update()
        self.addItem(item)
        self.update_link(item)

    def _remove_link(self, link: G.Link) -> None:
        item = self.links.pop(link, None)
        if item is None:
            return
        for node_id in (link.source, link.target):
            node_item = self.nodes.get(node_id)
            if node_item is not None and item in node_item.links:
                node_item.links.remove(item)
        target = self.nodes.get(link.target)
        port = target.port(link.target_port, False) if target else None
        if port is not None:
            port.connected = False
            port.update()
        self.removeItem(item)

    def update_link(self, item: LinkItem) -> None:
        link = item.link
        if link is None:
            return
        source, target = self.nodes.get(link.source), self.nodes.get(link.target)
        if source is None or target is None:
            return
        out_port, in_port = source.port(link.source_port, True), target.port(link.target_port, False)
        start = out_port.scene_centre() if out_port else source.mapToScene(source.body_rect().topRight())
        end = in_port.scene_centre() if in_port else target.mapToScene(target.body_rect().topLeft())
        around = source.mapRectToScene(source.body_rect()).united(target.mapRectToScene(target.body_rect()))
        item.set_ends(start, end, around)

    def _refresh_problems(self) -> None:
        found = self.document.pipeline.problems(warnings=True)
        for node_id, item in self.nodes.items():
            problems = found.get(node_id, [])
            if problems != item.problems:
                item.refresh(problems)

    # -- run state
    def set_state(self, node_id: str, state: str, message: str = "", progress: float | None = None) -> None:
        item = self.nodes.get(node_id)
        if item is not None:
            item.set_state(state, message, progress)

    def mark_stale(self, node_id: str) -> None:
        """After an edit, results of this node and everything downstream no longer match the pipeline."""
        if node_id not in self.document.pipeline:
            return
        for nid in {node_id} | self.document.pipeline.downstream(node_id):
            item = self.nodes.get(nid)
            if item is not None and item.state in (E.DONE, E.CACHED, E.FAILED, E.STOPPED, E.SKIPPED):
                item.set_state(E.STALE, "an input or setting changed since the last run")

    # -- queries
    def selected_node_items(self) -> list[NodeItem]:
        return [item for item in self.selectedItems() if isinstance(item, NodeItem)]

    def selected_node_ids(self) -> list[str]:
        return [item.node_id for item in self.selected_node_items()]

    def selected_links(self) -> list[G.Link]:
        return [item.link for item in self.selectedItems() if isinstance(item, LinkItem) and item.link]

    def all_ports(self) -> list[PortItem]:
        return [p for item in self.nodes.values() for p in (*item.inputs.values(), *item.outputs.values())]

    def port_near(self, pos: QPointF, radius: float) -> PortItem | None:
        best, best_d = None, radius * radius
        for port in self.all_ports():
            d = port.scene_centre() - pos
            dist = d.x() * d.x() + d.y() * d.y()
            if dist <= best_d:
                best, best_d = port, dist
        return best

    def select_nodes(self, node_ids: list[str]) -> None:
        self.clearSelection()
        for node_id in node_ids:
            item = self.nodes.get(node_id)
            if item is not None:
                item.setSelected(True)

    # -- mouse
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            port = self.port_near(event.scenePos(), 9.0)
            if port is not None:
                self.interaction = NewLink(self, port)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self.selected_node_items():
            self.interaction = MoveNodes(self)

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        if isinstance(self.interaction, NewLink):
            self.interaction.move(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802
        interaction, self.interaction = self.interaction, None
        if isinstance(interaction, NewLink):
            interaction.release(event.scenePos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if interaction is not None:
            interaction.release(event.scenePos())

    # -- menus
    def offer_nodes_for(self, port: PortItem, pos: QPointF) -> None:
        """A wire dropped on empty canvas: offer node types with a matching port, placed where it was dropped."""
        menu = QMenu()
        pipeline = self.document.pipeline
        for node_type in pipeline.registry:
            spec = node_type.spec
            ports = spec.inputs if port.is_output else spec.outputs
            match = next(
                (
                    p
                    for p in ports
                    if (
                        is_compatible(port.spec.type, p.type)
                        if port.is_output
                        else is_compatible(p.type, port.spec.type)
                    )
                ),
                None,
            )
            if match is None:
                continue
            action = menu.addAction(f"{spec.title}  ({match.name})")
            action.setData((spec.type_id, match.name))
            action.triggered.connect(lambda checked=False, a=action: self._add_connected(port, pos, a))
        if menu.isEmpty():
            self.document.message.emit("No node type accepts this port")
            return
        self.offer_menu = menu
        views = self.views()
        if views:
            view = views[0]
            menu.popup(view.viewport().mapToGlobal(view.mapFromScene(pos)))

    def _add_connected(self, port: PortItem, pos: QPointF, action: QAction) -> None:
        type_id, other_port = action.data()
        node_id = self.document.pipeline.new_id(type_id)
        x = pos.x() if port.is_output else pos.x() - 200
        add = C.AddNode(type_id, (x, pos.y() - 20), node_id=node_id)
        if port.is_output:
            link = C.Connect(port.node_id, port.name, node_id, other_port, replace=True)
        else:
            link = C.Connect(node_id, other_port, port.node_id, port.name, replace=True)
        self.document.push(C.Macro(f"add {type_id}", [add, link]))

    def node_menu(self, node_id: str) -> QMenu:
        """The right-click menu of a node (built separately so tests can trigger its actions)."""
        menu = QMenu()
        menu.addAction("Run up to here", lambda: self.run_to_requested.emit(node_id))
        menu.addSeparator()
        menu.addAction("Rename…", lambda: self.rename_requested.emit(node_id))
        menu.addAction("Duplicate", lambda: self.duplicate_requested.emit())
        menu.addAction(
            "Delete", lambda: self.document.push(C.RemoveNodes(self.selected_node_ids() or [node_id]))
        )
        menu.addSeparator()
        menu.addAction("Help", lambda: self.help_requested.emit(node_id))
        return menu

    def contextMenuEvent(self, event: QGraphicsSceneContextMenuEvent) -> None:  # noqa: N802
        item = next((i for i in self.items(event.scenePos()) if isinstance(i, NodeItem)), None)
        if item is None:
            self.canvas_menu_requested.emit(event.scenePos(), event.screenPos())
            event.accept()
            return None
        if not item.isSelected():
            self.select_nodes([item.node_id])
        self.node_menu(item.node_id).exec(event.screenPos())
        event.accept()
        return None

    # -- background
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        pal = theme.colours()
        painter.fillRect(rect, pal.canvas)
        painter.setPen(pal.grid)
        left = int(rect.left()) - int(rect.left()) % GRID
        top = int(rect.top()) - int(rect.top()) % GRID
        points = [
            QPointF(x, y)
            for x in range(left, int(rect.right()) + 1, GRID)
            for y in range(top, int(rect.bottom()) + 1, GRID)
        ]
        if len(points) < 40_000:
            painter.drawPoints(points)

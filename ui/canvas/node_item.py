"""A node on the canvas: stage-coloured header, title, typed ports, a parameter summary and a state badge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

from ui import theme
from ui.canvas.port_item import PortItem
from ui.inspector.editors import zero_label
from workbench import events as E
from workbench.graph import Node
from workbench.nodes.base import NodeSpec

if TYPE_CHECKING:
    from ui.canvas.link_item import LinkItem

WIDTH = 200.0
HEADER = 26.0
ROW = 20.0
SUMMARY_LINE = 15.0
BADGE_R = 7.0

STATE_TEXT = {
    E.QUEUED: "queued",
    E.RUNNING: "running",
    E.DONE: "done",
    E.CACHED: "cached (reused)",
    E.FAILED: "failed",
    E.SKIPPED: "skipped",
    E.STALE: "stale: an input or setting changed since the last run",
    E.STOPPED: "stopped",
}


def summary_lines(node: Node, spec: NodeSpec | None, limit: int = 2) -> list[str]:
    """Key parameters for the node's face: the spec's ``summary`` names, else the first few set values."""
    if spec is None:
        return [f"unknown type {node.type}"]
    names = list(spec.summary) or [p.name for p in spec.params][:limit]
    lines = []
    for name in names[:limit]:
        param = spec.param(name)
        value = node.params.get(name, param.default if param else None)
        if value in (None, "", [], ()):
            continue
        if isinstance(value, list):
            text = ", ".join(str(v.get("units", v)) if isinstance(v, dict) else str(v) for v in value)
        else:
            text = (zero_label(param) if value == 0 and param else "") or str(value)  # "Epochs: auto"
        label = param.title if param else name
        lines.append(f"{label}: {text}")
    return lines


class NodeItem(QGraphicsObject):
    def __init__(self, node: Node, spec: NodeSpec | None) -> None:
        super().__init__()
        self.node_id = node.id
        self.spec = spec
        self.node = node
        self.state = E.IDLE
        self.state_message = ""
        self.progress: float | None = None
        self.problems: list[str] = []
        self.links: list[LinkItem] = []
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.inputs: dict[str, PortItem] = {}
        self.outputs: dict[str, PortItem] = {}
        if spec is not None:
            for index, port in enumerate(spec.inputs):
                item = PortItem(node.id, port, False, self)
                item.setPos(0, HEADER + ROW * (index + 0.5) + 4)
                self.inputs[port.name] = item
            for index, port in enumerate(spec.outputs):
                item = PortItem(node.id, port, True, self)
                item.setPos(WIDTH, HEADER + ROW * (index + 0.5) + 4)
                self.outputs[port.name] = item
        self._summary = summary_lines(node, spec)
        self.setPos(QPointF(*node.position))
        self._update_tooltip()

    # -- geometry
    def _rows(self) -> int:
        if self.spec is None:
            return 1
        return max(len(self.spec.inputs), len(self.spec.outputs), 1)

    def _face_lines(self) -> int:
        return len(self._summary) + (1 if self.problems else 0)

    def body_rect(self) -> QRectF:
        height = HEADER + ROW * self._rows() + 8 + SUMMARY_LINE * self._face_lines() + 6
        return QRectF(0, 0, WIDTH, height)

    def boundingRect(self) -> QRectF:
        return self.body_rect().adjusted(-4, -BADGE_R - 2, 4, 4)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(self.body_rect(), 6, 6)
        return path

    def port(self, name: str, output: bool) -> PortItem | None:
        return (self.outputs if output else self.inputs).get(name)

    # -- model updates
    @property
    def title(self) -> str:
        if self.node.title:
            return self.node.title
        return self.spec.title if self.spec else self.node.type

    def refresh(self, problems: list[str] | None = None) -> None:
        """Re-read title, summary and problems from the node (after a param change or rename)."""
        self.prepareGeometryChange()
        self._summary = summary_lines(self.node, self.spec)
        if problems is not None:
            self.problems = problems
        self._update_tooltip()
        self.update()

    def set_state(self, state: str, message: str = "", progress: float | None = None) -> None:
        self.state, self.state_message, self.progress = state, message, progress
        self._update_tooltip()
        self.update()

    def _update_tooltip(self) -> None:
        parts = [f"<b>{self.title}</b> ({self.node_id})"]
        if self.state != E.IDLE:
            parts.append(f"State: {STATE_TEXT.get(self.state, self.state)}")
        if self.state_message:
            parts.append(self.state_message)
        if self.problems:
            parts.append("Problems:<br>• " + "<br>• ".join(self.problems))
        self.setToolTip("<br>".join(parts))

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for link in self.links:
                scene = self.scene()
                if scene is not None:
                    scene.update_link(link)  # type: ignore[attr-defined]
        return super().itemChange(change, value)

    # -- drawing
    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        pal = theme.colours()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = self.body_rect()
        stage = theme.stage_colour(self.spec.category if self.spec else "other")
        border = pal.node_selected if self.isSelected() else pal.node_border
        if self.problems and not self.isSelected():
            border = pal.error
        painter.setPen(QPen(border, 2.0 if self.isSelected() else 1.2))
        painter.setBrush(pal.node_body)
        painter.drawRoundedRect(rect, 6, 6)
        body = QPainterPath()
        body.addRoundedRect(rect.adjusted(0.6, 0.6, -0.6, -0.6), 6, 6)
        painter.save()
        painter.setClipPath(body)
        painter.fillRect(QRectF(0, 0, WIDTH, HEADER), stage)
        painter.restore()
        painter.setPen(QPen(border, 2.0 if self.isSelected() else 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 6, 6)

        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        metrics = QFontMetricsF(font)
        title = metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, WIDTH - 36)
        painter.drawText(QRectF(10, 0, WIDTH - 36, HEADER), Qt.AlignmentFlag.AlignVCenter, title)

        font.setBold(False)
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        painter.setFont(font)
        painter.setPen(pal.text)
        for port in self.inputs.values():
            y = port.pos().y()
            painter.drawText(
                QRectF(12, y - 9, WIDTH / 2 - 12, 18),
                Qt.AlignmentFlag.AlignVCenter,
                port.spec.title or port.spec.name,
            )
        for port in self.outputs.values():
            y = port.pos().y()
            painter.drawText(
                QRectF(WIDTH / 2, y - 9, WIDTH / 2 - 12, 18),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                port.spec.title or port.spec.name,
            )
        painter.setPen(pal.muted)
        y = HEADER + ROW * self._rows() + 8
        small = QFontMetricsF(font)
        for line in self._summary:
            text = small.elidedText(line, Qt.TextElideMode.ElideRight, WIDTH - 20)
            painter.drawText(QRectF(10, y, WIDTH - 20, SUMMARY_LINE), Qt.AlignmentFlag.AlignVCenter, text)
            y += SUMMARY_LINE
        if self.problems:
            painter.setPen(pal.error)
            more = f" (+{len(self.problems) - 1})" if len(self.problems) > 1 else ""
            text = small.elidedText("⚠ " + self.problems[0] + more, Qt.TextElideMode.ElideRight, WIDTH - 20)
            painter.drawText(QRectF(10, y, WIDTH - 20, SUMMARY_LINE), Qt.AlignmentFlag.AlignVCenter, text)
        self._paint_badge(painter)

    def _paint_badge(self, painter: QPainter) -> None:
        if self.state == E.IDLE:
            return
        centre = QPointF(WIDTH - 14, HEADER / 2)
        colour = theme.state_colour(self.state)
        painter.setPen(QPen(QColor("#ffffff"), 1.5))
        painter.setBrush(colour)
        painter.drawEllipse(centre, BADGE_R, BADGE_R)
        if self.state == E.RUNNING and self.progress is not None:
            painter.setPen(QPen(QColor("#ffffff"), 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            arc = QRectF(centre.x() - BADGE_R + 2, centre.y() - BADGE_R + 2, 2 * BADGE_R - 4, 2 * BADGE_R - 4)
            painter.drawArc(arc, 90 * 16, int(-360 * 16 * self.progress))
        mark = {E.FAILED: "!", E.DONE: "✓", E.CACHED: "✓", E.STALE: "~", E.STOPPED: "■"}.get(self.state)
        if mark:
            font = QFont(painter.font())
            font.setBold(True)
            font.setPixelSize(10)
            painter.setFont(font)
            painter.setPen(QColor("#ffffff"))
            painter.drawText(
                QRectF(centre.x() - BADGE_R, centre.y() - BADGE_R, 2 * BADGE_R, 2 * BADGE_R),
                Qt.AlignmentFlag.AlignCenter,
                mark,
            )

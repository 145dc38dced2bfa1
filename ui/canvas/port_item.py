"""A typed port: a small circle coloured by data type, with a tooltip naming the type and its meaning."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from ui import theme
from workbench.nodes.base import PortSpec
from workbench.ports import PORT_TYPES
from workbench.ports import title as port_title

RADIUS = 6.0
HIT = 10.0

NORMAL, COMPATIBLE, DIMMED = 0, 1, 2


class PortItem(QGraphicsItem):
    def __init__(self, node_id: str, spec: PortSpec, is_output: bool, parent: QGraphicsItem) -> None:
        super().__init__(parent)
        self.node_id = node_id
        self.spec = spec
        self.is_output = is_output
        self.highlight = NORMAL
        self.connected = False
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        kind = PORT_TYPES.get(spec.type)
        direction = "output" if is_output else ("optional input" if spec.optional else "input")
        lines = [f"<b>{spec.title or spec.name}</b> — {direction}, {port_title(spec.type)}"]
        if spec.help:
            lines.append(spec.help)
        elif kind:
            lines.append(kind.help)
        self.setToolTip("<br>".join(lines))

    @property
    def name(self) -> str:
        return self.spec.name

    def boundingRect(self) -> QRectF:
        return QRectF(-HIT, -HIT, 2 * HIT, 2 * HIT)

    def scene_centre(self) -> QPointF:
        return self.mapToScene(QPointF(0, 0))

    def set_highlight(self, mode: int) -> None:
        if mode != self.highlight:
            self.highlight = mode
            self.update()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = theme.port_colour(self.spec.type)
        radius = RADIUS
        if self.highlight == DIMMED:
            colour = QColor(colour)
            colour.setAlpha(60)
        elif self.highlight == COMPATIBLE:
            radius = RADIUS + 2
            glow = QColor(colour)
            glow.setAlpha(90)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(glow)
            painter.drawEllipse(QPointF(0, 0), RADIUS + 6, RADIUS + 6)
        painter.setPen(QPen(theme.colours().node_body, 1.5))
        filled = self.connected or self.is_output or not self.spec.optional
        painter.setBrush(QBrush(colour) if filled else QBrush(theme.colours().node_body))
        if not filled:
            painter.setPen(QPen(colour, 2))
        painter.drawEllipse(QPointF(0, 0), radius, radius)

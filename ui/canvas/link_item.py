"""A wire: a cubic curve between two ports, with a wide stroker shape so it is easy to click."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from ui import theme
from workbench.graph import Link


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """Horizontal tangents at both ends, so wires leave outputs rightwards and enter inputs from the left."""
    dx = max(40.0, abs(end.x() - start.x()) * 0.5)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


class LinkItem(QGraphicsPathItem):
    def __init__(self, link: Link | None, port_type: str) -> None:
        super().__init__()
        self.link = link
        self.port_type = port_type
        self.setZValue(-1)
        self.setAcceptHoverEvents(True)
        self._hover = False
        if link is not None:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
            self.setToolTip(str(link))
        self._apply_pen()

    def _apply_pen(self) -> None:
        colour = theme.port_colour(self.port_type)
        width = 2.5
        if self.link is None:
            colour = QColor(colour)
            colour.setAlpha(170)
        if self.isSelected():
            colour, width = theme.colours().node_selected, 3.5
        elif self._hover:
            width = 3.5
        pen = QPen(colour, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.link is None:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)

    def set_ends(self, start: QPointF, end: QPointF) -> None:
        self.setPath(wire_path(start, end))

    def shape(self) -> QPainterPath:
        stroker = QPainterPathStroker()
        stroker.setWidth(12)
        return stroker.createStroke(self.path())

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self._apply_pen()
        return super().itemChange(change, value)

    def hoverEnterEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self._hover = True
        self._apply_pen()

    def hoverLeaveEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        self._hover = False
        self._apply_pen()

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(self.pen())
        painter.drawPath(self.path())

"""A wire: a cubic curve between two ports, with a wide stroker shape so it is easy to click."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem, QWidget

from ui import theme
from workbench.graph import Link

STUB = 24.0  # how far a routed wire runs straight out of its port before turning
CLEARANCE = 28.0  # gap between a routed wire and the nodes it goes around
CORNER = 12.0


def wire_path(start: QPointF, end: QPointF, around: QRectF | None = None) -> QPainterPath:
    """Horizontal tangents at both ends, so wires leave outputs rightwards and enter inputs from the left.

    A wire that runs backwards (its input left of its output) with ``around`` (the two nodes' scene rectangle)
    is routed out of the output, below both nodes and into the input: a curve would cross the nodes' bodies
    and ports, where it looks like a wire into another port.
    """
    if around is not None and end.x() < start.x():
        return routed_path(start, end, around.bottom() + CLEARANCE)
    dx = max(40.0, abs(end.x() - start.x()) * 0.5)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + dx, start.y()), QPointF(end.x() - dx, end.y()), end)
    return path


def routed_path(start: QPointF, end: QPointF, lane_y: float) -> QPainterPath:
    """Right from the output, down to ``lane_y``, left under the nodes, up and into the input; rounded corners."""
    right, left = start.x() + STUB, end.x() - STUB
    points = [start, QPointF(right, start.y()), QPointF(right, lane_y), QPointF(left, lane_y),
              QPointF(left, end.y()), end]  # fmt: skip
    path = QPainterPath(points[0])
    for before, corner, after in zip(points, points[1:], points[2:], strict=False):
        path.lineTo(_towards(corner, before, CORNER))
        path.quadTo(corner, _towards(corner, after, CORNER))
    path.lineTo(points[-1])
    return path


def _towards(corner: QPointF, other: QPointF, distance: float) -> QPointF:
    """The point ``distance`` from ``corner`` towards ``other`` (at most half way)."""
    dx, dy = other.x() - corner.x(), other.y() - corner.y()
    length = (dx * dx + dy * dy) ** 0.5
    if length == 0:
        return QPointF(corner)
    step = min(distance, length / 2) / length
    return QPointF(corner.x() + dx * step, corner.y() + dy * step)


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

    def set_ends(self, start: QPointF, end: QPointF, around: QRectF | None = None) -> None:
        """``around``: the linked nodes' scene rectangle, to route a backwards wire around them."""
        self.setPath(wire_path(start, end, around))

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

"""The canvas view: wheel zoom around the cursor, middle-button pan, zoom to fit, rubber band, palette drops,
and data or pipeline files dropped from the desktop (handed to the window as ``files_dropped``)."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from ui import theme
from ui.canvas.scene import PipelineScene
from ui.palette import MIME_NODE_TYPE
from workbench import commands as C

MIN_ZOOM, MAX_ZOOM = 0.2, 3.0
READABLE_ZOOM = 0.5  # below this node titles are too small to read; an opened pipeline starts no smaller
EMPTY_HINT = (
    "Drop a data file here to start from your data,\nor drag a node here from the palette (or press Tab to search)\n"
    "then drag from an output port to an input port to wire it."
)
EXAMPLES_HINT = "\n\nFile → New from example opens a ready-made pipeline."


def local_files(data: QMimeData) -> list[str]:
    """The local file paths a drag from the desktop carries (file:// URLs), else []."""
    if not data.hasUrls():
        return []
    return [url.toLocalFile() for url in data.urls() if url.isLocalFile() and url.toLocalFile()]


class PipelineView(QGraphicsView):
    quick_add_requested = Signal(QPointF)  # scene position for the quick-add popup
    files_dropped = Signal(list)  # local file paths dropped from the desktop

    def __init__(self, scene: PipelineScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._pan_from: QPointF | None = None
        self.empty_hint = EMPTY_HINT
        self.overlay: QWidget | None = None  # the start page, centred over the canvas while shown
        self.auto_frame = False  # re-frame the opened pipeline on resize until the user zooms or pans

    @property
    def pipeline_scene(self) -> PipelineScene:
        return self.scene()  # type: ignore[return-value]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.pipeline_scene.nodes or (self.overlay is not None and self.overlay.isVisible()):
            return
        painter = QPainter(self.viewport())
        painter.setPen(theme.colours().muted)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() + 2)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, self.empty_hint)

    # -- zoom
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        self.auto_frame = False
        target = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) > 1e-6:
            self.scale(factor, factor)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y()
        if delta == 0:
            return super().wheelEvent(event)
        self.zoom_around(event.position().toPoint(), 1.0015**delta)
        event.accept()
        return None

    def zoom_around(self, at: QPoint, factor: float) -> None:
        """Zoom keeping the scene point under ``at`` (viewport coordinates) where it is."""
        anchor = self.mapToScene(at)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.zoom_by(factor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        drift = self.mapFromScene(anchor) - at
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())

    def reset_zoom(self) -> None:
        self.auto_frame = False
        self.resetTransform()

    def zoom_to_fit(self) -> None:
        items = self.pipeline_scene.nodes.values()
        if not items:
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        rect.adjust(-60, -60, 60, 60)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.2:
            self.resetTransform()
            self.scale(1.2, 1.2)
            self.centerOn(rect.center())

    def frame_pipeline(self) -> None:
        """The view for a freshly opened pipeline: all of it if it fits readably, else its start (left end).

        Kept framed when the view is resized (the window maximised after the first paint) until the user zooms
        or pans."""
        self.zoom_to_fit()
        items = self.pipeline_scene.nodes.values()
        self.auto_frame = bool(items)
        if not items or self.zoom() >= READABLE_ZOOM:
            return
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        self.resetTransform()
        self.scale(READABLE_ZOOM, READABLE_ZOOM)
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        self.centerOn(rect.left() - 40 + visible.width() / 2, rect.center().y())

    def visible_centre(self) -> QPointF:
        return self.mapToScene(self.viewport().rect().center())

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.auto_frame and self.pipeline_scene.nodes:
            self.frame_pipeline()
        if self.overlay is not None and self.overlay.isVisible():
            self.place_overlay(self.overlay)

    def place_overlay(self, widget: QWidget) -> None:
        """Centre ``widget`` (a child of this view) over the canvas, within the view's size."""
        self.overlay = widget
        area = self.viewport().geometry()
        hint = widget.sizeHint()
        width = min(hint.width(), widget.maximumWidth(), area.width() - 24)
        height = min(max(hint.height(), widget.minimumSizeHint().height()), area.height() - 24)
        widget.setGeometry(
            area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2, width, height
        )
        widget.raise_()

    # -- pan with the middle button
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.MiddleButton:
            self.auto_frame = False
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() == Qt.MouseButton.MiddleButton:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def focusNextPrevChild(self, next: bool) -> bool:  # noqa: N802, A002
        """Tab opens quick-add on the canvas instead of moving focus (as in other node editors)."""
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Space) and not event.modifiers():
            cursor = self.mapFromGlobal(self.cursor().pos())
            inside = self.viewport().rect().contains(cursor)
            self.quick_add_requested.emit(self.mapToScene(cursor) if inside else self.visible_centre())
            event.accept()
            return
        super().keyPressEvent(event)

    # -- palette drops and files from the desktop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(MIME_NODE_TYPE) or local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(MIME_NODE_TYPE) or local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        data = event.mimeData()
        files = local_files(data)
        if files and not data.hasFormat(MIME_NODE_TYPE):
            event.acceptProposedAction()
            self.files_dropped.emit(files)
            return None
        if not data.hasFormat(MIME_NODE_TYPE):
            return super().dropEvent(event)
        type_id = bytes(data.data(MIME_NODE_TYPE).data()).decode("utf-8")
        pos = self.mapToScene(event.position().toPoint())
        self.add_node(type_id, pos)
        event.acceptProposedAction()
        return None

    def add_node(self, type_id: str, pos: QPointF) -> str | None:
        """Add a node centred under ``pos``; returns its id (None when refused), and selects it."""
        scene = self.pipeline_scene
        document = scene.document
        self.auto_frame = False  # the user works in this view now: a resize must not move it
        node_id = document.pipeline.new_id(type_id) if type_id in document.registry else None
        if node_id is None:
            document.message.emit(f"Unknown node type {type_id!r}")
            return None
        if not document.push(C.AddNode(type_id, (pos.x() - 100, pos.y() - 20), node_id=node_id)):
            return None
        scene.select_nodes([node_id])
        self.setFocus()
        return node_id

"""The pipeline canvas: a QGraphicsScene that mirrors the core's Pipeline events into items."""

from ui.canvas.scene import PipelineScene
from ui.canvas.view import PipelineView

__all__ = ["PipelineScene", "PipelineView"]

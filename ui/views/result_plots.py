"""pyqtgraph widgets for the results panel: confusion heatmap, ROC curves, residuals, importance bars."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

PALETTE = ("#3b82f6", "#f97316", "#22c55e", "#ef4444", "#8b5cf6", "#14b8a6", "#eab308", "#ec4899",
           "#64748b", "#a16207")  # fmt: skip


def _plot(title: str, x_label: str, y_label: str) -> Any:
    import pyqtgraph as pg

    plot = pg.PlotWidget()
    plot.setBackground(None)
    plot.setTitle(title)
    plot.setLabel("bottom", x_label)
    plot.setLabel("left", y_label)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.hideButtons()
    return plot


def confusion_plot(
    counts: list[list[int]], classes: list[Any], on_cell: Callable[[int, int], None] | None = None
) -> QWidget:
    """Rows are actual classes, columns predicted; shade by share of the actual class, counts written in.

    ``on_cell(actual_index, predicted_index)`` is called when a cell is clicked (image runs open the pictures
    behind it)."""
    import numpy as np
    import pyqtgraph as pg

    matrix = np.asarray(counts, dtype=float)
    n = matrix.shape[0]
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    plot = _plot("Confusion matrix (test)", "predicted", "actual")
    plot.showGrid(x=False, y=False)
    image = pg.ImageItem(shares.T)  # ImageItem indexes [x, y]
    shades = pg.ColorMap([0.0, 1.0], [(246, 248, 250), (37, 99, 235)])  # built in: no colour file to read
    image.setLookupTable(shades.getLookupTable(0.0, 1.0, 256))
    image.setLevels((0.0, 1.0))
    plot.addItem(image)
    plot.invertY(True)
    if n <= 20:
        font = QFont()
        font.setPointSizeF(7.5 if n > 6 else 9.0)
        for i in range(n):
            for j in range(n):
                colour = "#ffffff" if shares[i, j] > 0.55 else "#1f2328"
                text = pg.TextItem(f"{int(matrix[i, j])}", color=colour, anchor=(0.5, 0.5))
                text.setFont(font)
                text.setPos(j + 0.5, i + 0.5)
                plot.addItem(text)
    ticks = [[(k + 0.5, str(c)[:10]) for k, c in enumerate(classes)]]
    plot.getAxis("bottom").setTicks(ticks)
    plot.getAxis("left").setTicks(ticks)
    plot.setMouseEnabled(x=False, y=False)
    plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
    if on_cell is not None:
        box = plot.getViewBox()

        def clicked(event: Any) -> None:
            if event.button() != Qt.MouseButton.LeftButton or not box.sceneBoundingRect().contains(
                event.scenePos()
            ):
                return
            point = box.mapSceneToView(event.scenePos())
            i, j = math.floor(point.y()), math.floor(point.x())
            if 0 <= i < n and 0 <= j < n:
                event.accept()
                on_cell(i, j)

        plot.scene().sigMouseClicked.connect(clicked)
        plot.setCursor(Qt.CursorShape.PointingHandCursor)
        plot.setToolTip("Click a cell to see the pictures behind it")
    return plot


def cell_point(plot: Any, actual: int, predicted: int) -> QPoint:
    """Where the centre of a confusion-matrix cell is in the plot's viewport (tests click there)."""
    scene = plot.getViewBox().mapViewToScene(QPointF(predicted + 0.5, actual + 0.5))
    return plot.mapFromScene(scene)


def roc_plot(curves: list[dict[str, Any]]) -> QWidget:
    import pyqtgraph as pg

    plot = _plot("ROC curve (test)", "false positive rate", "true positive rate")
    if len(curves) <= 10:
        plot.addLegend(offset=(-10, -10))
    for k, curve in enumerate(curves):
        colour = PALETTE[k % len(PALETTE)]
        plot.plot(curve["fpr"], curve["tpr"], pen=pg.mkPen(colour, width=2),
                  name=f"{curve['class']} (AUC {curve['auc']:.3f})")  # fmt: skip
    plot.plot([0, 1], [0, 1], pen=pg.mkPen("#9aa0a6", style=Qt.PenStyle.DashLine))
    plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0.02)
    plot.setMouseEnabled(x=False, y=False)
    return plot


def residual_plot(scatter: dict[str, list[float]]) -> QWidget:
    """Residual (actual − predicted) against the prediction; a flat band around zero is what you want."""
    import pyqtgraph as pg

    plot = _plot("Residuals (test)", "predicted", "actual − predicted")
    plot.plot(scatter["predicted"], scatter["residual"], pen=None, symbol="o", symbolSize=4,
              symbolBrush=pg.mkBrush(59, 130, 246, 140), symbolPen=None)  # fmt: skip
    plot.addItem(pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen("#9aa0a6", style=Qt.PenStyle.DashLine)))
    return plot


def importance_plot(rows: list[dict[str, Any]], scoring: str, top: int = 20) -> QWidget:
    """Horizontal bars of the mean score drop per column, largest at the top, with ±std whiskers."""
    import numpy as np
    import pyqtgraph as pg

    rows = rows[:top]
    plot = _plot("Permutation importance", f"drop in {scoring}", "")
    y = np.arange(len(rows), dtype=float)
    means = np.array([float(r["mean"]) for r in rows])
    plot.addItem(pg.BarGraphItem(x0=0, y=y, width=means, height=0.7, brush="#22c55e"))
    stds = np.array([float(r.get("std", 0.0)) for r in rows])
    plot.addItem(pg.ErrorBarItem(x=means, y=y, left=stds, right=stds, beam=0.2))
    plot.getAxis("left").setTicks([[(i, str(r["column"])[:18]) for i, r in enumerate(rows)]])
    plot.invertY(True)
    plot.setMouseEnabled(x=False, y=False)
    return plot

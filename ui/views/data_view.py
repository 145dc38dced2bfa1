"""The data panel: a node's output table in a virtualised model, and the profile of the current column.

The model never copies the table into Qt: it keeps one numpy array per column and formats only the cells
the view asks for (the visible ones), so a 1M-row table scrolls like a 100-row one. Column statistics come
from ``workbench.tabular.profile`` for one column at a time, when that column is chosen.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    try:
        if value != value:  # NaN-like (pd.NA raises, NaT compares unequal)
            return ""
    except TypeError:
        return ""
    return str(value)


class FrameModel(QAbstractTableModel):
    """A read-only table model over a DataFrame; cells are formatted on demand."""

    def __init__(self, frame: Any = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.frame: Any = None
        self._columns: list[str] = []
        self._arrays: list[Any] = []
        self._kinds: list[str] = []
        self._rows = 0
        if frame is not None:
            self.set_frame(frame)

    def set_frame(self, frame: Any) -> None:
        self.beginResetModel()
        self.frame = frame
        if frame is None:
            self._columns, self._arrays, self._kinds, self._rows = [], [], [], 0
        else:
            self._columns = [str(c) for c in frame.columns]
            self._arrays = [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
            self._kinds = [a.dtype.kind for a in self._arrays]
            self._rows = int(len(frame))
        self.endResetModel()

    def rowCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: Index = _ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            column = index.column()
            value = self._arrays[column][index.row()]
            kind = self._kinds[column]
            if kind == "f":
                return _format(float(value))
            if kind in "iub":
                return str(value)
            if kind == "M":
                return "" if value != value else str(value)[:19].replace("T", " ")
            return _format(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and self._kinds[index.column()] in "iuf":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self._columns[section] if 0 <= section < len(self._columns) else None
        return str(section + 1)


def tables_in(value: Any, port: str) -> dict[str, Any]:
    """Table-shaped things a node output carries: a DataFrame, a dataset's splits, a result's table."""
    if value is None:
        return {}
    if hasattr(value, "iloc") and hasattr(value, "columns"):
        return {port: value}
    splits = getattr(value, "splits", None)
    if callable(splits):
        try:
            return {f"{port} · {name}": frame for name, frame in splits().items()}
        except Exception:  # noqa: BLE001 - a value that only looks like a dataset
            return {}
    for attr in ("table", "frame"):
        inner = getattr(value, attr, None)
        if hasattr(inner, "iloc"):
            return {port: inner}
    return {}


class DataView(QWidget):
    """Choose one of the node's tables; see its rows and the profile of the current column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tables: dict[str, Any] = {}
        self._title = ""
        self.model = FrameModel()
        self.title = QLabel("Select a node after a run to see its table.")
        self.title.setObjectName("nodeHelp")
        self.chooser = QComboBox()
        self.chooser.currentTextChanged.connect(self._choose)
        self.chooser.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(self.table.verticalHeader().ResizeMode.Fixed)
        self.table.horizontalHeader().setDefaultSectionSize(110)
        self.table.selectionModel().currentColumnChanged.connect(self._column_changed)
        self.table.horizontalHeader().sectionClicked.connect(self.show_column)

        self.stats_title = QLabel("")
        self.stats_title.setObjectName("nodeTitle")
        self.stats = QGridLayout()  # two columns of figures keep the histogram tall
        self.stats.setVerticalSpacing(2)
        self.stats_labels: dict[str, QLabel] = {}
        for index, key in enumerate(("kind", "missing", "unique", "top", "min", "max", "mean", "std")):
            label = QLabel("")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.stats_labels[key] = label
            name = QLabel(key.title())
            name.setObjectName("nodeHelp")
            row, col = index % 4, 2 * (index // 4)
            self.stats.addWidget(name, row, col)
            self.stats.addWidget(label, row, col + 1)
        self.stats.setColumnStretch(1, 1)
        self.stats.setColumnStretch(3, 1)
        self.histogram: Any = None  # pyqtgraph PlotWidget, created on first profile
        self.profile_box = QWidget()
        profile_layout = QVBoxLayout(self.profile_box)
        profile_layout.setContentsMargins(6, 0, 0, 0)
        profile_layout.addWidget(self.stats_title)
        profile_layout.addLayout(self.stats)
        self._profile_layout = profile_layout
        self.profile: dict[str, Any] = {}

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.profile_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.chooser)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.setMinimumHeight(230)  # curves and tables need room; the dock grows to fit
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.profile_box.setVisible(False)

    def show_tables(self, title: str, tables: dict[str, Any]) -> None:
        """Show ``tables`` (name → DataFrame); the first one is chosen."""
        self.tables = dict(tables)
        self.chooser.blockSignals(True)
        self.chooser.clear()
        self.chooser.addItems(list(self.tables))
        self.chooser.blockSignals(False)
        self.chooser.setVisible(len(self.tables) > 1)
        if not self.tables:
            self.title.setText(title or "Select a node after a run to see its table.")
            self.model.set_frame(None)
            self.profile_box.setVisible(False)
            return
        self._title = title
        self._choose(next(iter(self.tables)))

    @Slot(str)
    def _choose(self, name: str) -> None:
        frame = self.tables.get(name)
        if frame is None:
            return
        self.model.set_frame(frame)
        rows, cols = frame.shape
        self.title.setText(f"{self._title} — {name}: {rows:,} rows × {cols} columns")
        if cols:
            self.show_column(0)

    @Slot(QModelIndex, QModelIndex)
    def _column_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.show_column(current.column())

    @Slot(int)
    def show_column(self, column: int) -> None:
        """Profile one column (missing, unique, range, top values) and draw its histogram."""
        frame = self.model.frame
        if frame is None or not 0 <= column < frame.shape[1]:
            return
        from workbench.tabular.profile import profile_column

        series = frame.iloc[:, column]
        self.profile = profile_column(series.rename(str(frame.columns[column])))
        p = self.profile
        self.stats_title.setText(p["name"])
        missing = p.get("missing", 0)
        share = f" ({100 * missing / max(1, len(series)):.1f} %)" if missing else ""
        values = {
            "kind": f"{p.get('kind', '')} ({p.get('dtype', '')})",
            "missing": f"{missing:,}{share}",
            "unique": f"{p.get('unique', ''):,}" if isinstance(p.get("unique"), int) else "",
            "min": _format(p.get("min")),
            "max": _format(p.get("max")),
            "mean": _format(p.get("mean")),
            "std": _format(p.get("std")),
            "top": ", ".join(f"{v} ({n:,})" for v, n in (p.get("top") or [])[:3]),
        }
        for key, label in self.stats_labels.items():
            label.setText(values[key])
        self._draw_histogram(p)
        self.profile_box.setVisible(True)

    def _draw_histogram(self, p: dict[str, Any]) -> None:
        import pyqtgraph as pg

        if self.histogram is None:
            self.histogram = pg.PlotWidget()
            self.histogram.setBackground(None)
            self.histogram.setMouseEnabled(x=False, y=False)
            self.histogram.hideButtons()
            self.histogram.setMinimumHeight(120)
            self._profile_layout.addWidget(self.histogram, 1)
        plot = self.histogram
        plot.clear()
        hist = p.get("histogram") or {}
        counts = hist.get("counts") or []
        edges = hist.get("edges") or []
        axis = plot.getAxis("bottom")
        if counts and len(edges) == len(counts) + 1 and p.get("kind") == "numeric":
            axis.setTicks(None)
            x = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
            width = (edges[-1] - edges[0]) / max(1, len(counts)) or 1.0
            plot.addItem(pg.BarGraphItem(x=x, height=counts, width=width * 0.9, brush="#3b82f6"))
        elif p.get("top"):
            top = p["top"][:10]
            plot.addItem(pg.BarGraphItem(x=list(range(len(top))), height=[n for _, n in top], width=0.8,
                                         brush="#8b5cf6"))  # fmt: skip
            axis.setTicks([[(i, str(v)[:12]) for i, (v, _) in enumerate(top)]])
        plot.autoRange()

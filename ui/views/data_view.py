"""The data panel: a node's output table in a virtualised model, and the profile of the current column.

The model never copies the table into Qt: it keeps one numpy array per column and formats only the cells
the view asks for (the visible ones), so a 1M-row table scrolls like a 100-row one. Column statistics come
from ``workbench.tabular.profile`` for one column at a time, when that column is chosen.

Before any run, a data file's first rows are read in a background thread (``FilePreviews``) so selecting a
data.file node, or the node it feeds, shows the data at once; the same head gives the inspector's column
drop-downs their kinds. The GUI thread never reads a file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, Signal, Slot
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

from workbench import ports

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
    """The tables a node output carries (its type's ``ports.tables_of``: a DataFrame, a dataset's splits …),
    named after the port ("dataset · train" when the value has several)."""
    return {(f"{port} · {name}" if name else port): frame for name, frame in ports.tables_of(value).items()}


class DataView(QWidget):
    """Choose one of the node's tables; see its rows and the profile of the current column."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tables: dict[str, Any] = {}
        self._title = ""
        self.previews: FilePreviews | None = None
        self._pending_preview: tuple | None = None  # (key, title, path) of a head still being read
        self.previewing: Path | None = None  # the file whose head is shown, before any run
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

    def attach_previews(self, previews: FilePreviews) -> None:
        """Read data files' heads through ``previews`` (shared with the inspector's column lists)."""
        self.previews = previews
        previews.ready.connect(self._preview_ready)

    def show_file_preview(self, title: str, path: Path, options: dict[str, Any]) -> None:
        """The head of ``path`` now if it was read, else once the background read arrives (unless something
        else has been shown by then). Never reads in the GUI thread."""
        if self.previews is None:
            self.attach_previews(FilePreviews(self))
        key, head = self.previews.get(path, options)
        if head is None and key is not None:
            self.show_tables(f"{title}: reading {path.name}…", {})
            self._pending_preview = (key, title, path)
            return
        self._show_preview(title, path, head)

    def _show_preview(self, title: str, path: Path, head: Any) -> None:
        if isinstance(head, tuple):
            frame, whole = head
            rows = f"all {len(frame):,} rows" if whole else f"first {len(frame):,} rows"
            self.show_tables(f"{title} — {path.name} (preview of the {rows}; not run yet)", {"file": frame})
        else:
            self.show_tables(f"{title}: cannot preview {path.name}: {head}", {})
        self.previewing = path

    @Slot(object)
    def _preview_ready(self, key: object) -> None:
        pending, self._pending_preview = self._pending_preview, None
        if pending is None or pending[0] != key:
            self._pending_preview = pending
            return
        _, title, path = pending
        self._show_preview(title, path, self.previews.heads.get(key) if self.previews else None)

    def show_tables(self, title: str, tables: dict[str, Any]) -> None:
        """Show ``tables`` (name → DataFrame); the first one is chosen."""
        self._pending_preview = None  # whatever is shown now replaces a preview still being read
        self.previewing = None
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


# --------------------------------------------------------------------------- previews before a run


HEAD_ROWS = 1000


def read_head(path: Path, options: dict[str, Any], check: Any = None) -> tuple[Any, bool]:
    """(the first rows of ``path`` as data.file reads it, whether that is the whole file).

    Text files: the first block (``schema.PEEK_BYTES``, cut at a line end) read by the node's own reader, so
    delimiter, header and date rules match a run. Parquet: the first batch. Spreadsheets and JSON: read whole
    (this runs in a background thread).
    """
    from workbench.tabular.io import _kind_from_suffix, read_table
    from workbench.tabular.schema import PEEK_BYTES

    kind = str(options.get("file_format") or "auto")
    kind = _kind_from_suffix(path) if kind == "auto" else kind
    if kind == "parquet":
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(path)
        batch = next(handle.iter_batches(batch_size=HEAD_ROWS), None)
        frame = batch.to_pandas() if batch is not None else handle.schema_arrow.empty_table().to_pandas()
        return frame, handle.metadata.num_rows <= HEAD_ROWS
    if kind in ("excel", "json", "jsonl"):
        frame = read_table(path, check=check, **options)
        return frame.iloc[:HEAD_ROWS], len(frame) <= HEAD_ROWS
    with open(path, "rb") as source:
        head = source.read(PEEK_BYTES)
        whole = len(head) < PEEK_BYTES
    if whole:
        frame = read_table(path, check=check, **options)
    else:
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
        handle_fd, name = tempfile.mkstemp(suffix=path.suffix or ".csv", prefix="head-")
        try:
            with os.fdopen(handle_fd, "wb") as out:
                out.write(head)
            frame = read_table(name, check=check, **options)
        finally:
            os.unlink(name)
    return frame.iloc[:HEAD_ROWS], whole and len(frame) <= HEAD_ROWS


def schema_of(value: Any) -> dict[str, str] | None:
    """Column name -> kind of a table-like output (a DataFrame, a dataset's training split)."""
    from workbench.tabular.dataset import column_kind

    tables = ports.tables_of(value)  # a table's one frame (""), a dataset's splits, a stream's sample
    frame = next((tables[name] for name in ("", "train", "sample") if name in tables), None)
    if frame is None:
        return None
    kinds: dict[object, str] = {}
    out = {}
    for index, name in enumerate(frame.columns):
        dtype = frame.dtypes.iloc[index]
        if dtype not in kinds:
            kinds[dtype] = column_kind(frame.iloc[:, index])
        out[str(name)] = kinds[dtype]
    return out


class _Reader(QObject):
    """Runs one read in a daemon thread; ``done(key, result)`` reaches a @Slot in the GUI thread."""

    done = Signal(object, object)

    def start(self, key: tuple, work: Any) -> None:
        def run() -> None:
            try:
                result: Any = work()
            except Exception as exc:  # noqa: BLE001 - shown as one line in the data view
                from workbench.errors import UserError

                result = (
                    exc
                    if isinstance(exc, UserError | OSError)
                    else RuntimeError(f"{type(exc).__name__}: {exc}")
                )
            self.done.emit(key, result)

        threading.Thread(target=run, name="data-preview", daemon=True).start()


class FilePreviews(QObject):
    """The heads of data files read so far, by (path, size, mtime, options); reads missing ones in the
    background and emits ``ready(key)`` when one arrives (the data view and the inspector refresh then)."""

    ready = Signal(object)
    LIMIT = 8

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.heads: OrderedDict[tuple, Any] = OrderedDict()  # key -> (frame, whole) or an exception
        self.pending: set[tuple] = set()
        self._reader = _Reader(self)
        self._reader.done.connect(self._done)

    @staticmethod
    def key(path: Path, options: dict[str, Any]) -> tuple | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        return (str(path), stat.st_size, stat.st_mtime_ns, json.dumps(options, sort_keys=True, default=str))

    def get(self, path: Path, options: dict[str, Any], start: bool = True) -> tuple[tuple | None, Any]:
        """(key, (frame, whole) | exception | None while reading); starts a read when none is known."""
        key = self.key(path, options)
        if key is None:
            return None, FileNotFoundError(f"{path}: file not found")
        if key in self.heads:
            self.heads.move_to_end(key)
            return key, self.heads[key]
        if start and key not in self.pending:
            self.pending.add(key)
            self._reader.start(key, lambda: read_head(path, options))
        return key, None

    @Slot(object, object)
    def _done(self, key: tuple, result: Any) -> None:
        self.pending.discard(key)
        self.heads[key] = result
        while len(self.heads) > self.LIMIT:
            self.heads.popitem(last=False)
        self.ready.emit(key)


def file_source(pipeline: Any, node_id: str) -> tuple[str, Path, dict[str, Any]] | None:
    """(data.file node id, resolved path, read options) for a data.file node or a node its table feeds
    directly; None when that is not known without a run (no such node, no path, file missing)."""
    from workbench.checks import _read_options
    from workbench.paths import resolve_input

    if node_id not in pipeline:
        return None
    node = pipeline.node(node_id)
    if node.type != "data.file":
        link = pipeline.input_links(node_id).get("table")
        if link is None or pipeline.node(link.source).type != "data.file":
            return None
        node = pipeline.node(link.source)
    try:
        params = pipeline.resolved_params(node.id)
        if not params.get("path"):
            return None
        base = pipeline.path.parent if pipeline.path else None
        path = resolve_input(str(params["path"]), base)
    except Exception:  # noqa: BLE001 - a bad value or a missing file: the canvas shows the problem
        return None
    if not path.is_file():
        return None
    return node.id, path, _read_options(params)


def upstream_schema(pipeline: Any, node_id: str, port: str, previews: FilePreviews) -> dict[str, str] | None:
    """Column -> kind feeding ``node_id.port`` before a run, from the data file's head (read in the background;
    names only from ``schema.peek_columns`` until it arrives). Follows the wire up to the data.file node,
    applying Choose columns (keep/drop) and leaving out the split's target on dataset wires."""
    from workbench.tabular.schema import peek_columns

    dropped: set[str] = set()
    keep: list[str] = []
    current, current_port = node_id, port
    for _ in range(64):
        link = pipeline.input_links(current).get(current_port)
        if link is None:
            return None
        source = pipeline.node(link.source)
        if source.type == "data.file":
            break
        params = source.params
        if source.type == "clean.columns":
            dropped.update(str(c) for c in params.get("drop") or [])
            keep = keep or [str(c) for c in params.get("keep") or []]
        if source.type == "data.split" and params.get("target"):
            dropped.add(str(params["target"]))
        spec = pipeline.spec(source.id)
        if spec is None or not spec.inputs:
            return None
        current, current_port = source.id, spec.inputs[0].name
    else:
        return None
    found = file_source(pipeline, source.id)
    if found is None:
        return None
    _, path, options = found
    _, head = previews.get(path, options)
    if isinstance(head, tuple):
        schema = schema_of(head[0]) or {}
    else:
        names = peek_columns(path, **options)
        if names is None:
            return None
        schema = dict.fromkeys(names, "")
    if keep:
        schema = {name: schema[name] for name in keep if name in schema}
    return {name: kind for name, kind in schema.items() if name not in dropped}

"""The Runs panel: the run history as a sortable, filterable table; select runs to compare them.

The table is a QAbstractTableModel over plain records (only visible cells are asked for, so 1,000 runs open
at once and scroll smoothly) behind a sort/filter proxy. Selecting runs overlays their curves in one
pyqtgraph plot, lists the parameters that differ (changed values highlighted) and puts the metrics side by
side. A run's pipeline opens as it was; runs can be renamed, tagged, noted and deleted (with their folder,
after confirmation). pyqtgraph is imported when the plot is first needed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.errors import WorkbenchError
from workbench.experiments.rows import format_value
from workbench.experiments.store import ExperimentStore, RunRecord, differing_params, metric_direction

METRIC_COLUMNS = ("val_accuracy", "accuracy", "baseline_accuracy", "val_r2", "r2", "baseline_r2", "val_rmse",
                  "rmse", "baseline_rmse", "best_val_loss", "epochs_run")  # fmt: skip
FIXED = ("Run", "Finished", "Status", "Pipeline", "Sweep")
COLOURS = ("#3b82f6", "#f97316", "#22c55e", "#a855f7", "#ef4444", "#14b8a6", "#eab308", "#ec4899")
CHANGED = QColor(250, 204, 21, 90)  # highlighted changed parameter values
SORT_ROLE = Qt.ItemDataRole.UserRole


fmt = format_value  # the same text as ``workbench runs``


class RunsModel(QAbstractTableModel):
    """Rows are RunRecords; columns are the fixed ones, headline metrics present, and differing params."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[RunRecord] = []
        self.metrics: list[str] = []
        self.params: list[str] = []

    def set_records(self, records: list[RunRecord]) -> None:
        self.beginResetModel()
        self.records = records
        self.metrics = [m for m in METRIC_COLUMNS if any(m in r.metrics for r in records)]
        self.params = differing_params(records)
        self.endResetModel()

    @property
    def headers(self) -> list[str]:
        return [*FIXED, *self.metrics, *self.params]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.records)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(FIXED) + len(self.metrics) + len(self.params)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None

    def value(self, record: RunRecord, column: int) -> Any:
        if column == 0:
            return record.title
        if column == 1:
            return record.finished_at
        if column == 2:
            return record.trial_state if record.trial_state not in ("", "complete") else record.status
        if column == 3:
            return record.pipeline_name
        if column == 4:
            return f"{record.sweep_id} #{record.trial}" if record.sweep_id else ""
        column -= len(FIXED)
        if column < len(self.metrics):
            return record.metrics.get(self.metrics[column])
        return record.params.get(self.params[column - len(self.metrics)])

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self.records[index.row()]
        value = self.value(record, index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 1:
                return time.strftime("%Y-%m-%d %H:%M", time.localtime(value)) if value else "?"
            return fmt(value)
        if role == SORT_ROLE:  # numbers sort as numbers; a missing value sorts first ascending
            if isinstance(value, bool) or not isinstance(value, int | float):
                return fmt(value) if value is not None else ""
            return float(value)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return "\n".join(x for x in (record.run_id, record.note, ", ".join(record.tags)) if x)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= len(FIXED):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _Filter(QSortFilterProxyModel):
    """Every word must appear somewhere in the row (any column, case-insensitive)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.words: list[str] = []
        self.setSortRole(SORT_ROLE)

    def set_text(self, text: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.10+; invalidateFilter is deprecated there
            self.beginFilterChange()
            self.words = text.lower().split()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.words = text.lower().split()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        if not self.words:
            return True
        model: RunsModel = self.sourceModel()  # type: ignore[assignment]
        record = model.records[row]
        text = " ".join([record.run_id, record.name, record.note, *record.tags, record.status,
                         record.trial_state, record.pipeline_name, record.sweep_id or ""]).lower()  # fmt: skip
        text += " " + " ".join(model.data(model.index(row, c)) for c in range(5, model.columnCount())).lower()
        return all(word in text for word in self.words)


class RunsView(QWidget):
    """``open_requested(pipeline_json, original_file)`` asks the window to open a run's pipeline."""

    open_requested = Signal(dict, str)

    def __init__(self, dialogs: Any = None, store_path: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dialogs = dialogs
        self.store_path = store_path
        self.model = RunsModel(self)
        self.proxy = _Filter(self)
        self.proxy.setSourceModel(self.model)
        self.curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self._plot: Any = None
        self._legend: Any = None

        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs: words in names, tags, notes, pipelines, values…")
        self.filter.textChanged.connect(self.proxy.set_text)
        buttons = QHBoxLayout()
        buttons.addWidget(self.filter, 1)
        self.buttons: dict[str, QPushButton] = {}
        for name, text, slot in (
            ("refresh", "Refresh", self.refresh),
            ("open", "Open pipeline", self.open_selected),
            ("rename", "Rename…", self.rename_selected),
            ("tag", "Tags…", self.tag_selected),
            ("note", "Note…", self.note_selected),
            ("delete", "Delete…", self.delete_selected),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda checked=False, s=slot: s())
            buttons.addWidget(button)
            self.buttons[name] = button

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.curve_choice = QComboBox()
        self.curve_choice.currentTextChanged.connect(self._draw_curves)
        self.summary = QLabel("Select runs to compare them (Ctrl/Shift-click for several).")
        self.summary.setWordWrap(True)
        self.plot_box = QWidget()
        plot_layout = QVBoxLayout(self.plot_box)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(QLabel("Curve:"))
        top.addWidget(self.curve_choice, 1)
        plot_layout.addLayout(top)
        self.diff = QTableWidget(0, 0)
        self.metrics_table = QTableWidget(0, 0)
        for table in (self.diff, self.metrics_table):
            table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            table.verticalHeader().setVisible(False)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.diff, "Parameters")
        self.tabs.addTab(self.metrics_table, "Metrics")

        compare = QSplitter(Qt.Orientation.Horizontal)
        compare.addWidget(self.plot_box)
        compare.addWidget(self.tabs)
        compare.setSizes([500, 400])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.summary)
        lower_layout.addWidget(compare, 1)
        split.addWidget(lower)
        split.setSizes([240, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        self._update_buttons()

    # -- data
    def _store(self) -> ExperimentStore:
        return ExperimentStore(self.store_path)

    @Slot()
    def refresh(self, *args: object) -> None:
        """Reload the table from the store, keeping the selection and sort where possible."""
        keep = {r.run_id for r in self.selected_records()}
        try:
            with self._store() as store:
                records = store.list()
        except (WorkbenchError, OSError) as exc:
            self.summary.setText(f"Run history unavailable: {exc}")
            return
        self.model.set_records(records)
        self.table.resizeColumnsToContents()
        if keep:
            self.select_runs([r for r in keep if any(x.run_id == r for x in records)])
        self._update_buttons()

    def selected_records(self) -> list[RunRecord]:
        rows = sorted({self.proxy.mapToSource(i).row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.records[r] for r in rows if r < len(self.model.records)]

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs (tests, and keeping a selection over a refresh)."""
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        for row, record in enumerate(self.model.records):
            if record.run_id in run_ids:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                if index.isValid():
                    selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().select(selection, flags)

    # -- comparing
    @Slot()
    def _selection_changed(self, *args: object) -> None:
        records = self.selected_records()
        self._update_buttons()
        self.curves = {}
        if records:
            try:
                with self._store() as store:
                    self.curves = {r.run_id: store.curves(r.run_id) for r in records[: len(COLOURS)]}
            except (WorkbenchError, OSError):
                self.curves = {}
        names = sorted(
            {k for c in self.curves.values() for curve in c.values() for p in curve for k in p}
            - {"epoch", "seconds", "lr"}
        )
        current = self.curve_choice.currentText()
        self.curve_choice.blockSignals(True)
        self.curve_choice.clear()
        self.curve_choice.addItems(names)
        if current in names or "val_loss" in names:
            self.curve_choice.setCurrentText(current if current in names else "val_loss")
        self.curve_choice.blockSignals(False)
        self._draw_curves()
        self._fill_diff(records)
        self._fill_metrics(records)
        if len(records) == 1:
            r = records[0]
            self.summary.setText(f"{r.title} · {r.pipeline_name} · {r.status} · {fmt(r.duration)} s · {r.device}"
                                 + (f" · {r.note}" if r.note else ""))  # fmt: skip
        elif records:
            self.summary.setText(f"{len(records)} runs compared; changed parameters are highlighted.")

    def ensure_plot(self) -> Any:
        if self._plot is None:
            import pyqtgraph as pg

            self._plot = pg.PlotWidget()
            self._plot.setBackground(None)  # the window's colours, like the training plots
            self._plot.setLabel("bottom", "epoch")
            self._legend = self._plot.addLegend(offset=(-10, 10))
            self.plot_box.layout().addWidget(self._plot, 1)
        return self._plot

    @Slot()
    def _draw_curves(self, *args: object) -> None:
        plot = self.ensure_plot()
        plot.clear()
        name = self.curve_choice.currentText()
        plot.setLabel("left", name)
        import pyqtgraph as pg

        for index, (run_id, curves) in enumerate(self.curves.items()):
            colour = COLOURS[index % len(COLOURS)]
            record = next((r for r in self.model.records if r.run_id == run_id), None)
            for node_id, curve in curves.items():
                points = [(p["epoch"], p[name]) for p in curve if isinstance(p.get(name), int | float)]
                if not points:
                    continue
                label = (record.title if record else run_id) + (f" ({node_id})" if len(curves) > 1 else "")
                xs, ys = zip(*points, strict=True)
                plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2), name=label,
                          symbol="o" if len(xs) < 60 else None, symbolSize=5, symbolBrush=colour)  # fmt: skip

    def plotted_curves(self) -> int:
        """Curves drawn in the plot (tests)."""
        return len(self._plot.listDataItems()) if self._plot is not None else 0

    def _fill_diff(self, records: list[RunRecord]) -> None:
        keys = sorted({k for r in records for k in r.params})
        values = {k: [r.params.get(k) for r in records] for k in keys}
        changed = [
            k for k in keys if len({json.dumps(v, sort_keys=True, default=str) for v in values[k]}) > 1
        ]
        shown = changed + ([k for k in keys if k not in changed] if len(records) > 1 else keys)
        self.diff.clear()
        self.diff.setRowCount(len(shown))
        self.diff.setColumnCount(len(records) + 1)
        self.diff.setHorizontalHeaderLabels(["Parameter", *(r.title for r in records)])
        bold = QFont()
        bold.setBold(True)
        for row, key in enumerate(shown):
            name = QTableWidgetItem(key)
            if key in changed:
                name.setFont(bold)
            self.diff.setItem(row, 0, name)
            for col, value in enumerate(values[key], start=1):
                item = QTableWidgetItem(fmt(value))
                if key in changed:
                    item.setBackground(QBrush(CHANGED))
                self.diff.setItem(row, col, item)
        self.diff.resizeColumnsToContents()
        self.changed_params = changed

    def _fill_metrics(self, records: list[RunRecord]) -> None:
        names = sorted({k for r in records for k in r.metrics})
        names = [n for n in METRIC_COLUMNS if n in names] + [n for n in names if n not in METRIC_COLUMNS]
        self.metrics_table.clear()
        self.metrics_table.setRowCount(len(names))
        self.metrics_table.setColumnCount(len(records) + 1)
        self.metrics_table.setHorizontalHeaderLabels(["Metric", *(r.title for r in records)])
        bold = QFont()
        bold.setBold(True)
        for row, name in enumerate(names):
            self.metrics_table.setItem(row, 0, QTableWidgetItem(name))
            values = [r.metrics.get(name) for r in records]
            present = [v for v in values if v is not None]
            best = (
                (min if metric_direction(name) == "minimize" else max)(present) if len(present) > 1 else None
            )
            for col, value in enumerate(values, start=1):
                item = QTableWidgetItem(fmt(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if best is not None and value == best:
                    item.setFont(bold)  # the best of the compared runs
                self.metrics_table.setItem(row, col, item)
        self.metrics_table.resizeColumnsToContents()

    # -- actions
    def _update_buttons(self) -> None:
        count = len(self.selected_records())
        for name in ("rename", "note", "open"):
            self.buttons[name].setEnabled(count == 1)
        for name in ("tag", "delete"):
            self.buttons[name].setEnabled(count >= 1)

    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        if self.dialogs is not None and hasattr(self.dialogs, "ask_text"):
            return self.dialogs.ask_text(title, label, text)
        from PySide6.QtWidgets import QInputDialog

        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value if ok else None

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _edit(self, **changes: Any) -> None:
        with self._store() as store:
            for record in self.selected_records():
                store.update(
                    record.run_id, **{k: v(record) if callable(v) else v for k, v in changes.items()}
                )
        self.refresh()

    def rename_selected(self) -> None:
        records = self.selected_records()
        if len(records) == 1:
            name = self.ask_text("Rename run", "Name:", records[0].name)
            if name is not None:
                self._edit(name=name)

    def note_selected(self) -> None:
        records = self.selected_records()
        if len(records) == 1:
            note = self.ask_text("Note", "Note for this run:", records[0].note)
            if note is not None:
                self._edit(note=note)

    def tag_selected(self) -> None:
        records = self.selected_records()
        if records:
            common = sorted(set.intersection(*(set(r.tags) for r in records)))
            text = self.ask_text("Tags", "Tags, separated by commas:", ", ".join(common))
            if text is not None:
                tags = [t.strip() for t in text.split(",") if t.strip()]
                self._edit(tags=lambda r: sorted((set(r.tags) - set(common)) | set(tags)))

    def delete_selected(self) -> bool:
        records = self.selected_records()
        if not records:
            return False
        what = records[0].title if len(records) == 1 else f"{len(records)} runs"
        if not self.confirm("Delete runs", f"Delete {what} and the run folder(s) with their files?"):
            return False
        problems = []
        with self._store() as store:
            for record in records:
                try:
                    store.delete(record.run_id)
                except (WorkbenchError, OSError) as exc:
                    problems.append(str(exc))
        self.table.clearSelection()
        self.refresh()
        if problems:
            self.summary.setText("Not deleted: " + "; ".join(problems))
        return not problems

    def open_selected(self) -> None:
        records = self.selected_records()
        if len(records) == 1:
            with self._store() as store:
                data = store.pipeline_json(records[0].run_id)
            if data:
                self.open_requested.emit(data, records[0].pipeline_file or "")
            else:
                self.summary.setText(f"{records[0].title}: this run folder has no copy of its pipeline.")

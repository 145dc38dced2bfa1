"""An editor for ``list`` parameters such as an MLP's layer stack: one row per record, one column per field."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench import params as P


class LayerStackEditor(QWidget):
    """Emits ``edited(records)`` after each change (add, remove, move, cell edit)."""

    edited = Signal(list)

    def __init__(self, spec: P.ListOf, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.fields = list(spec.fields)
        self.table = QTableWidget(0, len(self.fields))
        self.table.setHorizontalHeaderLabels([f.title for f in self.fields])
        header = self.table.horizontalHeader()
        header.setMinimumSectionSize(44)
        for column, field in enumerate(self.fields):
            fixed = isinstance(field, P.Choice | P.Bool)  # combos and check boxes: as wide as their header
            mode = QHeaderView.ResizeMode.ResizeToContents if fixed else QHeaderView.ResizeMode.Stretch
            header.setSectionResizeMode(column, mode)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(24)
        for column, field in enumerate(self.fields):
            self.table.horizontalHeaderItem(column).setToolTip(field.help)
        self.table.itemChanged.connect(lambda item: self._emit())
        buttons = QHBoxLayout()
        for text, slot, tip in (
            ("+", self.add_row, "Add a layer after the selected one"),
            ("−", self.remove_row, "Remove the selected layer"),
            ("↑", lambda: self.move_row(-1), "Move up"),
            ("↓", lambda: self.move_row(1), "Move down"),
        ):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFixedWidth(32)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.table.setMinimumHeight(110)
        self.table.setMaximumHeight(220)

    # -- value in/out
    def set_records(self, records: Any) -> None:
        with QSignalBlocker(self.table):
            rows = records if isinstance(records, list) else []
            self.table.setRowCount(0)
            for record in rows:
                self._append(record if isinstance(record, dict) else {})

    def records(self) -> list[dict[str, Any]]:
        out = []
        for row in range(self.table.rowCount()):
            record: dict[str, Any] = {}
            for column, field in enumerate(self.fields):
                widget = self.table.cellWidget(row, column)
                if isinstance(widget, QComboBox):
                    record[field.name] = widget.currentData()
                    continue
                item = self.table.item(row, column)
                if isinstance(field, P.Bool):
                    record[field.name] = item is not None and item.checkState() == Qt.CheckState.Checked
                    continue
                text = item.text() if item is not None else ""
                try:
                    record[field.name] = field.coerce(text)
                except P.ParamError:
                    record[field.name] = text  # validation shows the problem inline
            out.append(record)
        return out

    def _append(self, record: dict[str, Any], row: int | None = None) -> None:
        row = self.table.rowCount() if row is None else row
        self.table.insertRow(row)
        for column, field in enumerate(self.fields):
            value = record.get(field.name, field.default)
            if isinstance(field, P.Choice):
                box = QComboBox()
                for choice in field.choices:
                    box.addItem(choice, choice)
                box.setCurrentIndex(max(0, box.findData(value)))
                box.activated.connect(lambda index: self._emit())
                self.table.setCellWidget(row, column, box)
            elif isinstance(field, P.Bool):
                item = QTableWidgetItem()
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if value else Qt.CheckState.Unchecked)
                self.table.setItem(row, column, item)
            else:
                text = "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
                self.table.setItem(row, column, QTableWidgetItem(text))

    def _emit(self) -> None:
        self.edited.emit(self.records())

    # -- buttons
    def add_row(self) -> None:
        current = self.table.currentRow()
        template = (
            self.records()[current]
            if current >= 0
            else (
                dict(self.spec.default[-1]) if self.spec.default else {f.name: f.default for f in self.fields}
            )
        )
        with QSignalBlocker(self.table):
            self._append(dict(template), current + 1 if current >= 0 else None)
        self._emit()

    def remove_row(self) -> None:
        row = self.table.currentRow()
        if row < 0:
            row = self.table.rowCount() - 1
        if row < 0:
            return
        records = self.records()
        del records[row]
        self.set_records(records)
        self._emit()

    def move_row(self, step: int) -> None:
        row = self.table.currentRow()
        target = row + step
        records = self.records()
        if row < 0 or not 0 <= target < len(records):
            return
        records[row], records[target] = records[target], records[row]
        self.set_records(records)
        self.table.selectRow(target)
        self._emit()

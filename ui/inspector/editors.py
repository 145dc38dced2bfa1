"""One table from parameter kind to editor widget (magicgui-style); each editor reports committed values.

An editor shows a value (``set_value``, silent) and calls ``commit(value)`` when the user changes it; the
form turns that into a SetParam command. Text editors commit on Enter/focus-out, so one edit is one step.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSignalBlocker, QStringListModel, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ui.data_dialog import kind_icon
from ui.inspector.layer_stack import LayerStackEditor
from workbench import params as P

Commit = Callable[[Any], None]
INT_LIMIT = 2_000_000_000


def tooltip(spec: P.Param) -> str:
    parts = [spec.help] if spec.help else []
    low, high = getattr(spec, "minimum", None), getattr(spec, "maximum", None)
    if low is not None or high is not None:
        parts.append(f"Range: {'−∞' if low is None else low} … {'∞' if high is None else high}")
    if isinstance(spec, P.Choice):
        parts.append("Choices: " + ", ".join(spec.choices))
    if getattr(spec, "log_scale", False):
        parts.append("Tip: try powers of ten (1e-4, 1e-3, …)")
    return "\n".join(parts)


class Editor:
    merges = False  # True for spin boxes: a burst of steps is one undo step

    def __init__(self, spec: P.Param, widget: QWidget, commit: Commit) -> None:
        self.spec, self.widget, self.commit = spec, widget, commit
        widget.setToolTip(tooltip(spec))

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def set_columns(self, columns: dict[str, str] | list[str] | None) -> None:
        """Upstream table columns (name -> kind) when known; column editors offer them."""


def zero_label(spec: P.Param) -> str:
    """What 0 means for an int whose help says so ("0 = auto: …" → "auto"; also all, off), else ""."""
    found = re.search(r"\b0 = (auto|all|off)\b", spec.help or "")
    return found.group(1) if found and getattr(spec, "minimum", None) == 0 else ""


class IntEditor(Editor):
    merges = True

    def __init__(self, spec: P.Int, commit: Commit) -> None:
        box = QSpinBox()
        box.setRange(
            spec.minimum if spec.minimum is not None else -INT_LIMIT,
            spec.maximum if spec.maximum is not None else INT_LIMIT,
        )
        box.setSpecialValueText(zero_label(spec))  # epochs 0 reads "auto", not a 0 that looks like a mistake
        box.setKeyboardTracking(False)
        super().__init__(spec, box, commit)
        box.valueChanged.connect(lambda v: self.commit(int(v)))

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.widget):
            try:
                self.widget.setValue(int(value))  # type: ignore[attr-defined]
            except (TypeError, ValueError):
                pass


class _CommitsText:
    """Commits a line edit's text when it changed since the last commit or ``set_value`` (Enter, focus-out, a
    column picked); text that does not convert is committed as typed (the form's coerce reports it inline)."""

    edit: QLineEdit
    convert: Callable[[str], Any]
    commit: Commit
    _last: str

    def _finished(self) -> None:
        text = self.edit.text()
        if text != self._last:
            self._last = text
            try:
                value = self.convert(text)
            except ValueError:
                value = text
            self.commit(value)


class TextEditor(_CommitsText, Editor):
    """Free text committed on Enter or focus-out; used for str, float, path and JSON fallbacks."""

    def __init__(self, spec: P.Param, commit: Commit, convert: Callable[[str], Any] = str) -> None:
        self.edit = QLineEdit()
        self.convert = convert
        super().__init__(spec, self._container(), commit)
        self.edit.setToolTip(tooltip(spec))
        self.edit.editingFinished.connect(self._finished)
        self._last = ""

    def _container(self) -> QWidget:
        return self.edit

    def set_value(self, value: Any) -> None:
        text = self.format(value)
        self._last = text
        with QSignalBlocker(self.edit):
            self.edit.setText(text)

    def format(self, value: Any) -> str:
        return "" if value is None else str(value)


class FloatEditor(TextEditor):
    def __init__(self, spec: P.Float, commit: Commit) -> None:
        super().__init__(spec, commit)
        self.edit.setPlaceholderText("a number, e.g. 0.001 or 1e-3")

    def format(self, value: Any) -> str:
        return "" if value is None else (f"{value:g}" if isinstance(value, int | float) else str(value))


class JsonEditor(TextEditor):
    def format(self, value: Any) -> str:
        return json.dumps(value)


class PathEditor(TextEditor):
    def _container(self) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        button = QToolButton(text="…")
        button.setToolTip("Browse")
        button.clicked.connect(self._browse)
        layout.addWidget(self.edit)
        layout.addWidget(button)
        return box

    def _browse(self) -> None:
        spec: P.Path = self.spec  # type: ignore[assignment]
        filters = ";;".join(list(spec.filters) + ["All files (*)"])
        if spec.mode == "dir":
            chosen = QFileDialog.getExistingDirectory(self.widget, spec.title, self.edit.text())
        elif spec.mode == "save":
            chosen, _ = QFileDialog.getSaveFileName(self.widget, spec.title, self.edit.text(), filters)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self.widget, spec.title, self.edit.text(), filters)
        if chosen:
            self.edit.setText(chosen)
            self._finished()


class BoolEditor(Editor):
    def __init__(self, spec: P.Bool, commit: Commit) -> None:
        box = QCheckBox()
        super().__init__(spec, box, commit)
        box.toggled.connect(lambda checked: self.commit(bool(checked)))

    def set_value(self, value: Any) -> None:
        with QSignalBlocker(self.widget):
            self.widget.setChecked(bool(value))  # type: ignore[attr-defined]


class ChoiceEditor(Editor):
    def __init__(self, spec: P.Choice, commit: Commit) -> None:
        box = QComboBox()
        for choice in spec.choices:
            box.addItem((spec.labels or {}).get(choice, choice), choice)
        super().__init__(spec, box, commit)
        box.activated.connect(lambda index: self.commit(box.itemData(index)))

    def set_value(self, value: Any) -> None:
        box: QComboBox = self.widget  # type: ignore[assignment]
        with QSignalBlocker(box):
            index = box.findData(value)
            if index < 0 and value is not None:
                box.addItem(f"{value} (not a choice)", value)
                index = box.count() - 1
            box.setCurrentIndex(index)


def as_schema(columns: dict[str, str] | list[str] | None) -> dict[str, str] | None:
    """Column -> kind ("" when the kind is not known yet) from what a columns provider returns."""
    if columns is None:
        return None
    return dict(columns) if isinstance(columns, dict) else dict.fromkeys(columns, "")


def _schema_tip(spec: P.Param, schema: dict[str, str] | None) -> str:
    hint = (
        "Columns: " + ", ".join(schema)
        if schema
        else "Choose a data file upstream (or run the upstream nodes) to list the columns."
    )
    return "\n".join(filter(None, [tooltip(spec), hint]))


class ColumnEditor(_CommitsText, Editor):
    """A drop-down of the upstream table's columns with kind icons (once the schema is known), still editable;
    picking a column commits it at once, typed text commits on Enter or focus-out."""

    def __init__(self, spec: P.Param, commit: Commit, convert: Callable[[str], Any] = str) -> None:
        box = QComboBox()
        box.setEditable(True)
        box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        box.setMinimumContentsLength(8)
        self.edit = box.lineEdit()
        self.edit.setPlaceholderText("column name")
        completer = box.completer()
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.box = box
        self.convert = convert
        self.schema: dict[str, str] = {}
        self.model = QStringListModel()  # the names alone, for callers that need no kinds
        self._last = ""
        super().__init__(spec, box, commit)
        box.activated.connect(self._picked)
        completer.activated.connect(self._completed)
        self.edit.editingFinished.connect(self._finished)

    def _picked(self, index: int) -> None:
        """A column chosen in the drop-down: committed now (no Enter needed)."""
        text = self.box.itemText(index)
        with QSignalBlocker(self.box):
            self.box.setEditText(text)
        self._finished()

    def _completed(self, text: str) -> None:
        with QSignalBlocker(self.box):
            self.box.setEditText(text)
        self._finished()

    def set_value(self, value: Any) -> None:
        text = "" if value is None else str(value)
        self._last = text
        with QSignalBlocker(self.box):
            self.box.setEditText(text)

    def set_columns(self, columns: dict[str, str] | list[str] | None) -> None:
        schema = as_schema(columns)
        self.schema = schema or {}
        self.model.setStringList(list(self.schema))
        text = self.edit.text()
        with QSignalBlocker(self.box):
            self.box.clear()
            for name, kind in self.schema.items():
                self.box.addItem(kind_icon(kind), name)
                self.box.setItemData(
                    self.box.count() - 1, kind or "kind not known yet", Qt.ItemDataRole.ToolTipRole
                )
            self.box.setCurrentIndex(-1)
            self.box.setEditText(text)
        self.box.setToolTip(_schema_tip(self.spec, schema))


class ColumnsEditor(TextEditor):
    """Comma-separated names, plus a menu to tick columns (with kind icons) when the upstream schema is known;
    closing the menu commits the ticked columns."""

    def __init__(self, spec: P.Columns, commit: Commit) -> None:
        super().__init__(spec, commit)
        self.edit.setPlaceholderText("col_a, col_b (empty: see help)")
        self.columns: list[str] = []
        self.schema: dict[str, str] = {}

    def _container(self) -> QWidget:
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.button = QToolButton(text="▾")
        self.button.setToolTip("Pick columns")
        self.button.setEnabled(False)
        self.button.clicked.connect(self._pick)
        layout.addWidget(self.edit)
        layout.addWidget(self.button)
        return box

    def format(self, value: Any) -> str:
        return ", ".join(value) if isinstance(value, list | tuple) else ("" if value is None else str(value))

    def set_columns(self, columns: dict[str, str] | list[str] | None) -> None:
        schema = as_schema(columns)
        self.schema = schema or {}
        self.columns = list(self.schema)
        self.button.setEnabled(bool(self.columns))
        self.edit.setToolTip(_schema_tip(self.spec, schema))

    def menu(self) -> QMenu:
        """The pick menu: one checkable entry per column, ticked when the value names it."""
        chosen = set(P.Columns(self.spec.name).coerce(self.edit.text()))
        menu = QMenu(self.widget)
        for name in self.columns:
            action = menu.addAction(kind_icon(self.schema.get(name, "")), name)
            action.setCheckable(True)
            action.setChecked(name in chosen)
        return menu

    def apply(self, menu: QMenu) -> None:
        """Commit the columns ticked in ``menu``."""
        picked = [a.text() for a in menu.actions() if a.isChecked()]
        self.edit.setText(", ".join(picked))
        self._finished()

    def _pick(self) -> None:
        menu = self.menu()
        menu.exec(self.button.mapToGlobal(self.button.rect().bottomLeft()))
        self.apply(menu)


class ListEditor(Editor):
    def __init__(self, spec: P.ListOf, commit: Commit) -> None:
        stack = LayerStackEditor(spec)
        super().__init__(spec, stack, commit)
        stack.edited.connect(lambda records: self.commit(records))

    def set_value(self, value: Any) -> None:
        self.widget.set_records(value)  # type: ignore[attr-defined]


EDITORS: dict[str, Callable[[Any, Commit], Editor]] = {
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "str": TextEditor,
    "path": PathEditor,
    "column": ColumnEditor,
    "columns": ColumnsEditor,
    "list": ListEditor,
}


def make_editor(spec: P.Param, commit: Commit) -> Editor:
    """The editor for ``spec.kind``; optional ints and unknown kinds get free text."""
    if isinstance(spec, P.Int) and spec.optional:
        return TextEditor(spec, commit)
    factory = EDITORS.get(spec.kind)
    if factory is None:
        return JsonEditor(spec, commit, lambda text: json.loads(text) if text.strip() else None)
    return factory(spec, commit)

"""The inspector: a form for the selected node, built from its parameter specs; every change is a SetParam.

It listens to the model, so undo/redo and edits from elsewhere update the shown values and problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QScrollArea, QVBoxLayout, QWidget

from ui.document import Document
from ui.inspector.editors import Editor, make_editor
from workbench import commands as C
from workbench import graph as G
from workbench import params as P

# (node_id, input port) -> column names, or column name -> kind ("numeric", "category", …; "" not known yet)
ColumnsProvider = Callable[[str, str], "dict[str, str] | list[str] | None"]


class Inspector(QScrollArea):
    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        # The form fits the dock's width (editors shrink, labels wrap); only a long form scrolls, vertically.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.document = document
        self.node_id: str | None = None
        self.editors: dict[str, Editor] = {}
        self.problem_labels: dict[str, QLabel] = {}
        self.rows: dict[str, tuple[QLabel, QWidget]] = {}
        self.columns_provider: ColumnsProvider = lambda node_id, port: None
        self.state_label = QLabel()
        self._committing: str | None = None
        document.pipeline.subscribe(self._on_event)
        self._build_empty()

    def set_document(self, document: Document) -> None:
        self.document.pipeline.unsubscribe(self._on_event)
        self.document = document
        document.pipeline.subscribe(self._on_event)
        self.show_node(None)

    # -- building
    def _build_empty(self) -> None:
        page = QWidget()
        layout = QVBoxLayout(page)
        hint = QLabel(
            "Select a node to see its settings.\n\nDrag nodes from the palette onto the canvas, "
            "then drag from an output port to an input port to wire them."
        )
        hint.setWordWrap(True)
        hint.setObjectName("nodeHelp")
        layout.addWidget(hint)
        layout.addStretch()
        self.setWidget(page)
        self.editors, self.problem_labels, self.rows = {}, {}, {}

    def show_node(self, node_id: str | None) -> None:
        self.node_id = node_id if node_id in self.document.pipeline else None
        if self.node_id is None:
            self._build_empty()
            return
        pipeline = self.document.pipeline
        node, spec = pipeline.node(self.node_id), pipeline.spec(self.node_id)
        page = QWidget()
        layout = QVBoxLayout(page)
        self.title_edit = QLineEdit(node.title)
        self.title_edit.setObjectName("nodeTitle")
        self.title_edit.setPlaceholderText(spec.title if spec else node.type)
        self.title_edit.setToolTip("Name shown on the canvas (empty: the node type's name)")
        self.title_edit.editingFinished.connect(self._rename)
        layout.addWidget(self.title_edit)
        kind = QLabel(
            f"{spec.title if spec else node.type} · <code>{node.type}</code> · id <code>{node.id}</code>"
        )
        kind.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(kind)
        self.state_label = QLabel()
        self.state_label.setObjectName("problem")
        self.state_label.setWordWrap(True)
        self.state_label.hide()
        layout.addWidget(self.state_label)
        if spec is not None and spec.help:
            help_label = QLabel(spec.help)
            help_label.setObjectName("nodeHelp")
            help_label.setWordWrap(True)
            layout.addWidget(help_label)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.editors, self.problem_labels, self.rows = {}, {}, {}
        for param in spec.params if spec else ():
            editor = make_editor(param, lambda value, name=param.name: self.commit(name, value))
            editor.set_value(node.params.get(param.name, param.default))
            problem = QLabel()
            problem.setObjectName("problem")
            problem.setWordWrap(True)
            problem.hide()
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.setSpacing(1)
            box_layout.addWidget(editor.widget)
            box_layout.addWidget(problem)
            label = QLabel(param.title)
            label.setToolTip(param.help)
            if param.kind == "list":  # tables need the full width: label above, editor below
                form.addRow(label)
                form.addRow(box)
            else:
                form.addRow(label, box)
            self.editors[param.name] = editor
            self.problem_labels[param.name] = problem
            self.rows[param.name] = (label, box)
        layout.addLayout(form)
        layout.addStretch()
        self.setWidget(page)
        self.refresh_columns()
        self._refresh_problems()

    def refresh_columns(self) -> None:
        """Offer the upstream table's columns in column pickers (after a run, a new wire, or when a data file's
        head has been read in the background)."""
        spec = self.document.pipeline.spec(self.node_id) if self.node_id else None
        for param in spec.params if spec else ():
            if param.kind in ("column", "columns") and param.name in self.editors:
                source = getattr(param, "source", "table")
                self.editors[param.name].set_columns(self.columns_provider(self.node_id, source))

    # -- editing
    def commit(self, name: str, raw: Any) -> bool:
        """Coerce an editor's value and push SetParam; an unusable value is shown inline, not applied."""
        if self.node_id is None:
            return False
        spec = self.document.pipeline.spec(self.node_id)
        param = spec.param(name) if spec else None
        if param is not None:
            try:
                raw = param.coerce(raw)
            except P.ParamError as exc:
                self._show_problem(name, str(exc))
                return False
        if self.document.pipeline.node(self.node_id).params.get(name, G.MISSING) == raw:
            return True
        editor = self.editors.get(name)
        if editor is None or not editor.merges:
            self.document.stack.break_merge()  # one text edit or button press is one undo step
        self._committing = name
        try:
            return self.document.push(C.SetParam(self.node_id, name, raw))
        finally:
            self._committing = None

    def _rename(self) -> None:
        if self.node_id is None:
            return
        text = self.title_edit.text().strip()
        if text != self.document.pipeline.node(self.node_id).title:
            self.document.push(C.RenameNode(self.node_id, text))

    def set_state_message(self, text: str, error: bool = True) -> None:
        """The last run's message for the shown node (empty hides it); red only for a failure, not a stop."""
        self.state_label.setText(text)
        self.state_label.setObjectName("problem" if error else "nodeHelp")
        self.state_label.style().unpolish(self.state_label)  # the stylesheet follows the new name
        self.state_label.style().polish(self.state_label)
        self.state_label.setVisible(bool(text))

    # -- model events
    def _on_event(self, event: G.GraphEvent) -> None:
        if self.node_id is None:
            return
        if isinstance(event, G.NodeRemoved) and event.node.id == self.node_id:
            self.show_node(None)
        elif isinstance(event, G.ParamChanged) and event.node_id == self.node_id:
            editor = self.editors.get(event.name)
            if editor is not None and event.name != self._committing:
                node = self.document.pipeline.node(self.node_id)
                spec = self.document.pipeline.spec(self.node_id)
                param = spec.param(event.name) if spec else None
                editor.set_value(node.params.get(event.name, param.default if param else None))
            self._refresh_problems()
        elif isinstance(event, G.NodeRenamed) and event.node_id == self.node_id:
            if self.title_edit.text() != event.title:
                self.title_edit.setText(event.title)
        elif isinstance(event, G.LinkAdded | G.LinkRemoved) and self.node_id in (event.link.target,):
            self.refresh_columns()
            self._refresh_problems()

    def _refresh_problems(self) -> None:
        if self.node_id is None:
            return
        pipeline = self.document.pipeline
        spec = pipeline.spec(self.node_id)
        if spec is None:
            return
        values = pipeline.node(self.node_id).params
        found = pipeline.param_problems(self.node_id)  # value checks and the node type's own (export path…)
        merged = {**P.default_values(spec.params), **values}
        for param in spec.params:
            self._show_problem(param.name, found.get(param.name, ""))
            label, box = self.rows[param.name]
            visible = param.is_visible(merged)
            label.setVisible(visible)
            box.setVisible(visible)

    def _show_problem(self, name: str, text: str) -> None:
        label = self.problem_labels.get(name)
        if label is not None:
            label.setText(text)
            label.setVisible(bool(text))

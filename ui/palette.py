"""The node catalog: a tree by pipeline stage with search; drag a node onto the canvas, or double-click/Enter.

Also the canvas quick-add popup (Tab on the canvas), which searches the same catalog.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QKeyEvent
from PySide6.QtWidgets import (
    QFrame,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from workbench.nodes.base import CATEGORIES, NodeSpec
from workbench.registry import NodeRegistry

MIME_NODE_TYPE = "application/x-workbench-node-type"
TYPE_ROLE = Qt.ItemDataRole.UserRole


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]


def rank(spec: NodeSpec, text: str) -> int | None:
    """How well ``text`` names ``spec``, best first: 0 the title or type id, 1 a part of the type id, 2 a title
    prefix, 3 every typed word starts a word of the title or id, 4 inside the title or id, 5 only in the
    description; None when it does not match. Why: "split" + Enter must add Split, not the first node whose help says split.
    """
    text = text.strip().lower()
    if not text:
        return 0
    title, type_id = spec.title.lower(), spec.type_id.lower()
    names = _words(title) + _words(type_id)
    if text in (title, type_id):
        return 0
    if text in _words(type_id):
        return 1
    if title.startswith(text):
        return 2
    typed = _words(text)
    if typed and all(any(name.startswith(word) for name in names) for word in typed):
        return 3
    if text in title or text in type_id:
        return 4
    if all(word in f"{title} {type_id} {spec.help.lower()}" for word in text.split()):
        return 5
    return None


def matches(spec: NodeSpec, text: str) -> bool:
    return rank(spec, text) is not None


def ranked(registry: NodeRegistry, text: str) -> list[NodeSpec]:
    """The catalog's matches for ``text``, best first; ties keep the catalog order (pipeline stage)."""
    found = [(rank(t.spec, text), index, t.spec) for index, t in enumerate(registry)]
    return [spec for score, _, spec in sorted(f for f in found if f[0] is not None)]


class CatalogTree(QTreeWidget):
    add_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QTreeWidget.DragDropMode.DragOnly)
        self.setRootIsDecorated(True)
        self.itemActivated.connect(self._activated)

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME_NODE_TYPE]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData:  # noqa: N802
        data = QMimeData()
        type_ids = [i.data(0, TYPE_ROLE) for i in items if i.data(0, TYPE_ROLE)]
        if type_ids:
            data.setData(MIME_NODE_TYPE, type_ids[0].encode("utf-8"))
            data.setText(type_ids[0])
        return data

    def _activated(self, item: QTreeWidgetItem, column: int) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.add_requested.emit(type_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        item = self.currentItem()
        if (
            event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and item is not None
            and item.data(0, TYPE_ROLE)
        ):
            self.add_requested.emit(item.data(0, TYPE_ROLE))
            event.accept()
            return
        super().keyPressEvent(event)


class Palette(QWidget):
    """Search box over the catalog tree; emits ``add_requested(type_id)``."""

    add_requested = Signal(str)

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.search = QLineEdit(placeholderText="Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = CatalogTree()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first)
        self.tree.add_requested.connect(self.add_requested)
        self.populate()

    def populate(self) -> None:
        self.tree.clear()
        titles = dict(CATEGORIES)
        groups: dict[str, QTreeWidgetItem] = {}
        for node_type in self.registry:
            spec = node_type.spec
            group = groups.get(spec.category)
            if group is None:
                group = QTreeWidgetItem(self.tree, [titles.get(spec.category, spec.category.title())])
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                group.setForeground(0, QBrush(theme.stage_colour(spec.category)))
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                groups[spec.category] = group
            item = QTreeWidgetItem(group, [spec.title])
            item.setData(0, TYPE_ROLE, spec.type_id)
            item.setToolTip(0, f"<b>{spec.title}</b> ({spec.type_id})<br>{spec.help}")
            item.setFlags(
                Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled
            )
        self.tree.expandAll()

    def item_for(self, type_id: str) -> QTreeWidgetItem | None:
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            for child in range(group.childCount()):
                if group.child(child).data(0, TYPE_ROLE) == type_id:
                    return group.child(child)
        return None

    def filter(self, text: str) -> None:
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            shown = 0
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                spec = self.registry.get(child.data(0, TYPE_ROLE)).spec
                hide = not matches(spec, text)
                child.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)

    def visible_type_ids(self) -> list[str]:
        found = []
        for index in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(index)
            for child_index in range(group.childCount()):
                child = group.child(child_index)
                if not child.isHidden() and not group.isHidden():
                    found.append(child.data(0, TYPE_ROLE))
        return found

    def _add_first(self) -> None:
        """Enter in the search box adds the best match (the tree itself stays grouped by stage)."""
        best = ranked(self.registry, self.search.text())
        if best:
            self.add_requested.emit(best[0].type_id)


class QuickAdd(QFrame):
    """A small search popup on the canvas: type, arrow keys, Enter adds the node where the popup opened."""

    chosen = Signal(str, QPointF)

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.registry = registry
        self.scene_pos = QPointF()
        self.edit = QLineEdit(placeholderText="Add node…")
        self.list = QListWidget()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(280, 300)
        self.edit.textChanged.connect(self._fill)
        self.edit.returnPressed.connect(self._choose)
        self.list.itemActivated.connect(lambda item: self._choose())
        self.edit.installEventFilter(self)

    def open_at(self, global_pos: object, scene_pos: QPointF) -> None:
        self.scene_pos = scene_pos
        self.edit.clear()
        self._fill("")
        self.move(global_pos)  # type: ignore[arg-type]
        self.show()
        self.edit.setFocus()

    def _fill(self, text: str) -> None:
        self.list.clear()
        for spec in ranked(self.registry, text):
            item = QListWidgetItem(f"{spec.title}   ·  {spec.category}")
            item.setData(TYPE_ROLE, spec.type_id)
            item.setToolTip(spec.help)
            self.list.addItem(item)
        self.list.setCurrentRow(0)

    def type_ids(self) -> list[str]:
        """The listed node types in their shown order (best match first)."""
        return [self.list.item(row).data(TYPE_ROLE) for row in range(self.list.count())]

    def eventFilter(self, obj: object, event: object) -> bool:  # noqa: N802
        if (
            isinstance(event, QKeyEvent)
            and event.type() == QKeyEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up)
        ):
            step = 1 if event.key() == Qt.Key.Key_Down else -1
            row = max(0, min(self.list.count() - 1, self.list.currentRow() + step))
            self.list.setCurrentRow(row)
            return True
        return False

    def _choose(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.hide()
            self.chosen.emit(item.data(TYPE_ROLE), self.scene_pos)

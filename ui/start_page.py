"""The start page over an empty canvas: open your data, recent pipelines and data files, the examples.

Why: a first-timer sees a blank canvas and a hint about dragging nodes; what they came with is a data file.
The page sits over the canvas and hands drops to it (a palette node lands where it was dropped, a file starts
the new-from-data flow); it hides as soon as the pipeline has a node, or when the user picks "Empty canvas".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from ui.canvas.view import local_files
from ui.palette import MIME_NODE_TYPE

if TYPE_CHECKING:
    from ui.main_window import MainWindow

SHOWN = 5
LINE = 72  # characters of an example's description on the page (the tooltip has it all)


def example_line(path: Path) -> tuple[str, str]:
    """(title, the first sentence of its description) of a bundled example."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("meta", {})
    except (OSError, ValueError):
        meta = {}
    title = str(meta.get("title") or path.name.split(".")[0].replace("_", " ").title())
    text = str(meta.get("description") or "")
    first = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0] if text else ""
    if len(first) > LINE:
        first = first[: first.rfind(" ", 0, LINE)].rstrip(",;:") + "…"
    return title, first


class StartPage(QFrame):
    """Emits what the user picked; ``install`` wires it to the window's file operations."""

    open_data = Signal()
    open_data_file = Signal(str)
    open_pipeline = Signal(str)
    open_example = Signal(object)  # Path
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startPage")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setMaximumWidth(760)
        self.inner = QWidget()
        self.layout_ = QVBoxLayout(self.inner)
        self.layout_.setContentsMargins(24, 18, 24, 18)
        self.scroll = QScrollArea()  # a short canvas scrolls the page instead of squeezing its rows
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.buttons: dict[str, QPushButton] = {}
        self.setAcceptDrops(True)

    # -- drops land on the canvas below: a palette node where it was dropped, a file as a file drop
    def _view(self) -> Any:
        return self.parentWidget()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasFormat(MIME_NODE_TYPE) or local_files(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        view = self._view()
        data = event.mimeData()
        files = local_files(data)
        if data.hasFormat(MIME_NODE_TYPE):
            type_id = bytes(data.data(MIME_NODE_TYPE).data()).decode("utf-8")
            at = view.viewport().mapFromGlobal(self.mapToGlobal(event.position().toPoint()))
            view.add_node(type_id, view.mapToScene(at))
        elif files:
            view.files_dropped.emit(files)
        else:
            return
        event.acceptProposedAction()

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = self.inner.sizeHint()
        return QSize(hint.width() + 4, hint.height() + 4)

    def _button(self, key: str, text: str, tip: str, flat: bool = True) -> QPushButton:
        button = QPushButton(text)
        button.setFlat(flat)
        button.setToolTip(tip)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.setStyleSheet("text-align: left; padding: 2px 6px;" if flat else "padding: 8px 18px;")
        self.buttons[key] = button
        return button

    def fill(self, recent: list[str], recent_data: list[str], examples: list[Path]) -> None:
        """(Re)build the page from the recent lists and the examples."""
        while self.layout_.count():
            item = self.layout_.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        self.buttons = {}
        heading = QLabel("<span style='font-size: 16pt; font-weight: 600'>Start with your own data</span>")
        heading.setTextFormat(Qt.TextFormat.RichText)
        self.layout_.addWidget(heading)
        hint = QLabel(
            "Drop a CSV, Parquet, Excel or JSON file anywhere in this window, or open one: the columns are "
            "read, the target guessed, and one click builds and trains the whole pipeline."
        )
        hint.setWordWrap(True)
        hint.setObjectName("nodeHelp")
        self.layout_.addWidget(hint)
        open_button = self._button("open_data", "Open your data…", "File → New from data…", flat=False)
        open_button.clicked.connect(self.open_data)
        self.layout_.addWidget(open_button, 0, Qt.AlignmentFlag.AlignLeft)
        grid = QGridLayout()
        grid.setHorizontalSpacing(24)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.addWidget(self._section("Recent data files"), 0, 0)
        grid.addWidget(self._section("Recent pipelines"), 0, 1)
        grid.addLayout(self._list(recent_data, "data", self.open_data_file), 1, 0)
        grid.addLayout(self._list(recent, "pipeline", self.open_pipeline), 1, 1)
        self.layout_.addLayout(grid)
        if examples:
            self.layout_.addWidget(self._section("Examples"))
            rows = QGridLayout()
            rows.setColumnStretch(1, 1)
            rows.setVerticalSpacing(0)
            for row, path in enumerate(examples):
                title, line = example_line(path)
                button = self._button(f"example:{path.stem.split('.')[0]}", title, f"{title}: {line}")
                button.clicked.connect(lambda checked=False, p=path: self.open_example.emit(p))
                about = QLabel(line)
                about.setObjectName("nodeHelp")
                about.setToolTip(line)
                about.setMinimumWidth(80)
                rows.addWidget(button, row, 0)
                rows.addWidget(about, row, 1)
            self.layout_.addLayout(rows)
        empty = self._button("empty", "Empty canvas", "Hide this page and build a pipeline by hand")
        empty.clicked.connect(self.dismissed)
        self.layout_.addWidget(empty, 0, Qt.AlignmentFlag.AlignRight)
        self.inner.adjustSize()

    def _section(self, text: str) -> QLabel:
        label = QLabel(f"<b>{text}</b>")
        label.setTextFormat(Qt.TextFormat.RichText)
        return label

    def _list(self, paths: list[str], kind: str, signal: Signal) -> QVBoxLayout:
        box = QVBoxLayout()
        box.setSpacing(0)
        shown = [p for p in paths if Path(p).exists()][:SHOWN]
        for path in shown:
            button = self._button(f"{kind}:{path}", Path(path).name, path)
            button.clicked.connect(lambda checked=False, p=path: signal.emit(p))
            box.addWidget(button)
        if not shown:
            none = QLabel("none yet")
            none.setObjectName("nodeHelp")
            box.addWidget(none)
        box.addStretch()
        return box


def install(window: MainWindow) -> StartPage:
    """Put the start page over the window's canvas and wire it to the file operations."""
    from ui.file_ops import example_files

    page = StartPage(window.view)
    files = window.files
    page.open_data.connect(lambda: files.new_from_data())
    page.open_data_file.connect(lambda path: files.new_from_data(path))
    page.open_pipeline.connect(lambda path: files.open(Path(path)))
    page.open_example.connect(lambda path: files.open_example(path))
    page.dismissed.connect(lambda: setattr(page, "dismissed_by_user", True) or page.hide())
    page.dismissed_by_user = False  # type: ignore[attr-defined]

    def refresh() -> None:
        """Shown over an empty, unedited canvas unless the user dismissed it."""
        document = window.document
        wanted = not document.pipeline.nodes and not document.dirty and not page.dismissed_by_user  # type: ignore[attr-defined]
        if wanted and not page.isVisible():
            page.fill(files.recent(), files.recent("recent_data"), example_files())
        page.setVisible(wanted)
        if wanted:
            window.view.place_overlay(page)

    page.refresh = refresh  # type: ignore[attr-defined]
    page.hide()
    return page

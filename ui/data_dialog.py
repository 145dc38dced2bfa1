"""The dialog a dropped data file opens: its columns with their kinds, the guessed target and task with the
reason, and one button that builds the standard pipeline and runs it.

The file is read in a background thread (the window stays live while a large file loads); the guess is the
core's (``workbench.tabular.guess``) and the pipeline the core's template (``workbench.templates``), so the
app and ``workbench new`` give the same first model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.templates import DATA_SUFFIXES

DATA_FILTER = (
    "Data files (" + " ".join(f"*{s}" for s in DATA_SUFFIXES) + ");;All files (*)"
)  # the same suffixes a drop accepts
KIND_GLYPHS = {"numeric": ("#", "#3b82f6"), "category": ("A", "#8b5cf6"), "datetime": ("D", "#14b8a6"),
               "bool": ("✓", "#f59e0b"), "": ("?", "#94a3b8")}  # fmt: skip
_icons: dict[str, QIcon] = {}
TASKS = ("auto", "classification", "regression")


def kind_icon(kind: str) -> QIcon:
    """A small coloured badge for a column kind (# numbers, A text, D dates, ✓ true/false, ? not known yet)."""
    kind = kind if kind in KIND_GLYPHS else ""
    icon = _icons.get(kind)
    if icon is None:
        glyph, colour = KIND_GLYPHS[kind]
        pixmap = QPixmap(32, 32)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor(colour))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(QRectF(2, 2, 28, 28), 7, 7)
        font = QFont()
        font.setPixelSize(20)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QColor("white"))
        painter.drawText(QRectF(2, 2, 28, 28), Qt.AlignmentFlag.AlignCenter, glyph)
        painter.end()
        icon = _icons[kind] = QIcon(pixmap)
    return icon


class _Loader(QObject):
    """Reads and guesses in a daemon thread; ``done`` reaches the dialog's @Slot in the GUI thread."""

    done = Signal(object)

    def start(self, path: Path, cancelled: threading.Event) -> None:
        def check() -> None:
            if cancelled.is_set():
                raise InterruptedError("cancelled")

        def run() -> None:
            from workbench.errors import UserError

            try:
                from workbench.tabular.guess import guess
                from workbench.templates import read_for_guess

                frame = read_for_guess(path, check=check)
                result: Any = (frame, guess(frame))
            except InterruptedError:
                return
            except (UserError, OSError) as exc:
                result = str(exc)
            except Exception as exc:  # noqa: BLE001 - one line in the dialog, never a traceback
                result = f"{path.name}: cannot be read ({type(exc).__name__}: {exc})"
            if not cancelled.is_set():
                self.done.emit(result)

        threading.Thread(target=run, name="data-dialog-read", daemon=True).start()


class DataDialog(QDialog):
    """Shows a data file's columns and the guess; ``build_requested(run)`` when the user accepts."""

    build_requested = Signal(bool)  # True: build and run
    ready = Signal()  # the file was read and the guess is shown (or the error)

    def __init__(self, path: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.frame: Any = None
        self.guess: Any = None
        self.error = ""
        self.setWindowTitle(f"New pipeline from {self.path.name}")
        self.setMinimumWidth(620)
        self.heading = QLabel(f"Reading {self.path.name}…")
        self.heading.setObjectName("nodeTitle")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Column", "Kind", "Distinct", "Missing", "Note"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        for index in range(4):
            header.setSectionResizeMode(index, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)  # the note takes the rest
        self.target = QComboBox()
        self.target.setObjectName("targetChoice")
        self.target.activated.connect(self._target_chosen)
        self.task = QComboBox()
        for task in TASKS:
            self.task.addItem(task, task)
        self.task.activated.connect(lambda _index: self._describe())
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setObjectName("nodeHelp")
        self.plan = QLabel()
        self.plan.setWordWrap(True)
        self.plan.setObjectName("nodeHelp")
        form = QFormLayout()
        form.addRow("Predict", self.target)
        form.addRow("Task", self.task)
        buttons = QHBoxLayout()  # Cancel, Build only, then the primary action at the right
        self.run_button = QPushButton("Build and run")
        self.run_button.setToolTip(
            "Build the pipeline on the canvas and train, evaluate and export the model"
        )
        self.build_button = QPushButton("Build only")
        self.build_button.setToolTip("Build the pipeline on the canvas without running it")
        self.cancel_button = QPushButton("Cancel")
        self.run_button.setDefault(True)
        self.run_button.setAutoDefault(True)
        self.build_button.setAutoDefault(False)
        self.cancel_button.setAutoDefault(False)
        buttons.addStretch(1)
        for button in (self.cancel_button, self.build_button, self.run_button):
            buttons.addWidget(button)
        self.cancel_button.clicked.connect(self.reject)
        self.run_button.clicked.connect(lambda: self._accept(True))
        self.build_button.clicked.connect(lambda: self._accept(False))
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.reason)
        layout.addWidget(self.plan)
        layout.addLayout(buttons)
        self._set_enabled(False)
        self.resize(720, 520)
        self._cancelled = threading.Event()
        self._loader = _Loader(self)
        self._loader.done.connect(self._loaded)
        self._loader.start(self.path, self._cancelled)
        self.finished.connect(lambda _code: self._cancelled.set())

    def _set_enabled(self, on: bool) -> None:
        for widget in (self.target, self.task, self.run_button, self.build_button):
            widget.setEnabled(on)

    # -- the read arrives
    @Slot(object)
    def _loaded(self, result: object) -> None:
        if isinstance(result, str):
            self.error = result
            self.heading.setText(f"Cannot use {self.path.name}")
            self.reason.setText(result)
            self.reason.setObjectName("problem")
            self.reason.style().unpolish(self.reason)
            self.reason.style().polish(self.reason)
            self.ready.emit()
            return
        self.frame, self.guess = result  # type: ignore[misc]
        rows, cols = self.frame.shape
        self.heading.setText(f"{self.path.name}: {rows:,} rows × {cols} columns")
        self._fill_table()
        self.target.clear()
        for column in self.guess.columns:
            if column.usable:
                self.target.addItem(kind_icon(column.kind), column.name, column.name)
        if self.guess.target is not None:
            self.target.setCurrentIndex(self.target.findData(self.guess.target))
        self._set_enabled(self.guess.target is not None)
        self._describe()
        self.run_button.setFocus()
        self.ready.emit()

    def _fill_table(self) -> None:
        columns = self.guess.columns
        self.table.setRowCount(len(columns))
        for row, column in enumerate(columns):
            name = QTableWidgetItem(column.name)
            if column.name == self.guess.target:
                font = name.font()
                font.setBold(True)
                name.setFont(font)
                name.setText(f"{column.name}  ← predict")
            cells = [
                name,
                QTableWidgetItem(kind_icon(column.kind), column.kind),
                QTableWidgetItem(f"{column.unique:,}"),
                QTableWidgetItem(f"{column.missing:,}" if column.missing else ""),
                QTableWidgetItem(column.note or ("" if column.name != self.guess.target else "target")),
            ]
            for index, cell in enumerate(cells):
                if index in (2, 3):
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column.note:
                    cell.setForeground(QColor("#94a3b8"))
                    cell.setToolTip(f"Left out of the model: {column.note}")
                self.table.setItem(row, index, cell)

    @Slot(int)
    def _target_chosen(self, index: int) -> None:
        from workbench.tabular.guess import guess

        name = self.target.itemData(index)
        if self.guess is None or name is None or name == self.guess.target:
            return
        self.guess = guess(self.frame, name)
        self._fill_table()
        self._describe()

    def _describe(self) -> None:
        from workbench.templates import preprocessing

        found = self.guess
        if found is None:
            return
        if found.target is None:
            self.reason.setText(f"No target: {found.reason}.")
            self.plan.setText("")
            return
        task = self.task.currentData()
        shown_task = found.task if task == "auto" else task
        self.task.setItemText(0, f"auto ({found.task})")
        why = "Guessed because " if found.reason != "you chose it" else "Chosen by you; "
        self.reason.setText(
            f"{why}{found.reason}. Task: {shown_task}"
            + (f" — {found.task_reason}." if task == "auto" else " (set by you).")
        )
        steps = ["file"] + (["drop " + ", ".join(found.drop)] if found.drop else [])
        steps += ["split"] + [node_id for _, node_id, _ in preprocessing(found)]
        steps += ["MLP → train", "evaluate", "export"]
        self.plan.setText("Pipeline: " + " → ".join(steps))

    # -- the answer
    def choice(self) -> tuple[str | None, str]:
        """(target, task) as shown."""
        return (self.guess.target if self.guess else None), str(self.task.currentData() or "auto")

    def _accept(self, run: bool) -> None:
        if self.guess is None or self.guess.target is None:
            return
        self.build_requested.emit(run)
        self.accept()


REPLACE, NEW, CANCEL = "replace", "new", "cancel"


class DataQuestions:
    """The questions of the new-from-data flow, in one object tests replace with scripted answers."""

    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    def open_data_path(self, folder: str = "") -> Path | None:
        from PySide6.QtWidgets import QFileDialog

        chosen, _ = QFileDialog.getOpenFileName(self.parent, "New pipeline from data", folder, DATA_FILTER)
        return Path(chosen) if chosen else None

    def replace_or_new(self, node_id: str, name: str) -> str:
        """REPLACE the data file of ``node_id``, start a NEW pipeline from the file, or CANCEL."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Use this data file",
            f"Replace the data file of “{node_id}” with {name}, or start a new pipeline from it?",
            parent=self.parent,
        )
        replace = box.addButton("Replace data file", QMessageBox.ButtonRole.AcceptRole)
        new = box.addButton("New pipeline", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(replace)
        box.exec()
        clicked = box.clickedButton()
        return REPLACE if clicked is replace else NEW if clicked is new else CANCEL

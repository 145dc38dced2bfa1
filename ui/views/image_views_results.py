"""After an image run: accuracy per class (worst first) and "Try an image" (top-k and a saliency overlay).

A picture reaches "Try an image" by a drop on the results view or the Images dock, or through the button's
file dialog (``window.dialogs.open_picture``, which tests replace). It is decoded by the one decoder every
image bundle ships (``load_pixels`` of ``export/predict_images_template.py``) with the model's own size,
resize policy and channels, so the answer is the one ``predict.py`` would give. Decoding, the forward pass
and the integrated gradients run in a worker thread; only the finished arrays come back to the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.views.image_views_base import Jobs, to_pixmap

TOP_K = 3
PICTURE_FILTER = "Pictures (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.ppm *.pgm);;All files (*)"


def per_class_rows(report: Any, split: str = "test") -> list[dict[str, Any]]:
    """Class, pictures, correct and accuracy per actual class from the report's confusion matrix, worst first
    (classes without pictures in the split last)."""
    figures = (getattr(report, "splits", None) or {}).get(split) or {}
    counts = figures.get("confusion")
    if not counts:
        return []
    rows = []
    for index, label in enumerate(getattr(report, "classes", []) or []):
        total = int(sum(counts[index]))
        correct = int(counts[index][index])
        rows.append({"class": str(label), "count": total, "correct": correct,
                     "accuracy": correct / total if total else None})  # fmt: skip
    return sorted(rows, key=lambda r: (r["accuracy"] is None, r["accuracy"] or 0.0, -r["count"], r["class"]))


def _shade(accuracy: float) -> QColor:
    """Light red up to 70 %, amber at 90 %, green at 100 % (light, so the text stays readable): a class at
    96 % must not look like one at 100 %."""
    red, amber, green = np.array([248, 196, 196]), np.array([252, 228, 178]), np.array([200, 236, 208])
    if accuracy < 0.9:
        mix = red + (amber - red) * float(np.clip((accuracy - 0.7) / 0.2, 0.0, 1.0))
    else:
        mix = amber + (green - amber) * float(np.clip((accuracy - 0.9) / 0.1, 0.0, 1.0))
    return QColor(*(int(v) for v in mix))


class ClassAccuracy(QWidget):
    """Accuracy per class on the test pictures, worst first; clicking a class shows its mistakes."""

    class_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Accuracy per class appears here after a run with evaluate.metrics on pictures.")
        self.title.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Class", "Pictures", "Correct", "Accuracy"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellClicked.connect(self._clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.table, 1)
        self.rows: list[dict[str, Any]] = []

    def show_report(self, report: Any) -> bool:
        """Fill the table from an evaluation report; False (and empty) when it has no test confusion matrix."""
        self.rows = per_class_rows(report)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            accuracy = row["accuracy"]
            cells = [row["class"], f"{row['count']:,}", f"{row['correct']:,}",
                     "—" if accuracy is None else f"{accuracy:.1%}"]  # fmt: skip
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 3 and accuracy is not None:
                    item.setBackground(_shade(accuracy))
                    item.setForeground(QColor("#1f2328"))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        scored = [r for r in self.rows if r["accuracy"] is not None]
        if not scored:
            self.title.setText(
                "Accuracy per class appears here after a run with evaluate.metrics on pictures."
            )
            return False
        worst, best = scored[0], scored[-1]
        self.title.setText(
            f"Accuracy per class on the test pictures, worst first ('{worst['class']}' {worst['accuracy']:.1%}, "
            f"'{best['class']}' {best['accuracy']:.1%}). Click a class to see its mistakes."
        )
        return True

    def accuracies(self) -> list[tuple[str, str]]:
        """(class, accuracy as shown) per row, top to bottom (tests, screenshots)."""
        return [
            (self.table.item(r, 0).text(), self.table.item(r, 3).text()) for r in range(self.table.rowCount())
        ]

    @Slot(int, int)
    def _clicked(self, row: int, _column: int) -> None:
        if 0 <= row < len(self.rows):
            self.class_clicked.emit(self.rows[row]["class"])


@dataclass
class Tried:
    """What the model made of one picture file."""

    path: str
    pixels: np.ndarray  # uint8 (size, size, channels): what the model read
    overlay: np.ndarray  # uint8 RGB: the integrated-gradients overlay for the top class
    top: list[tuple[str, float]]  # (class, probability), most likely first


def try_picture(model: Any, path: str | Path, top_k: int = TOP_K) -> Tried:
    """Decode ``path`` as the model's bundle would, classify it and explain the top class.

    A file that is missing or not a picture is one UserError naming it."""
    from workbench.errors import UserError
    from workbench.evaluation.align import raw_outputs, to_predictions
    from workbench.export.predict_images_template import load_pixels
    from workbench.images.explain import integrated_gradients, overlay

    settings = model.images
    path = str(path)
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file; drop a picture file (PNG, JPEG, BMP …)")
    try:
        pixels = load_pixels(path, int(settings["size"]), str(settings["policy"]), int(settings["channels"]))
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, DecompressionBomb…
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(
            f"{Path(path).name}: not a picture that can be read ({why}); try a PNG, JPEG or BMP file"
        ) from None
    _, proba = to_predictions(raw_outputs(model, pixels[None]), model.head)
    if proba is None:
        raise UserError("this model does not classify; Try an image needs an image classifier")
    classes = [str(c) for c in (model.classes or [])]
    order = np.argsort(-proba[0], kind="stable")[: max(1, top_k)]
    top = [(classes[i] if i < len(classes) else str(i), float(proba[0, i])) for i in order]
    attributions = integrated_gradients(model.module, pixels.astype(np.float32), int(order[0]), model.head)
    return Tried(path, pixels, overlay(pixels, attributions), top)


class TryImage(QWidget):
    """Drop a picture (or pick one) and see the trained model's top classes and why it chose the first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ask_picture: Callable[[], Path | None] = lambda: None  # attach() asks through window.dialogs
        self.model: Any = None
        self.tried: Tried | None = None
        self.title = QLabel("")
        self.title.setWordWrap(True)
        self.button = QPushButton("Try an image…")
        self.button.setToolTip("Classify a picture file with the trained image model (or drop one here)")
        self.button.clicked.connect(self._clicked)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.picture = QLabel("")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.saliency = QLabel("")
        self.saliency.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answers = QTableWidget(0, 2)
        self.answers.setHorizontalHeaderLabels(["Class", "Probability"])
        self.answers.verticalHeader().setVisible(False)
        self.answers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.answers.setMaximumWidth(240)
        top = QHBoxLayout()
        top.addWidget(self.button)
        top.addWidget(self.status, 1)
        self.answers.setSizeAdjustPolicy(QTableWidget.SizeAdjustPolicy.AdjustToContents)
        pictures = QHBoxLayout()
        for widget, caption in (
            (self.picture, "what the model read"),
            (self.saliency, "why: integrated gradients"),
        ):
            column = QVBoxLayout()
            column.addWidget(widget)
            column.addWidget(QLabel(caption), 0, Qt.AlignmentFlag.AlignHCenter)
            column.addStretch(1)
            pictures.addLayout(column)
        pictures.addWidget(self.answers, 0, Qt.AlignmentFlag.AlignTop)
        pictures.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(top)
        layout.addLayout(pictures, 1)
        self.jobs = Jobs(self)
        self.set_model(None)

    def set_model(self, model: Any) -> None:
        """The image model pictures are tried on (None: no image run, the button is off)."""
        self.model = model if getattr(model, "images", None) else None
        self.button.setEnabled(self.model is not None)
        self.title.setText(
            "Drop a picture file here or on the results, or click Try an image…, to see the model's top "
            f"{TOP_K} classes and the pixels behind its answer."
            if self.model is not None
            else "Try an image works after a run that trained an image model."
        )

    @Slot()
    def _clicked(self) -> None:
        self.ask()

    def ask(self) -> bool:
        """Ask for a picture file (the dialogs object) and try it; False when there is no model or no answer."""
        if self.model is None:
            return False
        chosen = self.ask_picture()
        return self.try_path(chosen) if chosen else False

    def try_path(self, path: str | Path) -> bool:
        """Try ``path`` in the background; the answer (or one line saying why not) lands in this view."""
        if self.model is None:
            self.status.setText("No image model to try: run a pipeline that trains one on pictures first.")
            return False
        model, path = self.model, str(path)
        self.status.setText(f"Trying {Path(path).name}…")
        self.jobs.start(lambda: try_picture(model, path), self._done)
        return True

    def _done(self, result: object) -> None:
        from workbench.errors import UserError

        if isinstance(result, UserError):
            self.status.setText(str(result))
            return
        if isinstance(result, Exception):
            self.status.setText(f"Cannot try this picture: {type(result).__name__}: {result}")
            return
        assert isinstance(result, Tried)
        self.tried = result
        self.picture.setPixmap(to_pixmap(result.pixels, 160))
        self.saliency.setPixmap(to_pixmap(result.overlay, 160))
        self.answers.setRowCount(len(result.top))
        for r, (label, probability) in enumerate(result.top):
            self.answers.setItem(r, 0, QTableWidgetItem(label))
            item = QTableWidgetItem(f"{probability:.1%}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.answers.setItem(r, 1, item)
        self.answers.resizeColumnsToContents()
        label, probability = result.top[0]
        self.status.setText(
            f"{Path(result.path).name}: '{label}' ({probability:.1%}). Left: what the model read; right: red "
            "marks the pixels that pushed it towards its answer."
        )


def _files(event: QDragEnterEvent | QDropEvent) -> list[str]:
    data = event.mimeData()
    if not data.hasUrls():
        return []
    return [u.toLocalFile() for u in data.urls() if u.isLocalFile() and u.toLocalFile()]


class PictureDrops(QObject):
    """Sends a file dropped on ``widget`` to a TryImage view while it has an image model.

    ``pictures_only``: take only files with a picture's name (so a table dropped on the results view still
    reaches the window's own drop handling); otherwise any file is tried and a wrong one named."""

    dropped = Signal(str)

    def __init__(self, widget: QWidget, target: TryImage, pictures_only: bool) -> None:
        super().__init__(widget)
        self.target = target
        self.pictures_only = pictures_only
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def wanted(self, files: list[str]) -> str | None:
        from workbench.images.decode import is_image_name

        if self.target.model is None or not files:
            return None
        if self.pictures_only:
            return next((f for f in files if is_image_name(Path(f).name)), None)
        return files[0]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop):
            found = self.wanted(_files(event))  # type: ignore[arg-type]
            if found is None:
                return False
            event.acceptProposedAction()  # type: ignore[attr-defined]
            if kind == QEvent.Type.Drop:
                self.target.try_path(found)
                self.dropped.emit(found)
            return True
        return False

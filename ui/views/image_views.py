"""Pictures in the app: thumbnails per class, the augmentation preview, the gallery of mistakes and
"explain this prediction" (an integrated-gradients overlay).

One dock ("Images", beside Data) with four tabs (Pictures, Augmentation, Mistakes with the accuracy per class,
Try an image — the last two in ``image_views_results``), fed by ``ui.panels`` on selection changes and at the
end of a run. Pictures are decoded and augmented in worker threads; only finished uint8 arrays cross to the GUI
thread (a generation counter drops answers to questions nobody asks any more), where they become pixmaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui.views.image_views_base import THUMB, Jobs, to_pixmap
from workbench import ports

THUMBS_PER_CLASS = 8
MAX_MISTAKES = 48


class PictureGrid(QWidget):
    """Pictures with captions in rows; clicking one emits its index."""

    clicked = Signal(int)

    def __init__(self, columns: int = THUMBS_PER_CLASS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.cells: list[QToolButton] = []

    def set_pictures(self, pictures: list[tuple[np.ndarray, str]], side: int = THUMB) -> None:
        for cell in self.cells:
            cell.deleteLater()
        self.cells = []
        for index, (pixels, caption) in enumerate(pictures):
            cell = QToolButton()
            cell.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            cell.setIcon(to_pixmap(pixels, side))
            cell.setIconSize(to_pixmap(pixels, side).size())
            cell.setText(caption)
            cell.setAutoRaise(True)
            cell.clicked.connect(lambda _=False, i=index: self.clicked.emit(i))
            self.grid.addWidget(cell, index // self.columns, index % self.columns)
            self.cells.append(cell)


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(widget)
    return area


def _thumbs(paths: list[str], channels: int) -> list[np.ndarray]:
    from workbench.images.decode import load_pixels

    out = []
    for path in paths:
        try:
            out.append(load_pixels(path, THUMB, "pad", channels))
        except Exception:  # noqa: BLE001 - a file that went away shows as a blank tile
            out.append(np.zeros((THUMB, THUMB, channels), dtype=np.uint8))
    return out


class ThumbnailGrid(QWidget):
    """The first pictures of every class with the class's count: what data.images found."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select an image node (data.images) to see its pictures.")
        self.title.setWordWrap(True)
        self.body = QWidget()
        self.rows = QVBoxLayout(self.body)
        self.rows.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(_scrolled(self.body), 1)
        self.jobs = Jobs(self)
        self.sections: dict[str, PictureGrid] = {}
        self.counts: dict[str, int] = {}

    def show_table(self, frame: Any, settings: dict[str, Any]) -> None:
        labels = frame["label"].astype(str)
        self.counts = {str(k): int(v) for k, v in labels.value_counts().sort_index().items()}
        picks = {
            c: frame.loc[labels == c, "path"].astype(str).head(THUMBS_PER_CLASS).tolist() for c in self.counts
        }
        skipped = int(settings.get("skipped", 0))
        self.title.setText(
            f"{len(frame):,} pictures in {len(self.counts)} classes, shown as {settings['size']}×{settings['size']} "
            f"{'colour' if int(settings['channels']) == 3 else 'grey'} ({settings['policy']})"
            + (f"; {skipped:,} unreadable file(s) skipped" if skipped else "")
        )
        channels = int(settings["channels"])
        self.jobs.start(lambda: {c: _thumbs(p, channels) for c, p in picks.items()}, self._fill)

    def _fill(self, thumbs: object) -> None:
        while self.rows.count() > 1:
            item = self.rows.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.sections = {}
        if isinstance(thumbs, Exception):
            self.title.setText(f"Cannot show the pictures: {thumbs}")
            return
        for label, pictures in dict(thumbs).items():  # type: ignore[call-overload]
            header = QLabel(f"<b>{label}</b> — {self.counts[label]:,} picture(s)")
            grid = PictureGrid()
            grid.set_pictures([(p, "") for p in pictures])
            self.rows.insertWidget(self.rows.count() - 1, header)
            self.rows.insertWidget(self.rows.count() - 1, grid)
            self.sections[label] = grid


class AugmentPreview(QWidget):
    """The same picture, as read, and eight augmented draws; redrawn whenever the settings change."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Select an 'Augment images' node to preview its draws.")
        self.title.setWordWrap(True)
        self.grid = PictureGrid(columns=3)
        self.again = QPushButton("New draws")
        self.again.clicked.connect(self._redraw)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.grid)
        layout.addWidget(self.again, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addStretch(1)
        self.jobs = Jobs(self)
        self.request: tuple[str, dict[str, Any], dict[str, Any]] | None = None
        self.seed = 0
        self.draws: list[np.ndarray] = []

    def show_preview(self, path: str, settings: dict[str, Any], config: dict[str, Any]) -> None:
        request = (path, dict(settings), dict(config))
        if request == self.request and self.draws:
            return
        self.request = request
        self._start()

    @Slot()
    def _redraw(self) -> None:
        self.seed += 1
        self._start()

    def _start(self) -> None:
        if self.request is None:
            return
        path, settings, config = self.request
        seed = self.seed
        self.title.setText(f"{Path(path).name}: as read, then 8 random draws (new every epoch in training)")

        def work() -> list[np.ndarray]:
            from workbench.images.augment import preview
            from workbench.images.decode import load_pixels

            pixels = load_pixels(path, int(settings["size"]), settings["policy"], int(settings["channels"]))
            return [pixels, *preview(pixels, config, n=8, seed=seed)]

        self.jobs.start(work, self._fill)

    def _fill(self, result: object) -> None:
        if isinstance(result, Exception):
            self.title.setText(f"Cannot preview: {result}")
            return
        self.draws = list(result)  # type: ignore[call-overload]
        captions = ["as read"] + [f"draw {i}" for i in range(1, len(self.draws))]
        self.grid.set_pictures(list(zip(self.draws, captions, strict=True)), side=96)


class MistakesGallery(QWidget):
    """The worst mistakes on the held-out pictures (most confident wrong answers first); a click explains."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("The worst mistakes appear here after a run with evaluate.metrics on pictures.")
        self.title.setWordWrap(True)
        self.grid = PictureGrid(columns=6)
        self.grid.clicked.connect(self.explain)
        self.explained = QLabel("")
        self.explained.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.explain_text = QLabel("")
        self.explain_text.setWordWrap(True)
        body = QWidget()
        inner = QVBoxLayout(body)
        inner.addWidget(self.grid)
        inner.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(_scrolled(body), 1)
        layout.addWidget(self.explained)
        layout.addWidget(self.explain_text)
        self.jobs = Jobs(self)
        self.explain_jobs = Jobs(self)
        self.model: Any = None
        self.table: Any = None
        self.rows: list[dict[str, Any]] = []
        self.overlay: np.ndarray | None = None

    def show_predictions(self, table: Any, model: Any, cell: tuple[str, str | None] | None = None) -> None:
        """Wrong answers of the test split, worst first; or one confusion-matrix cell (actual, predicted), or
        the mistakes of one actual class (actual, None)."""
        self.model, self.table = model, table
        test = table[table["split"] == "test"] if "split" in table else table
        actual, predicted = test["actual"].astype(str), test["prediction"].astype(str)
        chosen = actual != predicted
        if cell is not None:
            chosen = (actual == cell[0]) & (chosen if cell[1] is None else predicted == cell[1])
        wrong = test[chosen]
        confidence = [float(r[f"proba_{r['prediction']}"]) if f"proba_{r['prediction']}" in r else 0.0
                      for _, r in wrong.iterrows()]  # fmt: skip
        wrong = wrong.assign(confidence=confidence).sort_values("confidence", ascending=False, kind="stable")
        self.rows = wrong.head(MAX_MISTAKES).to_dict("records")
        self.title.setText(
            f"{_what(len(wrong), cell)} among {len(test):,} test pictures"
            + (f"; the {len(self.rows)} most confident shown, click one to explain it" if self.rows else "")
        )
        settings = getattr(model, "images", None) or {"channels": 3}
        paths = [str(r["path"]) for r in self.rows]
        self.jobs.start(lambda: _thumbs(paths, int(settings["channels"])), self._fill)

    def show_cell(self, actual: Any, predicted: Any) -> bool:
        """The pictures behind one confusion-matrix cell (a click there); ``predicted`` None: every mistake
        of the class ``actual``. False when the last run had no pictures."""
        if self.table is None:
            return False
        self.show_predictions(
            self.table, self.model, (str(actual), None if predicted is None else str(predicted))
        )
        return True

    def clear(self) -> None:
        """A run without pictures: nothing of an older image run stays clickable."""
        self.model = self.table = self.overlay = None
        self.rows = []
        self.jobs.start(lambda: [], self._fill)
        self.explained.clear()
        self.explain_text.setText("")
        self.title.setText("The worst mistakes appear here after a run with evaluate.metrics on pictures.")

    def _fill(self, thumbs: object) -> None:
        if isinstance(thumbs, Exception):
            self.title.setText(f"Cannot show the pictures: {thumbs}")
            return
        captions = [f"{r['actual']} → {r['prediction']} ({r['confidence']:.2f})" for r in self.rows]
        self.grid.set_pictures(list(zip(thumbs, captions, strict=True)))  # type: ignore[call-overload]

    @Slot(int)
    def explain(self, index: int) -> None:
        """Integrated gradients for the predicted class of mistake ``index``, drawn over the picture."""
        if self.model is None or not 0 <= index < len(self.rows):
            return
        row, model = self.rows[index], self.model
        classes = [str(c) for c in (model.classes or [])]
        target = classes.index(str(row["prediction"])) if str(row["prediction"]) in classes else 0
        self.explain_text.setText(f"Explaining {Path(str(row['path'])).name}: why '{row['prediction']}'…")

        def work() -> tuple[np.ndarray, str]:
            from workbench.images.data import model_pixels
            from workbench.images.explain import integrated_gradients, overlay

            pixels = model_pixels(model, [str(row["path"])])[0]
            attributions = integrated_gradients(model.module, pixels.astype(np.float32), target, model.head)
            return overlay(pixels, attributions), str(row["path"])

        self.explain_jobs.start(work, self._explained)

    def _explained(self, result: object) -> None:
        if isinstance(result, Exception):
            self.explain_text.setText(f"Cannot explain: {result}")
            return
        self.overlay, path = result  # type: ignore[misc]
        self.explained.setPixmap(to_pixmap(self.overlay, 192))
        self.explain_text.setText(
            f"{Path(path).name}: red marks the pixels that pushed the model towards its answer "
            "(integrated gradients from a black picture)"
        )


def _what(n: int, cell: tuple[str, str | None] | None) -> str:
    """'3 mistakes', "2 pictures of '8' taken for '3'", "27 pictures of '0' recognised as '0'"."""
    if cell is None:
        return f"{n:,} mistake{'' if n == 1 else 's'}"
    pictures = f"{n:,} picture{'' if n == 1 else 's'} of '{cell[0]}'"
    if cell[1] is None:
        return f"{pictures} taken for another class"
    return f"{pictures} {'recognised as' if cell[0] == cell[1] else 'taken for'} '{cell[1]}'"


class ImagesPanel(QTabWidget):
    """Pictures, Augmentation, Mistakes (with accuracy per class) and Try an image tabs; ``ui.panels``
    feeds it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        from ui.views.image_views_results import ClassAccuracy, PictureDrops, TryImage

        super().__init__(parent)
        self.thumbnails = ThumbnailGrid()
        self.augment = AugmentPreview()
        self.mistakes = MistakesGallery()
        self.classes = ClassAccuracy()
        self.classes.class_clicked.connect(self._show_class)
        self.mistakes_tab = QSplitter(Qt.Orientation.Horizontal)
        self.mistakes_tab.addWidget(self.classes)
        self.mistakes_tab.addWidget(self.mistakes)
        self.mistakes_tab.setStretchFactor(1, 1)
        self.mistakes_tab.setSizes([300, 800])
        self.try_image = TryImage()
        self.addTab(self.thumbnails, "Pictures")
        self.addTab(self.augment, "Augmentation")
        self.addTab(self.mistakes_tab, "Mistakes")
        self.addTab(self.try_image, "Try an image")
        self.drops = PictureDrops(self, self.try_image, pictures_only=False)
        self.drops.dropped.connect(self._show_try)

    @Slot(str)
    def _show_class(self, label: str) -> None:
        self.mistakes.show_cell(label, None)

    @Slot(str)
    def _show_try(self, _path: str) -> None:
        self.setCurrentWidget(self.try_image)

    def show_selected(self, pipeline: Any, node_id: str, outputs: dict[str, Any]) -> bool:
        """Show what fits the selected node; True when it is about pictures."""
        from workbench.images.data import frame_settings

        node = pipeline.node(node_id)
        if node.type == "prep.image_augment":
            found = first_picture(pipeline, node_id)
            if found is not None:
                self.augment.show_preview(found[0], found[1], pipeline.resolved_params(node_id))
                self.setCurrentWidget(self.augment)
                return True
        for value in outputs.values():
            kind = ports.kind_of(value)
            tables = ports.tables_of(value) if kind in (ports.TABLE, ports.DATASET) else {}
            frame = tables.get("") if kind == ports.TABLE else tables.get("train")
            settings = frame_settings(frame) if frame is not None else None
            if settings:
                whole = frame if kind == ports.TABLE else _whole(value)
                self.thumbnails.show_table(whole, settings)
                self.setCurrentWidget(self.thumbnails)
                return True
        return False

    def show_result(self, result: Any) -> bool:
        """The mistakes gallery from a run's evaluation of an image model; True when there was one."""
        model = predictions = None
        for record in getattr(result, "nodes", {}).values():
            for value in getattr(record, "outputs", {}).values():
                kind = ports.kind_of(value)
                if kind == ports.MODEL and value.images:
                    model = value
                elif kind == ports.TABLE and {"path", "prediction"} <= set(ports.columns_of(value) or ()):
                    predictions = value
        self.try_image.set_model(model)
        if model is None or predictions is None:
            self.mistakes.clear()
            self.classes.show_report(None)
            return False
        self.mistakes.show_predictions(predictions, model)
        self.classes.show_report(_evaluation(result))
        return True

    def show_cell(self, actual: Any, predicted: Any) -> bool:
        """A confusion-matrix cell of the results: its pictures in the Mistakes tab; False for a table run."""
        if not self.mistakes.show_cell(actual, predicted):
            return False
        self.setCurrentWidget(self.mistakes_tab)
        return True

    def ask_try(self) -> bool:
        """The "Try an image…" button of the results: ask for a file, try it here."""
        if not self.try_image.ask():
            return False
        self.setCurrentWidget(self.try_image)
        return True


def _evaluation(result: Any) -> Any:
    """The run's evaluation report (last one wins), by its registered kind as the results view finds it."""
    found = None
    for record in getattr(result, "nodes", {}).values():
        for value in getattr(record, "outputs", {}).values():
            if ports.kind_of(value) == "evaluation":
                found = value
    return found


def _whole(dataset: Any) -> Any:
    import pandas as pd

    frames = [f for f in dataset.splits().values() if len(f)]
    whole = pd.concat(frames, ignore_index=True) if frames else dataset.train
    whole.attrs = dict(dataset.train.attrs)
    return whole


def first_picture(pipeline: Any, node_id: str) -> tuple[str, dict[str, Any]] | None:
    """The first picture of the data.images node upstream of ``node_id`` and its settings, read from its
    parameters (so the preview works before any run)."""
    from workbench.images.decode import COLOUR_MODES, is_image_name
    from workbench.paths import resolve_input

    for upstream in pipeline.upstream(node_id):
        if pipeline.node(upstream).type != "data.images":
            continue
        params = pipeline.resolved_params(upstream)
        try:
            root = resolve_input(params["path"], pipeline.path.parent if pipeline.path else None)
        except Exception:  # noqa: BLE001 - no folder yet: nothing to preview
            return None
        if not root.is_dir():
            return None
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            names = sorted(n for n in (p.name for p in folder.iterdir()) if is_image_name(n))
            if names:
                path = str(folder / names[0])
                channels = {"grey": 1, "colour": 3}.get(params["channels"])
                if channels is None:
                    from PIL import Image

                    with Image.open(path) as image:
                        channels = 3 if image.mode in COLOUR_MODES else 1
                return path, {"size": params["size"], "policy": params["policy"], "channels": channels}
    return None


def attach(window: Any) -> ImagesPanel:
    """An "Images" dock tabbed with the Data dock."""
    panel = ImagesPanel()
    dock = QDockWidget("Images", window)
    dock.setObjectName("dock-images")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    if "data" in getattr(window, "docks", {}):
        window.tabifyDockWidget(window.docks["data"], dock)
        window.docks["data"].raise_()
    window.docks["images"] = dock
    panel.try_image.ask_picture = lambda: window.dialogs.open_picture()  # looked up late: tests replace it
    return panel

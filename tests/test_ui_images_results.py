"""After an image run: confusion-matrix cells open their pictures, accuracy per class (worst first), and
"Try an image" (a drop on the results or the Images dock, or the button's file dialog) — in the real window."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from test_images_core import bars  # noqa: E402

from ui.views.image_views_results import ClassAccuracy, per_class_rows, try_picture  # noqa: E402
from workbench.errors import UserError  # noqa: E402


def _report(confusion: list[list[int]], classes: list[str]) -> SimpleNamespace:
    return SimpleNamespace(task="classification", target="label", classes=classes, metrics={}, baseline={},
                           splits={"test": {"rows": int(np.sum(confusion)), "confusion": confusion}})  # fmt: skip


def test_per_class_accuracy_from_the_confusion_matrix_worst_first(qtbot) -> None:
    report = _report([[8, 2, 0, 0], [0, 5, 0, 0], [1, 3, 6, 0], [0, 0, 0, 0]], ["a", "b", "c", "d"])
    rows = per_class_rows(report)
    assert [(r["class"], r["count"], r["correct"]) for r in rows] == [
        ("c", 10, 6), ("a", 10, 8), ("b", 5, 5), ("d", 0, 0)]  # fmt: skip
    assert rows[0]["accuracy"] == pytest.approx(0.6) and rows[-1]["accuracy"] is None  # no pictures: last
    view = ClassAccuracy()
    qtbot.addWidget(view)
    assert view.show_report(report)
    assert view.accuracies() == [("c", "60.0%"), ("a", "80.0%"), ("b", "100.0%"), ("d", "—")]
    assert "worst first ('c' 60.0%, 'b' 100.0%)" in view.title.text()
    with qtbot.waitSignal(view.class_clicked) as clicked:
        view.table.cellClicked.emit(1, 0)
    assert clicked.args == ["a"]
    assert not view.show_report(_report([], ["a"])) and view.accuracies() == []


def _drop(widget, path: Path) -> bool:
    """A file dragged from the desktop onto ``widget``: True when the widget took it."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPointF(20, 20), Qt.DropAction.CopyAction, data, buttons, keys)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, data, buttons, keys)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def _pipeline(folder: Path, epochs: int = 2) -> Path:
    from workbench.graph import Pipeline
    from workbench.registry import builtin_registry

    bars(folder / "pics", per_class=20)
    pipeline = Pipeline(builtin_registry())
    pipeline.add("data.images", "images", path="pics", size=12)
    pipeline.add("data.split", "split", target="label")
    pipeline.add("model.cnn", "cnn", blocks=1, width=4)
    pipeline.add("train.supervised", "train", epochs=epochs, batch_size=8)
    pipeline.add("evaluate.metrics", "evaluate")
    for a, b, c, d in [("images", "table", "split", "table"), ("split", "dataset", "train", "dataset"),
                       ("cnn", "model", "train", "model"), ("train", "model", "evaluate", "model"),
                       ("split", "dataset", "evaluate", "dataset")]:  # fmt: skip
        pipeline.connect(a, b, c, d)
    pipeline.save(folder / "p.pipeline.json")
    return folder / "p.pipeline.json"


class _Dialogs:
    """The window's dialogs with a scripted picture answer."""

    def __init__(self, real, answer: Path | None) -> None:
        self.real, self.answer, self.asked = real, answer, 0

    def open_picture(self, folder: str = "") -> Path | None:
        self.asked += 1
        return self.answer

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def test_an_image_run_opens_cells_shows_classes_and_tries_pictures(qtbot, tmp_path: Path, data_dir) -> None:
    from ui.main_window import MainWindow
    from ui.views import result_plots
    from workbench.registry import builtin_registry

    path = _pipeline(tmp_path / "project")
    win = MainWindow(builtin_registry(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    try:
        win.show()
        assert win.files.open(path, ask=False)
        with qtbot.waitSignal(win.runner.finished, timeout=180_000):
            assert win.run_all()
        assert win.runner.last_result.status == "ok", win.runner.last_result.failures
        panel, results = win.panels.images, win.panels.results
        qtbot.waitUntil(lambda: panel.mistakes.table is not None, timeout=30_000)
        evaluation = results.found["evaluation"]
        confusion = evaluation.splits["test"]["confusion"]
        classes = [str(c) for c in evaluation.classes]

        # accuracy per class, worst first, the same figures as the report's confusion matrix
        shown = dict(panel.classes.accuracies())
        for i, label in enumerate(classes):
            assert shown[label] == f"{confusion[i][i] / sum(confusion[i]):.1%}"
        assert [r["accuracy"] for r in panel.classes.rows] == sorted(
            r["accuracy"] for r in panel.classes.rows
        )

        # a confusion-matrix cell, clicked with the mouse, opens the pictures behind it in the Images dock
        plot = results.tabs.widget(results.tab_names().index("Confusion matrix"))
        results.tabs.setCurrentWidget(plot)
        win.docks["results"].raise_()
        qtbot.waitUntil(plot.isVisible, timeout=10_000)
        plot.resize(400, 400)
        QApplication.processEvents()
        actual, predicted = 1, 0
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=result_plots.cell_point(plot, 1, 0))
        test = panel.mistakes.table[panel.mistakes.table["split"] == "test"]
        behind = test[(test["actual"].astype(str) == classes[actual])
                      & (test["prediction"].astype(str) == classes[predicted])]  # fmt: skip
        assert len(behind) == confusion[actual][predicted]
        qtbot.waitUntil(lambda: len(panel.mistakes.grid.cells) == min(len(behind), 48), timeout=30_000)
        assert sorted(r["path"] for r in panel.mistakes.rows) == sorted(behind["path"])
        assert f"of '{classes[actual]}' taken for '{classes[predicted]}'" in panel.mistakes.title.text()
        assert panel.currentWidget() is panel.mistakes_tab
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=result_plots.cell_point(plot, 0, 0))
        assert f"of '{classes[0]}' recognised as '{classes[0]}'" in panel.mistakes.title.text()
        assert len(panel.mistakes.rows) == min(confusion[0][0], 48)

        worst = panel.classes.rows[0]
        panel.classes.table.cellClicked.emit(0, 0)  # a class in the per-class table: its mistakes
        wrong = worst["count"] - worst["correct"]
        assert (
            f"{wrong} picture{'' if wrong == 1 else 's'} of '{worst['class']}' taken for another class"
            in (panel.mistakes.title.text())
        )

        # Try an image: the button asks the dialogs object, the answer is what the model gives that file
        picture = Path(test["path"].iloc[0])
        assert results.try_button.isVisibleTo(results)
        win.dialogs = _Dialogs(win.dialogs, picture)
        results.try_button.click()
        tried = panel.try_image
        qtbot.waitUntil(lambda: tried.tried is not None, timeout=60_000)
        assert win.dialogs.asked == 1 and panel.currentWidget() is tried
        model = results.found["model"]
        expected = try_picture(model, picture)
        assert [c for c, _ in tried.tried.top] == [c for c, _ in expected.top]
        assert sum(p for _, p in tried.tried.top) == pytest.approx(1.0)  # two classes: both shown
        row = test[test["path"] == str(picture)].iloc[0]
        assert tried.tried.top[0][0] == row["prediction"]  # the evaluation's answer for the same file
        assert tried.tried.top[0][1] == pytest.approx(float(row[f"proba_{row['prediction']}"]), abs=1e-5)
        assert tried.tried.overlay.shape == (12, 12, 3) and not tried.saliency.pixmap().isNull()
        assert (
            tried.answers.rowCount() == 2 and f"{picture.name}: '{row['prediction']}'" in tried.status.text()
        )

        # a dropped picture (a JPEG of another size, decoded as the bundle's predict.py would) on the results
        other = tmp_path / "big.jpg"
        Image.fromarray(np.kron(np.eye(4, dtype=np.uint8) * 255, np.ones((10, 10), np.uint8))).save(other)
        tried.tried = None
        assert _drop(results, other)
        qtbot.waitUntil(lambda: tried.tried is not None, timeout=60_000)
        assert tried.tried.path == str(other) and tried.tried.pixels.shape == (12, 12, 1)

        # a table dropped on the results view is left to the window; a broken picture is one line in the view
        table = tmp_path / "rows.csv"
        table.write_text("a,b\n1,2\n")
        assert win.panels.picture_drops.wanted([str(table)]) is None  # not taken: the window's drop runs
        assert panel.drops.wanted([str(table)]) == str(table)  # on the Images dock any file is tried
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
        assert _drop(panel, broken)
        qtbot.waitUntil(lambda: "broken.png: not a picture" in tried.status.text(), timeout=30_000)
        assert "\n" not in tried.status.text() and "Traceback" not in tried.status.text()
    finally:
        win.runner.shutdown()


def test_try_picture_names_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    from test_ui_images import _model

    model = _model()
    with pytest.raises(UserError, match=r"gone\.png: no such file"):
        try_picture(model, tmp_path / "gone.png")
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(UserError, match=r"^notes\.png: not a picture that can be read \(.*\); try a PNG"):
        try_picture(model, tmp_path / "notes.png")


def test_a_table_run_leaves_confusion_cells_inert(qtbot) -> None:
    from test_ui_images import _model

    from ui.views.results_view import ResultsView
    from workbench.evaluation.metrics import EvaluationReport

    report = EvaluationReport("classification", "label", ["horizontal", "vertical"],
                              {"test": {"rows": 8, "accuracy": 0.875, "confusion": [[3, 1], [0, 4]]}})  # fmt: skip
    model = _model()
    model.images = None  # a table model
    node = SimpleNamespace(outputs={"model": model, "report": report}, state="ok", type="evaluate.metrics")
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_result(SimpleNamespace(nodes={"evaluate": node}, status="ok"))
    plot = view.tabs.widget(view.tab_names().index("Confusion matrix"))
    assert plot.toolTip() == "" and not view.try_button.isVisibleTo(view)
    model.images = {"size": 12}  # the same report from an image model: the cells open pictures
    view.show_result(SimpleNamespace(nodes={"evaluate": node}, status="ok"))
    plot = view.tabs.widget(view.tab_names().index("Confusion matrix"))
    assert "pictures behind it" in plot.toolTip()

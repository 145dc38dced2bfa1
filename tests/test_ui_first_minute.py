"""The first minute in the window (offscreen): drop a data file, see it, one click to a trained, exported model;
quick-add ranking, column drop-downs, the start page and the small things found on the way."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from test_ui_support import ScriptedDialogs, wait_run

from ui import data_dialog as DD
from ui import dialogs as D
from ui.main_window import MainWindow
from ui.palette import MIME_NODE_TYPE, QuickAdd, ranked
from ui.views import data_view
from workbench import commands as C
from workbench.paths import resource
from workbench.registry import builtin_registry


def _csv(folder: Path, n: int = 200) -> Path:
    """A table the project does not ship: an ID, a constant, text with gaps, the label in the middle."""
    rng = np.random.default_rng(11)
    temp = rng.normal(20, 6, n).round(2)
    site = rng.choice(["north", "south", "harbour"], n)
    signal = temp / 6 + (site == "harbour") * 1.5 + rng.normal(0, 0.3, n)
    frame = pd.DataFrame(
        {
            "reading_id": [f"R-{i:04d}" for i in range(n)],
            "site": np.where(rng.random(n) < 0.05, None, site),
            "label": np.where(signal > np.median(signal), "alert", "calm"),
            "temp_c": temp,
            "humidity": rng.uniform(20, 90, n).round(1),
            "station": "ST-9",
        }
    )
    path = folder / "readings.csv"
    frame.to_csv(path, index=False)
    return path


class ScriptedQuestions:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.data_answer: Path | None = None
        self.replace_answer = DD.REPLACE

    def open_data_path(self, folder: str = "") -> Path | None:
        self.asked.append(("open_data", folder))
        return self.data_answer

    def replace_or_new(self, node_id: str, name: str) -> str:
        self.asked.append(("replace", f"{node_id}:{name}"))
        return self.replace_answer


@pytest.fixture
def window(qtbot, tmp_path, data_dir):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(builtin_registry(), settings)
    dialogs = ScriptedDialogs()
    dialogs.unsaved_answer = D.DISCARD
    win.dialogs = dialogs  # type: ignore[assignment]
    win.files.questions = ScriptedQuestions()  # type: ignore[assignment]
    qtbot.addWidget(win)
    win.resize(1300, 820)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.runner.shutdown()


def _drop_file(window: MainWindow, path: Path, target: object = None) -> None:
    """What a drop from a file manager delivers: a file:// URL at a point of the canvas (or another widget)."""
    widget = target or window.view.viewport()
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    centre = QPointF(widget.rect().center())
    args = (centre, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, QDropEvent(*args))


def _ready_dialog(qtbot, window: MainWindow) -> DD.DataDialog:
    dialog = window.files.data_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.guess is not None or bool(dialog.error), timeout=30_000)
    return dialog


# --------------------------------------------------------------------------- quick-add


@pytest.mark.parametrize(
    ("typed", "first"),
    [("split", "data.split"), ("train", "train.supervised"), ("mlp", "model.mlp"), ("export", "deploy.export"),
     ("evaluate", "evaluate.metrics"), ("drop miss", "clean.missing")],
)  # fmt: skip
def test_quick_add_ranks_by_name_first(qtbot, typed: str, first: str) -> None:
    registry = builtin_registry()
    popup = QuickAdd(registry)
    qtbot.addWidget(popup)
    popup.open_at(QPoint(0, 0), QPointF(0, 0))
    popup.edit.setText(typed)
    assert popup.type_ids()[0] == first
    assert ranked(registry, typed)[0].type_id == first
    popup.hide()


def test_tab_quick_add_and_palette_enter_add_the_named_node(qtbot, window) -> None:
    window.quick_add.open_at(QPoint(100, 100), QPointF(0, 0))
    window.quick_add.edit.setText("split")
    qtbot.keyClick(window.quick_add.edit, Qt.Key.Key_Return)
    assert [n.type for n in window.document.pipeline.nodes] == ["data.split"]
    window.palette.search.setText("train")
    with qtbot.waitSignal(window.palette.add_requested) as added:
        window.palette.search.returnPressed.emit()
    assert added.args == ["train.supervised"]


# --------------------------------------------------------------------------- the dropped file, end to end


def test_a_dropped_file_becomes_a_trained_exported_model(qtbot, window, tmp_path) -> None:
    data = _csv(tmp_path)
    _drop_file(window, data)
    dialog = _ready_dialog(qtbot, window)
    assert dialog.heading.text() == "readings.csv: 200 rows × 6 columns"
    assert dialog.target.currentData() == "label"
    assert "named 'label'" in dialog.reason.text() and "it holds text: 2 classes" in dialog.reason.text()
    kinds = {dialog.table.item(r, 0).text().split()[0]: dialog.table.item(r, 1).text() for r in range(6)}
    assert kinds == {"reading_id": "category", "site": "category", "label": "category", "temp_c": "numeric",
                     "humidity": "numeric", "station": "category"}  # fmt: skip
    assert [dialog.target.itemText(i) for i in range(dialog.target.count())] == ["site", "label", "temp_c",
                                                                                   "humidity"]  # fmt: skip
    assert "drop reading_id, station" in dialog.plan.text()
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)  # the one click
    pipeline = window.document.pipeline
    assert [n.id for n in pipeline.nodes] == ["file", "columns", "split", "encode", "impute", "scale", "mlp",
                                              "train", "evaluate", "export"]  # fmt: skip
    assert pipeline.node("file").params["path"] == str(data)
    assert window.document.dirty and window.document.stack.undo_text == "new pipeline from readings.csv"
    assert window.windowTitle().startswith("readings")
    assert not window.start_page.isVisible()
    result = wait_run(qtbot, window, timeout=300_000)
    assert result is not None and result.status == "ok", getattr(result, "failures", result)
    bundle = Path(result.artifacts["export.bundle"])
    assert json.loads((bundle / "manifest.json").read_text())["kind"] == "model-workbench-bundle"
    assert result.nodes["evaluate"].metrics["accuracy"] > 0.7
    assert "readings.csv" in window.files.recent("recent_data")[0]
    # predictions written by the app carry the input columns
    results = window.panels.results
    written: list = []
    assert results.predict_file(data, tmp_path / "predicted.csv", on_done=written.append)
    qtbot.waitUntil(lambda: bool(written), timeout=60_000)
    predicted = pd.read_csv(tmp_path / "predicted.csv")
    assert list(predicted.columns)[0] == "prediction" and len(predicted) == 200
    assert list(predicted.columns)[-6:] == ["reading_id", "site", "label", "temp_c", "humidity", "station"]
    assert predicted["reading_id"].tolist()[:2] == ["R-0000", "R-0001"]
    # Save suggests name.pipeline.json beside the data
    window.dialogs.save_answer = None
    window.files.save_as()
    assert window.dialogs.asked[-1] == ("save", str(tmp_path / "readings.pipeline.json"))
    # the whole build is one undo step
    window.document.undo()
    assert not pipeline.nodes


def test_a_second_drop_replaces_the_selected_data_file_or_starts_anew(qtbot, window, tmp_path) -> None:
    data = _csv(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text(data.read_text())
    _drop_file(window, data)
    qtbot.mouseClick(_ready_dialog(qtbot, window).build_button, Qt.MouseButton.LeftButton)  # build, no run
    assert window.runner.thread is None
    window.scene.select_nodes(["file"])
    _drop_file(window, other, target=window.docks["log"].widget())  # anywhere in the window
    assert window.files.questions.asked[-1] == ("replace", "file:other.csv")
    assert window.document.pipeline.node("file").params["path"] == str(other)
    window.document.undo()
    assert window.document.pipeline.node("file").params["path"] == str(data)
    window.files.questions.replace_answer = DD.NEW
    _drop_file(window, other)
    dialog = _ready_dialog(qtbot, window)
    dialog.reject()
    assert window.document.pipeline.node("file").params["path"] == str(data)  # cancelled: nothing changed


def test_a_file_that_cannot_be_read_says_so_in_the_dialog(qtbot, window, tmp_path) -> None:
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"not parquet at all")
    _drop_file(window, bad)
    dialog = _ready_dialog(qtbot, window)
    assert "broken.parquet" in dialog.reason.text() and not dialog.run_button.isEnabled()
    dialog.reject()
    assert not window.document.pipeline.nodes


# --------------------------------------------------------------------------- seeing data before a run


def test_selecting_a_data_file_node_previews_its_head_in_the_background(qtbot, window, tmp_path, monkeypatch):
    data = _csv(tmp_path)
    threads: list[str] = []
    real = data_view.read_head

    def spy(path, options, check=None):
        threads.append(threading.current_thread().name)
        return real(path, options, check)

    monkeypatch.setattr(data_view, "read_head", spy)
    document = window.document
    document.push(C.AddNode("data.file", (0, 0), {"path": str(data)}, node_id="file"))
    document.push(C.AddNode("data.split", (260, 0), node_id="split"))
    document.push(C.Connect("file", "table", "split", "table"))
    window.scene.select_nodes(["file"])
    view = window.panels.data
    qtbot.waitUntil(lambda: view.model.rowCount() == 200, timeout=30_000)
    assert threads == ["data-preview"]  # read off the GUI thread
    assert "readings.csv (preview of the all 200 rows; not run yet)" in view.title.text()
    assert view.profile_box.isVisible() and view.stats_labels["kind"].text().startswith("category")
    window.scene.select_nodes(["split"])  # a node the file feeds shows the same head, read once
    qtbot.waitUntil(lambda: view.title.text().startswith("split — readings.csv"), timeout=10_000)
    assert view.model.columnCount() == 6 and threads == ["data-preview"]


# --------------------------------------------------------------------------- column drop-downs


def test_column_parameters_pick_from_the_real_columns_with_kinds(qtbot, window, tmp_path) -> None:
    data = _csv(tmp_path)
    document = window.document
    document.push(C.AddNode("data.file", (0, 0), {"path": str(data)}, node_id="file"))
    document.push(C.AddNode("data.split", (260, 0), node_id="split"))
    document.push(C.Connect("file", "table", "split", "table"))
    window.scene.select_nodes(["split"])
    before = document.pipeline.node("split").params["target"]
    target = window.inspector.editors["target"]
    qtbot.waitUntil(
        lambda: target.box.count() == 6 and target.schema.get("temp_c") == "numeric", timeout=30_000
    )
    names = [target.box.itemText(i) for i in range(target.box.count())]
    assert names == ["reading_id", "site", "label", "temp_c", "humidity", "station"]
    assert not target.box.itemIcon(3).isNull()
    assert target.box.itemData(3, Qt.ItemDataRole.ToolTipRole) == "numeric"
    target.box.activated.emit(2)  # choosing "label" in the drop-down commits it: no Enter
    assert document.pipeline.node("split").params["target"] == "label"
    assert document.stack.undo_text.startswith("set split.target")
    features = window.inspector.editors["features"]
    assert features.button.isEnabled()
    menu = features.menu()
    assert [a.text() for a in menu.actions()] == names
    assert not menu.actions()[0].icon().isNull()
    for action in menu.actions()[3:5]:
        action.setChecked(True)
    features.apply(menu)
    assert document.pipeline.node("split").params["features"] == ["temp_c", "humidity"]
    document.undo()
    document.undo()
    assert document.pipeline.node("split").params["target"] == before


# --------------------------------------------------------------------------- start page and small things


def test_start_page_offers_data_recent_files_and_examples(qtbot, window, tmp_path) -> None:
    page = window.start_page
    assert page.isVisible()  # nothing open
    assert "open_data" in page.buttons and "example:quickstart" in page.buttons
    assert page.buttons["example:quickstart"].text() == "Quickstart"
    assert "The classic first network" in page.buttons["example:quickstart"].toolTip()
    page.buttons["example:quickstart"].click()
    assert window.document.pipeline.nodes and not page.isVisible()
    assert window.windowTitle().startswith("Quickstart")
    window.files.new()
    assert page.isVisible()
    data = _csv(tmp_path)
    window.files.questions.data_answer = data
    page.buttons["open_data"].click()
    dialog = _ready_dialog(qtbot, window)
    assert dialog.path == data
    dialog.reject()
    page.buttons["empty"].click()
    assert not page.isVisible()


def test_drops_on_the_start_page_reach_the_canvas(qtbot, window, tmp_path) -> None:
    page = window.start_page
    assert page.isVisible()
    mime = QMimeData()
    mime.setData(MIME_NODE_TYPE, b"data.file")
    args = (QPointF(page.rect().center()), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(page, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(page, QDropEvent(*args))
    assert [n.type for n in window.document.pipeline.nodes] == ["data.file"]
    assert not page.isVisible()
    window.document.undo()
    window.files.new()
    assert page.isVisible()
    _drop_file(window, _csv(tmp_path), target=page)
    _ready_dialog(qtbot, window).reject()


def test_toolbar_run_button_stays_put_and_examples_open_whole(qtbot, window) -> None:
    assert window.files.open_example(Path(resource("examples", "quickstart.pipeline.json")))
    bar = next(
        t for t in window.findChildren(type(window.addToolBar("probe"))) if t.objectName() == "toolbar_main"
    )
    run = bar.widgetForAction(window.actions_by_name["run"])
    before = run.geometry()
    window.document.push(C.SetParam("train", "epochs", 3))
    window.document.push(C.RenameNode("evaluate", "A node with a really long name for the undo label"))
    assert window.actions_by_name["undo"].text().startswith("&Undo rename")
    QApplication.processEvents()
    assert run.geometry() == before
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    for item in window.scene.nodes.values():
        assert visible.contains(item.sceneBoundingRect())  # the quick start is shown whole


def test_backwards_wires_go_around_the_nodes(qtbot, window) -> None:
    document = window.document
    document.push(C.AddNode("data.file", (400, 0), node_id="file"))
    document.push(C.AddNode("data.split", (0, 0), node_id="split"))  # left of its input's source
    document.push(C.Connect("file", "table", "split", "table"))
    link = next(iter(window.scene.links.values()))
    path = link.path()
    for node_id in ("file", "split"):
        node = window.scene.nodes[node_id]
        body = node.mapRectToScene(node.body_rect()).adjusted(4, 4, -4, -4)
        samples = [path.pointAtPercent(t / 200) for t in range(201)]
        assert not any(body.contains(p) for p in samples), node_id
    assert path.boundingRect().bottom() > max(
        n.sceneBoundingRect().bottom() for n in window.scene.nodes.values()
    )

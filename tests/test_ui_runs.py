"""The Runs panel (compare runs: overlaid curves, a highlighted diff) and the sweep dialog (start, prune,
apply best as one undoable command, undo), offscreen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from test_cli_runs import tiny_pipeline
from test_experiments_store import pipeline as fake_pipeline
from test_ui_support import ScriptedDialogs

from ui import dialogs as D
from ui.main_window import MainWindow
from ui.views.runs_view import CHANGED, RunsView
from workbench.execution.executor import Executor
from workbench.experiments.store import ExperimentStore
from workbench.registry import builtin_registry


@pytest.fixture
def two_runs(data_dir: Path, tmp_path: Path) -> list:
    executor = Executor()
    return [executor.run(fake_pipeline(lr, path=tmp_path / "demo.json")) for lr in (0.1, 0.3)]


def test_select_two_runs_overlays_curves_and_highlights_the_diff(qtbot, two_runs, monkeypatch) -> None:
    view = RunsView()
    qtbot.addWidget(view)
    view.resize(1000, 600)
    view.show()
    view.refresh()
    assert view.model.rowCount() == 2
    assert "train.lr" in view.model.headers and "val_accuracy" in view.model.headers

    view.select_runs([r.run_id for r in two_runs])
    assert len(view.selected_records()) == 2
    assert view.curve_choice.currentText() == "val_loss"
    assert view.plotted_curves() == 2  # one curve per run, in one plot
    view.curve_choice.setCurrentText("train_loss")
    assert view.plotted_curves() == 2
    assert view.changed_params == ["train.lr"]
    assert view.diff.item(0, 0).text() == "train.lr"
    assert {view.diff.item(0, c).text() for c in (1, 2)} == {"0.1", "0.3"}
    assert view.diff.item(0, 1).background().color() == CHANGED
    unchanged = next(r for r in range(view.diff.rowCount()) if view.diff.item(r, 0).text() == "train.epochs")
    assert view.diff.item(unchanged, 1).background().color() != CHANGED
    metric_rows = {view.metrics_table.item(r, 0).text(): r for r in range(view.metrics_table.rowCount())}
    row = metric_rows["val_accuracy"]
    cells = [view.metrics_table.item(row, c) for c in (1, 2)]
    assert sorted(c.text() for c in cells) == ["0.7", "0.9"]
    assert [c.font().bold() for c in cells if c.text() == "0.9"] == [True]  # the better run stands out

    # sorting by a metric column and filtering by text
    column = view.model.headers.index("val_accuracy")
    view.table.sortByColumn(column, pytest.importorskip("PySide6.QtCore").Qt.SortOrder.DescendingOrder)
    top = view.proxy.mapToSource(view.proxy.index(0, 0)).row()
    assert view.model.records[top].params["train.lr"] == 0.1
    view.filter.setText("0.3")
    assert view.proxy.rowCount() == 1
    view.filter.setText("")

    # rename, then delete with confirmation (refused, then accepted)
    first = two_runs[0]
    view.select_runs([first.run_id])
    monkeypatch.setattr(view, "ask_text", lambda *a, **k: "small lr")
    view.rename_selected()
    with ExperimentStore() as store:
        assert store.get(first.run_id).name == "small lr"
    view.select_runs([first.run_id])
    opened: list = []
    view.open_requested.connect(lambda data, path: opened.append((data, path)))
    view.open_selected()
    assert opened and opened[0][0]["nodes"][1]["params"]["lr"] == 0.1 and opened[0][1].endswith("demo.json")
    monkeypatch.setattr(view, "confirm", lambda *a: False)
    assert not view.delete_selected() and first.run_dir.exists()
    monkeypatch.setattr(view, "confirm", lambda *a: True)
    assert view.delete_selected()
    assert not first.run_dir.exists() and view.model.rowCount() == 1


@pytest.fixture
def window(qtbot, tmp_path: Path, data_dir: Path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(builtin_registry(), settings)
    dialogs = ScriptedDialogs()
    dialogs.unsaved_answer = D.DISCARD
    win.dialogs = dialogs  # type: ignore[assignment]
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    assert win.files.open(tiny_pipeline(tmp_path, epochs=6), ask=False)
    yield win
    win.runner.shutdown()


def test_sweep_dialog_start_prune_apply_best_and_undo(qtbot, window) -> None:
    dialog = window.experiments.open_sweep()
    qtbot.waitExposed(dialog)
    assert "train.lr" in [r.key for r in dialog.rows] and "train.optimizer" in [r.key for r in dialog.rows]
    dialog.choose("train.lr", "0.05,0.00001,0.000001")
    dialog.sampler.setCurrentText("grid")
    dialog.trials_box.setValue(3)
    dialog.prune_startup, dialog.prune_warmup = 1, 1
    before = window.document.pipeline.node("train").params["lr"]
    trained: list[int] = []
    window.runner.events_received.connect(lambda events: trained.append(window.panels.training.epochs_seen))
    with qtbot.waitSignal(window.runner.finished, timeout=180_000):
        assert dialog.start()
        assert not window.actions_by_name["run"].isEnabled()  # the sweep is the run in progress
        assert dialog.toggle_pause() and window.runner.token.paused  # pause holds the trial …
        qtbot.wait(300)
        assert dialog.running and not dialog.toggle_pause()  # … and resume lets it go on
    qtbot.waitUntil(lambda: not dialog.running, timeout=10_000)
    states = [t.state for t in dialog.trials]
    assert len(states) == 3 and "pruned" in states and "complete" in states
    assert dialog.table.rowCount() == 3
    pruned_row = states.index("pruned")
    assert dialog.table.item(pruned_row, 1).foreground().color().name() == "#9ca3af"  # greyed
    assert dialog.points["complete"] == states.count("complete")
    assert max(trained) <= 6  # the live view restarted for each trial (never more epochs than one trial)
    with ExperimentStore() as store:
        assert {r.trial_state for r in store.list(sweep=dialog.sweep.sweep_id)} == set(states)
    assert window.experiments.runs.model.rowCount() == 3  # the Runs panel lists the trials

    depth = len(window.document.stack._done)
    best = dialog.sweep.best()
    assert dialog.apply_best()
    assert window.document.pipeline.node("train").params["lr"] == best.params["train.lr"] == 0.05
    assert len(window.document.stack._done) == depth + 1  # one undoable command
    window.document.undo()
    assert window.document.pipeline.node("train").params["lr"] == before


def test_the_runs_view_lists_a_thousand_runs(qtbot, data_dir: Path) -> None:
    import json

    with ExperimentStore() as store:
        store.db.execute("BEGIN")
        for i in range(1000):
            params = {f"node{k}.p": k for k in range(30)} | {"train.lr": 10.0 ** -(i % 3)}
            store.upsert({"run_id": f"run-{i:04d}", "pipeline_name": "big", "params": json.dumps(params),
                          "metrics": json.dumps({"val_accuracy": i / 1000}), "status": "ok",
                          "finished_at": float(i)})  # fmt: skip
        store.db.execute("COMMIT")
    view = RunsView()
    qtbot.addWidget(view)
    view.show()
    view.refresh()
    assert view.model.rowCount() == 1000 and view.proxy.rowCount() == 1000
    assert view.model.headers[-1] == "train.lr" and "node3.p" not in view.model.headers
    view.filter.setText("run-0999")
    assert view.proxy.rowCount() == 1

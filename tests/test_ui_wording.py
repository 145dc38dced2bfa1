"""Every line the app shows about a run must be true: training bar, ETA, colours, status bar, results, inspector.

The views are fed the real event objects (workbench/events.py) in the order the executor and the training
node send them; one test runs the real quick start into an export folder that must be refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ui_support import ScriptedDialogs, make_window, wait_run

from ui import dialogs as D
from ui import theme
from ui.runner import run_summary
from ui.views.results_view import ResultsView
from ui.views.training_view import TrainingView
from workbench import commands as C
from workbench import events as E
from workbench.execution.executor import NodeResult, RunResult
from workbench.paths import resource

RED = theme.state_colour(E.FAILED).name()
AMBER = theme.state_colour(E.STOPPED).name()


def progress(epoch: int, epochs: int | None, batch: int = 20, eta: float | None = 95.0) -> E.Progress:
    """What train.supervised reports (engine ProgressReporter through NodeContext.progress)."""
    cap = epochs or 200
    return E.Progress(
        "train",
        (epoch - 1 + batch / 20) / cap,
        f"epoch {epoch}/{epochs or 'auto'} · batch {batch}/20",
        eta_s=1.0,
        rate=35_000.0,
        rate_unit="samples/s",
        extra={"epoch": epoch, "epochs": epochs, "max_epochs": cap, "batch": batch, "batches": 20,
               "eta_total_s": eta},
    )  # fmt: skip


def epoch_end(epoch: int) -> E.MetricsLogged:
    return E.MetricsLogged("train", epoch, {"train_loss": 1.0 / epoch, "val_loss": 1.2 / epoch})


def state(node_id: str, new: str, message: str = "") -> E.NodeStateChanged:
    return E.NodeStateChanged(node_id, new, message)


@pytest.fixture
def view(qtbot):
    widget = TrainingView()
    qtbot.addWidget(widget)
    widget.reset()
    widget.add_events([E.RunStarted("r1", ("file", "train", "export"), "")])
    widget.add_events([state(n, E.QUEUED) for n in ("file", "train", "export")])
    widget.add_events([state("file", E.RUNNING), state("file", E.DONE), state("train", E.RUNNING)])
    return widget


def train(view: TrainingView, epochs: int, total: int | None) -> None:
    for epoch in range(1, epochs + 1):
        view.add_events([progress(epoch, total, eta=((total or 200) - epoch) * 0.1), epoch_end(epoch)])
    view._tick()  # the GUI timer shows the newest progress


def test_failed_export_after_training_does_not_say_training_failed(view):
    train(view, 10, 10)
    view.add_events([state("train", E.DONE), state("export", E.RUNNING)])
    view.add_events([state("export", E.FAILED, "path: /x is not a model bundle; choose an empty folder")])
    view.run_finished("failed")
    text = view.progress.format()
    assert "failed" not in text.lower(), text
    assert text == "Training done: 10/10 epochs"
    assert view.progress.value() == 1000
    assert view.eta_label.text() == "ETA —"
    assert view.bar_colour() != RED


def test_training_done_mid_run_clears_the_eta_while_later_nodes_run(view):
    train(view, 10, 10)
    assert view.eta_label.text() != "ETA —"
    view.add_events([state("train", E.DONE), state("export", E.RUNNING)])
    assert view.eta_label.text() == "ETA —"  # nothing of training is left to wait for
    assert view.progress.format() == "Training done: 10/10 epochs"
    view.set_paused(True)  # a pause during export says nothing about training
    assert view.progress.format() == "Training done: 10/10 epochs"


def test_stop_says_stopped_with_the_epochs_done_in_amber_and_clears_the_eta(view):
    view.add_events([progress(1, 3000, eta=300.0)])
    view._tick()
    for epoch in range(1, 6):  # progress is throttled: the last one seen was epoch 1, five epochs ended
        view.add_events([epoch_end(epoch)])
    view.add_events([state("train", E.STOPPED, "stopped by the user; outputs kept")])
    view.add_events([state("export", E.SKIPPED, "not run: the run was stopped")])
    view.run_finished("stopped")
    assert view.progress.format() == "Stopped after 5 of 3000 epochs · the model so far is kept"
    assert view.eta_label.text() == "ETA —"
    assert view.progress.value() < 1000
    assert view.bar_colour() == AMBER and view.bar_colour() != RED


def test_training_that_fails_itself_says_so_in_red(view):
    train(view, 3, 10)
    view.add_events([state("train", E.FAILED, "out of memory")])
    view.run_finished("failed")
    assert view.progress.format() == "Training failed in epoch 3/10"
    assert view.progress.value() < 1000
    assert view.eta_label.text() == "ETA —"
    assert view.bar_colour() == RED


def test_auto_epochs_done_early_says_how_many_ran(view):
    train(view, 37, None)
    view.add_events([state("train", E.DONE)])
    view.run_finished("ok")
    assert view.progress.format() == "Training done after 37 of at most 200 (auto) epochs"
    assert "None" not in view.progress.format()


def test_pause_shows_no_countdown_and_resume_restores_it(view):
    train(view, 2, 10)
    eta = view.eta_label.text()
    view.set_paused(True)
    assert view.eta_label.text() == "ETA — (paused)" and view.progress.format().endswith("paused")
    view.set_paused(False)
    assert view.eta_label.text() == eta


def test_cached_rerun_and_stop_before_training_say_what_happened(view):
    train(view, 10, 10)
    view.add_events([state("train", E.DONE)])
    view.run_finished("ok")
    view.reset()  # the next run reuses the trained model
    view.add_events([state("file", E.CACHED), state("train", E.CACHED, "reused from an earlier run")])
    view.run_finished("ok")
    assert view.progress.format() == "Training reused from an earlier run (cached): no new epochs"
    view.reset()
    view.add_events([state("file", E.RUNNING), state("file", E.STOPPED), state("train", E.SKIPPED)])
    view.run_finished("stopped")
    assert view.progress.format() == "Stopped before any training"
    assert view.eta_label.text() == "ETA —"


def _result(status: str, **states: tuple[str, str, str]) -> RunResult:
    nodes = {n: NodeResult(n, t, s, m) for n, (t, s, m) in states.items()}
    return RunResult("r1", status, 2.04, nodes, {}, None, [])


def test_status_line_names_the_node_that_failed():
    result = _result(
        "failed",
        train=("train.supervised", E.DONE, ""),
        export=("deploy.export", E.FAILED, "path: /x holds notes.txt"),
    )
    assert run_summary(result) == "Failed at export in 2.0 s"
    stopped = _result("stopped", train=("train.supervised", E.STOPPED, "stopped by the user"))
    assert run_summary(stopped) == "Stopped in 2.0 s"


def test_results_say_why_there_is_no_evaluation_and_no_bundle(qtbot):
    results = ResultsView()
    qtbot.addWidget(results)
    stopped = _result(
        "stopped",
        train=("train.supervised", E.STOPPED, "stopped by the user; outputs kept"),
        evaluate=("evaluate.metrics", E.SKIPPED, "not run: the run was stopped"),
    )
    results.show_result(stopped)
    assert (
        results.headline.text()
        == "No evaluation in this run: evaluate did not run (the run was stopped before it)."
    )
    failed = _result(
        "failed",
        train=("train.supervised", E.DONE, ""),
        export=("deploy.export", E.FAILED, "path: /x holds notes.txt; choose an empty folder"),
    )
    results.show_result(failed)
    assert (
        results.status.text() == "No bundle: export failed: path: /x holds notes.txt; choose an empty folder"
    )
    results.show_result(_result("ok", train=("train.supervised", E.DONE, "")))
    assert results.headline.text() == "This run has no evaluation; add an Evaluate node after training."


def test_window_status_line_and_inspector_after_a_stop_and_a_failure(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    doc = window.document
    doc.push(C.AddNode("fake.source", (0, 0), node_id="src", params={"value": 2}))
    doc.push(C.AddNode("fake.slow", (260, 0), node_id="slow", params={"steps": 2000}))
    doc.push(C.Connect("src", "table", "slow", "table"))
    window.scene.select_nodes(["slow"])
    window.run_all()
    qtbot.waitUntil(lambda: window.runner.node_states.get("slow") == E.RUNNING, timeout=10_000)
    window.actions_by_name["stop"].trigger()
    assert wait_run(qtbot, window, timeout=30_000).status == "stopped"
    label = window.inspector.state_label
    assert "stopped" in label.text() and label.objectName() != "problem"  # not the error red
    assert window.run_label.text().startswith("Stopped")
    # A run closed with the window or a new document leaves no "Running…" behind.
    window.run_all()
    qtbot.waitUntil(lambda: window.runner.node_states.get("slow") == E.RUNNING, timeout=10_000)
    assert window.runner.shutdown()
    assert window.run_label.text() == "Stopped"
    doc.push(C.AddNode("fake.fail", (520, 0), node_id="bad"))
    doc.push(C.Connect("src", "table", "bad", "table"))
    doc.push(C.SetParam("slow", "steps", 2))
    window.scene.select_nodes(["bad"])
    window.run_all()
    assert wait_run(qtbot, window, timeout=30_000).status == "failed"
    assert window.run_label.text().startswith("Failed at bad in ")
    assert window.inspector.state_label.objectName() == "problem"  # a failure stays red


def test_real_quickstart_with_a_refused_export_folder(qtbot, tmp_path, data_dir):
    """The issue's case: training finishes, then the export is refused (the folder holds a user's file)."""
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow
    from workbench.registry import builtin_registry

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(builtin_registry(), settings)
    dialogs = ScriptedDialogs()
    dialogs.unsaved_answer = D.DISCARD
    window.dialogs = dialogs  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.show()
    assert window.files.open_example(Path(resource("examples", "quickstart.pipeline.json")))
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    window.document.push(C.SetParam("train", "epochs", 3))
    window.document.push(C.SetParam("export", "path", str(target)))
    window.run_all()
    result = wait_run(qtbot, window, timeout=180_000)
    assert result.status == "failed" and list(result.failures) == ["export"]
    training = window.panels.training
    assert training.progress.format() == "Training done: 3/3 epochs"
    assert training.eta_label.text() == "ETA —"
    assert window.run_label.text().startswith("Failed at export in ")
    assert window.panels.results.status.text().startswith("No bundle: export failed: ")
    assert (target / "notes.txt").read_text() == "keep me"
    window.runner.shutdown()

"""Running inside the window: live node states from a QThread, failures, cooperative stop, close during a run."""

from __future__ import annotations

import threading
import time

from fakes import RUNS
from test_ui_support import make_window, wait_run

from ui.runner import QtReporter
from workbench import commands as C
from workbench import events as E


def _chain(window, slow_steps=None):
    doc = window.document
    doc.push(C.AddNode("fake.source", (0, 0), node_id="src", params={"value": 2}))
    doc.push(C.AddNode("fake.add", (260, 0), node_id="add", params={"k": 3}))
    doc.push(C.Connect("src", "table", "add", "table"))
    doc.push(C.AddNode("fake.sink", (520, 0), node_id="sink"))
    doc.push(C.Connect("add", "table", "sink", "data"))
    if slow_steps:
        doc.push(C.AddNode("fake.slow", (520, 200), node_id="slow", params={"steps": slow_steps}))
        doc.push(C.Connect("add", "table", "slow", "table"))


def test_run_updates_badges_in_the_gui_thread_and_reruns_from_cache(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window)
    threads = set()
    original = window.scene.set_state

    def recording(*args, **kwargs):
        threads.add(threading.current_thread() is threading.main_thread())
        original(*args, **kwargs)

    window.scene.set_state = recording
    with qtbot.waitSignal(window.runner.finished, timeout=10_000) as blocker:
        assert window.run_all()
    result = blocker.args[0]
    wait_run(qtbot, window)
    assert result.status == "ok" and result.output("add", "table") == 5
    assert threads == {True}  # every view update ran in the GUI thread
    assert {n: i.state for n, i in window.scene.nodes.items()} == {
        "src": "done",
        "add": "done",
        "sink": "done",
    }
    assert window.run_label.text().startswith("Finished")
    assert any("Run finished" in line for line in window.log.lines())
    window.document.push(C.SetParam("add", "k", 4))
    assert window.scene.nodes["add"].state == "stale" and window.scene.nodes["src"].state == "done"
    RUNS.clear()
    window.run_all()
    result = wait_run(qtbot, window)
    assert result.output("add", "table") == 6
    assert window.scene.nodes["src"].state == "cached" and RUNS["src"] == 0 and RUNS["add"] == 1


def test_run_up_to_here_runs_only_what_the_node_needs(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window)
    window.run_to("add")
    result = wait_run(qtbot, window)
    assert set(result.nodes) == {"src", "add"}
    assert window.scene.nodes["sink"].state == "idle"


def test_failing_node_shows_message_and_app_stays_usable(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window)
    doc = window.document
    doc.push(C.AddNode("fake.fail", (260, 200), node_id="bad"))
    doc.push(C.Connect("src", "table", "bad", "table"))
    window.scene.select_nodes(["bad"])
    window.run_all()
    result = wait_run(qtbot, window)
    assert result.status == "failed"
    item = window.scene.nodes["bad"]
    assert item.state == "failed" and "add a Types node" in item.toolTip()
    assert "add a Types node" in window.inspector.state_label.text()
    assert not window.inspector.state_label.isHidden()
    assert any("[bad]" in line and "Types node" in line for line in window.log.lines())
    assert "bad:" in window.statusBar().currentMessage()
    assert window.scene.nodes["add"].state == "done"  # independent branches still ran
    doc.push(C.RemoveNodes(["bad"]))
    window.run_all()
    assert wait_run(qtbot, window).status == "ok"


def test_stop_is_cooperative_and_keeps_finished_outputs(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window, slow_steps=2000)  # ~20 s if never stopped
    fractions: list[float] = []
    window.runner.events_received.connect(
        lambda events: fractions.extend(e.fraction for e in events if isinstance(e, E.Progress))
    )
    window.run_all()
    qtbot.waitUntil(lambda: window.runner.node_states.get("slow") == E.RUNNING, timeout=10_000)
    assert window.actions_by_name["stop"].isEnabled() and not window.actions_by_name["run"].isEnabled()
    window.actions_by_name["stop"].trigger()
    result = wait_run(qtbot, window, timeout=60_000)
    assert result.status == "stopped" and result.nodes["slow"].state == "stopped"
    assert fractions and max(fractions) < 1.0  # it stopped between steps, not after all 2000
    assert result.output("add", "table") == 5
    assert window.scene.nodes["slow"].state == "stopped"
    assert window.actions_by_name["run"].isEnabled()


def test_closing_during_a_run_asks_stops_and_joins(qtbot, tmp_path, data_dir):
    window, dialogs = make_window(qtbot, tmp_path)
    _chain(window, slow_steps=2000)
    window.document.save(tmp_path / "p.json")
    window.run_all()
    qtbot.waitUntil(lambda: window.runner.node_states.get("slow") == E.RUNNING, timeout=10_000)
    dialogs.stop_answer = False
    assert not window.close()
    assert window.runner.is_running
    dialogs.stop_answer = True
    thread = window.runner.thread
    assert window.close()
    assert window.runner.thread is None and thread.isFinished()
    assert dialogs.kinds() == ["stop", "stop"]


def test_reporter_emits_at_most_about_30_times_a_second(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window, slow_steps=100)  # ~1 s with 100 progress events
    received: list[int] = []
    window.runner.events_received.connect(lambda events: received.append(len(events)))
    started = time.monotonic()
    window.run_all()
    reporter = window.runner.reporter
    result = wait_run(qtbot, window)
    seconds = time.monotonic() - started
    assert result.status == "ok"
    assert sum(received) >= 100
    assert reporter.emitted <= 30 * seconds + 15, (reporter.emitted, seconds)
    assert len(received) < sum(received) / 2


def test_qt_reporter_flushes_tail():
    reporter = QtReporter(interval_s=10.0)
    got: list[list] = []
    reporter.events.connect(lambda events: got.append(events))
    reporter(E.LogRecord("info", "first"))  # due at once (nothing sent yet)
    reporter(E.LogRecord("info", "held back"))
    assert [len(batch) for batch in got] == [1]
    reporter.flush()
    assert [len(batch) for batch in got] == [1, 1]


def test_batches_arrive_in_order_when_the_tail_flush_races_the_worker(qtbot):
    """A worker thread reports while the GUI thread flushes the tail: every event arrives once, in order."""
    import sys
    import threading

    from PySide6.QtCore import QObject, Qt, Slot

    class Sink(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[int] = []

        @Slot(list)
        def take(self, events: list) -> None:
            self.seen.extend(int(e.message) for e in events)

    sink = Sink()
    reporter = QtReporter(interval_s=0.0005)
    reporter.events.connect(sink.take, Qt.ConnectionType.QueuedConnection)
    count = 20_000

    def work() -> None:
        for i in range(count):
            reporter(E.LogRecord("info", str(i)))

    worker = threading.Thread(target=work)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over often: a batch taken but not yet posted is likely
    try:
        worker.start()
        while worker.is_alive():
            reporter.flush()  # the GUI timer's tail flush, as often as it can
        worker.join()
    finally:
        sys.setswitchinterval(switch)
    reporter.flush()
    qtbot.waitUntil(lambda: len(sink.seen) == count, timeout=10_000)
    assert sink.seen == list(range(count))


def test_node_context_menu_runs_up_to_here_renames_and_deletes(qtbot, tmp_path, data_dir):
    window, dialogs = make_window(qtbot, tmp_path)
    _chain(window)
    menu = window.scene.node_menu("add")
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert list(actions) == ["Run up to here", "Rename…", "Duplicate", "Delete", "Help"]
    actions["Run up to here"].trigger()
    result = wait_run(qtbot, window)
    assert set(result.nodes) == {"src", "add"} and window.scene.nodes["add"].state == "done"
    dialogs.text_answer = "Plus three"
    actions["Rename…"].trigger()
    assert window.scene.nodes["add"].title == "Plus three"
    actions["Help"].trigger()
    assert dialogs.kinds()[-1] == "info"
    window.scene.select_nodes(["add"])
    actions["Delete"].trigger()
    assert "add" not in window.document.pipeline and window.document.pipeline.links == []


def test_edits_during_a_run_leave_the_node_stale(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window, slow_steps=60)
    window.run_all()
    qtbot.waitUntil(lambda: window.runner.node_states.get("slow") == E.RUNNING, timeout=10_000)
    window.document.push(C.SetParam("add", "k", 10))  # the run keeps its snapshot
    result = wait_run(qtbot, window)
    assert result.output("add", "table") == 5
    assert window.scene.nodes["add"].state == "stale" and window.scene.nodes["slow"].state == "stale"
    assert window.scene.nodes["src"].state == "done"


def test_pause_and_resume(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    _chain(window, slow_steps=80)
    progress: list[float] = []
    window.runner.events_received.connect(
        lambda events: progress.extend(e.fraction for e in events if isinstance(e, E.Progress))
    )
    window.run_all()
    qtbot.waitUntil(lambda: len(progress) > 3, timeout=10_000)
    pause = window.actions_by_name["pause"]
    pause.trigger()
    assert window.runner.paused and pause.text() == "&Resume" and window.run_label.text() == "Paused"
    qtbot.wait(150)  # let events already sent arrive
    seen = len(progress)
    qtbot.wait(300)
    assert len(progress) == seen  # nothing moves while paused
    pause.trigger()
    assert not window.runner.paused and pause.text() == "&Pause"
    result = wait_run(qtbot, window)
    assert result.status == "ok" and progress[-1] == 1.0
    assert not pause.isEnabled()

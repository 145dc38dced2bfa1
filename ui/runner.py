"""Runs the pipeline in a QThread and turns executor events into throttled signals for GUI-thread slots.

PySide6 runs a worker signal's plain-function or lambda receiver in the worker thread, so every receiver
here is a ``@Slot`` method of a QObject that lives in the GUI thread. The reporter buffers events and emits
one list at most ~30 times a second; a GUI timer flushes the tail. One Executor per document keeps its
output cache, so re-runs only redo what changed.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from workbench import events as E
from workbench import ports
from workbench.execution.context import CancelToken
from workbench.execution.executor import Executor, RunResult
from workbench.graph import Pipeline

Job = Callable[[Pipeline, "QtReporter", CancelToken, str], Any]
EMIT_INTERVAL_S = 1 / 30
GEN2_EVERY = 200  # generation-1 collections per full collection during a run (Python's default: 10)
SWITCH_INTERVAL_S = 0.001  # GIL hand-off wait for the GUI thread (default 5 ms); effect on stalls small
# Held by a run for its whole length and by the app's exporter warm-up: torch.export keeps global tracing
# state that torch's optimiser wrappers in another thread also touch (a run failed with KeyError 'custom' in
# torch.fx.traceback while the warm-up exported). A run waits for a warm-up; a warm-up skips during a run.
TORCH_EXCLUSIVE = threading.Lock()


class QtReporter(QObject):
    """Called by the executor in the worker thread; emits ``events(list)`` at most every EMIT_INTERVAL_S."""

    events = Signal(list)

    def __init__(self, interval_s: float = EMIT_INTERVAL_S) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._buffer: list[E.Event] = []
        self._last = 0.0
        self.emitted = 0  # how many signals were sent (tests check the throttle)

    def __call__(self, event: E.Event) -> None:
        with self._lock:
            self._buffer.append(event)
            due = time.monotonic() - self._last >= self.interval_s
        if due or isinstance(event, E.RunFinished):
            self.flush()

    def flush(self) -> None:
        """Send what is buffered (any thread); receivers are queued into the GUI thread."""
        with self._lock:
            items, self._buffer = self._buffer, []
            self._last = time.monotonic()
        if items:
            self.emitted += 1
            self.events.emit(items)


class RunThread(QThread):
    """Calls ``Executor.run`` once; ``done`` carries the RunResult or the exception that escaped it."""

    done = Signal(object)

    def __init__(
        self,
        executor: Executor,
        pipeline: Pipeline,
        targets: list[str] | None,
        reporter: QtReporter,
        token: CancelToken,
        device: str = "auto",
        job: Job | None = None,
    ) -> None:
        super().__init__()
        self.executor, self.pipeline, self.targets = executor, pipeline, targets
        self.reporter, self.token, self.device = reporter, token, device
        self.job = job

    def run(self) -> None:
        with TORCH_EXCLUSIVE:
            self._run()

    def _run(self) -> None:
        # Objects that exist now (Qt, torch, pandas modules) are not rescanned by the generation-2
        # collections the run's allocations trigger: those scans held the GIL for 50-200 ms (GUI stalls).
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], GEN2_EVERY))
        previous_switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # the GUI thread gets the GIL back sooner
        try:
            if self.job is not None:  # e.g. a sweep: many runs, the same reporter, token and live view
                result: Any = self.job(self.pipeline, self.reporter, self.token, self.device)
            else:
                result = self.executor.run(
                    self.pipeline, self.targets, reporter=self.reporter, token=self.token, device=self.device
                )
        except Exception as exc:  # noqa: BLE001 - e.g. a cycle; the GUI shows it, the app stays alive
            result = exc
        finally:
            sys.setswitchinterval(previous_switch)
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        self.reporter.flush()
        self.done.emit(result)


def snapshot(pipeline: Pipeline) -> Pipeline:
    """An independent copy to run, so edits made during the run cannot race the worker thread."""
    copy = Pipeline.from_json(pipeline.to_json(), pipeline.registry, source="<run snapshot>")
    copy.path = pipeline.path
    return copy


def run_summary(result: RunResult) -> str:
    """The status bar's line: a failure names the node that failed, so it is not read as training's."""
    failures = list(result.failures)
    if result.status == "failed" and failures:
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"Failed at {failures[0]}{more} in {result.seconds:.1f} s"
    word = {"ok": "Finished", "failed": "Failed", "stopped": "Stopped"}.get(result.status, result.status)
    return f"{word} in {result.seconds:.1f} s"


class RunController(QObject):
    """GUI-thread owner of runs: start, stop, state, and fan-out of events to views."""

    started = Signal()
    events_received = Signal(list)  # re-emitted in the GUI thread for views (scene, log, plots)
    finished = Signal(object)  # RunResult, or an Exception when the run could not start
    state_text = Signal(str)

    def __init__(self, registry: Any = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.executor = Executor(registry)
        self.thread: RunThread | None = None
        self.token: CancelToken | None = None
        self.reporter: QtReporter | None = None
        self.last_result: RunResult | None = None
        self.node_states: dict[str, str] = {}
        self._tail = QTimer(self)
        self._tail.setInterval(100)
        self._tail.timeout.connect(self._flush_tail)

    def reset(self, registry: Any = None) -> None:
        """A new document: a new executor (and cache)."""
        self.shutdown()
        self.executor = Executor(registry)
        self.last_result = None
        self.node_states.clear()

    @property
    def is_running(self) -> bool:
        return self.thread is not None and self.thread.isRunning()

    def run(
        self,
        pipeline: Pipeline,
        targets: Iterable[str] | None = None,
        device: str = "auto",
        job: Job | None = None,
    ) -> bool:
        """Start a run of ``pipeline`` (a snapshot of it) in the worker thread; ``job(pipeline, reporter,
        token, device)`` replaces the single run (a sweep) and should return a RunResult to show."""
        if self.thread is not None:
            return False
        try:
            copy = snapshot(pipeline)
        except Exception as exc:  # noqa: BLE001
            self.finished.emit(exc)
            return False
        self.token = CancelToken()
        self.reporter = QtReporter()
        self.reporter.events.connect(self._on_events)
        self.thread = RunThread(
            self.executor,
            copy,
            list(targets) if targets is not None else None,
            self.reporter,
            self.token,
            device,
            job,
        )
        self.thread.done.connect(self._thread_done)
        self.thread.start()
        self._tail.start()
        self.state_text.emit("Running…")
        self.started.emit()
        return True

    def stop(self) -> None:
        """Cooperative: nodes check the token between steps; the run ends as 'stopped'."""
        if self.token is not None and self.is_running:
            self.token.cancel()
            self.state_text.emit("Stopping…")

    @property
    def paused(self) -> bool:
        return self.token is not None and self.is_running and self.token.paused

    def toggle_pause(self) -> bool:
        """Pause (nodes wait at their next check) or resume; returns True when now paused."""
        if self.token is None or not self.is_running:
            return False
        if self.token.paused:
            self.token.resume()
            self.state_text.emit("Running…")
            return False
        self.token.pause()
        self.state_text.emit("Paused")
        return True

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop and join the worker (window closing); True when no thread is left running."""
        thread = self.thread
        if thread is None:
            return True
        if self.token is not None:
            self.token.cancel()
        finished = thread.wait(timeout_ms)
        if finished:
            self._on_done(None)
        return finished

    @Slot()
    def _flush_tail(self) -> None:
        if self.reporter is not None:
            self.reporter.flush()

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, E.NodeStateChanged):
                self.node_states[event.node_id] = event.state
        self.events_received.emit(events)

    @Slot(object)
    def _thread_done(self, result: object) -> None:
        # A run that shutdown() already ended still delivers its queued signal later; taken as the end of
        # the *next* run it reported the old result and blocked the GUI until the new run finished.
        if self.sender() is self.thread:
            self._on_done(result)

    def _on_done(self, result: object) -> None:
        thread, self.thread = self.thread, None
        if thread is None:
            return
        self._tail.stop()
        thread.wait()
        if self.reporter is not None:
            self.reporter.flush()
            self.reporter.events.disconnect(self._on_events)
        self.reporter = None
        if isinstance(result, RunResult):
            self.last_result = result
            self.state_text.emit(run_summary(result))
        elif isinstance(result, Exception):
            self.state_text.emit("Could not run")
        else:  # shut down (window closing, another document): no run goes on
            self.state_text.emit("Stopped")
        if result is not None:
            self.finished.emit(result)
        thread.deleteLater()

    # -- queries for views
    def changed_since_run(self, pipeline: Pipeline) -> set[str]:
        """Nodes whose settings or inputs were edited while the last run used an older copy."""
        try:
            now = self.executor.fingerprints(pipeline)
        except Exception:  # noqa: BLE001
            return set()
        ran = self.executor.last_fingerprints
        return {node_id for node_id, fp in now.items() if node_id in ran and ran[node_id] != fp}

    def cached_output(self, pipeline: Pipeline, node_id: str, port: str) -> Any:
        """The cached output of ``node_id.port`` matching the pipeline as it is now, or None."""
        try:
            fingerprint = self.executor.fingerprints(pipeline, [node_id]).get(node_id)
            entry = self.executor.cache.get(fingerprint) if fingerprint else None
        except Exception:  # noqa: BLE001 - a broken graph (or a cache busy in a run) has no data to show
            return None
        return entry["outputs"].get(port) if entry else None

    def columns_for(self, pipeline: Pipeline, node_id: str, input_port: str) -> list[str] | None:
        """Column names of the value feeding ``node_id``'s ``input_port`` (its type's ``ports.columns_of``),
        when it was computed already."""
        link = pipeline.input_links(node_id).get(input_port)
        if link is None:
            return None
        return ports.columns_of(self.cached_output(pipeline, link.source, link.source_port))

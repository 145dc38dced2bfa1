"""What a running node can see: cancel/pause, reporting, device, folders and path resolution."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import RunCancelled
from workbench.events import Event, LogRecord, MetricsLogged, Progress, Reporter, null_reporter


class CancelToken:
    """Cooperative stop and pause, shared between the thread that runs and the one that asks."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused run must wake up to notice the stop

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self, timeout: float | None = None) -> None:
        self._running.wait(timeout)


@dataclass
class RunContext:
    """Shared by all nodes of one run."""

    reporter: Reporter = null_reporter
    token: CancelToken = field(default_factory=CancelToken)
    device: str = "auto"
    run_dir: Path | None = None
    base_dir: Path | None = None  # folder of the pipeline file, for relative paths (None: unsaved)
    log_lines: list[str] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        if isinstance(event, LogRecord):
            stamp = time.strftime("%H:%M:%S")
            where = f" [{event.node_id}]" if event.node_id else ""
            self.log_lines.append(f"{stamp} {event.level.upper()}{where} {event.message}")
        self.reporter(event)

    def resolve_path(self, value: str | Path, must_exist: bool = True) -> Path:
        return resolve_path(value, self.base_dir, must_exist=must_exist)


def resolve_path(value: str | Path, base_dir: Path | None, must_exist: bool = True) -> Path:
    """A path from a parameter: ``must_exist`` for a file the node reads (pipeline folder, then resources/),
    otherwise a file it writes (the pipeline folder only). See ``workbench.paths.resolve_input``."""
    if must_exist:
        return paths.resolve_input(value, base_dir)
    return paths.resolve_output(value, base_dir)


class NodeContext:
    """The view of the run that one node gets."""

    def __init__(self, run: RunContext, node_id: str, fingerprint: str = "") -> None:
        self.run = run
        self.node_id = node_id
        self.fingerprint = fingerprint  # the node's cache key in this run ("" outside the executor)
        self._node_dir: Path | None = None
        self.artifacts: dict[str, Path] = {}

    @property
    def device(self) -> str:
        return self.run.device

    @property
    def token(self) -> CancelToken:
        return self.run.token

    @property
    def cancelled(self) -> bool:
        return self.run.token.cancelled

    def check_cancelled(self) -> None:
        """Block while paused; raise RunCancelled once a stop was asked for."""
        self.run.token.wait_if_paused()
        if self.run.token.cancelled:
            raise RunCancelled("stopped by the user")

    def log(self, message: str, level: str = "info") -> None:
        self.run.emit(LogRecord(level, message, self.node_id))

    def warn(self, message: str) -> None:
        self.log(message, "warning")

    def progress(
        self,
        fraction: float,
        label: str = "",
        eta_s: float | None = None,
        rate: float | None = None,
        rate_unit: str = "",
        **extra: Any,
    ) -> None:
        self.run.emit(
            Progress(self.node_id, max(0.0, min(1.0, fraction)), label, eta_s, rate, rate_unit, extra)
        )

    def metrics(self, step: int, values: dict[str, float], kind: str = "epoch") -> None:
        self.run.emit(MetricsLogged(self.node_id, step, dict(values), kind))

    def emit(self, event: Event) -> None:
        self.run.emit(event)

    def artifact(self, name: str, path: str | Path) -> None:
        """Record a file or folder this node wrote (listed in the run report)."""
        self.artifacts[name] = Path(path)

    def resolve_path(self, value: str | Path, must_exist: bool = True) -> Path:
        """A file this node reads (``must_exist``: pipeline folder, then resources/), else one it writes."""
        return self.run.resolve_path(value, must_exist=must_exist)

    @property
    def node_dir(self) -> Path:
        """A folder for this node's files in this run (checkpoints, exports by default)."""
        if self._node_dir is None:
            base = self.run.run_dir or paths.runs_dir() / "adhoc"
            self._node_dir = base / "nodes" / self.node_id
            self._node_dir.mkdir(parents=True, exist_ok=True)
        return self._node_dir

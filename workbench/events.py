"""Frozen event objects reported by the executor and the trainer, and the Reporter protocol.

The CLI prints them, the GUI turns them into throttled Qt signals; neither side needs to know the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# Node states, in the order a node normally passes through them.
IDLE = "idle"
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
CACHED = "cached"
FAILED = "failed"
SKIPPED = "skipped"
STALE = "stale"
STOPPED = "stopped"
NODE_STATES = (IDLE, QUEUED, RUNNING, DONE, CACHED, FAILED, SKIPPED, STALE, STOPPED)


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    node_ids: tuple[str, ...]
    run_dir: str


@dataclass(frozen=True)
class NodeStateChanged:
    node_id: str
    state: str
    message: str = ""
    seconds: float | None = None


@dataclass(frozen=True)
class Progress:
    """Progress of a long node. ``fraction`` covers the whole node; the optional fields add detail."""

    node_id: str
    fraction: float
    label: str = ""
    eta_s: float | None = None
    rate: float | None = None
    rate_unit: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsLogged:
    node_id: str
    step: int
    values: Mapping[str, float]
    kind: str = "epoch"  # epoch | batch | final


@dataclass(frozen=True)
class LogRecord:
    level: str  # debug | info | warning | error
    message: str
    node_id: str = ""


@dataclass(frozen=True)
class RunFinished:
    """The end of a run. ``status`` is ok, failed or stopped."""

    run_id: str
    status: str
    seconds: float
    report: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitStarted:
    """Training began: what it runs on, as fields (the status bar once parsed these out of a log line)."""

    node_id: str
    device: str  # a person's name for it: "cpu (1 thread)", "cuda:0 NVIDIA H200"
    precision: str  # fp32 | bf16 | fp16
    parameters: int = 0
    batch_size: int = 0
    epochs: int | None = None  # None: automatic (until the validation loss stops improving)


Event = RunStarted | NodeStateChanged | Progress | MetricsLogged | LogRecord | FitStarted | RunFinished


class Reporter(Protocol):
    def __call__(self, event: Event) -> None: ...


def null_reporter(event: Event) -> None:
    """A reporter that drops everything (tests, library use)."""


class CollectingReporter:
    """Keeps every event in a list; for tests and for the run log."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

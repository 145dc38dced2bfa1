"""Python's cyclic garbage collector, run only in the GUI thread while a window is open.

Why: the collector runs in whichever thread happens to allocate when a threshold is crossed. When that is a
worker (the run thread, a file-reading thread) and the garbage holds Qt widgets, their C++ destructors run in
the worker: one took a Qt mutex and waited for the GIL while the GUI thread, holding the GIL, waited for that
mutex in another destructor — a deadlock seen in CI (a test hung in ``QObject::~QObject``). So while a main
window exists, automatic collection is off and a GUI-thread timer collects generation by generation as the
thresholds say (the run thread's raised generation-2 threshold still applies); worker code that wants a full
collection skips it (``workbench.engine.device.collect_garbage``). The last window closing turns automatic
collection back on.
"""

from __future__ import annotations

import gc

import shiboken6
from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 100

_state: dict[str, object] = {"windows": 0, "timer": None, "was_enabled": True}


def collect_due() -> None:
    """Collect the generations whose thresholds are passed (what automatic collection would do)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    generation = -1
    for level in range(3):
        if thresholds[level] and counts[level] > thresholds[level]:
            generation = level
    if generation >= 0:
        gc.collect(generation)


def install(window: QObject) -> None:
    """Collect in the GUI thread for as long as ``window`` (and any other installed window) lives."""
    if _state["windows"] == 0:
        _state["was_enabled"] = gc.isenabled()
        timer = QTimer()
        timer.setInterval(INTERVAL_MS)
        timer.timeout.connect(collect_due)
        timer.start()
        _state["timer"] = timer
        gc.disable()
    _state["windows"] = int(_state["windows"]) + 1  # type: ignore[call-overload]
    window.destroyed.connect(_window_gone)


def _window_gone(*_args: object) -> None:
    _state["windows"] = max(0, int(_state["windows"]) - 1)  # type: ignore[call-overload]
    if _state["windows"] == 0:
        timer = _state["timer"]
        if isinstance(timer, QTimer) and shiboken6.isValid(timer):  # at exit Qt may have deleted it already
            timer.stop()
        _state["timer"] = None
        if _state["was_enabled"]:
            gc.enable()

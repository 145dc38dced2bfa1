"""While a window lives, cyclic garbage is collected in the GUI thread only (a collection in a worker thread
destroyed Qt widgets there and deadlocked a test in CI); the last window gone, automatic collection is back."""

from __future__ import annotations

import gc
import threading
import weakref

import shiboken6
from PySide6.QtCore import QObject
from test_ui_support import make_window

from ui import gc_guard
from workbench.engine.device import collect_garbage


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_collection_happens_in_the_gui_thread_while_a_window_lives(qtbot, tmp_path) -> None:
    window, _ = make_window(qtbot, tmp_path)
    assert not gc.isenabled()
    seen: list[bool] = []

    def note(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(threading.current_thread() is threading.main_thread())

    gc.callbacks.append(note)
    try:
        refs = []

        def worker() -> None:  # allocates far past every threshold, and asks for a full collection
            for _ in range(50_000):
                refs.append(weakref.ref(Cycle()))
            collect_garbage()

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert seen == []  # the worker never collected
        qtbot.waitUntil(lambda: all(r() is None for r in refs[:100]), timeout=30_000)
        assert seen and all(seen)  # the timer in the GUI thread did
    finally:
        gc.callbacks.remove(note)


def test_automatic_collection_returns_when_the_last_window_is_gone(qtbot) -> None:
    qtbot.waitUntil(lambda: gc_guard._state["windows"] == 0, timeout=30_000)  # earlier windows deleted
    gc.enable()  # as in the app before a window (conftest turns it off for Qt tests; it restores it after)
    owner = QObject()
    gc_guard.install(owner)
    assert not gc.isenabled()
    shiboken6.delete(owner)  # emits destroyed now
    assert gc.isenabled()

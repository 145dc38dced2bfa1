"""Test setup shared by every test: headless Qt, a private user-data folder, fake nodes on the path."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything imports Qt: no display here or in CI.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Runs, recovery files and settings of tests never touch the real user folders.
_DATA = tempfile.mkdtemp(prefix="workbench-tests-")
os.environ["WORKBENCH_DATA_DIR"] = _DATA
os.environ.setdefault("XDG_CONFIG_HOME", str(Path(_DATA) / "config"))

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user-data folder for tests that look at runs or recovery files."""
    folder = tmp_path / "userdata"
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _one_torch_thread() -> None:
    """Two cores are shared by the test run; one thread keeps timings steady (no effect if torch is absent)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _qt_garbage_in_the_gui_thread(request: pytest.FixtureRequest):
    """In a Qt test, cyclic garbage is collected only in the GUI thread, as the app does (ui/gc_guard.py).

    Left to chance, a worker thread's allocation collected a finished test's views and Shiboken crashed
    (``runDeletionInMainThread``) in a later test. So automatic collection is off while a Qt test runs, a
    GUI-thread timer collects when the thresholds say, and the test's leftovers are collected here after it.
    """
    if "qtbot" not in request.fixturenames:
        yield
        return
    import gc

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui import gc_guard

    request.getfixturevalue("qapp")  # the timer needs the application's event loop
    was_enabled = gc.isenabled()
    gc.disable()
    timer = QTimer()
    timer.setInterval(gc_guard.INTERVAL_MS)
    timer.timeout.connect(gc_guard.collect_due)
    timer.start()
    try:
        yield
    finally:
        timer.stop()
        QApplication.processEvents()
        gc.collect()
        if was_enabled:
            gc.enable()

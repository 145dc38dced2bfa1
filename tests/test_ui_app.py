"""App start: fast window without torch, a file from argv, first start opens the examples, settings kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from test_ui_support import ScriptedDialogs, ui_registry

from ui import app as app_module
from workbench import commands as C
from workbench.graph import Pipeline

ROOT = Path(__file__).resolve().parent.parent


def test_window_shows_before_torch_is_imported(tmp_path):
    """How fast it shows is a benchmark (benchmarks/bench_ui.py --only window), not a timed test."""
    env = {
        **os.environ,
        "WORKBENCH_STARTUP_REPORT": "1",
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path),
        "WORKBENCH_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", "import ui.app, sys; sys.exit(ui.app.main([]))"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch_imported_before_show"] is False
    assert report["window_shown_s"] > 0, report  # measured from the process start to the first paint


def _window(qtbot, files, registry=None):
    window = app_module.create_window(files, registry or ui_registry())
    dialogs = ScriptedDialogs()
    window.dialogs = dialogs  # before the queued after-show step runs
    qtbot.addWidget(window)
    return window, dialogs


def test_file_from_argv_is_opened(qtbot, tmp_path, data_dir):
    pipeline = Pipeline(ui_registry())
    pipeline.add("fake.source", "src")
    path = tmp_path / "given.json"
    pipeline.save(path)
    window, _ = _window(qtbot, [str(path)])
    qtbot.waitUntil(lambda: window.document.path == path.resolve(), timeout=30_000)
    assert set(window.scene.nodes) == {"src"}
    assert window.shown_s > 0
    assert any("Window shown" in line for line in window.log.lines())


def test_broken_file_from_argv_shows_error_and_keeps_file(qtbot, tmp_path, data_dir):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    window, dialogs = _window(qtbot, [str(path)])
    qtbot.waitUntil(lambda: "error" in dialogs.kinds(), timeout=30_000)
    assert path.read_text() == "{not json"
    assert window.document.path is None


def test_first_start_opens_the_quick_start_example(qtbot, tmp_path, data_dir, monkeypatch):
    resources = tmp_path / "resources"
    (resources / "examples").mkdir(parents=True)
    example = Pipeline(ui_registry())
    example.add("fake.source", "src")
    example.add("fake.add", "add")
    example.connect("src.table", "add.table")
    example.save(resources / "examples" / "quick_start.json")
    monkeypatch.setenv("WORKBENCH_RESOURCES", str(resources))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    QSettings().remove("started_before")
    window, _ = _window(qtbot, [])
    qtbot.waitUntil(lambda: len(window.scene.nodes) == 2, timeout=30_000)
    assert window.document.path is None  # an untitled copy: Save asks for a new name
    assert not window.document.dirty
    window.document.push(C.SetParam("add", "k", 1))
    assert window.document.dirty
    assert QSettings().value("started_before", False, type=bool)
    window.document.undo()


def test_layout_is_kept_in_settings(qtbot, tmp_path, data_dir):
    from test_ui_support import make_window

    window, _ = make_window(qtbot, tmp_path)
    window.docks["palette"].hide()
    window.close()
    again, _ = make_window(qtbot, tmp_path)
    assert again.docks["palette"].isHidden()


def test_preferences_choose_the_run_device_and_theme(qtbot, tmp_path, data_dir):
    from test_ui_support import make_window

    from ui import theme

    window, dialogs = make_window(qtbot, tmp_path)
    dialogs.preference_answers = {"device": "cpu", "theme": "dark"}
    try:
        assert window.edit_preferences()
        assert window.settings.value("run/device") == "cpu" and theme.is_dark()
        window.document.push(C.AddNode("fake.source", node_id="src"))
        window.run_all()
        assert window.runner.thread.device == "cpu"
        qtbot.waitUntil(lambda: window.runner.thread is None, timeout=10_000)
        assert window.runner.last_result.status == "ok"
    finally:
        dialogs.preference_answers = {"theme": "system"}
        window.edit_preferences()
    assert window.settings.value("ui/theme") == "system"

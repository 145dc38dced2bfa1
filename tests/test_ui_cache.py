"""In the app, with the window kept open: editing a data file between two runs is seen by the second run,
also for a file reached through the bundled resources/ fallback and when the bytes change but not the
size or the modification time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from test_ui_support import ScriptedDialogs, wait_run

from ui.main_window import MainWindow
from workbench import events as E
from workbench.graph import Pipeline
from workbench.registry import builtin_registry

CSV = "x,y\n1,10\n2,20\n3,30\n"


@pytest.fixture
def window(qtbot, tmp_path, data_dir, monkeypatch):
    resources = tmp_path / "resources"
    (resources / "datasets").mkdir(parents=True)
    (resources / "datasets" / "x.csv").write_text(CSV)
    monkeypatch.setenv("WORKBENCH_RESOURCES", str(resources))
    pipeline = Pipeline(builtin_registry())
    pipeline.add("data.file", "file", path="datasets/x.csv")  # only under resources/, not beside the file
    pipeline.save(tmp_path / "project" / "p.pipeline.json")

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(builtin_registry(), settings)
    win.dialogs = ScriptedDialogs()  # type: ignore[assignment]
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    assert win.files.open(tmp_path / "project" / "p.pipeline.json", ask=False)
    yield win
    win.runner.shutdown()


def _run(qtbot, win):
    with qtbot.waitSignal(win.runner.finished, timeout=60_000):
        assert win.run_all()
    result = wait_run(qtbot, win, timeout=60_000)
    assert result.status == "ok", result.failures
    return result


def test_editing_the_csv_between_two_runs_is_seen_by_the_second(qtbot, window, tmp_path):
    csv = tmp_path / "resources" / "datasets" / "x.csv"
    first = _run(qtbot, window)
    assert first.output("file", "table")["y"].tolist() == [10, 20, 30]
    assert window.scene.nodes["file"].state == E.DONE

    before = csv.stat()
    csv.write_text(CSV.replace("20", "99"))  # same size
    os.utime(csv, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime, to the nanosecond
    second = _run(qtbot, window)

    assert second.nodes["file"].state == E.DONE
    assert window.scene.nodes["file"].state == E.DONE  # not "cached"
    assert second.output("file", "table")["y"].tolist() == [10, 99, 30]
    assert window.panels.outputs_of("file")["table"]["y"].tolist() == [10, 99, 30]  # what the data view shows
    assert Path(window.document.path) == tmp_path / "project" / "p.pipeline.json"

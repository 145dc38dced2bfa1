"""Start-up recovery survives damaged recovery files; a failed save says one line and keeps the work unsaved."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from test_ui_support import ScriptedDialogs, make_window, ui_registry

from ui import app as app_module
from ui import dialogs as D
from workbench import commands as C
from workbench.graph import Pipeline
from workbench.project import list_recoveries, load_pipeline, recovery_file, write_recovery

DEAD_PID = 2**22 + 12345  # a process that does not exist


def crashed_copy(name: str, node_id: str, **fields: object) -> Path:
    """A recovery file as a crashed session leaves it, in the test's user-data folder."""
    pipeline = Pipeline(ui_registry())
    pipeline.add("fake.source", node_id)
    target = recovery_file(name)
    write_recovery(pipeline, target)
    doc = json.loads(target.read_text())
    doc.update({"pid": DEAD_PID, **fields})
    target.write_text(json.dumps(doc))
    return target


def start_app(qtbot):
    window = app_module.create_window([], ui_registry())
    dialogs = ScriptedDialogs()
    window.dialogs = dialogs  # before the queued after-show step runs
    qtbot.addWidget(window)
    return window, dialogs


def test_start_up_skips_damaged_recovery_files_and_offers_the_good_one(qtbot, data_dir):
    good = crashed_copy("good", "kept_by_autosave")
    damaged = {
        "list": b"[1, 2]",
        "deep": b'{"pipeline": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "latin1": '{"pid": 1, "original": "café"}'.encode("latin-1"),
        "truncated": good.read_bytes()[:50],
    }
    for name, blob in damaged.items():
        recovery_file(name).write_bytes(blob)
    window, dialogs = start_app(qtbot)
    qtbot.waitUntil(lambda: "kept_by_autosave" in window.scene.nodes, timeout=5000)
    assert [r.path for kind, r in dialogs.asked if kind == "recovery"] == [good]
    assert window.document.dirty
    lines = window.log.lines()
    for name in damaged:
        (line,) = [s for s in lines if str(recovery_file(name)) in s]
        assert "unreadable recovery file" in line
        assert recovery_file(name).read_bytes() == damaged[name]  # left for the user, never deleted
    assert not good.exists()  # consumed: the restored document autosaves to its own file
    window.document.close()


def test_start_up_offers_a_crashed_session_that_had_our_pid(qtbot, data_dir):
    """In a container every start gets the same pid: the old file must not pass for this session's own."""
    crashed_copy("same-pid", "from_before", pid=os.getpid(), session="earlier")
    window, dialogs = start_app(qtbot)
    qtbot.waitUntil(lambda: "from_before" in window.scene.nodes, timeout=5000)
    assert dialogs.kinds().count("recovery") == 1
    window.document.close()


def test_a_copy_that_cannot_be_restored_is_reported_and_the_next_offered(qtbot, tmp_path, data_dir):
    broken = crashed_copy("b-broken", "x", saved_at=2e9)  # the newest: offered first
    doc = json.loads(broken.read_text())
    doc["pipeline"]["nodes"] = "not a list"
    broken.write_text(json.dumps(doc))
    crashed_copy("a-good", "restored")
    window, dialogs = make_window(qtbot, tmp_path)
    dialogs.recovery_answer = D.RESTORE
    assert window.files.offer_recovery()
    assert "restored" in window.scene.nodes
    (error,) = [text for kind, text in dialogs.asked if kind == "error"]
    assert error.startswith(str(broken)) and "\n" not in error
    assert broken.exists()


def edited_window(qtbot, tmp_path):
    window, dialogs = make_window(qtbot, tmp_path)
    window.document.push(C.AddNode("fake.source", node_id="work"))
    assert window.document.dirty
    return window, dialogs


def assert_not_saved(window, dialogs) -> str:
    (error,) = [text for kind, text in dialogs.asked if kind == "error"]
    assert error.startswith("Not saved: ") and "\n" not in error
    assert window.document.dirty and window.isWindowModified()
    assert window.document.recovery_path.exists()  # the autosaved copy is still there
    assert any(error in line for line in window.log.lines())
    return error


def test_saving_into_a_read_only_folder_keeps_the_work_unsaved(qtbot, tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    real_open = os.open

    def refuse_temp(name, *args, **kwargs):  # a read-only folder, also when tests run as root
        if str(name).startswith(str(folder)):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    window, dialogs = edited_window(qtbot, tmp_path)
    dialogs.save_answer = folder / "work.json"
    monkeypatch.setattr(os, "open", refuse_temp)
    assert not window.files.save()
    monkeypatch.undo()
    error = assert_not_saved(window, dialogs)
    assert "Permission denied" in error and str(folder) in error
    assert list(folder.iterdir()) == []
    assert window.files.save_as()  # once the folder takes files, the same Save works
    assert not window.document.dirty
    assert {n.id for n in load_pipeline(folder / "work.json", ui_registry()).nodes} == {"work"}


def test_saving_onto_a_folder_keeps_the_work_unsaved(qtbot, tmp_path, data_dir):
    folder = tmp_path / "looks-like-a-file.json"
    folder.mkdir()
    window, dialogs = edited_window(qtbot, tmp_path)
    dialogs.save_answer = folder
    assert not window.files.save()
    assert "folder" in assert_not_saved(window, dialogs)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert window.document.path is None


def test_a_value_that_cannot_be_saved_is_one_line_not_a_crash(qtbot, tmp_path, data_dir):
    window, dialogs = edited_window(qtbot, tmp_path)
    window.document.pipeline.node("work").params["note"] = {1j}  # not JSON, slipped in by a plugin
    dialogs.save_answer = tmp_path / "work.json"
    assert not window.files.save()
    assert "cannot save" in assert_not_saved(window, dialogs)
    assert not (tmp_path / "work.json").exists()
    assert window.document.push(C.AddNode("fake.source", node_id="more"))  # autosaves: must not raise
    assert "Autosave failed" in window.statusBar().currentMessage()


def test_save_through_a_symlink_keeps_the_link_and_its_mode(qtbot, tmp_path, data_dir):
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "work.json"
    real.write_text("{}")
    real.chmod(0o600)
    link = tmp_path / "work.json"
    link.symlink_to(real)
    window, dialogs = edited_window(qtbot, tmp_path)
    dialogs.save_answer = link
    assert window.files.save()
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real.stat().st_mode & 0o777) == 0o600
    assert {n.id for n in load_pipeline(link, ui_registry()).nodes} == {"work"}
    assert not window.document.dirty and list_recoveries(include_live=True) == []

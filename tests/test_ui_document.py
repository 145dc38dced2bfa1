"""No lost work: undo/redo of every command through the UI, save/open, autosave recovery, prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PySide6.QtCore import QPointF
from test_ui_support import drag, make_window, port_pos, ui_registry

from ui import dialogs as D
from ui.document import Document
from workbench import commands as C
from workbench.project import dumps, list_recoveries, load_pipeline

ROOT = Path(__file__).resolve().parent.parent


def test_undo_redo_every_command_type_through_the_ui(qtbot, tmp_path):
    window, dialogs = make_window(qtbot, tmp_path)
    doc = window.document
    states = [dumps(doc.pipeline)]

    def step() -> None:
        states.append(dumps(doc.pipeline))
        assert states[-1] != states[-2], "the UI action changed nothing"

    window.view.add_node("fake.source", QPointF(0, 0))  # AddNode (palette/quick-add path)
    step()
    window.view.add_node("fake.add", QPointF(400, 40))
    step()
    drag(qtbot, window, port_pos(window, "source", "table", True), port_pos(window, "add", "table", False))
    step()  # Connect
    window.scene.select_nodes(["add"])
    assert window.inspector.commit("k", 5)  # SetParam
    step()
    title = window.scene.nodes["add"].mapToScene(QPointF(60, 12))
    drag(qtbot, window, title, title + QPointF(80, 80))
    step()  # MoveNodes
    dialogs.text_answer = "Adder"
    window.edits.rename("add")
    step()  # RenameNode
    window.scene.select_nodes(["source", "add"])
    window.edits.duplicate()
    step()  # PasteGroup
    drag(qtbot, window, port_pos(window, "add_2", "table", True), QPointF(900, 500))
    window.scene.offer_menu.actions()[0].trigger()
    window.scene.offer_menu.close()
    step()  # Macro (AddNode + Connect)
    window.scene.clearSelection()
    window.scene.links[doc.pipeline.links[0]].setSelected(True)
    window.actions_by_name["delete"].trigger()
    step()  # Disconnect
    window.scene.select_nodes(["source_2"])
    window.actions_by_name["delete"].trigger()
    step()  # RemoveNodes (with its wire)

    for expected in reversed(states[:-1]):
        window.actions_by_name["undo"].trigger()
        assert dumps(doc.pipeline) == expected
    assert not doc.dirty and not window.isWindowModified()
    for expected in states[1:]:
        window.actions_by_name["redo"].trigger()
        assert dumps(doc.pipeline) == expected
    assert set(window.scene.nodes) == {n.id for n in doc.pipeline.nodes}
    assert set(window.scene.links) == set(doc.pipeline.links)
    assert doc.dirty and window.isWindowModified() and "*" in window.windowTitle()


def _build(doc: Document) -> None:
    doc.push(C.AddNode("fake.source", (10, 20), node_id="src", params={"value": 4}))
    doc.push(C.AddNode("fake.add", (300, 20), node_id="add"))
    doc.push(C.Connect("src", "table", "add", "table"))


def test_save_and_open_round_trip(qtbot, tmp_path, data_dir):
    window, dialogs = make_window(qtbot, tmp_path)
    _build(window.document)
    target = tmp_path / "p.json"
    dialogs.save_answer = target
    assert window.files.save()
    assert not window.document.dirty and window.windowTitle().startswith("p.json")
    saved = target.read_text()
    assert json.loads(saved)["links"] == [{"from": ["src", "table"], "to": ["add", "table"]}]
    window.files.new()
    assert window.document.pipeline.nodes == [] and window.scene.nodes == {}
    dialogs.open_answer = target
    assert window.files.open()
    assert json.loads(dumps(window.document.pipeline)) == json.loads(saved)
    assert set(window.scene.nodes) == {"src", "add"} and len(window.scene.links) == 1
    assert window.files.recent()[0] == str(target.resolve())
    # Save again: still the same file content, written atomically (no temp files left).
    window.files.save()
    assert json.loads(target.read_text()) == json.loads(saved)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".p.json")] == []


def test_unsaved_changes_prompt_on_new_open_and_close(qtbot, tmp_path, data_dir):
    window, dialogs = make_window(qtbot, tmp_path)
    _build(window.document)
    dialogs.unsaved_answer = D.CANCEL
    assert not window.files.new()
    assert not window.files.open(tmp_path / "whatever.json")
    assert not window.close()
    assert dialogs.kinds() == ["unsaved", "unsaved", "unsaved"]
    assert len(window.document.pipeline.nodes) == 2
    # Save from the prompt: asks for a name, writes, then goes on.
    dialogs.unsaved_answer = D.SAVE
    dialogs.save_answer = tmp_path / "kept.json"
    assert window.files.new()
    assert load_pipeline(tmp_path / "kept.json").node("add").type == "fake.add"
    # Discard: no file written, document replaced.
    _build(window.document)
    dialogs.unsaved_answer = D.DISCARD
    assert window.close()
    assert not (tmp_path / "untitled.json").exists()


def test_pipeline_that_fails_to_load_is_left_untouched(qtbot, tmp_path, data_dir):
    window, dialogs = make_window(qtbot, tmp_path)
    _build(window.document)
    broken = tmp_path / "broken.json"
    content = b'{"format_version": 1, "nodes": [{"id": "a", "type": "fake.source"}], "links": [{"from": ["a"'
    broken.write_bytes(content)
    before = broken.stat().st_mtime_ns
    dialogs.unsaved_answer = D.DISCARD
    assert not window.files.open(broken)
    assert broken.read_bytes() == content and broken.stat().st_mtime_ns == before
    errors = [text for kind, text in dialogs.asked if kind == "error"]
    assert errors and "broken.json" in errors[0] and "line 1" in errors[0]
    assert "broken.json" in window.statusBar().currentMessage()
    assert len(window.document.pipeline.nodes) == 2  # the current work stays open
    # Saving the current document afterwards never writes to the broken file.
    dialogs.save_answer = tmp_path / "other.json"
    window.files.save()
    assert broken.read_bytes() == content


def test_autosave_timer_and_structural_edits_write_recovery(qtbot, tmp_path, data_dir):
    doc = Document(registry=ui_registry(), autosave_ms=50)
    doc.push(C.AddNode("fake.source", node_id="src"))  # structural: written at once
    assert json.loads(doc.recovery_path.read_text())["pipeline"]["nodes"][0]["id"] == "src"
    doc.push(C.SetParam("src", "value", 9))  # not structural: the timer writes it
    qtbot.waitUntil(
        lambda: '"value": 9' in doc.recovery_path.read_text().replace('"value":9', '"value": 9'), timeout=2000
    )
    doc.save(tmp_path / "s.json")
    assert not doc.recovery_path.exists()  # saved: nothing to recover
    doc.close()


CRASHING_SESSION = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {tests!r})
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from test_ui_support import ui_registry
    from ui.document import Document
    from workbench import commands as C
    from workbench.project import save_pipeline
    doc = Document.open({original!r}, ui_registry())
    doc.push(C.AddNode("fake.add", (300, 0), node_id="added_before_crash"))
    doc.push(C.Connect("src", "table", "added_before_crash", "table"))
    os._exit(3)  # a crash: no close, no save
""")


def test_recovery_after_a_simulated_crash(qtbot, tmp_path, data_dir):
    original = tmp_path / "work.json"
    seed = Document(registry=ui_registry())
    seed.push(C.AddNode("fake.source", node_id="src"))
    seed.save(original)
    seed.close()
    saved = original.read_text()
    script = CRASHING_SESSION.format(tests=str(ROOT / "tests"), original=str(original))
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 3
    assert original.read_text() == saved  # the crash never touched the file
    assert len(list_recoveries()) == 1

    window, dialogs = make_window(qtbot, tmp_path)
    dialogs.recovery_answer = D.RESTORE
    assert window.files.offer_recovery()
    doc = window.document
    assert {n.id for n in doc.pipeline.nodes} == {"src", "added_before_crash"}
    assert len(window.scene.links) == 1
    assert doc.path == original.resolve() and doc.dirty and window.isWindowModified()
    assert list_recoveries() == []  # its own autosave is live, the crashed one is consumed
    window.files.save()
    assert {n.id for n in load_pipeline(original, ui_registry()).nodes} == {"src", "added_before_crash"}


def test_recovery_can_be_discarded_or_postponed(qtbot, tmp_path, data_dir):
    from workbench.project import recovery_file, write_recovery

    seed = Document(registry=ui_registry())
    seed.push(C.AddNode("fake.source", node_id="src"))
    target = recovery_file("crashed-session")
    write_recovery(seed.pipeline, target)
    doc = json.loads(target.read_text())
    doc["pid"] = 2**22 + 12345  # a process that does not exist
    target.write_text(json.dumps(doc))
    seed.close()
    window, dialogs = make_window(qtbot, tmp_path)
    dialogs.recovery_answer = D.LATER
    assert not window.files.offer_recovery() and target.exists()
    dialogs.recovery_answer = D.DISCARD
    assert not window.files.offer_recovery() and not target.exists()
    assert window.document.pipeline.nodes == []

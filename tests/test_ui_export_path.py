"""The inspector and the canvas flag an export path that would write into the user's own folders."""

from __future__ import annotations

from pathlib import Path

from test_ui_support import make_window

from ui.document import Document
from workbench import commands as C
from workbench.graph import Pipeline


def test_export_path_problems_show_on_the_node_and_in_the_inspector(qtbot, tmp_path: Path) -> None:
    pipeline = Pipeline()
    pipeline.add("deploy.export", "export", path=".")
    path = tmp_path / "p.pipeline.json"
    pipeline.save(path)
    document = Document.open(path, recovery_dir=tmp_path / "recovery")
    window, _ = make_window(qtbot, tmp_path, document)
    window.scene.select_nodes(["export"])
    label = window.inspector.problem_labels["path"]
    assert not label.isHidden() and "the pipeline's own folder" in label.text()
    assert any("pipeline's own folder" in p for p in window.scene.nodes["export"].problems)
    window.document.push(C.SetParam("export", "path", "bundle"))
    assert label.isHidden()
    assert not any("path" in p for p in window.scene.nodes["export"].problems)

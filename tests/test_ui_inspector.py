"""The inspector: a form from param specs, every change an undoable SetParam, inline problems, layer stacks."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QSpinBox
from test_ui_support import make_window, wait_run

from ui.inspector.editors import ColumnsEditor, FloatEditor, IntEditor, ListEditor
from workbench import commands as C


def _select(window, type_id, node_id, **params):
    window.document.push(C.AddNode(type_id, (0, 0), node_id=node_id, params=params))
    window.scene.select_nodes([node_id])
    assert window.inspector.node_id == node_id
    return window.inspector


def test_editing_a_parameter_is_an_undoable_command(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    inspector = _select(window, "fake.add", "add")
    editor = inspector.editors["k"]
    assert isinstance(editor, IntEditor)
    spin: QSpinBox = editor.widget
    spin.setValue(3)
    spin.setValue(4)  # consecutive edits of one field merge into one step
    assert window.document.pipeline.node("add").params["k"] == 4
    mode: QComboBox = inspector.editors["mode"].widget
    mode.setCurrentIndex(1)
    mode.activated.emit(1)
    assert window.document.pipeline.node("add").params["mode"] == "minus"
    assert "Mode: minus" in window.scene.nodes["add"]._summary
    window.document.undo()
    assert mode.currentData() == "plus"
    window.document.undo()
    assert window.document.pipeline.node("add").params["k"] == 0 and spin.value() == 0
    window.document.redo()
    assert spin.value() == 4


def test_text_fields_coerce_and_show_problems_inline(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    inspector = _select(window, "fake.mlp", "mlp")
    editor = inspector.editors["lr"]
    assert isinstance(editor, FloatEditor)
    editor.edit.setText("1e-3")
    editor.edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").params["lr"] == 0.001
    editor.edit.setText("fast")
    editor.edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").params["lr"] == 0.001  # not applied
    problem = inspector.problem_labels["lr"]
    assert not problem.isHidden() and "expected a number" in problem.text()
    editor.edit.setText("-1")
    editor.edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").params["lr"] == -1.0
    assert "below the minimum" in problem.text() and not problem.isHidden()
    assert any("below the minimum" in p for p in window.scene.nodes["mlp"].problems)
    window.document.undo()
    assert problem.isHidden() and editor.edit.text() == "0.001"
    assert "Range" in editor.edit.toolTip()


def test_layer_stack_editor(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    inspector = _select(window, "fake.mlp", "mlp")
    editor = inspector.editors["layers"]
    assert isinstance(editor, ListEditor)
    stack = editor.widget
    assert stack.table.rowCount() == 1
    stack.table.selectRow(0)
    stack.add_row()
    layers = window.document.pipeline.node("mlp").params["layers"]
    assert layers == [{"units": 64, "activation": "relu"}, {"units": 64, "activation": "relu"}]
    stack.table.item(1, 0).setText("32")
    box: QComboBox = stack.table.cellWidget(1, 1)
    box.setCurrentIndex(2)
    box.activated.emit(2)
    assert window.document.pipeline.node("mlp").params["layers"][1] == {"units": 32, "activation": "tanh"}
    assert "Layers: 64, 32" in window.scene.nodes["mlp"]._summary
    stack.table.selectRow(1)
    stack.move_row(-1)
    assert [r["units"] for r in window.document.pipeline.node("mlp").params["layers"]] == [32, 64]
    stack.remove_row()
    stack.remove_row()
    assert window.document.pipeline.node("mlp").params["layers"] == []
    assert "at least 1" in inspector.problem_labels["layers"].text()
    for _ in range(6):  # add, units, activation, move, remove, remove
        window.document.undo()
    assert window.document.pipeline.node("mlp").params["layers"] == [{"units": 64, "activation": "relu"}]
    assert stack.table.rowCount() == 1


def test_column_pickers_offer_upstream_columns_after_a_run(qtbot, tmp_path, data_dir):
    window, _ = make_window(qtbot, tmp_path)
    window.document.push(C.AddNode("fake.frame", (0, 0), node_id="frame"))
    inspector = _select(window, "fake.mlp", "mlp")
    window.document.push(C.Connect("frame", "table", "mlp", "table"))
    assert inspector.editors["target"].model.stringList() == []  # nothing known before a run
    window.run_to("frame")
    wait_run(qtbot, window)
    target = inspector.editors["target"]  # the open form learns the columns when the run ends
    assert target.model.stringList() == ["age", "income", "label"]
    target.edit.setText("label")
    target.edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").params["target"] == "label"
    features = inspector.editors["features"]
    assert isinstance(features, ColumnsEditor) and features.button.isEnabled()
    features.edit.setText("age, income")
    features.edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").params["features"] == ["age", "income"]


def test_rename_help_and_selection(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    inspector = _select(window, "fake.mlp", "mlp")
    inspector.title_edit.setText("Main model")
    inspector.title_edit.editingFinished.emit()
    assert window.document.pipeline.node("mlp").title == "Main model"
    assert window.scene.nodes["mlp"].title == "Main model"
    window.document.undo()
    assert inspector.title_edit.text() == "" and window.scene.nodes["mlp"].title == "MLP"
    text = inspector.widget().findChildren(type(inspector.state_label))
    assert any("A stack of dense layers." in label.text() for label in text)
    window.edits.show_help("mlp")
    assert "Layers" in window.dialogs.asked[-1][1]
    window.scene.clearSelection()
    assert inspector.node_id is None
    window.scene.select_nodes(["mlp"])
    window.document.push(C.RemoveNodes(["mlp"]))
    assert inspector.node_id is None


def test_bool_editor(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    inspector = _select(window, "fake.mlp", "mlp")
    box = inspector.editors["shuffle"].widget
    assert box.isChecked()
    box.click()
    assert window.document.pipeline.node("mlp").params["shuffle"] is False
    box.click()
    window.document.undo()
    assert window.document.pipeline.node("mlp").params["shuffle"] is False and not box.isChecked()

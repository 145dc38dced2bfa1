"""Canvas behaviour through real Qt events: palette drops, wiring with the mouse, refusals, moves, menus."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication
from test_ui_support import drag, make_window, port_pos, vpos

from ui.canvas.port_item import COMPATIBLE, DIMMED
from ui.palette import MIME_NODE_TYPE
from workbench import commands as C
from workbench.graph import Link


def _drop(window, mime: QMimeData, at: QPoint) -> QDropEvent:
    viewport = window.view.viewport()
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(
        QPointF(at), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(at), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    return drop


def test_palette_drop_creates_node_where_dropped(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    item = window.palette.item_for("fake.add")
    mime = window.palette.tree.mimeData([item])
    assert bytes(mime.data(MIME_NODE_TYPE).data()) == b"fake.add"
    at = QPoint(300, 200)
    _drop(window, mime, at)
    nodes = window.document.pipeline.nodes
    assert [n.type for n in nodes] == ["fake.add"]
    scene_at = window.view.mapToScene(at)
    assert abs(nodes[0].position[0] - (scene_at.x() - 100)) < 1
    assert abs(nodes[0].position[1] - (scene_at.y() - 20)) < 1
    assert window.scene.selected_node_ids() == [nodes[0].id]
    assert window.inspector.node_id == nodes[0].id  # the inspector follows the new selection
    window.document.undo()
    assert window.document.pipeline.nodes == [] and window.scene.nodes == {}


def test_palette_double_click_enter_and_search(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    window.palette.search.setText("slow")
    assert window.palette.visible_type_ids() == ["fake.slow"]
    window.palette.search.returnPressed.emit()
    tree = window.palette.tree
    item = window.palette.item_for("fake.sink")
    window.palette.search.clear()
    tree.setCurrentItem(item)
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    tree.itemActivated.emit(window.palette.item_for("fake.source"), 0)
    assert [n.type for n in window.document.pipeline.nodes] == ["fake.slow", "fake.sink", "fake.source"]


def _two_nodes(window):
    doc = window.document
    doc.push(C.AddNode("fake.source", (0, 0), node_id="src"))
    doc.push(C.AddNode("fake.add", (320, 60), node_id="add"))
    doc.push(C.AddNode("fake.model", (640, 0), node_id="m"))
    window.view.zoom_to_fit()
    QApplication.processEvents()


def test_wiring_with_mouse_connects_and_undoes(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    drag(qtbot, window, port_pos(window, "src", "table", True), port_pos(window, "add", "table", False))
    assert window.document.pipeline.links == [Link("src", "table", "add", "table")]
    assert Link("src", "table", "add", "table") in window.scene.links
    # Dragging backwards, from an input to an output, works too.
    drag(qtbot, window, port_pos(window, "m", "table", False), port_pos(window, "add", "table", True))
    assert Link("add", "table", "m", "table") in window.document.pipeline.links
    window.document.undo()
    assert window.document.pipeline.links == [Link("src", "table", "add", "table")]
    assert len(window.scene.links) == 1
    # The temporary wire is gone and no port stays highlighted.
    assert all(p.highlight == 0 for p in window.scene.all_ports())


def test_compatible_ports_light_up_while_dragging(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    viewport = window.view.viewport()
    qtbot.mousePress(
        viewport, Qt.MouseButton.LeftButton, pos=vpos(window, port_pos(window, "m", "model", True))
    )
    qtbot.mouseMove(viewport, vpos(window, QPointF(0, 300)))
    add_in = window.scene.nodes["add"].port("table", False)
    assert add_in.highlight == DIMMED  # a model cannot feed a table input
    qtbot.mouseRelease(
        viewport, Qt.MouseButton.LeftButton, pos=vpos(window, port_pos(window, "add", "table", False))
    )
    qtbot.mousePress(
        viewport, Qt.MouseButton.LeftButton, pos=vpos(window, port_pos(window, "src", "table", True))
    )
    qtbot.mouseMove(viewport, vpos(window, QPointF(0, 300)))
    assert add_in.highlight == COMPATIBLE
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=vpos(window, QPointF(200, 200)))


def test_refused_link_shows_reason_in_status_bar(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    drag(qtbot, window, port_pos(window, "m", "model", True), port_pos(window, "add", "table", False))
    assert window.document.pipeline.links == []
    message = window.statusBar().currentMessage()
    assert "Trained model" in message and "Table" in message, message
    # A cycle is refused with the core's reason as well.
    window.document.push(C.Connect("src", "table", "add", "table"))
    window.document.push(C.Connect("add", "table", "m", "table"))
    window.document.push(C.AddNode("fake.add", (320, 300), node_id="add2"))
    window.document.push(C.Connect("add", "table", "add2", "table"))
    drag(qtbot, window, port_pos(window, "add2", "table", True), port_pos(window, "add", "extra", False))
    assert "cycle" in window.statusBar().currentMessage()
    assert len(window.document.pipeline.links) == 3
    # Two outputs cannot be wired together.
    drag(qtbot, window, port_pos(window, "src", "table", True), port_pos(window, "add2", "table", True))
    assert "two outputs" in window.statusBar().currentMessage()


def test_dropping_on_occupied_input_replaces_the_wire_in_one_step(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    window.document.push(C.AddNode("fake.source", (0, 250), node_id="src2"))
    window.document.push(C.Connect("src", "table", "add", "table"))
    drag(qtbot, window, port_pos(window, "src2", "table", True), port_pos(window, "add", "table", False))
    assert window.document.pipeline.links == [Link("src2", "table", "add", "table")]
    window.document.undo()
    assert window.document.pipeline.links == [Link("src", "table", "add", "table")]


def test_wire_dropped_on_empty_canvas_offers_matching_nodes(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    drag(qtbot, window, port_pos(window, "m", "model", True), QPointF(900, 400))
    menu = window.scene.offer_menu
    assert menu is not None
    offered = [a.data()[0] for a in menu.actions()]
    assert offered == ["fake.sink"]  # only the 'any' input accepts a model
    menu.actions()[0].trigger()
    menu.close()
    assert Link("m", "model", "sink", "data") in window.document.pipeline.links
    window.document.undo()  # node and wire were one step
    assert "sink" not in window.document.pipeline


def test_moving_nodes_with_the_mouse_is_one_undo_step(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    window.document.push(C.Connect("src", "table", "add", "table"))
    title = window.scene.nodes["add"].mapToScene(QPointF(60, 12))
    drag(qtbot, window, title, title + QPointF(100, 50), steps=8)
    x, y = window.document.pipeline.node("add").position
    assert abs(x - 420) <= 2 and abs(y - 110) <= 2  # view zoom rounds pixels
    link_item = window.scene.links[Link("src", "table", "add", "table")]
    assert link_item.path().currentPosition() == port_pos(window, "add", "table", False)
    window.document.undo()
    assert window.document.pipeline.node("add").position == (320.0, 60.0)
    assert window.scene.nodes["add"].pos() == QPointF(320, 60)


def test_delete_copy_paste_duplicate_select_all(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    doc = window.document
    doc.push(C.Connect("src", "table", "add", "table"))
    window.scene.select_nodes(["src", "add"])
    window.actions_by_name["copy"].trigger()
    window.actions_by_name["paste"].trigger()
    ids = {n.id for n in doc.pipeline.nodes}
    assert ids == {"src", "add", "m", "source", "add_2"}
    assert Link("source", "table", "add_2", "table") in doc.pipeline.links
    assert set(window.scene.selected_node_ids()) == {"source", "add_2"}
    window.actions_by_name["delete"].trigger()
    assert {n.id for n in doc.pipeline.nodes} == {"src", "add", "m"}
    window.scene.select_nodes(["m"])
    window.actions_by_name["duplicate"].trigger()
    assert doc.pipeline.node("model").position == (680.0, 40.0)
    window.edits.select_all()
    assert len(window.scene.selected_node_ids()) == 4
    # Deleting a selected wire alone disconnects it.
    window.scene.clearSelection()
    window.scene.links[Link("src", "table", "add", "table")].setSelected(True)
    window.actions_by_name["delete"].trigger()
    assert doc.pipeline.links == []


def test_wheel_zooms_around_cursor_and_fit(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    view = window.view
    view.reset_zoom()
    at = QPoint(200, 150)
    before = view.mapToScene(at)
    event = QWheelEvent(
        QPointF(at),
        QPointF(view.viewport().mapToGlobal(at)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.zoom() > 1.3
    after = view.mapToScene(at)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2
    view.zoom_to_fit()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    for item in window.scene.nodes.values():
        assert visible.contains(item.sceneBoundingRect())


def test_node_shows_summary_problems_and_state(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    item = window.scene.nodes["add"]
    assert any("input 'table' is not connected" in p for p in item.problems)
    window.document.push(C.Connect("src", "table", "add", "table"))
    assert item.problems == []
    window.document.push(C.SetParam("add", "k", 7))
    assert "K: 7" in item._summary
    window.scene.set_state("add", "done")
    window.scene.set_state("m", "done")
    window.document.push(C.SetParam("src", "value", 3))
    assert item.state == "stale" and window.scene.nodes["m"].state == "done"  # m is not downstream yet
    window.scene.set_state("add", "failed", "column 'age' has text values")
    assert "column 'age'" in item.toolTip()


def test_quick_add_popup_adds_the_chosen_node_where_it_opened(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    popup = window.quick_add
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClicks(popup.edit, "slo")
    assert popup.list.count() == 1
    qtbot.keyClick(popup.edit, Qt.Key.Key_Return)
    assert [n.type for n in window.document.pipeline.nodes] == ["fake.slow"]
    assert not popup.isVisible()
    x, y = window.document.pipeline.nodes[0].position
    assert abs(x + 100 - popup.scene_pos.x()) < 1 and abs(y + 20 - popup.scene_pos.y()) < 1


def test_rubber_band_selects_and_delete_key_removes(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    start = window.scene.nodes["src"].sceneBoundingRect().topLeft() - QPointF(30, 30)
    end = window.scene.nodes["add"].sceneBoundingRect().bottomRight() + QPointF(10, 10)
    drag(qtbot, window, start, end, steps=6)
    assert set(window.scene.selected_node_ids()) == {"src", "add"}
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert [n.id for n in window.document.pipeline.nodes] == ["m"]
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert {n.id for n in window.document.pipeline.nodes} == {"src", "add", "m"}


def test_middle_button_pans(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    view, viewport = window.view, window.view.viewport()
    before = view.mapToScene(QPoint(100, 100))
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(300, 300))
    qtbot.mouseMove(viewport, QPoint(250, 280))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(250, 280))
    after = view.mapToScene(QPoint(100, 100))
    assert (round(after.x() - before.x()), round(after.y() - before.y())) == (50, 20)
    assert window.document.pipeline.nodes == []


def test_wire_dropped_on_a_node_body_uses_its_first_fitting_port(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    _two_nodes(window)
    body = window.scene.nodes["add"].mapToScene(QPointF(100, 60))
    drag(qtbot, window, port_pos(window, "src", "table", True), body)
    assert window.document.pipeline.links == [Link("src", "table", "add", "table")]
    window.document.push(C.AddNode("fake.source", (0, 300), node_id="src2"))
    drag(qtbot, window, port_pos(window, "src2", "table", True), body)
    assert Link("src2", "table", "add", "extra") in window.document.pipeline.links  # the free input
    drag(qtbot, window, port_pos(window, "m", "model", True), body)
    assert "has no input that fits a Trained model" in window.statusBar().currentMessage()


def test_canvas_menu_offers_add_paste_and_fit(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    menu = window.canvas_menu(QPointF(10, 10))
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[0] == "Add node…" and "&Paste" in texts and "Zoom to &fit" in texts
    menu.actions()[0].trigger()
    assert window.quick_add.isVisible() and window.quick_add.scene_pos == QPointF(10, 10)
    window.quick_add.hide()

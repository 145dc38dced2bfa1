"""The main window: canvas in the centre, docks around it, menus, toolbar and status bar.

Layout and wiring only; file and edit behaviour live in ``file_ops``/``edit_ops``, runs in ``runner``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QPoint, QPointF, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QMenu, QToolBar, QWidget

from ui import preferences, theme
from ui.canvas import PipelineScene, PipelineView
from ui.canvas.view import EMPTY_HINT, EXAMPLES_HINT, local_files
from ui.dialogs import Dialogs
from ui.document import Document
from ui.edit_ops import EditOps
from ui.file_ops import FileOps, example_files
from ui.inspector import Inspector
from ui.palette import Palette, QuickAdd
from ui.panels import Panels
from ui.run_script import export_run_script
from ui.runner import RunController
from ui.sweep_dialog import install_experiments
from ui.views.data_view import FilePreviews, schema_of, upstream_schema
from ui.views.log_view import LogView
from workbench import events as E
from workbench.execution.executor import RunResult
from workbench.registry import NodeRegistry

APP_TITLE = "Model Workbench"


class MainWindow(QMainWindow):
    def __init__(
        self,
        registry: NodeRegistry,
        settings: QSettings | None = None,
        document: Document | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self.settings = settings if settings is not None else QSettings()
        self.dialogs = Dialogs(self)
        self.document = document if document is not None else Document(registry=registry)
        self.files = FileOps(self)
        self.edits = EditOps(self)
        self.runner = RunController(registry, self)
        self.node_messages: dict[str, str] = {}
        self._progress: dict[str, E.Progress] = {}  # newest progress per node, shown by a timer
        self.actions_by_name: dict[str, QAction] = {}

        self.scene = PipelineScene(self.document, self)
        self.view = PipelineView(self.scene)
        self.setCentralWidget(self.view)
        self.palette = Palette(registry)
        self.inspector = Inspector(self.document)
        self.inspector.columns_provider = self._columns_for
        self.previews = FilePreviews(self)  # data files' heads, read in the background before any run
        self.previews.ready.connect(lambda _key: self.inspector.refresh_columns())
        self.log = LogView()
        self.quick_add = QuickAdd(registry, self)
        self.docks: dict[str, QDockWidget] = {}
        from ui import gc_guard

        gc_guard.install(self)  # garbage holding Qt objects is collected in this thread only
        self._build_docks()
        self._build_actions()
        self._build_status_bar()
        self._connect()
        self.panels = Panels(self)
        self.experiments = install_experiments(self)  # the Runs dock and Run ▸ Sweep…
        self.docks["log"].raise_()  # the docks tabified last (Images, Runs) would otherwise open on top
        self.panels.data.attach_previews(self.previews)
        from ui import start_page

        self.start_page = start_page.install(self)
        self.setAcceptDrops(True)  # a data file dropped anywhere in the window
        self._bind_document(self.document)
        self.resize(1280, 820)
        self.restore_layout()

    # -- layout
    def _dock(self, name: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[name] = dock
        return dock

    def _placeholder(self, text: str) -> QLabel:
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setObjectName("nodeHelp")
        return label

    def _build_docks(self) -> None:
        left, right, bottom = (
            Qt.DockWidgetArea.LeftDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self._dock("palette", "Nodes", self.palette, left)
        self._dock("inspector", "Inspector", self.inspector, right)
        data = self._dock(
            "data", "Data", self._placeholder("Select a node after a run to see its table."), bottom
        )
        training = self._dock(
            "training", "Training", self._placeholder("Training curves appear during a run."), bottom
        )
        results = self._dock(
            "results", "Results", self._placeholder("Evaluation results appear after a run."), bottom
        )
        log = self._dock("log", "Log", self.log, bottom)
        self.tabifyDockWidget(log, data)
        self.tabifyDockWidget(data, training)
        self.tabifyDockWidget(training, results)
        log.raise_()
        self.resizeDocks(
            [self.docks["palette"], self.docks["inspector"]], [250, 330], Qt.Orientation.Horizontal
        )
        self.resizeDocks([log], [300], Qt.Orientation.Vertical)

    def _add(
        self,
        menu: QMenu,
        name: str,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda checked=False: slot())
        menu.addAction(action)
        self.actions_by_name[name] = action
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey  # noqa: N806
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._add(file, "new", "&New", self.files.new, K.New)
        self._add(file, "new_from_data", "New from &data…", lambda: self.files.new_from_data(), "Ctrl+Shift+N",
                  "Build and train a pipeline for a data file (or drop the file on the window)")  # fmt: skip
        examples = file.addMenu("New from &example")
        for path in example_files():
            examples.addAction(path.stem.replace("_", " ").title(), lambda p=path: self.files.open_example(p))
        examples.setEnabled(bool(example_files()))
        if example_files():
            self.view.empty_hint = EMPTY_HINT + EXAMPLES_HINT
        self._add(file, "open", "&Open…", lambda: self.files.open(), K.Open)
        self.recent_menu = file.addMenu("Open &recent")
        file.addSeparator()
        self._add(file, "save", "&Save", self.files.save, K.Save)
        self._add(file, "save_as", "Save &as…", self.files.save_as, K.SaveAs)
        self._add(file, "export_run_script", "Export run &script…", lambda: export_run_script(self), None,
                  "Write the pipeline, pinned requirements and a torchrun script for a bigger machine")  # fmt: skip
        file.addSeparator()
        self._add(file, "quit", "&Quit", self.close, K.Quit)

        edit = bar.addMenu("&Edit")
        self._add(edit, "undo", "&Undo", lambda: self.document.undo(), K.Undo)
        self._add(edit, "redo", "&Redo", lambda: self.document.redo(), K.Redo)
        edit.addSeparator()
        self._add(edit, "cut", "Cu&t", self.edits.cut, K.Cut)
        self._add(edit, "copy", "&Copy", self.edits.copy, K.Copy)
        self._add(edit, "paste", "&Paste", self.edits.paste, K.Paste)
        self._add(edit, "duplicate", "D&uplicate", self.edits.duplicate, "Ctrl+D")
        delete = self._add(edit, "delete", "&Delete", self.edits.delete, K.Delete)
        delete.setShortcuts([QKeySequence(K.Delete), QKeySequence("Backspace")])
        edit.addSeparator()
        self._add(edit, "select_all", "Select &all", self.edits.select_all, K.SelectAll)
        self._add(edit, "add_node", "&Add node…", self._quick_add_here, "Ctrl+K")
        edit.addSeparator()
        self._add(edit, "preferences", "Pr&eferences…", self.edit_preferences, K.Preferences)
        for name in ("cut", "copy", "paste", "duplicate", "delete", "select_all"):
            self.actions_by_name[name].setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(self.actions_by_name[name])

        view = bar.addMenu("&View")
        self._add(view, "zoom_in", "Zoom &in", lambda: self.view.zoom_by(1.25), K.ZoomIn)
        self._add(view, "zoom_out", "Zoom &out", lambda: self.view.zoom_by(0.8), K.ZoomOut)
        self._add(view, "zoom_reset", "&Actual size", self.view.reset_zoom, "Ctrl+0")
        self._add(view, "zoom_fit", "Zoom to &fit", self.view.zoom_to_fit, "Ctrl+1")
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

        run = bar.addMenu("&Run")
        self._add(run, "run", "&Run", self.run_all, "F5", "Run the whole pipeline")
        self._add(run, "run_to", "Run up to &selected", self.run_to_selected, "Ctrl+F5")
        self._add(run, "pause", "&Pause", self._toggle_pause, "F6", "Pause the run; again to resume")
        self._add(run, "stop", "&Stop", self.runner.stop, "Shift+F5", "Stop the run (cooperatively)")

        help_menu = bar.addMenu("&Help")
        self._add(help_menu, "node_help", "Help on selected &node", self._help_selected, K.HelpContents)
        self._add(help_menu, "about", "&About", self._about)

        tools = QToolBar("Main")
        tools.setObjectName("toolbar_main")
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        # The toolbar's Undo/Redo keep a fixed label (the menu's says what it undoes): a label that changes
        # length moved every button after it, Run included, under the user's pointer.
        for name, source in (("tool_undo", "undo"), ("tool_redo", "redo")):
            action = QAction(source.title(), self)
            action.triggered.connect(self.actions_by_name[source].trigger)
            self.actions_by_name[name] = action
        for name in (
            "new",
            "open",
            "save",
            None,
            "tool_undo",
            "tool_redo",
            None,
            "run",
            "pause",
            "stop",
            None,
            "zoom_fit",
        ):
            if name is None:
                tools.addSeparator()
            else:
                tools.addAction(self.actions_by_name[name])
        self.addToolBar(tools)
        self.refresh_recent_menu()

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("Device: …")
        self.precision_label = QLabel("Precision: auto")
        self.run_label = QLabel("Idle")
        for label in (self.run_label, self.device_label, self.precision_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.statusBar().addPermanentWidget(label)

    def _connect(self) -> None:
        self.palette.add_requested.connect(self._add_from_palette)
        self.scene.selectionChanged.connect(self._selection_changed)
        self.scene.run_to_requested.connect(self.run_to)
        self.scene.rename_requested.connect(self.edits.rename)
        self.scene.help_requested.connect(self.edits.show_help)
        self.scene.duplicate_requested.connect(self.edits.duplicate)
        self.scene.canvas_menu_requested.connect(self._canvas_menu)
        self.view.quick_add_requested.connect(self._open_quick_add)
        self.view.files_dropped.connect(self.files.drop_paths)
        self.quick_add.chosen.connect(lambda type_id, pos: self.view.add_node(type_id, pos))
        self.runner.events_received.connect(self._on_run_events)
        self.runner.finished.connect(self._on_run_finished)
        self.runner.state_text.connect(self.run_label.setText)
        self.runner.started.connect(self._update_actions)

    # -- documents
    def set_document(self, document: Document) -> None:
        old = self.document
        self.runner.reset(self.registry)
        self.node_messages.clear()
        self.panels.clear()
        self.document = document
        self.scene.set_document(document)
        self.inspector.set_document(document)
        self._bind_document(document)
        old.dirty_changed.disconnect(self._update_title)
        old.changed.disconnect(self._update_actions)
        old.message.disconnect(self._show_message)
        old.changed.disconnect(self.start_page.refresh)
        old.close()
        old.deleteLater()
        self.view.frame_pipeline()

    def _bind_document(self, document: Document) -> None:
        document.setParent(self)
        document.dirty_changed.connect(self._update_title)
        document.changed.connect(self._update_actions)
        document.message.connect(self._show_message)
        if hasattr(self, "start_page"):
            document.changed.connect(self.start_page.refresh)
            self.start_page.refresh()
        self._update_title()
        self._update_actions()

    @Slot()
    def _update_title(self, *args: object) -> None:
        title = self.document.title
        if self.document.path is None and self.document.pipeline.meta.get("title"):
            title = str(self.document.pipeline.meta["title"])  # an example, a pipeline built from data
        self.setWindowTitle(f"{title}[*] — {APP_TITLE}")
        self.setWindowModified(self.document.dirty)

    @Slot()
    def _update_actions(self) -> None:
        stack = self.document.stack
        undo, redo = self.actions_by_name["undo"], self.actions_by_name["redo"]
        undo.setEnabled(stack.can_undo)
        undo.setText(f"&Undo {stack.undo_text}" if stack.can_undo else "&Undo")
        redo.setEnabled(stack.can_redo)
        redo.setText(f"&Redo {stack.redo_text}" if stack.can_redo else "&Redo")
        for name, source in (("tool_undo", undo), ("tool_redo", redo)):
            self.actions_by_name[name].setEnabled(source.isEnabled())
            self.actions_by_name[name].setToolTip(source.text().replace("&", ""))
        running = self.runner.is_running
        self.actions_by_name["run"].setEnabled(not running)
        self.actions_by_name["run_to"].setEnabled(not running)
        self.actions_by_name["stop"].setEnabled(running)
        self.actions_by_name["pause"].setEnabled(running)
        self.actions_by_name["pause"].setText("&Resume" if self.runner.paused else "&Pause")

    @Slot(str)
    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 10000)

    def refresh_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.files.recent():
            self.recent_menu.addAction(path, lambda p=path: self.files.open(Path(p)))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    # -- editing helpers
    def _add_from_palette(self, type_id: str) -> None:
        centre = self.view.visible_centre()
        offset = 30.0 * (len(self.document.pipeline.nodes) % 5)
        self.view.add_node(type_id, QPointF(centre.x() + offset, centre.y() + offset))

    def _quick_add_here(self) -> None:
        self._open_quick_add(self.view.visible_centre())

    def canvas_menu(self, scene_pos: QPointF) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Add node…", lambda: self._open_quick_add(scene_pos))
        for name in ("paste", "select_all", None, "zoom_fit", "run"):
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(self.actions_by_name[name])
        return menu

    @Slot(QPointF, QPoint)
    def _canvas_menu(self, scene_pos: QPointF, screen_pos: QPoint) -> None:
        self.canvas_menu(scene_pos).exec(screen_pos)

    def _open_quick_add(self, scene_pos: QPointF) -> None:
        global_pos = self.view.viewport().mapToGlobal(self.view.mapFromScene(scene_pos))
        self.quick_add.open_at(global_pos, scene_pos)

    @Slot()
    def _selection_changed(self) -> None:
        selected = self.scene.selected_node_ids()
        node_id = selected[0] if len(selected) == 1 else None
        if node_id != self.inspector.node_id:
            self.inspector.show_node(node_id)
        if node_id is not None:
            failed = self.runner.node_states.get(node_id) == E.FAILED
            self.inspector.set_state_message(self.node_messages.get(node_id, ""), failed)

    def edit_preferences(self) -> bool:
        if not self.dialogs.preferences(self.settings):
            return False
        theme.set_preference(preferences.theme_mode(self.settings))
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app)
        self.scene.update()
        self.palette.populate()
        return True

    def _help_selected(self) -> None:
        selected = self.scene.selected_node_ids()
        if selected:
            self.edits.show_help(selected[0])

    def _about(self) -> None:
        from workbench import __version__

        self.dialogs.info("About", f"{APP_TITLE} {__version__}\nTrain neural networks on your own tables.")

    def _columns_for(self, node_id: str, port: str) -> dict[str, str] | list[str] | None:
        """Column -> kind feeding ``node_id.port``: from the last run's output, else the data file's head."""
        pipeline = self.document.pipeline
        link = pipeline.input_links(node_id).get(port)
        if link is not None:
            schema = schema_of(self.runner.cached_output(pipeline, link.source, link.source_port))
            if schema is not None:
                return schema
            names = self.runner.columns_for(pipeline, node_id, port)  # a table-like output without dtypes
            if names is not None:
                return names
        return upstream_schema(pipeline, node_id, port, self.previews)

    # -- files dropped on the window (outside the canvas, which hands its drops over itself)
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if local_files(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        files = local_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            self.files.drop_paths(files)

    # -- running
    def run_all(self) -> bool:
        return self._start(None)

    def run_to(self, node_id: str) -> bool:
        return self._start([node_id])

    def run_to_selected(self) -> bool:
        selected = self.scene.selected_node_ids()
        return self._start(selected) if selected else self.run_all()

    def _start(self, targets: list[str] | None) -> bool:
        if not self.document.pipeline.nodes:
            self._show_message("Nothing to run: add nodes from the palette first")
            return False
        self.node_messages.clear()
        self.log.add("Run started" + (f" (up to {', '.join(targets)})" if targets else ""))
        started = self.runner.run(self.document.pipeline, targets, preferences.device(self.settings))
        self._update_actions()
        return started

    @Slot(list)
    def _on_run_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, E.NodeStateChanged):
                self.scene.set_state(event.node_id, event.state, event.message)
                if event.message and event.state in (E.FAILED, E.SKIPPED, E.STOPPED):
                    self.node_messages[event.node_id] = event.message
                if event.node_id == self.inspector.node_id:
                    message = self.node_messages.get(event.node_id, "")
                    self.inspector.set_state_message(message, event.state == E.FAILED)
            elif isinstance(event, E.Progress):
                if not self._progress:  # canvas badges move 4x a second; each repaint cost ~3 ms
                    QTimer.singleShot(250, self._show_progress)
                self._progress[event.node_id] = event
            elif isinstance(event, E.LogRecord) and event.level != "debug":
                self.log.add(event.message, event.level, event.node_id)

    @Slot()
    def _show_progress(self) -> None:
        pending, self._progress = self._progress, {}
        for node_id, event in pending.items():
            if self.runner.node_states.get(node_id) == E.RUNNING:
                self.scene.set_state(node_id, E.RUNNING, event.label, event.fraction)

    @Slot(object)
    def _on_run_finished(self, result: object) -> None:
        self.inspector.refresh_columns()
        for node_id in self.runner.changed_since_run(self.document.pipeline):
            self.scene.mark_stale(node_id)  # edited during the run: its result is already out of date
        if isinstance(result, RunResult):
            failures = result.failures
            text = {"ok": "Run finished", "failed": "Run failed", "stopped": "Run stopped"}[result.status]
            self.log.add(f"{text} in {result.seconds:.2f} s", "error" if failures else "info")
            if failures:
                node_id, message = next(iter(failures.items()))
                self._show_message(f"{node_id}: {message}")
        else:
            self.log.add(f"Could not run: {result}", "error")
            self._show_message(f"Could not run: {result}")
        self._update_actions()

    def _toggle_pause(self) -> None:
        self.runner.toggle_pause()
        self._update_actions()

    @Slot(str, str)
    def set_device(self, device: str, precision: str) -> None:
        """Filled in once torch has been imported in the background, after the window is shown."""
        self.device_label.setText(f"Device: {device}")
        self.precision_label.setText(f"Precision: {precision}")

    # -- settings and closing
    def restore_layout(self) -> None:
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.runner.is_running:
            if not self.dialogs.confirm_stop_run():
                event.ignore()
                return
            self.runner.shutdown()
        if not self.files.maybe_save():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.document.close()
        event.accept()

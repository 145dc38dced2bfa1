"""Fills the data, training and results docks and wires them to the runner and the canvas selection.

Kept out of ``main_window`` so that file stays about layout. Every receiver of a runner signal is a ``@Slot``
of a GUI-thread object (this one or a view), per the engineering notes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Slot

from ui.views import image_views
from ui.views.data_view import DataView, file_source, tables_in
from ui.views.image_views_results import PictureDrops
from ui.views.results_view import ResultsView
from ui.views.training_view import TrainingView
from workbench import events as E
from workbench.execution.executor import RunResult

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class Panels(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.data = DataView()
        self.training = TrainingView()
        self.results = ResultsView()
        window.docks["data"].setWidget(self.data)
        window.docks["training"].setWidget(self.training)
        window.docks["results"].setWidget(self.results)
        actions = window.actions_by_name
        self.training.set_actions(actions["run"], actions["pause"], actions["stop"])
        runner = window.runner
        runner.started.connect(self._run_started)
        runner.events_received.connect(self.training.add_events)
        self.training.device_seen.connect(window.set_device)  # the status bar shows what the run uses
        runner.finished.connect(self._run_finished)
        runner.state_text.connect(self._state_text)
        window.scene.selectionChanged.connect(self.show_selected_data)
        self.images = image_views.attach(window)  # pictures: thumbnails, augmentation preview, mistakes
        self._bind_images()
        self.results.cell_clicked.connect(self._confusion_cell)  # an image run's cell opens its pictures
        self.results.try_button.clicked.connect(self._try_image)
        self.picture_drops = PictureDrops(self.results, self.images.try_image, pictures_only=True)
        self.picture_drops.dropped.connect(self._show_tried)

    def warm(self) -> None:
        """Build the plots (imports pyqtgraph) once the window is up, so the first Run does not pay it."""
        self.training.ensure_plots()

    def clear(self) -> None:
        """A new document: nothing of the old one's results stays on screen."""
        self.data.show_tables("", {})
        self.results.show_result(None)
        self.images.show_result(None)
        self.results.try_button.setVisible(False)
        QTimer.singleShot(0, self._bind_images)  # the window swaps in the new document right after this

    @Slot()
    def _bind_images(self) -> None:
        """The augmentation preview follows parameter edits of the (current) document."""
        self.window.document.changed.connect(self._refresh_images, Qt.ConnectionType.UniqueConnection)

    @Slot()
    def _refresh_images(self) -> None:
        selected = self.window.scene.selected_node_ids()
        pipeline = self.window.document.pipeline
        if len(selected) == 1 and selected[0] in pipeline:
            self.images.show_selected(pipeline, selected[0], {})

    @Slot()
    def _run_started(self) -> None:
        self.training.reset()
        self.window.docks["training"].raise_()

    @Slot(str)
    def _state_text(self, text: str) -> None:
        self.training.set_paused(text == "Paused")

    @Slot(object)
    def _run_finished(self, result: object) -> None:
        if not isinstance(result, RunResult):
            self.training.run_finished("could not run")
            return
        self.training.run_finished(result.status)
        if any(n.outputs for n in result.nodes.values()):
            self.results.show_result(result)
            self.images.show_result(result)
            self.results.try_button.setVisible(self.images.try_image.model is not None)
            if "evaluation" in self.results.found and result.status == "ok":
                self.window.docks["results"].raise_()
        # Deferred: the canvas gets its final states first, the table fills a moment later.
        QTimer.singleShot(0, self.show_selected_data)

    @Slot(object, object)
    def _confusion_cell(self, actual: object, predicted: object) -> None:
        if self.images.show_cell(actual, predicted):
            self.window.docks["images"].raise_()

    @Slot()
    def _try_image(self) -> None:
        if self.images.ask_try():
            self.window.docks["images"].raise_()

    @Slot(str)
    def _show_tried(self, _path: str) -> None:
        self.images.setCurrentWidget(self.images.try_image)
        self.window.docks["images"].raise_()

    def outputs_of(self, node_id: str) -> dict[str, Any]:
        """The node's outputs matching the pipeline as it is now (cache), else from the last run."""
        pipeline = self.window.document.pipeline
        spec = pipeline.spec(node_id) if node_id in pipeline else None
        if spec is None:
            return {}
        runner = self.window.runner
        outputs: dict[str, Any] = {}
        for port in spec.outputs:
            value = runner.cached_output(pipeline, node_id, port.name)
            if value is not None:
                outputs[port.name] = value
        last = runner.last_result
        if not outputs and last is not None and node_id in last.nodes and not runner.is_running:
            if node_id not in runner.changed_since_run(pipeline):
                outputs = dict(last.nodes[node_id].outputs)
        return outputs

    @Slot()
    def show_selected_data(self) -> None:
        try:
            selected = self.window.scene.selected_node_ids()
        except RuntimeError:  # the scene is being destroyed with the window
            return
        if len(selected) != 1:
            return
        node_id = selected[0]
        tables: dict[str, Any] = {}
        for port, value in self.outputs_of(node_id).items():
            tables.update(tables_in(value, port))
        node = self.window.document.pipeline.node(node_id)
        title = node.title if getattr(node, "title", "") else node_id
        if self.images.show_selected(self.window.document.pipeline, node_id, self.outputs_of(node_id)):
            self.window.docks["images"].raise_()
        if tables:
            self.data.show_tables(title, tables)
        elif (source := file_source(self.window.document.pipeline, node_id)) is not None:
            self.data.show_file_preview(
                title, source[1], source[2]
            )  # the file's head, read in the background
        else:
            state = self.window.runner.node_states.get(node_id, E.IDLE)
            why = "run the pipeline first" if state in (E.IDLE, E.STALE) else "this node outputs no table"
            self.data.show_tables(f"{title}: no table to show ({why}).", {})

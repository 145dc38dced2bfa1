"""The results panel: metrics, confusion matrix, ROC curves, residuals, importance, rules; export and predict.

It files the last run's outputs by their registered kind (``workbench.ports.kind_of``: model, dataset,
evaluation, importance, surrogate, bundle …), so it needs no imports of the core's heavy modules until the
user exports or predicts. Export and prediction run in a background thread and report back to ``@Slot``
methods here (in the GUI thread).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ui.views import result_plots as plots
from ui.views.row_explain import RowExplainView
from workbench import ports

TABLE_FILTER = "Tables (*.csv *.tsv *.txt *.parquet *.xlsx *.xls *.json *.jsonl);;All files (*)"


class Task(QObject):
    """Runs one function in a daemon thread; ``done`` carries its return value or the exception."""

    done = Signal(object)

    def start(self, fn: Callable[[], Any]) -> None:
        def work() -> None:
            try:
                result: Any = fn()
            except Exception as exc:  # noqa: BLE001 - shown to the user as one line
                result = exc
            self.done.emit(result)

        threading.Thread(target=work, name="results-task", daemon=True).start()


def find_outputs(result: Any) -> dict[str, Any]:
    """The last run's outputs by kind: model, dataset, evaluation/importance/surrogate reports, bundle and any
    other registered kind (``ports.kind_of``; the last of a kind wins)."""
    found: dict[str, Any] = {}
    for node in result.nodes.values() if result is not None else ():
        for value in node.outputs.values():
            kind = ports.kind_of(value)
            if kind is not None:
                found[kind] = value
    return found


def parity_text(bundle: Any) -> str:
    manifest = getattr(bundle, "manifest", {}) or {}
    parity = manifest.get("parity") or {}
    diff = manifest.get("parity_max_abs_diff")
    detail = ""
    if "onnx_max_abs_diff" in parity:
        detail = f" (.pt2 {parity.get('pt2_max_abs_diff', 0):.1e}, ONNX {parity['onnx_max_abs_diff']:.1e})"
    figure = f"{diff:.2e}" if isinstance(diff, int | float) else "?"
    return f"Bundle {bundle.path} · parity passed: max |diff| {figure}{detail}"


def _nodes_of(result: Any, type_id: str) -> list[Any]:
    return [n for n in getattr(result, "nodes", {}).values() if getattr(n, "type", "") == type_id]


def missing_evaluation(result: Any) -> str:
    """Why there are no test figures: an Evaluate node that did not finish is not the same as none at all."""
    for node in _nodes_of(result, "evaluate.metrics"):
        if node.state == "failed":
            return f"No evaluation: {node.node_id} failed: {node.message}"
        if node.state in ("skipped", "stopped"):
            why = "the run was stopped before it" if result.status == "stopped" else "an earlier node failed"
            return f"No evaluation in this run: {node.node_id} did not run ({why})."
    return "This run has no evaluation; add an Evaluate node after training."


def export_failure(result: Any) -> str:
    """One line when the run's Export node failed: the model is fine, the bundle was not written."""
    for node in _nodes_of(result, "deploy.export"):
        if node.state == "failed":
            return f"No bundle: {node.node_id} failed: {node.message}"
    return ""


class ResultsView(QWidget):
    """Shows a run's results; Export bundle and Predict on a file act on its model."""

    cell_clicked = Signal(object, object)  # a confusion-matrix cell: actual class, predicted class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.found: dict[str, Any] = {}
        self.last_prediction: Path | None = None
        self.busy = False
        # Replaced in tests and by the self-test; the defaults ask with native dialogs.
        self.ask_folder: Callable[[], Path | None] = self._ask_folder
        self.ask_input: Callable[[], Path | None] = self._ask_input
        self.ask_output: Callable[[Path], Path | None] = self._ask_output

        self.headline = QLabel("Evaluation results appear here after a run.")
        self.headline.setObjectName("nodeHelp")
        self.headline.setWordWrap(True)
        self.metrics = QTableWidget(0, 3)
        self.metrics.setHorizontalHeaderLabels(["Metric", "Test", "Validation"])
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.setMinimumWidth(240)
        self.metrics.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tabs = QTabWidget()
        self.rules = QPlainTextEdit()
        self.rules.setReadOnly(True)
        self.row_explain = RowExplainView()

        self.export_button = QPushButton("Export bundle…")
        self.export_button.setToolTip("Write the model as a parity-checked bundle folder")
        self.export_button.clicked.connect(lambda: self.export_bundle())
        self.predict_button = QPushButton("Predict on a file…")
        self.predict_button.setToolTip("Predict a table with the model; writes CSV or Parquet")
        self.predict_button.clicked.connect(lambda: self.predict_file())
        self.try_button = QPushButton("Try an image…")  # shown by ui.panels after an image run
        self.try_button.setToolTip("Classify a picture file with the image model (or drop one on this view)")
        self.try_button.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        actions.addWidget(self.export_button)
        actions.addWidget(self.predict_button)
        actions.addWidget(self.try_button)
        actions.addWidget(self.status, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.metrics)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.setMinimumHeight(300)  # curves and tables need room; the dock grows to fit
        layout.addWidget(self.headline)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)
        self.task = Task(self)
        self.task.done.connect(self._task_done)
        self._on_done: Callable[[Any], None] | None = None
        self._update_buttons()

    # -- showing a run
    def show_result(self, result: Any) -> None:
        """Fill every part from a RunResult's outputs; parts with nothing to show are hidden."""
        self.found = find_outputs(result)
        if result is None:
            self.headline.setText("Evaluation results appear here after a run.")
        self.tabs.clear()
        self.metrics.setRowCount(0)
        evaluation = self.found.get("evaluation")
        if evaluation is not None:
            self._fill_metrics(evaluation)
            test = evaluation.splits.get("test", {})
            if test.get("confusion"):
                classes = list(evaluation.classes)
                on_cell = None  # a table run's cells stay inert; an image run's open their pictures
                if getattr(self.found.get("model"), "images", None):
                    on_cell = lambda i, j: self.cell_clicked.emit(classes[i], classes[j])  # noqa: E731
                self.tabs.addTab(plots.confusion_plot(test["confusion"], classes, on_cell),
                                 "Confusion matrix")  # fmt: skip
            if test.get("roc_curves"):
                self.tabs.addTab(plots.roc_plot(test["roc_curves"]), "ROC curve")
            if test.get("scatter"):
                self.tabs.addTab(plots.residual_plot(test["scatter"]), "Residuals")
        importance = self.found.get("importance")
        if importance is not None and importance.rows:
            self.tabs.addTab(plots.importance_plot(importance.rows, importance.scoring), "Importance")
        model, dataset = self.found.get("model"), self.found.get("dataset")
        tabular = model is not None and dataset is not None and not getattr(model, "images", None)
        self.row_explain.set_source(model if tabular else None, dataset if tabular else None)
        if tabular:
            self.tabs.addTab(self.row_explain, "Explain a row")
        surrogate = self.found.get("surrogate")
        if surrogate is not None:
            lines = [
                f"Fidelity ({surrogate.fidelity_name}) on held-out rows: {surrogate.fidelity:.3f} — "
                "trust these rules only as far as this figure.",
                "",
                *surrogate.text,
            ]
            self.rules.setPlainText("\n".join(lines))
            self.tabs.addTab(self.rules, "Rules")
        if result is not None:
            self.headline.setText(self._headline(evaluation, result))
        bundle = self.found.get("bundle")
        self.status.setText(parity_text(bundle) if bundle is not None else export_failure(result))
        self._update_buttons()

    def _headline(self, evaluation: Any, result: Any = None) -> str:
        if evaluation is None:
            return missing_evaluation(result)
        figures = evaluation.metrics
        names = (
            ("accuracy", "f1_macro", "roc_auc") if evaluation.task != "regression" else ("mae", "rmse", "r2")
        )
        shown = " · ".join(f"{n} {figures[n]:.4g}" for n in names if n in figures)
        rows = evaluation.splits.get("test", {}).get("rows", 0)
        baseline = evaluation.baseline_line() if hasattr(evaluation, "baseline_line") else ""
        line = f"Test split ({rows:,} rows) predicting {evaluation.target!r}: {shown}"
        return f"{line}\n{baseline}" if baseline else line

    def _fill_metrics(self, evaluation: Any) -> None:
        test, val = evaluation.splits.get("test", {}), evaluation.splits.get("val", {})
        names = [k for k, v in test.items() if isinstance(v, int | float) and k != "rows"]
        self.metrics.setRowCount(len(names))
        for row, name in enumerate(names):
            self.metrics.setItem(row, 0, QTableWidgetItem(name.replace("_", " ")))
            for col, split in ((1, test), (2, val)):
                value = split.get(name)
                text = f"{value:.4g}" if isinstance(value, int | float) else "—"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.metrics.setItem(row, col, item)
        self.metrics.resizeColumnsToContents()

    def metric_values(self) -> dict[str, str]:
        """Metric name → test value as shown (tests)."""
        return {
            self.metrics.item(r, 0).text(): self.metrics.item(r, 1).text()
            for r in range(self.metrics.rowCount())
        }

    def tab_names(self) -> list[str]:
        return [self.tabs.tabText(i) for i in range(self.tabs.count())]

    def _update_buttons(self) -> None:
        has_model = "model" in self.found or "bundle" in self.found
        self.export_button.setEnabled("model" in self.found and not self.busy)
        self.predict_button.setEnabled(has_model and not self.busy)

    # -- export and predict
    def export_bundle(self, folder: Path | None = None, on_done: Callable[[Any], None] | None = None) -> bool:
        """Export the run's model (parity-checked) to ``folder`` (asked when None), in the background."""
        model = self.found.get("model")
        if model is None or self.busy:
            return False
        folder = folder if folder is not None else self.ask_folder()
        if folder is None:
            return False
        dataset = self.found.get("dataset")

        def work() -> Any:
            from workbench.export.service import export_model

            return export_model(model, dataset, Path(folder), False, lambda _message: None)

        self._start(f"Exporting to {folder}…", work, on_done)
        return True

    def predict_file(
        self,
        source: Path | None = None,
        target: Path | None = None,
        on_done: Callable[[Any], None] | None = None,
    ) -> bool:
        """Predict the table in ``source`` with the bundle (else the model) and write ``target`` (.csv/.parquet)."""
        model = self.found.get("bundle") or self.found.get("model")
        if model is None or self.busy:
            return False
        source = source if source is not None else self.ask_input()
        if source is None:
            return False
        target = target if target is not None else self.ask_output(Path(source))
        if target is None:
            return False

        def work() -> Any:
            from workbench.export.predict_template import with_kept
            from workbench.export.predictor import Predictor, write_table
            from workbench.tabular.io import read_table

            predictor = Predictor.from_any(model)
            frame = read_table(source)
            prediction = predictor.predict(frame, proba=True)
            prediction.table = with_kept(prediction.table, frame, [], first=False)  # the input columns after
            return write_table(prediction.table, target), prediction

        self._start(f"Predicting {Path(source).name}…", work, on_done)
        return True

    def _start(self, text: str, work: Callable[[], Any], on_done: Callable[[Any], None] | None) -> None:
        self.busy = True
        self._on_done = on_done
        self.status.setText(text)
        self._update_buttons()
        self.task.start(work)

    @Slot(object)
    def _task_done(self, result: Any) -> None:
        self.busy = False
        if isinstance(result, Exception):
            self.status.setText(f"Failed: {result}")
        elif isinstance(result, tuple):
            path, prediction = result
            self.last_prediction = path
            notes = f" · {'; '.join(prediction.notes)}" if prediction.notes else ""
            self.status.setText(f"Wrote {len(prediction.table):,} predictions to {path}{notes}")
        else:
            self.found["bundle"] = result
            self.status.setText(parity_text(result))
        self._update_buttons()
        callback, self._on_done = self._on_done, None
        if callback is not None:
            callback(result)

    def _ask_folder(self) -> Path | None:
        """A new folder's name (typed, as a save dialog allows); the bundle is written into it."""
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export bundle as a new folder", str(Path.home() / "model-bundle"), "Bundle folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )  # fmt: skip
        return Path(chosen) if chosen else None

    def _ask_input(self) -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Table to predict", "", TABLE_FILTER)
        return Path(chosen) if chosen else None

    def _ask_output(self, source: Path) -> Path | None:
        suggested = str(source.with_name(source.stem + "_predictions.csv"))
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Save predictions", suggested, "CSV (*.csv);;Parquet (*.parquet)"
        )
        if not chosen:
            return None
        path = Path(chosen)
        return path if path.suffix else path.with_suffix(".csv")

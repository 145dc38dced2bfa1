"""The sweep dialog: choose parameters and ranges from the node specs, an objective and a budget, then
search in the background runner with the same live training view; trials table, objective per trial (pruned
trials grey), parameter importances, and "Apply best" as one undoable command.

Also ``install_experiments(window)``: the Runs dock and the Run ▸ Sweep… action, so the main window needs
only one line for both.
"""

from __future__ import annotations

import collections
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction, QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.views.runs_view import RunsView, fmt
from workbench import commands as C
from workbench import events as E
from workbench.errors import UserError, WorkbenchError
from workbench.experiments.space import SearchParam, changes, default_range, parse_param, searchable
from workbench.experiments.sweep import DEFAULT_METRIC, Sweep, TrialInfo

if TYPE_CHECKING:
    from ui.main_window import MainWindow

OBJECTIVES = ("best_val_loss", "val_accuracy", "val_balanced_accuracy", "val_f1_macro", "val_roc_auc",
              "val_r2", "val_rmse", "val_mae", "accuracy", "r2")  # fmt: skip
GREY, BLUE, GREEN = "#9ca3af", "#3b82f6", "#22c55e"
CATEGORY_ORDER = {"train": 0, "model": 1, "transform": 2, "clean": 3}  # training settings first
SKIPPED_CATEGORIES = ("collect", "evaluate", "deploy")


class SweepDialog(QDialog):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Sweep hyperparameters")
        self.sweep: Sweep | None = None
        self.trials: list[TrialInfo] = []
        self.prune_startup, self.prune_warmup = 5, 2
        self._inbox: collections.deque[TrialInfo] = collections.deque()  # filled by the worker thread
        self._lock = threading.Lock()
        self._plot: Any = None

        self.params = QTableWidget(0, 3)
        self.params.setHorizontalHeaderLabels(
            ["Parameter", "Kind", "Range (LOW:HIGH[:log]) or values (A,B,C)"]
        )
        self.params.verticalHeader().setVisible(False)
        self.params.horizontalHeader().setStretchLastSection(True)
        self.objective = QComboBox()
        self.objective.setEditable(True)
        self.objective.addItems(OBJECTIVES)
        self.objective.setCurrentText(DEFAULT_METRIC)
        self.direction = QComboBox()
        self.direction.addItems(["auto", "minimize", "maximize"])
        self.sampler = QComboBox()
        self.sampler.addItems(["tpe", "random", "grid"])
        self.sampler.setItemText(0, "tpe")
        self.trials_box = QSpinBox()
        self.trials_box.setRange(1, 10000)
        self.trials_box.setValue(20)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0, 10000)
        self.minutes.setSpecialValueText("no limit")
        self.prune = QCheckBox("Stop poor trials early (median pruning)")
        self.prune.setChecked(True)
        form = QFormLayout()
        form.addRow("Objective", self.objective)
        form.addRow("Direction", self.direction)
        form.addRow("Sampler", self.sampler)
        form.addRow("Trials", self.trials_box)
        form.addRow("Minutes", self.minutes)
        form.addRow("", self.prune)
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.pause_button = QPushButton("Pause")
        self.apply_button = QPushButton("Apply best")
        self.start_button.clicked.connect(lambda: self.start())
        self.stop_button.clicked.connect(lambda: self.window.runner.stop())
        self.apply_button.clicked.connect(lambda: self.apply_best())
        self.pause_button.clicked.connect(lambda: self.toggle_pause())
        row = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button, self.apply_button):
            row.addWidget(button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(QLabel("Tick the parameters to search; ranges follow each parameter's limits."))
        left_layout.addWidget(self.params, 1)
        left_layout.addLayout(form)
        left_layout.addLayout(row)

        self.status = QLabel("Not started.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.importances = QTableWidget(0, 2)
        self.importances.setHorizontalHeaderLabels(["Parameter", "Importance"])
        self.importances.setMaximumHeight(130)
        self.importances.verticalHeader().setVisible(False)
        self.importances.horizontalHeader().setStretchLastSection(True)
        self.right = QVBoxLayout()
        right = QWidget()
        right.setLayout(self.right)
        self.right.addWidget(self.status)
        self.right.addWidget(self.table, 1)
        self.right.addWidget(QLabel("Parameter importances"))
        self.right.addWidget(self.importances)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([480, 620])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self.resize(1150, 640)
        self.timer = QTimer(self)
        self.timer.setInterval(300)
        self.timer.timeout.connect(self._drain)
        window.runner.events_received.connect(self._on_events)
        window.runner.finished.connect(self._on_finished)
        self.populate()
        self._update_buttons()

    # -- choosing what to search
    def populate(self) -> None:
        """One row per searchable parameter of the current pipeline, with a first range from its spec."""
        pipeline = self.window.document.pipeline
        rows = []
        for node_id, name, list_field, param in searchable(pipeline):
            category = getattr(pipeline.spec(node_id), "category", "other")
            if category in SKIPPED_CATEGORIES:  # reading files, scoring, exporting: not hyperparameters
                continue
            found = default_range(pipeline, node_id, name, list_field)
            if found is not None:
                rows.append((CATEGORY_ORDER.get(category, 9), len(rows), found, param))
        rows = [(found, param) for _, _, found, param in sorted(rows)]
        self.params.setRowCount(len(rows))
        self.rows: list[SearchParam] = []
        for row, (found, param) in enumerate(rows):
            item = QTableWidgetItem(found.key + (" (every layer)" if found.list_field else ""))
            item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            item.setCheckState(Qt.CheckState.Unchecked)
            item.setToolTip(param.help or "")
            self.params.setItem(row, 0, item)
            kind = QTableWidgetItem(found.kind + (" · log" if found.log else ""))
            kind.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.params.setItem(row, 1, kind)
            self.params.setItem(row, 2, QTableWidgetItem(found.describe().split("=", 1)[1]))
            self.rows.append(found)
        self.params.resizeColumnsToContents()

    def choose(self, key: str, text: str | None = None) -> None:
        """Tick ``key`` (and set its range text); tests and the self-test drive the dialog this way."""
        for row, found in enumerate(self.rows):
            if found.key == key:
                self.params.item(row, 0).setCheckState(Qt.CheckState.Checked)
                if text is not None:
                    self.params.item(row, 2).setText(text)
                return
        raise KeyError(key)

    def space(self) -> list[SearchParam]:
        pipeline = self.window.document.pipeline
        chosen = []
        for row, found in enumerate(self.rows):
            if self.params.item(row, 0).checkState() == Qt.CheckState.Checked:
                chosen.append(parse_param(f"{found.key}={self.params.item(row, 2).text()}", pipeline))
        return chosen

    # -- running
    def start(self) -> bool:
        """Create the sweep and run it in the background runner; False (with the reason shown) otherwise."""
        if self.window.runner.is_running:
            self.status.setText("A run is in progress; wait for it or stop it first.")
            return False
        try:
            self.sweep = Sweep.create(
                self.window.document.pipeline,
                self.space(),
                metric=self.objective.currentText().strip() or DEFAULT_METRIC,
                direction=self.direction.currentText(),
                sampler=self.sampler.currentText(),
                trials=self.trials_box.value(),
                timeout_s=self.minutes.value() * 60 or None,
                prune=self.prune.isChecked(),
                prune_startup=self.prune_startup,
                prune_warmup=self.prune_warmup,
            )
        except (UserError, WorkbenchError, OSError) as exc:
            self.status.setText(str(exc))
            return False
        self.trials = []
        self._fill_table()
        sweep = self.sweep
        self.status.setText(f"Sweep {sweep.sweep_id}: {sweep.direction} {sweep.metric} — starting…")

        def job(pipeline: Any, reporter: Any, token: Any, device: str) -> Any:
            from workbench.execution.executor import Executor, OutputCache

            def report(event: Any) -> None:  # each trial's start in its own batch: the live view resets
                if isinstance(event, E.RunStarted):
                    reporter.flush()
                    reporter(event)
                    reporter.flush()
                else:
                    reporter(event)

            result = sweep.run(
                reporter=report,
                token=token,
                on_trial=self._inbox.append,
                executor=Executor(self.window.registry, cache=OutputCache(16)),
                registry=self.window.registry,
            )
            self.result = result
            if result.best_run is not None:
                return result.best_run
            return UserError(result.message or "no trial of the sweep finished")

        self.result: Any = None
        started = self.window.runner.run(self.window.document.pipeline, job=job)
        if started:
            self.timer.start()
        self._update_buttons()
        return started

    @property
    def running(self) -> bool:
        return self.timer.isActive()

    @Slot(list)
    def _on_events(self, events: list) -> None:
        if self.running and any(isinstance(e, E.RunStarted) for e in events):
            panels = getattr(self.window, "panels", None)
            if panels is not None:
                panels.training.reset()

    @Slot(object)
    def _on_finished(self, result: object) -> None:
        if not self.running:
            return
        self.timer.stop()
        self._drain()
        outcome = getattr(self, "result", None)
        if outcome is not None and self.sweep is not None:
            best = outcome.best
            text = f"Sweep {self.sweep.sweep_id} {outcome.status}"
            if best is not None:
                text += f": best {self.sweep.metric} {best.value:.4g} (trial {best.number})"
            self.status.setText(text + (f" — {outcome.message}" if outcome.message else ""))
        elif isinstance(result, Exception):
            self.status.setText(f"Sweep stopped: {result}")
        self._update_buttons()

    @Slot()
    def _drain(self) -> None:
        fresh = False
        while self._inbox:
            self.trials.append(self._inbox.popleft())
            fresh = True
        if fresh:
            self._fill_table()
            self._draw()
            self._fill_importances()
            sweep = self.sweep
            if sweep is not None:
                done = [t for t in self.trials if t.state == "complete" and t.value is not None]
                pick = min if sweep.direction == "minimize" else max
                best = pick(done, key=lambda t: t.value) if done else None
                total = sweep.config["trials"]
                line = f"Trial {len(self.trials)} of {total} done"
                if best is not None:
                    line += f" · best {sweep.metric} {best.value:.4g} (trial {best.number})"
                pruned = sum(t.state == "pruned" for t in self.trials)
                self.status.setText(line + (f" · {pruned} pruned" if pruned else ""))

    def _fill_table(self) -> None:
        keys = [p.key for p in self.sweep.space] if self.sweep else []
        headers = ["#", "State", "Objective", *keys, "Epochs", "Seconds"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(self.trials))
        for row, trial in enumerate(self.trials):
            value = trial.value if trial.value is not None else trial.partial
            cells = [trial.number, trial.state, value, *(trial.params.get(k) for k in keys), trial.epochs,
                     round(trial.seconds, 1)]  # fmt: skip
            for col, cell in enumerate(cells):
                item = QTableWidgetItem(fmt(cell))
                if trial.state != "complete":
                    item.setForeground(QBrush(QColor(GREY)))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.table.scrollToBottom()

    def ensure_plot(self) -> Any:
        if self._plot is None:
            import pyqtgraph as pg

            self._plot = pg.PlotWidget()
            self._plot.setBackground(None)  # the window's colours, like the training plots
            self._plot.setLabel("bottom", "trial")
            self._plot.setMinimumHeight(180)
            self.right.insertWidget(1, self._plot, 1)
        return self._plot

    def _draw(self) -> None:
        import pyqtgraph as pg

        plot = self.ensure_plot()
        plot.clear()
        if self.sweep is not None:
            plot.setLabel("left", self.sweep.metric)
        done = [(t.number, t.value) for t in self.trials if t.state == "complete" and t.value is not None]
        pruned = [(t.number, t.partial) for t in self.trials if t.state == "pruned" and t.partial is not None]
        if pruned:
            xs, ys = zip(*pruned, strict=True)
            plot.plot(list(xs), list(ys), pen=None, symbol="x", symbolSize=9, symbolPen=GREY, name="pruned")
        if done:
            xs, ys = zip(*done, strict=True)
            plot.plot(
                list(xs), list(ys), pen=None, symbol="o", symbolSize=8, symbolBrush=BLUE, name="complete"
            )
            pick = min if self.sweep and self.sweep.direction == "minimize" else max
            best, line = -math.inf if pick is max else math.inf, []
            for x, y in done:
                best = pick(best, y)
                line.append((x, best))
            plot.plot(
                [p[0] for p in line], [p[1] for p in line], pen=pg.mkPen(GREEN, width=2), name="best so far"
            )
        self.points = {"complete": len(done), "pruned": len(pruned)}

    def _fill_importances(self) -> None:
        found = self.sweep.importances() if self.sweep is not None else {}
        self.importances.setRowCount(len(found))
        for row, (key, value) in enumerate(sorted(found.items(), key=lambda kv: -kv[1])):
            self.importances.setItem(row, 0, QTableWidgetItem(key))
            self.importances.setItem(
                row, 1, QTableWidgetItem(f"{value:.2f}  " + "█" * max(1, round(value * 20)))
            )

    # -- applying
    def apply_best(self) -> bool:
        """Set the best trial's values on the pipeline as ONE undoable command."""
        best = self.sweep.best() if self.sweep is not None else None
        if best is None:
            self.status.setText("No completed trial yet: nothing to apply.")
            return False
        document = self.window.document
        edits = changes(document.pipeline, self.sweep.space, best.params)
        commands = [C.SetParam(node, name, value) for (node, name), value in edits.items()
                    if node in document.pipeline]  # fmt: skip
        if not commands:
            self.status.setText("The nodes of this sweep are no longer in the pipeline.")
            return False
        applied = document.push(C.Macro(f"apply best of sweep (trial {best.number})", commands), merge=False)
        if applied:
            self.status.setText(
                f"Applied trial {best.number}: " + ", ".join(f"{k}={fmt(v)}" for k, v in best.params.items())
            )
        return applied

    def toggle_pause(self) -> bool:
        """Pause the sweep (the current trial waits at its next batch) or resume it; True when now paused."""
        paused = self.window.runner.toggle_pause()
        self.pause_button.setText("Resume" if paused else "Pause")
        return paused

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        if not running:
            self.pause_button.setText("Pause")
        self.stop_button.setEnabled(running)
        self.apply_button.setEnabled(not running and self.sweep is not None)

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        if self.running:  # the sweep goes on; the dialog can be shown again from the Run menu
            self.hide()
            event.ignore()
            return
        super().closeEvent(event)


# --------------------------------------------------------------------------- wiring into the window


class Experiments:
    """The Runs dock and the sweep dialog of one main window."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.runs = RunsView(dialogs=window.dialogs)
        dock = window._dock("runs", "Runs", self.runs, Qt.DockWidgetArea.BottomDockWidgetArea)
        if "results" in window.docks:
            window.tabifyDockWidget(window.docks["results"], dock)
        menus = {a.text(): a.menu() for a in window.menuBar().actions() if a.menu() is not None}
        if "&View" in menus:
            menus["&View"].addAction(dock.toggleViewAction())
        self.dialog: SweepDialog | None = None
        sweep = QAction("S&weep hyperparameters…", window)
        sweep.setStatusTip("Search parameter values with Optuna; every trial is a run in the Runs panel")
        sweep.triggered.connect(lambda checked=False: self.open_sweep())
        if "&Run" in menus:
            menus["&Run"].addSeparator()
            menus["&Run"].addAction(sweep)
        window.actions_by_name["sweep"] = sweep
        window.runner.finished.connect(self.runs.refresh)
        self.runs.open_requested.connect(self.open_pipeline)
        dock.visibilityChanged.connect(lambda visible: visible and self.runs.refresh())

    def open_sweep(self) -> SweepDialog:
        if self.dialog is None or not self.dialog.running:
            if self.dialog is not None:
                self.dialog.deleteLater()
            self.dialog = SweepDialog(self.window)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    @Slot(dict, str)
    def open_pipeline(self, data: dict, original: str) -> bool:
        """Open a run's pipeline as it ran, as a new unsaved document; relative data paths that resolved
        next to the original file are made absolute so the copy still finds its data."""
        from ui.document import Document
        from workbench import params as P
        from workbench.graph import Pipeline

        window = self.window
        if not window.files.maybe_save():
            return False
        try:
            pipeline = Pipeline.from_json(data, window.registry, source="<run history>")
        except (WorkbenchError, ValueError) as exc:
            window.statusBar().showMessage(f"Cannot open the run's pipeline: {exc}", 10000)
            return False
        folder = Path(original).parent if original else None
        for node in pipeline.nodes:
            spec = pipeline.spec(node.id)
            for param in spec.params if spec else ():
                value = node.params.get(param.name)
                if isinstance(param, P.Path) and param.mode == "open" and isinstance(value, str) and value:
                    if folder is not None and not Path(value).is_absolute() and (folder / value).exists():
                        node.params[param.name] = str((folder / value).resolve())
        window.set_document(Document(pipeline, registry=window.registry))
        window.statusBar().showMessage(
            "Opened a run's pipeline as it was (unsaved; Save as… to keep it)", 10000
        )
        return True


def install_experiments(window: MainWindow) -> Experiments:
    return Experiments(window)

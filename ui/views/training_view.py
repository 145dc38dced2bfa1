"""The training panel: live loss curves, the monitored metric, progress with rate and ETA, run controls.

Events arrive in batches (≤ ~30/s) from the run controller; they only update bounded in-memory series.
The plots are redrawn by a GUI timer at most ``REDRAW_MS`` apart and only when something changed, so a
fast training loop never waits for the screen (redrawing per event cost 12x throughput in the notes).
pyqtgraph is imported when the plots are first needed, after the window is shown.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ui import theme
from workbench import events as E

REDRAW_MS = 250
MAX_POINTS = 600  # per series; beyond this the history is thinned to half
LOSS_COLOURS = {"train_loss": "#3b82f6", "val_loss": "#f97316"}
METRIC_COLOUR = "#22c55e"
MAX_MARKERS = 80  # beyond this many epochs the per-epoch dots merge into a line (and cost paint time)


class Series:
    """One bounded curve. Points are kept at a stride that doubles whenever ``limit`` is reached, so the
    whole history stays evenly thinned; the newest point is always shown, even when it is off-stride."""

    def __init__(self, limit: int = MAX_POINTS) -> None:
        self.limit = max(4, limit)
        self.x: list[float] = []
        self.y: list[float] = []
        self.stride = 1
        self._count = 0  # points offered so far
        self._tail = False  # the last kept point is off-stride (replaced by the next one)

    def add(self, x: float, y: float) -> None:
        if self._tail:
            self.x.pop()
            self.y.pop()
        self._tail = self._count % self.stride != 0
        self._count += 1
        self.x.append(float(x))
        self.y.append(float(y))
        if len(self.x) > self.limit:
            self._halve()

    def _halve(self) -> None:
        tail = (self.x.pop(), self.y.pop()) if self._tail else None
        self.x, self.y = self.x[::2], self.y[::2]
        self.stride *= 2
        if tail is not None:
            self.x.append(tail[0])
            self.y.append(tail[1])

    def __len__(self) -> int:
        return len(self.x)


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average (TensorBoard-style, bias-corrected); weight 0 returns the values."""
    if weight <= 0 or not values:
        return list(values)
    out, last, norm = [], 0.0, 0.0
    for v in values:
        if not math.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        norm = norm * weight + (1 - weight)
        out.append(last / norm)
    return out


def monitored_metric(values: dict[str, float]) -> str | None:
    """The figure worth a second plot: validation accuracy for classes, validation MAE for numbers."""
    for name in ("val_accuracy", "val_mae", "val_r2"):
        if name in values:
            return name
    others = [k for k in values if k.startswith("val_") and k != "val_loss"]
    return others[0] if others else None


def format_eta(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "ETA —"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"ETA {seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"ETA {seconds // 60}:{seconds % 60:02d}"


def epochs_text(extra: Any) -> str:
    """'epoch 3/10', or 'epoch 3/auto (at most 200)' when the end is not known in advance (auto epochs)."""
    return f"epoch {extra.get('epoch', '?')}/{extra.get('epochs') or _auto_end(extra)}"


class TrainingView(QWidget):
    """Curves and progress of the training node of the current run."""

    device_seen = Signal(str, str)  # (device, precision) the run actually trains with

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series: dict[str, Series] = {}
        self.node_id = ""
        self.metric_name: str | None = None
        self.epochs_seen = 0
        self.redraws = 0
        self._dirty: set[int] = set()  # plots (0 loss, 1 metric) with data not drawn yet
        self._plots: Any = None  # (loss_plot, metric_plot) once pyqtgraph is loaded
        self._curves: dict[str, Any] = {}
        self._best_line: Any = None
        self._metric_title = ""
        self._x_max = 0  # epochs of the current run once known (fixes the x axis)
        self.states: dict[str, str] = {}  # node id → its latest state in this run
        self.last_epoch = 0  # the newest completed epoch of the training node (its last metrics step)
        self.outcome = ""  # how training ended: done, stopped, failed, cached, not run ("" while running)
        self._last_extra: dict[str, Any] = {}  # the newest progress details (epoch, epochs, batch, …)
        self._fit_extra: dict[str, Any] = {}  # the epochs FitStarted announced (before any progress)
        self._trained_node = ""  # the training node of an earlier run: a cached re-run reuses it
        self._eta_text = "ETA —"  # shown again when a pause ends

        self.run_button, self.pause_button, self.stop_button = QToolButton(), QToolButton(), QToolButton()
        self.log_scale = QCheckBox("Log scale")
        self.log_scale.toggled.connect(self._apply_log_scale)
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 95)
        self.smoothing.setFixedWidth(110)
        self.smoothing.setToolTip("Smoothing of the curves (exponential moving average)")
        self.smoothing.valueChanged.connect(self._mark_dirty)
        self.device_label = QLabel("Device: —")
        self.device_label.setObjectName("nodeHelp")

        controls = QHBoxLayout()
        for button in (self.run_button, self.pause_button, self.stop_button):
            controls.addWidget(button)
        controls.addSpacing(12)
        controls.addWidget(self.log_scale)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        controls.addStretch(1)
        controls.addWidget(self.device_label)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not running")
        self.rate_label = QLabel("— samples/s")
        self.eta_label = QLabel("ETA —")
        status = QHBoxLayout()
        status.addWidget(self.progress, 1)
        status.addWidget(self.rate_label)
        status.addWidget(self.eta_label)

        self.plot_area = QHBoxLayout()
        self.hint = QLabel("Press Run (F5): the training and validation loss appear here, epoch by epoch.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setObjectName("nodeHelp")
        self.plot_area.addWidget(self.hint)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        self.setMinimumHeight(250)  # curves and tables need room; the dock grows to fit
        layout.addLayout(controls)
        layout.addLayout(status)
        layout.addLayout(self.plot_area, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self._tick)
        self._pending_progress: E.Progress | None = None  # shown on the next tick, not per event

    # -- setup
    def set_actions(self, run: QAction, pause: QAction, stop: QAction) -> None:
        """Mirror the window's Run/Pause/Stop actions (enabled state and text follow them)."""
        for button, action in ((self.run_button, run), (self.pause_button, pause), (self.stop_button, stop)):
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)

    def ensure_plots(self) -> None:
        """Create the pyqtgraph plots (imports pyqtgraph, ~0.4 s) on first need."""
        if self._plots is not None:
            return
        import pyqtgraph as pg

        self.plot_area.removeWidget(self.hint)
        self.hint.hide()
        loss = pg.PlotWidget()
        metric = pg.PlotWidget()
        for plot, title in ((loss, "Loss"), (metric, "Monitored metric")):
            plot.setBackground(None)  # no grid: grid lines tripled the repaint time (GUI stalls)
            plot.setLabel("bottom", "epoch")
            plot.setTitle(title)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            self.plot_area.addWidget(plot, 1)
        loss.addLegend(offset=(-10, 10))
        for name, colour in LOSS_COLOURS.items():
            label = "train" if name == "train_loss" else "validation"
            self._curves[name] = loss.plot(
                [], [], name=label, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                symbolBrush=colour, symbolPen=None,
            )  # fmt: skip
        self._curves["metric"] = metric.plot(
            [], [], pen=pg.mkPen(METRIC_COLOUR, width=2), symbol="o", symbolSize=5,
            symbolBrush=METRIC_COLOUR, symbolPen=None,
        )  # fmt: skip
        self._best_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#9aa0a6", style=Qt.PenStyle.DashLine))
        self._best_line.setVisible(False)
        loss.addItem(self._best_line)
        self._plots = (loss, metric)
        self._apply_log_scale(self.log_scale.isChecked())
        self._dirty = {0, 1}

    # -- run lifecycle
    def reset(self) -> None:
        """A new run: clear the curves, start the redraw timer."""
        self.series.clear()
        self.node_id = ""
        self.metric_name = None
        self.epochs_seen = 0
        self._pending_progress = None
        self._x_max = 0
        self.states.clear()
        self.last_epoch = 0
        self.outcome = ""
        self._last_extra = {}
        self._fit_extra = {}
        self._set_bar_colour(None)
        if self._plots is not None:
            for plot in self._plots:
                plot.enableAutoRange(x=True)
        self.progress.setValue(0)
        self.progress.setFormat("Starting…")
        self.rate_label.setText("— samples/s")
        self._set_eta(None)
        self.ensure_plots()
        self._dirty = {0, 1}
        self.timer.start()

    def run_finished(self, status: str) -> None:
        """Say how *training* ended; a later node's failure belongs to that node (status bar and log)."""
        self.timer.stop()
        self._show_progress()
        self._set_eta(None)  # nothing runs any more
        if self.outcome:
            pass  # said when the training node ended
        elif self.node_id:
            self._training_ended(self.states.get(self.node_id), status)
        else:
            self._no_training(status)
        self.redraw()

    def set_paused(self, paused: bool) -> None:
        if self.outcome:  # training is over: a pause of later nodes says nothing about it
            return
        text = self.progress.format().removesuffix(" · paused")
        self.progress.setFormat(text + " · paused" if paused else text)
        self.eta_label.setText("ETA — (paused)" if paused else self._eta_text)

    def _training_ended(self, state: str | None, status: str = "") -> None:
        """The bar's final words from the training node's own state (``status``: the run's, a fallback)."""
        self._pending_progress = None
        self._set_eta(None)
        extra = self._last_extra or self._fit_extra  # no progress shown yet: what FitStarted said
        epochs, done = extra.get("epochs"), self.last_epoch or self.epochs_seen
        of = f"{epochs}" if epochs else f"at most {extra.get('max_epochs', '?')} (auto)"
        if state not in (E.DONE, E.STOPPED, E.FAILED):  # no final state seen: the run's status decides
            state = {"ok": E.DONE, "stopped": E.STOPPED}.get(status, E.FAILED)
        if state == E.DONE:
            self.outcome = "done"
            self.progress.setValue(1000)
            if epochs and done == epochs:
                self.progress.setFormat(f"Training done: {done}/{epochs} epochs")
            else:
                self.progress.setFormat(f"Training done after {done} of {of} epochs")
        elif state == E.STOPPED:
            self.outcome = "stopped"
            if isinstance(epochs, int) and epochs > 0:  # progress events lag the epochs actually done
                self.progress.setValue(max(self.progress.value(), int(1000 * min(1.0, done / epochs))))
            self.progress.setFormat(f"Stopped after {done} of {of} epochs · the model so far is kept")
            if self._plots is not None:  # a fixed axis of e.g. 3000 epochs would squeeze a short run
                for plot in self._plots:
                    plot.enableAutoRange(x=True)
        else:
            self.outcome = "failed"
            self.progress.setFormat(f"Training failed in {epochs_text(extra)}")
        self._set_bar_colour(self.outcome)

    def _no_training(self, status: str) -> None:
        """No progress came from a training node in this run: say why, without claiming more."""
        previous = self.states.get(self._trained_node, "") if self._trained_node else ""
        self.outcome = "not run"
        if previous == E.CACHED:
            self.outcome = "cached"
            self.progress.setValue(1000)
            self.progress.setFormat("Training reused from an earlier run (cached): no new epochs")
        elif status == "stopped":
            self.progress.setFormat("Stopped before any training")
        elif previous == E.SKIPPED and status == "failed":
            self.progress.setFormat("Training did not run: an earlier node failed")
        else:
            self.progress.setFormat("No training in this run")
        self._set_bar_colour(self.outcome)

    def _set_eta(self, seconds: float | None) -> None:
        self._eta_text = format_eta(seconds)
        self.eta_label.setText(self._eta_text)

    def _set_bar_colour(self, outcome: str | None) -> None:
        """The bar's fill follows the canvas badge colours: amber for a stop, red only for a failure."""
        palette = QPalette(self.palette())
        state = {"stopped": E.STOPPED, "failed": E.FAILED, "done": E.DONE, "cached": E.CACHED}.get(
            outcome or ""
        )
        if state is not None:
            palette.setColor(QPalette.ColorRole.Highlight, theme.state_colour(state))
        self.progress.setPalette(palette)

    def bar_colour(self) -> str:
        """The bar's fill colour as #rrggbb (tests)."""
        return self.progress.palette().color(QPalette.ColorRole.Highlight).name()

    @Slot(list)
    def add_events(self, events: list) -> None:
        """Fold a batch of run events into the series and labels; no drawing here."""
        for event in events:
            if isinstance(event, E.MetricsLogged) and event.kind == "epoch":
                self._add_metrics(event)
            elif isinstance(event, E.Progress) and "epoch" in event.extra:
                self.node_id = self.node_id or event.node_id
                self._trained_node = self.node_id
                if not self.outcome:
                    self._pending_progress = event
            elif isinstance(event, E.NodeStateChanged):
                self.states[event.node_id] = event.state
                if event.node_id == self.node_id and event.state in (E.DONE, E.STOPPED, E.FAILED):
                    self._show_progress()  # the last figures first, then the words that end them
                    self._training_ended(event.state)
            elif isinstance(event, E.FitStarted):
                self._fit_extra = {"epochs": event.epochs} if event.epochs else {}
                self.device_label.setText(f"Device: {event.device} · precision {event.precision}")
                self.device_seen.emit(event.device, event.precision)

    def _add_metrics(self, event: E.MetricsLogged) -> None:
        if event.node_id != self.node_id:
            self.series.clear()
            self.node_id = event.node_id
            self.metric_name = None
            self.epochs_seen = 0
            self.last_epoch = 0
        values = {k: float(v) for k, v in event.values.items()}
        if self.metric_name is None:
            self.metric_name = monitored_metric(values)
        for name, value in values.items():
            if math.isfinite(value):
                self.series.setdefault(name, Series()).add(event.step, value)
        self.epochs_seen += 1
        self.last_epoch = max(self.last_epoch, int(event.step))
        self._dirty = {0, 1}

    @Slot()
    def _tick(self) -> None:
        self._show_progress()
        self.redraw()

    def _show_progress(self) -> None:
        """Progress bar, rate and ETA from the newest progress event (at most once per tick)."""
        event, self._pending_progress = self._pending_progress, None
        if event is None or self.outcome:
            return
        extra = event.extra
        self._last_extra = dict(extra)
        epochs = extra.get("epochs")
        if isinstance(epochs, int) and epochs != self._x_max and self._plots is not None:
            # A fixed epoch axis: its ticks are drawn once, not regenerated on every redraw.
            self._x_max = epochs
            for plot in self._plots:
                plot.enableAutoRange(x=False)
                plot.setXRange(1, max(2, epochs), padding=0.02)
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, event.fraction)))))
        self.progress.setFormat(
            f"{epochs_text(extra)} · batch {extra.get('batch', '?')}/{extra.get('batches', '?')}"
        )
        if event.rate:
            self.rate_label.setText(f"{event.rate:,.0f} {event.rate_unit or 'samples/s'}")
        self._set_eta(extra.get("eta_total_s", event.eta_s))

    # -- drawing (GUI timer only)
    @Slot()
    def _mark_dirty(self, *args: object) -> None:
        self._dirty = {0, 1}
        if not self.timer.isActive():
            self.redraw()

    @Slot(bool)
    def _apply_log_scale(self, on: bool) -> None:
        if self._plots is not None:
            self._plots[0].setLogMode(y=on)
            self._plots[0].enableAutoRange(y=True)
            self._dirty = {0, 1}
            self.redraw()

    @Slot()
    def redraw(self) -> None:
        """Push the series into the curves. While a run is live the two plots take turns, so one
        repaint (the costly part: ~7 ms per plot here) never holds the event loop for both."""
        if not self._dirty or self._plots is None:
            return
        live = self.timer.isActive()
        turns = [self.redraws % 2] if live else [0, 1]
        self.redraws += 1
        weight = self.smoothing.value() / 100.0
        symbols = max((len(s) for s in self.series.values()), default=0) <= MAX_MARKERS
        for turn in turns:
            if turn in self._dirty:
                self._dirty.discard(turn)
                (self._draw_losses if turn == 0 else self._draw_metric)(weight, symbols)

    def _draw_losses(self, weight: float, symbols: bool) -> None:
        log = self.log_scale.isChecked()
        values: list[float] = []
        for name in LOSS_COLOURS:
            series = self.series.get(name)
            xs, ys = (series.x, smooth(series.y, weight)) if series else ([], [])
            if log:  # log axes cannot show zero or negative losses
                kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                xs, ys = [p[0] for p in kept], [p[1] for p in kept]
            self._curves[name].setSymbol("o" if symbols else None)  # per-epoch markers while readable
            self._curves[name].setData(xs, ys)
            values.extend(ys)
        if not log:
            self._fit_y(self._plots[0], values)
        val = self.series.get("val_loss")
        if val is not None and len(val):
            best = min(range(len(val)), key=lambda i: val.y[i])
            self._best_line.setPos(val.x[best])
            self._best_line.setVisible(True)
        else:
            self._best_line.setVisible(False)

    def _draw_metric(self, weight: float, symbols: bool) -> None:
        curve = self._curves["metric"]
        curve.setSymbol("o" if symbols else None)
        metric = self.series.get(self.metric_name or "")
        if metric is None:
            curve.setData([], [])
            return
        ys = smooth(metric.y, weight)
        curve.setData(metric.x, ys)
        self._fit_y(self._plots[1], ys)
        title = self.metric_name.replace("val_", "validation ").replace("_", " ")
        if self._metric_title != title:
            self._metric_title = title
            self._plots[1].setTitle(title)

    @staticmethod
    def _fit_y(plot: Any, values: list[float]) -> None:
        """Change the y range only when the data leaves it or fills under half of it, so the axis
        (whose ticks are costly to regenerate) stays put on most redraws."""
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return
        low, high = min(finite), max(finite)
        (view_low, view_high) = plot.getViewBox().viewRange()[1]
        span = max(high - low, 1e-12)
        inside = view_low <= low and high <= view_high
        if inside and span >= 0.5 * (view_high - view_low):
            return
        pad = 0.08 * span
        plot.enableAutoRange(y=False)
        plot.setYRange(low - pad, high + pad, padding=0)

    def points(self, name: str = "train_loss") -> int:
        """How many points the named curve shows now (tests)."""
        if self._plots is None:
            return 0
        curve = self._curves["metric" if name == "metric" else name]
        xs, _ = curve.getData()
        return 0 if xs is None else len(xs)


def _auto_end(extra: dict) -> str:
    """Auto epochs (train.supervised epochs = 0) send no fixed end, only the cap."""
    cap = extra.get("max_epochs")
    return f"auto (at most {cap})" if cap else "?"

"""The results panel's "Explain a row": pick a row of the test split, see why the model predicted what it did.

Integrated gradients (``workbench.evaluation.attribution``) from the training mean row, summed back to the
user's own columns, drawn as horizontal bars: red pushed the output up (towards the predicted class, or a
larger value), blue pushed it down. Preparing the split and each explanation run in a background thread,
one at a time, newest request only: one row is one batched forward/backward of 32 steps, ~0.2 ms with one
torch thread but 20–60 ms with two on a loaded two-core machine, and preparing a large split takes seconds.
Nothing is prepared until the section is first shown, so a run the user does not explain costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from workbench.evaluation.attribution import RowExplainer, RowExplanation

PUSH_UP = "#ef4444"  # red: raised the explained output (as in the picture overlay)
PUSH_DOWN = "#3b82f6"  # blue: lowered it
TOP = 20  # columns drawn; the rest are summed into the note under the bars


class _Worker(QObject):
    """Background jobs one at a time (they share the model); ``done`` hands the newest job's result (or
    exception) to the GUI thread. Daemon threads, so a long preparation never holds up closing the app."""

    done = Signal(int, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._serial = threading.Lock()
        self.generation = 0
        self._callbacks: dict[int, Callable[[Any], None]] = {}
        self.done.connect(self._deliver)

    def start(self, work: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Run ``work``; a job superseded before it starts is skipped, one superseded after is dropped."""
        self.generation += 1
        number = self.generation
        self._callbacks = {number: on_done}

        def run() -> None:
            with self._serial:
                if number != self.generation:
                    return
                try:
                    result: Any = work()
                except Exception as exc:  # noqa: BLE001 - shown in the view as one line, never a crash
                    result = exc
            try:
                self.done.emit(number, result)
            except RuntimeError:  # the view was deleted while this ran: nobody to tell
                pass

        threading.Thread(target=run, name="row-explain", daemon=True).start()

    def cancel(self) -> None:
        self.generation += 1
        self._callbacks = {}

    @Slot(int, object)
    def _deliver(self, number: int, result: object) -> None:
        callback = self._callbacks.pop(number, None)
        if callback is not None and number == self.generation:
            callback(result)


def bar_rows(columns: list[str], values: list[str], attributions: list[float], top: int = TOP) -> tuple:
    """(labels, attributions) of the ``top`` columns by |attribution|, largest first, and (count, sum) of
    the rest."""
    order = sorted(range(len(columns)), key=lambda i: -abs(attributions[i]))
    shown, rest = order[:top], order[top:]
    labels = [f"{columns[i]} = {values[i]}" if values[i] else columns[i] for i in shown]
    return labels, [attributions[i] for i in shown], (len(rest), float(sum(attributions[i] for i in rest)))


class RowExplainView(QWidget):
    """Spin box over the test split's rows, the prediction, and per-column integrated-gradients bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        import pyqtgraph as pg

        super().__init__(parent)
        self.model: Any = None
        self.dataset: Any = None
        self.explainer: Any = None
        self.explanation: Any = None  # the RowExplanation on screen (tests read it)
        self._pending = False
        self.labels: list[str] = []
        self.worker = _Worker(self)

        self.row = QSpinBox()
        self.row.setMinimum(1)
        self.row.setMaximum(1)
        self.row.setEnabled(False)
        self.row.setToolTip("Which row of the test split to explain (1 = its first row)")
        self.row.valueChanged.connect(self._row_changed)
        self.of = QLabel("")
        self.prediction = QLabel("")
        self.prediction.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Row of the test split:"))
        picker.addWidget(self.row)
        picker.addWidget(self.of)
        picker.addSpacing(16)
        picker.addWidget(self.prediction, 1)

        self.plot = pg.PlotWidget()
        self.plot.setBackground(None)
        self.plot.showGrid(x=True, y=False, alpha=0.2)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.invertY(True)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)  # "(x0.001)" beside a logit reads as a unit
        self.plot.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#94a3b8")))
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7)
        self.plot.addItem(self.bars)
        self.note = QLabel("")
        self.note.setObjectName("nodeHelp")
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(picker)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.note)

    # -- the model and dataset of a run
    def set_source(self, model: Any, dataset: Any) -> None:
        """Explain rows of ``dataset``'s test split with ``model`` (None, None: forget the last run)."""
        self.worker.cancel()
        self.model, self.dataset = model, dataset
        self.explainer = self.explanation = None
        self.row.blockSignals(True)
        self.row.setRange(1, 1)
        self.row.setValue(1)
        self.row.blockSignals(False)
        self.row.setEnabled(False)
        self.of.setText("")
        self.prediction.setText("")
        self._draw([], [])
        self.note.setText("")
        self._pending = model is not None and dataset is not None
        if self._pending and self.isVisible():
            self._prepare()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._pending:
            self._prepare()

    def _prepare(self) -> None:
        self._pending = False
        model, dataset = self.model, self.dataset
        self.note.setText("Preparing the test split…")

        def work() -> Any:
            from workbench.evaluation.attribution import RowExplainer

            return RowExplainer(model, dataset, "test")

        self.worker.start(work, self._prepared)

    def _prepared(self, result: object) -> None:
        if isinstance(result, Exception):
            self.note.setText(f"Cannot explain rows: {result}")
            return
        self.explainer = explainer = cast("RowExplainer", result)
        n = explainer.n_rows
        if n == 0:
            self.note.setText("The test split has no rows to explain.")
            return
        self.row.blockSignals(True)
        self.row.setRange(1, n)
        self.row.blockSignals(False)
        self.row.setEnabled(True)
        self.of.setText(f"of {n:,}")
        self.explain(self.row.value() - 1)

    # -- one row
    @Slot(int)
    def _row_changed(self, value: int) -> None:
        self.explain(value - 1)

    def explain(self, row: int) -> bool:
        """Explain test row ``row`` (0-based) in the background; False until the split is prepared."""
        explainer = self.explainer
        if explainer is None:
            return False
        self.worker.start(lambda: explainer.explain(row), self._explained)
        return True

    def _explained(self, result: object) -> None:
        if isinstance(result, Exception):
            self.note.setText(f"Cannot explain this row: {result}")
            return
        self.explanation = e = cast("RowExplanation", result)
        up = "the predicted class" if self.model.task == "classification" else "a larger value"
        self.prediction.setText(f"Predicted <b>{escape(e.prediction)}</b> · actual {escape(e.actual)}")
        labels, values, (n_rest, rest) = bar_rows(e.columns, e.values, e.attributions)
        self._draw(labels, values)
        more = f" {n_rest} more column(s) add {rest:+.3g}." if n_rest else ""
        self.note.setText(
            f"Integrated gradients from the training mean row: red pushed towards {up}, blue away.{more}\n"
            + e.completeness_line()
        )

    def _draw(self, labels: list[str], values: list[float]) -> None:
        import pyqtgraph as pg

        widths = np.asarray(values, dtype=float)
        brushes = [pg.mkBrush(PUSH_UP if v >= 0 else PUSH_DOWN) for v in widths]
        self.bars.setOpts(x0=np.zeros(len(widths)), y=np.arange(len(widths), dtype=float), width=widths,
                          height=0.7, brushes=brushes)  # fmt: skip
        self.labels = [label[:32] for label in labels]
        self.plot.getAxis("left").setTicks([list(enumerate(self.labels))])
        what = self.explanation.explained if self.explanation is not None else ""
        self.plot.setLabel("bottom", f"contribution to {what}" if what else "")
        if len(widths):
            reach = float(np.abs(widths).max()) or 1.0
            self.plot.setXRange(min(0.0, widths.min()) - 0.05 * reach, max(0.0, widths.max()) + 0.05 * reach)
            self.plot.setYRange(-0.5, len(widths) - 0.5)

    def bar_values(self) -> tuple[list[str], list[float], list[str]]:
        """(tick labels, bar widths, bar colours) as drawn (tests)."""
        widths = [float(w) for w in np.asarray(self.bars.opts.get("width", []), dtype=float)]
        colours = [b.color().name() for b in self.bars.opts.get("brushes") or []]
        return list(self.labels), widths, colours

"""The data, training and results panels on their own: big tables, bounded curves, every result part."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import Qt

from ui.views.data_view import DataView, FrameModel, tables_in
from ui.views.results_view import ResultsView, find_outputs
from ui.views.training_view import Series, TrainingView, format_eta, smooth
from workbench import events as E
from workbench.evaluation.importance import ImportanceReport
from workbench.evaluation.metrics import EvaluationReport, regression_metrics
from workbench.evaluation.surrogate import SurrogateReport
from workbench.tabular.dataset import Dataset


@pytest.fixture(scope="module")
def million() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 1_000_000
    income = rng.normal(3000, 800, n)
    income[::97] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "income": income,
            "region": pd.Series(rng.choice(["north", "south", "east"], n), dtype="string"),
            "when": pd.date_range("2020-01-01", periods=n, freq="min"),
            "flag": rng.random(n) > 0.5,
        }
    )


def test_data_model_on_a_million_rows_answers_any_cell(qtbot, million):
    """Per-cell time is a benchmark (benchmarks/bench_ui.py --only dataview), not a timed test."""
    model = FrameModel(million)
    assert model.rowCount() == 1_000_000 and model.columnCount() == 5
    for row in [random.randrange(1_000_000) for _ in range(2000)]:
        assert model.data(model.index(row, 0)) == str(row)
    assert model.data(model.index(999_999, 0)) == "999999"
    assert model.data(model.index(97, 1)) == ""  # missing shows empty
    assert model.data(model.index(1, 3)) == "2020-01-01 00:01:00"
    assert model.data(model.index(0, 4)) in ("True", "False")
    assert model.headerData(2, Qt.Orientation.Horizontal) == "region"
    assert model.data(model.index(0, 1), Qt.ItemDataRole.TextAlignmentRole) is not None


def test_data_view_scrolls_a_million_rows_and_profiles_columns(qtbot, million):
    view = DataView()
    qtbot.addWidget(view)
    view.resize(900, 400)
    view.show()
    view.show_tables("big", {"table": million})
    assert "1,000,000 rows × 5 columns" in view.title.text()
    for _ in range(20):  # scroll jumps land where asked (their repaint time: benchmarks/bench_ui.py)
        target = random.randrange(999_000)
        view.table.verticalScrollBar().setValue(target)
        view.table.viewport().repaint()
        top = view.table.rowAt(0)
        assert view.table.model().data(view.table.model().index(top, 0)) == str(top)
        assert abs(top - target) <= 1
    view.show_column(1)
    assert view.profile["name"] == "income" and view.profile["missing"] == 10310
    assert view.stats_labels["missing"].text().startswith("10,310")
    (bars,) = view.histogram.listDataItems()
    heights = list(bars.opts["height"])
    assert len(heights) == 20 and sum(heights) == 1_000_000 - 10310
    view.show_column(2)
    assert view.profile["kind"] == "category" and "north" in view.stats_labels["top"].text()


def test_tables_in_finds_frames_and_dataset_splits():
    frame = pd.DataFrame({"a": [1, 2]})
    dataset = Dataset(frame, frame.iloc[:1], frame.iloc[1:], "a", "regression", ["a"], {"a": "numeric"})
    assert list(tables_in(frame, "table")) == ["table"]
    tables = tables_in(dataset, "dataset")
    assert list(tables) == ["dataset · train", "dataset · val", "dataset · test"]
    assert len(tables["dataset · test"]) == 1
    # by type, not by shape: a value that merely has a table or splits attribute is not a table
    assert tables_in(SimpleNamespace(table=frame, splits=dataset.splits), "x") == {}
    assert tables_in(object(), "model") == {} and tables_in(None, "x") == {}


def test_series_stays_bounded_and_keeps_the_latest_point_exact():
    series = Series(limit=100)
    for step in range(1, 5001):
        series.add(step, 1.0 / step)
    assert len(series) <= 100
    assert series.x[-1] == 5000 and series.y[-1] == pytest.approx(1 / 5000)
    assert series.x == sorted(series.x) and series.x[0] == 1 and len(series) > 50
    gaps = {b - a for a, b in zip(series.x[:-2], series.x[1:-2], strict=False)}
    assert len(gaps) == 1  # evenly thinned


def test_smoothing_and_helpers():
    noisy = [1.0, 3.0] * 20
    assert smooth(noisy, 0) == noisy
    smoothed = smooth(noisy, 0.9)
    assert max(smoothed[10:]) - min(smoothed[10:]) < 1.0 and smoothed[0] == 1.0
    assert format_eta(75) == "ETA 1:15" and format_eta(3725) == "ETA 1:02:05" and format_eta(None) == "ETA —"


def test_training_view_folds_events_and_draws_only_on_its_timer(qtbot):
    view = TrainingView()
    qtbot.addWidget(view)
    view.show()
    view.reset()
    redraws = view.redraws
    events = [E.FitStarted("train", "cpu (1 thread)", "fp32", 10, 64, 10)]
    for epoch in range(1, 6):
        events.append(E.MetricsLogged("train", epoch, {"train_loss": 1 / epoch, "val_loss": 2 / epoch,
                                                        "val_accuracy": 0.5 + epoch / 20, "lr": 0.001}))  # fmt: skip
    events.append(E.Progress("train", 0.5, rate=1234.0, rate_unit="samples/s",
                             extra={"epoch": 5, "epochs": 10, "batch": 3, "batches": 20, "eta_total_s": 65}))  # fmt: skip
    view.add_events(events)
    assert view.redraws == redraws and view.points("train_loss") == 0  # nothing drawn per event
    assert view.progress.value() == 0  # the bar moves on the timer too
    qtbot.waitUntil(lambda: view.progress.value() == 500, timeout=30_000)
    assert view.progress.format() == "epoch 5/10 · batch 3/20"
    assert view.rate_label.text() == "1,234 samples/s" and view.eta_label.text() == "ETA 1:05"
    assert view.device_label.text() == "Device: cpu (1 thread) · precision fp32"
    qtbot.waitUntil(lambda: view.points("train_loss") == 5 and view.points("metric") == 5, timeout=30_000)
    assert view.metric_name == "val_accuracy"
    view.log_scale.setChecked(True)
    assert view._plots[0].getPlotItem().ctrl.logYCheck.isChecked()
    view.run_finished("ok")
    assert not view.timer.isActive() and view.progress.value() == 1000


def test_training_view_ends_with_the_announced_epochs_when_no_progress_was_shown(qtbot):
    """Metrics and the end state came, the throttled progress did not: the words still say 3/3 (CI case)."""
    view = TrainingView()
    qtbot.addWidget(view)
    view.reset()
    events: list = [E.FitStarted("train", "cpu (1 thread)", "fp32", 10, 64, 3)]
    events += [E.MetricsLogged("train", epoch, {"train_loss": 1 / epoch}) for epoch in (1, 2, 3)]
    view.add_events(events + [E.NodeStateChanged("train", E.DONE)])
    assert view.progress.format() == "Training done: 3/3 epochs"


def _run_like(*values):
    node = SimpleNamespace(outputs={f"out{i}": v for i, v in enumerate(values)})
    return SimpleNamespace(nodes={"n": node})


def test_results_view_shows_regression_importance_and_rules(qtbot):
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    split = regression_metrics(y, y + rng.normal(scale=0.1, size=200))
    report = EvaluationReport("regression", "price", [], {"test": split, "val": split})
    importance = ImportanceReport("r2", "test", 0.9, 5, rows=[
        {"column": "area", "mean": 0.4, "std": 0.05}, {"column": "rooms", "mean": 0.1, "std": 0.02}])  # fmt: skip
    surrogate = SurrogateReport("regression", 3, 0.93, 0.95, "R²", rules=[{"text": "if area > 80 then 410k"}])
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_result(_run_like(report, importance, surrogate))
    assert view.tab_names() == ["Residuals", "Importance", "Rules"]
    figures = view.metric_values()
    assert set(figures) >= {"mae", "rmse", "r2", "mape"} and float(figures["r2"]) > 0.95
    assert "if area > 80" in view.rules.toPlainText() and "0.930" in view.rules.toPlainText()
    assert "predicting 'price'" in view.headline.text()
    assert not view.export_button.isEnabled()  # no model in this run
    view.show_result(None)
    assert view.tab_names() == [] and view.metrics.rowCount() == 0


def test_find_outputs_tells_the_kinds_apart():
    import torch

    from workbench.engine.trained import TrainedModel
    from workbench.export.bundle import Bundle

    frame = pd.DataFrame({"y": [1.0, 2.0]})
    model = TrainedModel(torch.nn.Linear(1, 1), {"kind": "linear"}, "regression")
    dataset = Dataset(frame, frame, frame, "y", "regression", [], {})
    bundle = Bundle(Path("b"), {})
    report = EvaluationReport("regression", "y", [])
    found = find_outputs(_run_like(model, dataset, bundle, report, frame))
    assert found["model"] is model and found["dataset"] is dataset and found["bundle"] is bundle
    assert found["evaluation"] is report and found["table"] is frame
    # a look-alike is not a model: the kind comes from the class, not from its attributes
    assert find_outputs(_run_like(SimpleNamespace(module=1, architecture={}))) == {}


def test_none_survives_pyside_dropping_its_references(qtbot):
    """PySide6 6.12 returns None from void QPainter calls without a reference; ui pins None (Python < 3.12)."""
    import sys

    from PySide6.QtGui import QImage, QPainter, QPen

    from ui.refcount_guard import PIN

    if sys.version_info >= (3, 12):
        pytest.skip("None is immortal on Python 3.12+")
    assert sys.getrefcount(None) > PIN
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    before = sys.getrefcount(None)
    for _ in range(1000):
        painter.setPen(QPen())
    painter.end()
    assert sys.getrefcount(None) > PIN  # whatever the binding does, None stays far from zero
    assert before - sys.getrefcount(None) < 2000

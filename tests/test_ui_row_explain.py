"""The results panel's "Explain a row": a real model on a real split, bars drawn from the explanation."""

from __future__ import annotations

import dataclasses
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from test_evaluation_importance import synthetic
from test_export_models import split, train

from ui.views.results_view import ResultsView
from ui.views.row_explain import PUSH_DOWN, PUSH_UP, RowExplainView, bar_rows
from workbench.evaluation.attribution import RowExplainer


@pytest.fixture(scope="module")
def trained():
    dataset = split(synthetic("shape", 500), "label")
    return train(dataset, epochs=15), dataset


def _run_like(*values):
    node = SimpleNamespace(outputs={f"out{i}": v for i, v in enumerate(values)})
    return SimpleNamespace(nodes={"n": node}, status="ok")


def test_bars_show_the_rows_attributions_per_column_off_the_gui_thread(qtbot, trained, monkeypatch) -> None:
    model, dataset = trained
    threads: list[bool] = []
    original = RowExplainer.explain

    def recording(self, row, steps=32):
        threads.append(threading.current_thread() is threading.main_thread())
        return original(self, row, steps)

    monkeypatch.setattr(RowExplainer, "explain", recording)
    view = RowExplainView()
    qtbot.addWidget(view)
    view.set_source(model, dataset)
    assert view.explainer is None  # nothing prepared while hidden
    view.show()
    qtbot.waitUntil(lambda: view.explanation is not None, timeout=20_000)
    assert threads == [False]
    e = view.explanation
    assert (
        e.row == 0 and view.row.maximum() == len(dataset.test) and view.of.text() == f"of {len(dataset.test)}"
    )
    labels, widths, colours = view.bar_values()
    assert len(labels) == 5 and any(label.startswith("shape = ") for label in labels)
    expected = sorted(e.attributions, key=abs, reverse=True)
    np.testing.assert_allclose(widths, expected)
    assert colours == [PUSH_UP if w >= 0 else PUSH_DOWN for w in widths]
    assert f"Predicted <b>{e.prediction}</b>" in view.prediction.text()
    assert "training mean row" in view.note.text() and "gap" in view.note.text()

    view.row.setValue(4)
    qtbot.waitUntil(lambda: view.explanation.row == 3, timeout=20_000)
    assert view.explanation.values[4] == str(dataset.test["shape"].iloc[3])
    view.set_source(None, None)
    assert view.explanation is None and view.bar_values()[1] == [] and not view.row.isEnabled()


def test_a_dataset_that_does_not_fit_the_model_is_one_line(qtbot, trained) -> None:
    model, _ = trained
    other = split(synthetic("shape", 200).rename(columns={"shape": "form"}), "label")
    view = RowExplainView()
    qtbot.addWidget(view)
    view.show()
    view.set_source(model, other)
    qtbot.waitUntil(lambda: view.note.text().startswith("Cannot explain rows:"), timeout=20_000)
    assert "\n" not in view.note.text() and "dataset" in view.note.text()
    assert view.explanation is None and not view.row.isEnabled()


def test_results_view_offers_it_for_table_models_only(qtbot, trained) -> None:
    model, dataset = trained
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_result(_run_like(model, dataset))
    assert "Explain a row" in view.tab_names() and view.row_explain.model is model
    view.show_result(_run_like(dataclasses.replace(model, images={"size": [8, 8]}), dataset))
    assert "Explain a row" not in view.tab_names() and view.row_explain.model is None
    view.show_result(None)
    assert view.tab_names() == [] and view.row_explain.model is None


def test_only_the_largest_columns_are_drawn_and_the_rest_summed() -> None:
    columns = [f"c{i}" for i in range(25)]
    values = [""] * 24 + ["7"]
    attributions = [float(i) * (-1) ** i for i in range(25)]
    labels, shown, (n_rest, rest) = bar_rows(columns, values, attributions, top=20)
    assert labels[0] == "c24 = 7" and shown[:2] == [24.0, -23.0] and len(shown) == 20
    assert n_rest == 5 and rest == pytest.approx(sum(attributions[:5]))

"""Permutation importance per original input column finds the informative column of a synthetic set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_export_models import run_node, split, train

from workbench.errors import UserError
from workbench.evaluation.importance import feature_groups, model_importance
from workbench.nodes.evaluate import EvaluateImportance
from workbench.tabular.chain import transform


def synthetic(informative: str, n: int = 800, seed: int = 3) -> pd.DataFrame:
    """Only ``informative`` ("signal" numeric, or "shape" category) decides the label; the rest is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "signal": rng.normal(0, 1, n),
            "noise_a": rng.normal(0, 1, n),
            "noise_b": rng.uniform(-2, 2, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "shape": rng.choice(["circle", "square", "star", "moon"], n),
        }
    )
    if informative == "signal":
        frame["label"] = np.where(frame["signal"] > 0, "a", "b")
    else:
        frame["label"] = np.where(frame["shape"].isin(["circle", "star"]), "a", "b")
    return frame


@pytest.mark.parametrize("informative", ["signal", "shape"])
def test_finds_the_informative_column(informative: str) -> None:
    dataset = split(synthetic(informative), "label")
    model = train(dataset, epochs=25)
    report = model_importance(model, dataset, repeats=4, seed=1)
    columns = [row["column"] for row in report.rows]
    assert sorted(columns) == ["color", "noise_a", "noise_b", "shape", "signal"]  # original columns only
    assert columns[0] == informative
    top = report.rows[0]
    assert top["mean"] > 0.25 and len(top["values"]) == 4
    assert all(abs(row["mean"]) < 0.08 for row in report.rows[1:])
    assert report.baseline > 0.9 and report.scoring == "accuracy"
    by_name = {row["column"]: row for row in report.rows}
    assert by_name["shape"]["n_features"] == 5  # 4 one-hot columns + the unseen bucket, shuffled together
    again = model_importance(model, dataset, repeats=4, seed=1)
    assert [r["values"] for r in again.rows] == [r["values"] for r in report.rows]


def test_group_permutation_equals_permuting_the_raw_column() -> None:
    """Shuffling the derived columns together == shuffling the raw column and re-running chain.transform."""
    frame = synthetic("shape", 300)
    frame.loc[::7, "signal"] = np.nan
    dataset = split(frame, "label")
    model = train(dataset, epochs=1)
    raw = dataset.test.drop(columns=["label"]).reset_index(drop=True)
    x = transform(model.chain, raw, model.feature_names)
    order = np.random.default_rng(0).permutation(len(raw))
    groups = feature_groups(model.chain, model.feature_names)
    assert set(groups) == set(raw.columns)
    for column, indices in groups.items():
        grouped = x.copy()
        grouped[:, indices] = x[order][:, indices]
        shuffled = raw.copy()
        shuffled[column] = raw[column].to_numpy()[order]
        assert np.array_equal(
            grouped, transform(model.chain, shuffled, model.feature_names), equal_nan=True
        ), column


def test_regression_scoring_and_node_table() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 500), "z": rng.normal(0, 1, 500)})
    frame["y"] = 3.0 * frame["x"] + rng.normal(0, 0.1, 500)
    dataset = split(frame, "y", task="regression")
    model = train(dataset, epochs=20)
    out = run_node(
        EvaluateImportance, {"model": model, "dataset": dataset}, {"repeats": 3, "scoring": "rmse"}
    )
    table = out["table"]
    assert list(table["column"]) == ["x", "z"] and table["importance"].iloc[0] > 1.0
    assert out["report"].scoring == "rmse" and out["report"].baseline > 0  # shown as the error itself
    assert out["report"].metrics["most_important_column"] == "x"
    with pytest.raises(UserError, match="does not fit a regression model"):
        model_importance(model, dataset, scoring="accuracy")

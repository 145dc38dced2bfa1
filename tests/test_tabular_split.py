"""Splitting: task detection, stratification, time order, dropped targets and the corpus's target edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.errors import UserError
from workbench.tabular.io import read_table
from workbench.tabular.split import detect_task, split_table

DATA = Path(__file__).parent / "data"


def frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "label": np.where(rng.random(n) < 0.2, "rare", "common"),
            "amount": rng.normal(100, 10, n),
        }
    )


def test_detect_task():
    assert detect_task(pd.Series(["a", "b"])) == "classification"
    assert detect_task(pd.Series([True, False, True])) == "classification"
    assert detect_task(pd.Series([0, 1, 1, 0, 2] * 10)) == "classification"
    assert detect_task(pd.Series([0.0, 1.0] * 10)) == "classification"
    assert detect_task(pd.Series(np.linspace(0, 1, 100))) == "regression"
    assert detect_task(pd.Series(np.arange(100))) == "regression"


def test_stratified_split_keeps_class_shares_and_covers_every_row():
    table = frame(1000)
    ds = split_table(table, "label", val_fraction=0.2, test_fraction=0.2, seed=3)
    assert ds.task == "classification"
    assert ds.classes == ["common", "rare"]
    assert len(ds.train) + len(ds.val) + len(ds.test) == 1000
    overall = (table["label"] == "rare").mean()
    for part in (ds.train, ds.val, ds.test):
        assert abs((part["label"] == "rare").mean() - overall) < 0.01
    joined = pd.concat([ds.train, ds.val, ds.test])
    assert sorted(joined["x"].round(9)) == sorted(table["x"].round(9))
    assert ds.features == ["x", "colour", "amount"]
    assert ds.input_schema == {"x": "numeric", "colour": "category", "amount": "numeric"}
    assert ds.roles["label"] == "target"


def test_split_is_reproducible_with_seed_and_changes_without():
    a = split_table(frame(), "label", seed=1)
    b = split_table(frame(), "label", seed=1)
    c = split_table(frame(), "label", seed=2)
    assert a.test["x"].tolist() == b.test["x"].tolist()
    assert a.test["x"].tolist() != c.test["x"].tolist()


def test_regression_split_and_override():
    ds = split_table(frame(), "amount")
    assert ds.task == "regression"
    assert ds.classes == []
    forced = split_table(pd.DataFrame({"x": range(30), "y": [0, 1, 2] * 10}), "y", task="regression")
    assert forced.task == "regression"


def test_time_ordered_split_sorts_and_does_not_shuffle():
    dates = pd.date_range("2024-01-01", periods=100)
    table = pd.DataFrame({"when": dates[::-1], "x": np.arange(100), "y": np.arange(100) * 1.5})
    ds = split_table(table, "y", time_column="when", val_fraction=0.1, test_fraction=0.2)
    assert ds.ordered and ds.time_column == "when"
    assert ds.train["when"].is_monotonic_increasing
    assert ds.train["when"].max() < ds.val["when"].min() <= ds.val["when"].max() < ds.test["when"].min()
    assert (len(ds.train), len(ds.val), len(ds.test)) == (70, 10, 20)
    assert "when" not in ds.features and ds.roles["when"] == "time"


def test_rows_without_target_are_dropped_and_counted():
    messages = []
    table = read_table(DATA / "target_some_missing.csv")
    ds = split_table(table, "label", val_fraction=0.0, test_fraction=0.2, log=messages.append)
    assert ds.dropped_rows == 2
    assert len(ds.train) + len(ds.test) == 8
    assert any("dropped 2 row(s)" in m for m in messages)


def test_target_edge_cases_from_the_corpus():
    with pytest.raises(UserError, match="target column 'label' not found"):
        split_table(read_table(DATA / "five_rows.csv").drop(columns=["label"]), "label")
    with pytest.raises(UserError, match="has no values"):
        split_table(read_table(DATA / "target_all_missing.csv"), "label")
    with pytest.raises(UserError, match="one class"):
        split_table(read_table(DATA / "target_one_class.csv"), "label")


def test_five_rows_still_split():
    ds = split_table(read_table(DATA / "five_rows.csv"), "label", val_fraction=0.2, test_fraction=0.2)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 5
    assert set(ds.train["label"]) == {"a", "b"}


def test_bad_fractions_and_text_regression():
    with pytest.raises(UserError, match="no training rows"):
        split_table(frame(), "label", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(UserError, match="numeric target"):
        split_table(frame(), "colour", task="regression")


def test_summary_counts_classes():
    summary = split_table(frame(), "label").summary()
    assert summary["task"] == "classification"
    assert sum(summary["class_counts_train"].values()) == summary["rows"]["train"]

"""Stateless cleaning: columns, missing, dedupe, filter (no eval), types and date parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import UserError
from workbench.tabular.clean import (
    cast_columns,
    date_parts,
    dedupe,
    drop_missing,
    filter_rows,
    select_columns,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3, 3, 4],
            "score": [10.0, np.nan, 30.0, 30.0, 50.0],
            "city": ["Paris", "Lyon", None, None, "Paris"],
            "note": [np.nan, np.nan, np.nan, np.nan, "x"],
        }
    )


def test_select_columns_keep_order_and_drop(frame):
    assert list(select_columns(frame, keep=["city", "id"]).columns) == ["city", "id"]
    assert list(select_columns(frame, drop=["note"]).columns) == ["id", "score", "city"]
    with pytest.raises(UserError, match="no column\\(s\\) nope"):
        select_columns(frame, drop=["nope"])
    with pytest.raises(UserError, match="no columns left"):
        select_columns(frame, keep=["id"], drop=["id"])


def test_drop_missing_rows_and_columns(frame):
    rows, dropped = drop_missing(frame, "rows", 0.0, ["score", "city"])
    assert dropped == 3 and rows["id"].tolist() == [1, 4]
    rows, dropped = drop_missing(frame, "rows", 0.4)  # rows 2, 3, 3 miss half their cells
    assert rows["id"].tolist() == [1, 4] and dropped == 3
    rows, dropped = drop_missing(frame, "rows", 0.5)
    assert len(rows) == 5 and dropped == 0
    cols, dropped = drop_missing(frame, "columns", 0.5)
    assert list(cols.columns) == ["id", "score", "city"] and dropped == 1


def test_dedupe(frame):
    out, dropped = dedupe(frame)
    assert dropped == 1 and out["id"].tolist() == [1, 2, 3, 4]
    out, dropped = dedupe(frame, ["city"], keep="none")
    assert out["id"].tolist() == [2] and dropped == 4


@pytest.mark.parametrize(
    ("column", "operator", "value", "ids"),
    [
        ("score", ">", "20", [3, 3, 4]),
        ("score", "<=", "30", [1, 3, 3]),
        ("score", "==", "10", [1]),
        ("city", "==", "Paris", [1, 4]),
        ("city", "!=", "Paris", [2, 3, 3]),
        ("city", "contains", "ari", [1, 4]),
        ("city", "in", "Lyon, Paris", [1, 2, 4]),
        ("id", "not_in", "1,2", [3, 3, 4]),
        ("score", "is_missing", "", [2]),
        ("city", "not_missing", "", [1, 2, 4]),
    ],
)
def test_filter_operators(frame, column, operator, value, ids):
    out, dropped = filter_rows(frame, column, operator, value)
    assert out["id"].tolist() == ids
    assert dropped == len(frame) - len(ids)


def test_filter_never_evaluates_text(frame):
    out, _ = filter_rows(frame, "city", "==", "__import__('os').system('echo hi')")
    assert out.empty
    with pytest.raises(UserError, match="not a number"):
        filter_rows(frame, "score", ">", "1+1")
    with pytest.raises(UserError, match="unknown operator"):
        filter_rows(frame, "score", "=~", "1")


def test_filter_dates():
    frame = pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2024-06-01", "2025-01-01"])})
    out, _ = filter_rows(frame, "d", ">=", "2024-03-01")
    assert len(out) == 2


def test_cast_columns_and_lost_values():
    frame = pd.DataFrame(
        {"n": ["1", "2,5", "x"], "b": ["yes", "no", "maybe"], "d": ["2024-01-02", "2024-02-03", None]}
    )
    out, lost = cast_columns(frame, ["n"], "numeric")
    assert out["n"].tolist()[:2] == [1.0, 2.5] and np.isnan(out["n"].iloc[2]) and lost == {"n": 1}
    out, lost = cast_columns(frame, ["b"], "bool")
    assert out["b"].tolist()[:2] == [True, False] and lost == {"b": 1}
    out, _ = cast_columns(frame, ["d"], "datetime")
    assert pd.api.types.is_datetime64_any_dtype(out["d"]) and out["d"].dt.month.tolist()[:2] == [1, 2]
    parts = date_parts(out, ["d"], ["year", "dayofweek"], drop_original=True)
    assert list(parts.columns) == ["n", "b", "d.year", "d.dayofweek"]
    assert parts["d.dayofweek"].tolist()[:2] == [1.0, 5.0]
    with pytest.raises(UserError, match="not a date column"):
        date_parts(frame, ["n"], ["year"])
    out, _ = cast_columns(pd.DataFrame({"code": [1, 2, 1]}), ["code"], "category")
    assert out["code"].tolist() == ["1", "2", "1"]

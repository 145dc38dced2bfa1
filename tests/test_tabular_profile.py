"""Column profile: exact figures on a small table, and the 1M x 20 speed goal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from workbench.tabular.profile import profile


def test_profile_numbers():
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, np.nan, 4.0],
            "c": ["a", "b", "a", None, "a"],
            "flag": [True, False, True, True, False],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", None, "2024-01-04", "2024-01-05"]),
        }
    )
    result = profile(frame)
    json.dumps(result)
    assert result["rows"] == 5 and result["columns"] == 4 and result["missing_cells"] == 3
    x, c, flag, when = result["column_stats"]
    assert x["kind"] == "numeric" and x["missing"] == 1 and x["unique"] == 4
    assert (x["min"], x["max"], x["mean"]) == (1.0, 4.0, 2.5)
    assert x["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert sum(x["histogram"]["counts"]) == 4 and len(x["histogram"]["edges"]) == 21
    assert c["kind"] == "category" and c["unique"] == 2 and c["top"] == [["a", 3], ["b", 1]]
    assert flag["kind"] == "bool" and flag["top"][0] == [True, 3]
    assert when["kind"] == "datetime" and when["min"].startswith("2024-01-01") and when["missing"] == 1


def test_profile_constant_and_empty_columns():
    result = profile(pd.DataFrame({"k": [5.0] * 4, "e": [np.nan] * 4}))
    k, e = result["column_stats"]
    assert k["histogram"]["counts"] == [4] and k["std"] == 0.0
    assert e["missing"] == 4 and e["min"] is None


@pytest.mark.slow
def test_profile_one_million_by_twenty_counts_every_row():
    """Its speed is a benchmark (benchmarks/bench_ui.py --only profile), not a timed test."""
    rng = np.random.default_rng(0)
    data = {f"n{i}": rng.normal(size=1_000_000) for i in range(17)}
    for name in ("a", "b", "c"):
        data[name] = rng.choice([f"{name}{i}" for i in range(10)], 1_000_000)
    frame = pd.DataFrame(data).astype({"a": "str", "b": "str", "c": "str"})
    result = profile(frame)
    assert result["rows"] == 1_000_000 and result["columns"] == 20 and result["missing_cells"] == 0
    stats = {c["name"]: c for c in result["column_stats"]}
    assert sum(stats["n0"]["histogram"]["counts"]) == 1_000_000
    assert abs(stats["n0"]["mean"] - frame["n0"].mean()) < 1e-9
    assert stats["a"]["unique"] == 10 and sum(count for _, count in stats["a"]["top"]) == 1_000_000

"""Column statistics for the data view: type, missing, unique, min/max/mean/std, top values, histogram.

Fast enough for 1M x 20 in about a second on two cores: numpy reductions, one hash pass per column for
unique counts, histograms by integer binning instead of sorting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.tabular.dataset import column_kind, plain

TOP = 10
BINS = 20


def _histogram(values: np.ndarray, low: float, high: float, bins: int) -> dict[str, list]:
    if values.size == 0 or not np.isfinite(low) or not np.isfinite(high):
        return {"edges": [], "counts": []}
    if high <= low:
        return {"edges": [float(low), float(low)], "counts": [int(values.size)]}
    scale = bins / (high - low)
    index = ((values - low) * scale).astype(np.int64)
    np.clip(index, 0, bins - 1, out=index)
    counts = np.bincount(index, minlength=bins)
    edges = np.linspace(low, high, bins + 1)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _unique_count(values: np.ndarray) -> int:
    if values.size == 0:
        return 0
    return int(pd.unique(values).size)


def _numeric(series: pd.Series) -> dict[str, Any]:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    valid = values if finite.all() else values[finite]
    out: dict[str, Any] = {"unique": _unique_count(valid)}
    if valid.size:
        low, high = float(valid.min()), float(valid.max())
        mean = float(valid.mean())
        out.update(min=low, max=high, mean=mean, std=float(valid.std(ddof=1)) if valid.size > 1 else 0.0)
        out["histogram"] = _histogram(valid, low, high, BINS)
        if out["unique"] <= TOP:
            out["top"] = _top(series)
    else:
        out.update(min=None, max=None, mean=None, std=None, histogram={"edges": [], "counts": []})
    return out


def _top(series: pd.Series) -> list[list]:
    counts = series.value_counts(dropna=True)
    return [[plain(value), int(count)] for value, count in counts.iloc[:TOP].items()]


def profile_column(series: pd.Series) -> dict[str, Any]:
    kind = column_kind(series)
    missing = int(series.isna().sum())
    out: dict[str, Any] = {
        "name": str(series.name),
        "kind": kind,
        "dtype": str(series.dtype),
        "missing": missing,
    }
    if kind == "numeric":
        out.update(_numeric(series))
    elif kind == "datetime":
        valid = series.dropna()
        out["unique"] = int(valid.nunique())
        out["min"] = valid.min().isoformat() if len(valid) else None
        out["max"] = valid.max().isoformat() if len(valid) else None
        if len(valid):
            stamps = valid.to_numpy().astype("datetime64[ns]").astype(np.int64).astype(np.float64)
            hist = _histogram(stamps, float(stamps.min()), float(stamps.max()), BINS)
            hist["edges"] = [pd.Timestamp(int(e)).isoformat() for e in hist["edges"]]
            out["histogram"] = hist
    else:
        counts = series.value_counts(dropna=True)
        out["unique"] = int(len(counts))
        out["top"] = [[plain(value), int(count)] for value, count in counts.iloc[:TOP].items()]
    return out


def profile(frame: pd.DataFrame) -> dict[str, Any]:
    """Per-column statistics plus table totals; JSON-serialisable."""
    columns = [
        profile_column(frame.iloc[:, index].rename(str(name))) for index, name in enumerate(frame.columns)
    ]
    return {
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "missing_cells": int(sum(c["missing"] for c in columns)),
        "memory_bytes": int(frame.memory_usage(deep=False).sum()),
        "column_stats": columns,
    }

"""The default minimum chain, so file -> split -> train works without explicit transforms.

Order: dates to parts, text/bool to numbers, fill missing numbers, scale. Columns already handled by an
explicit step are left alone; each applied step is recorded in the chain like a user's step.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from workbench.tabular import fit
from workbench.tabular.chain import dtypes_of
from workbench.tabular.dataset import Dataset, column_kind

MAX_ONEHOT = 20


def _handled(chain: list[dict], op: str) -> set[str]:
    """Feature columns a step of kind ``op`` already produced or processed."""
    found: set[str] = set()
    for step in chain:
        if step["op"] == op:
            found.update(step.get("columns", []))
        if op == "scale" and step["op"] == "onehot":
            found.update(set(step["features_out"]) - set(step["features_in"]))
        if op == "scale" and step["op"] == "impute":
            found.update(f"{c}__missing" for c in step.get("indicators", []))
    return found


def _with_missing(dataset: Dataset, columns: list[str]) -> set[str]:
    """The columns that hold a gap in any split, one isna pass per split."""
    found: set[str] = set()
    for frame in dataset.splits().values():
        if len(frame) and columns:
            flags = frame[columns].isna().any()
            found.update(str(c) for c in flags.index[flags.to_numpy()])
    return found


def _kinds(frame: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """``column_kind`` per column, worked out once per dtype: the kind depends on the dtype alone, and a
    10,000-column table has a handful of dtypes."""
    dtypes = dtypes_of(frame)
    by_dtype: dict[object, str] = {}
    out = {}
    for column in columns:
        dtype = dtypes[column]
        if dtype not in by_dtype:
            by_dtype[dtype] = column_kind(frame[column])
        out[column] = by_dtype[dtype]
    return out


def prepare_for_training(dataset: Dataset, log: Callable[[str], None]) -> Dataset:
    """Apply the minimum chain for columns not yet handled; a no-op when that is already done."""
    if dataset.window is not None:
        return dataset  # prep.window prepares its columns before building windows
    kinds = _kinds(dataset.train, dataset.features)
    dates = [c for c in dataset.features if kinds[c] == "datetime"]
    if dates:
        dataset = fit.apply_to_dataset(dataset, fit.fit_datetime(dataset.features, dates), log)
        log(f"auto: dates turned into year/month/day/weekday: {', '.join(dates)}")
    kinds = _kinds(dataset.train, dataset.features)
    flags = [c for c in dataset.features if kinds[c] == "bool"]
    texts = [c for c in dataset.features if kinds[c] == "category"]
    if flags:
        dataset = fit.apply_to_dataset(dataset, fit.fit_ordinal(dataset.train, dataset.features, flags), log)
        log(f"auto: true/false columns as 0/1: {', '.join(flags)}")
    if texts:
        step = fit.fit_onehot(dataset.train, dataset.features, texts, MAX_ONEHOT)
        dataset = fit.apply_to_dataset(dataset, step, log)
        log(f"auto: one-hot encoded (at most {MAX_ONEHOT} categories each): {', '.join(texts)}")
    imputed = _handled(dataset.chain, "impute") | _onehot_outputs(dataset.chain)
    dtypes = dtypes_of(dataset.train)
    numeric = [c for c in dataset.features if pd.api.types.is_numeric_dtype(dtypes[c]) and c not in imputed]
    # Without explicit steps every numeric column gets a fill value, so missing values at prediction time are
    # handled too; after explicit impute/scale steps only columns that still hold gaps are filled.
    if _prepared(dataset):
        gaps = _with_missing(dataset, numeric)
        to_impute = [c for c in numeric if c in gaps]
    else:
        to_impute = numeric
    if to_impute:
        dataset = fit.apply_to_dataset(
            dataset, fit.fit_impute(dataset.train, dataset.features, to_impute, "median"), log
        )
        log(f"auto: missing values filled with training medians in {len(to_impute)} column(s)")
    scaled = _handled(dataset.chain, "scale")
    dtypes = dtypes_of(dataset.train)
    to_scale = [c for c in dataset.features if c not in scaled and pd.api.types.is_numeric_dtype(dtypes[c])]
    if to_scale and not any(step["op"] == "scale" for step in dataset.chain):
        dataset = fit.apply_to_dataset(
            dataset, fit.fit_scale(dataset.train, dataset.features, to_scale, "standard"), log
        )
        log(f"auto: standardised {len(to_scale)} numeric column(s) with training mean and std")
    return dataset


def _onehot_outputs(chain: list[dict]) -> set[str]:
    """Columns made by one-hot steps (0/1, never missing), worked out once rather than per column."""
    found: set[str] = set()
    for step in chain:
        if step["op"] == "onehot":
            found.update(set(step["features_out"]) - set(step["features_in"]))
    return found


def _prepared(dataset: Dataset) -> bool:
    """True when the user already ran explicit impute or scale steps (then auto does not add fills everywhere)."""
    return any(step["op"] in ("impute", "scale") for step in dataset.chain)

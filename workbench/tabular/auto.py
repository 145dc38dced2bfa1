"""The default minimum chain, so file -> split -> train works without explicit transforms.

Order: derived columns first (``derive_features``: "was zero" flags, date parts; data.split makes them, so a
user's own fill/scale steps see them as ordinary numbers), then text/bool to numbers, fill missing numbers,
scale. Columns already handled by an explicit step are left alone; each applied step is recorded in the chain
like a user's step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from workbench.tabular import fit
from workbench.tabular.chain import column_chunks, dtypes_of, missing_mask, zero_flag_name
from workbench.tabular.dataset import Dataset, column_kind

MAX_ONEHOT = 20
# A non-negative numeric column gets a "was zero" flag when at least ZERO_SHARE of its training values are
# exactly 0 and the smallest other value lies within ZERO_GAP standard deviations of 0: once standardised,
# zero and "a little" are then nearly the same input to a network, while trees split between them at once
# (AER CreditCard: every "no" spends 0, the smallest spend is 0.001 std away; 0.949 vs 0.985 for gradient
# boosting). Counts (0, 1, 2, ...) sit a sizeable fraction of a std apart and get no flag.
ZERO_SHARE = 0.05
ZERO_GAP = 0.05


def _handled(chain: list[dict], op: str) -> set[str]:
    """Feature columns a step of kind ``op`` already produced or processed."""
    found: set[str] = set()
    for step in chain:
        if step["op"] == op:
            found.update(step.get("columns", []))
        if op == "scale" and step["op"] in ("onehot", "zero_flags"):  # 0/1 columns stay 0/1
            found.update(set(step["features_out"]) - set(step["features_in"]))
        if op == "scale" and step["op"] == "impute":
            found.update(f"{c}__missing" for c in step.get("indicators", []))
    return found


def count_missing(dataset: Dataset, columns: list[str]) -> dict[str, int]:
    """Column -> missing values (NaN/None/NaT and +/-inf, what imputation fills) over every split; only
    columns with a gap, so log lines count the columns that were filled, not those that were checked."""
    totals: dict[str, int] = {}
    for frame in dataset.splits().values():
        if not len(frame):
            continue
        dtypes = dtypes_of(frame)
        plain_floats = [c for c in columns if dtypes[c] == np.float64]
        for chunk in column_chunks(plain_floats, len(frame)):
            gaps = (~np.isfinite(frame[chunk].to_numpy(dtype=np.float64))).sum(axis=0)
            for column, count in zip(chunk, gaps.tolist(), strict=True):
                totals[column] = totals.get(column, 0) + int(count)
        for column in (c for c in columns if dtypes[c] != np.float64):
            totals[column] = totals.get(column, 0) + int(missing_mask(frame[column]).sum())
    return {column: count for column, count in totals.items() if count}


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


def zero_inflated(train: pd.DataFrame, columns: list[str]) -> dict[str, tuple[float, float]]:
    """Column -> (share of zeros, smallest non-zero value in std units) for the columns that need a "was
    zero" flag (see ZERO_SHARE, ZERO_GAP); worked out on the training rows in column blocks."""
    found: dict[str, tuple[float, float]] = {}
    for chunk, block in fit._float_rows(train, columns):
        present = ~np.isnan(block)
        counts = present.sum(axis=1)
        with np.errstate(all="ignore"):
            zeros = (block == 0.0).sum(axis=1) / np.maximum(counts, 1)
            negative = (block < 0.0).any(axis=1)
            smallest = np.where(block > 0.0, block, np.inf).min(axis=1)
            spread = np.nanstd(block, axis=1)
            gap = smallest / spread
        for i in np.flatnonzero((zeros >= ZERO_SHARE) & ~negative & np.isfinite(gap) & (gap < ZERO_GAP)):
            found[chunk[i]] = (float(zeros[i]), float(gap[i]))
    return found


def _raw_values(dataset: Dataset) -> bool:
    """True while no step has changed a value yet (only records, flags and date parts): the zero test needs
    the values as read."""
    return not dataset.augmentations and all(
        s["op"] in ("drop", "zero_flags", "datetime") for s in dataset.chain
    )


def derive_features(dataset: Dataset, log: Callable[[str], None]) -> Dataset:
    """Make the derived columns ("was zero" flags, date parts) before any fill or scale step.

    data.split calls this, so whatever nodes the user places next (prep.impute, prep.scale, ...) see the new
    columns as ordinary numbers: a user's scale step scales ``date.year``. Each is a fitted step recorded at
    the front of the chain and applied as recorded at prediction; a second call adds nothing.
    """
    if dataset.window is not None:
        return dataset
    kinds = _kinds(dataset.train, dataset.features)
    if _raw_values(dataset):
        numeric = [
            c
            for c in dataset.features
            if kinds[c] == "numeric"
            and dataset.input_schema.get(c) == "numeric"
            and zero_flag_name(c) not in dataset.features
        ]
        zeros = zero_inflated(dataset.train, numeric) if len(dataset.train) else {}
        if zeros:
            dataset = fit.apply_to_dataset(dataset, fit.fit_zero_flags(dataset.features, list(zeros)), log)
            shown = ", ".join(
                f"{c} ({share:.0%} zeros, next value {gap:.3f} std away)" for c, (share, gap) in zeros.items()
            )
            log(
                f"auto: 0/1 'was zero' column added (zero and the smallest value nearly equal once scaled): {shown}"
            )
    dates = [c for c in dataset.features if kinds.get(c) == "datetime"]
    if dates:
        dataset = fit.apply_to_dataset(dataset, fit.fit_datetime(dataset.features, dates), log)
        log(
            f"auto: dates turned into year/month/day/weekday columns, before any fill or scale: {', '.join(dates)}"
        )
    return dataset


def prepare_for_training(dataset: Dataset, log: Callable[[str], None]) -> Dataset:
    """Apply the minimum chain for columns not yet handled; a no-op when that is already done."""
    if dataset.window is not None:
        return dataset  # prep.window prepares its columns before building windows
    dataset = derive_features(dataset, log)
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
        filled = count_missing(dataset, to_impute)
        dataset = fit.apply_to_dataset(
            dataset, fit.fit_impute(dataset.train, dataset.features, to_impute, "median"), log
        )
        log(
            f"auto: {sum(filled.values()):,} missing value(s) in {len(filled)} column(s) filled with training "
            f"medians"
            + (
                f" (fill values kept for all {len(to_impute)} numeric columns, for prediction)"
                if len(filled) < len(to_impute)
                else ""
            )
        )
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

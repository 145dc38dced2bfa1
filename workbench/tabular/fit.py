"""Fitting preprocessing steps on the training split only; the fitted step is a JSON dict applied by chain.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.chain import (
    MISSING,
    apply_step,
    as_text,
    column_chunks,
    dtypes_of,
    factorize_text,
    onehot_names,
    zero_flag_name,
)
from workbench.tabular.dataset import Dataset, column_kind, plain
from workbench.tabular.vocabulary import DATE_PARTS


def kinds(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, str]:
    return {column: column_kind(frame[column]) for column in columns}


def pick_columns(dataset: Dataset, requested: Sequence[str], wanted_kinds: set[str], what: str) -> list[str]:
    """The requested feature columns (checked), or every feature of ``wanted_kinds`` when none are named."""
    if requested:
        unknown = [c for c in requested if c not in dataset.features]
        if unknown:
            raise UserError(
                f"{what}: column(s) {', '.join(unknown)} are not features; features are {', '.join(dataset.features)}"
            )
        return list(requested)
    found = kinds(dataset.train, dataset.features)
    return [c for c in dataset.features if found[c] in wanted_kinds]


def fit_impute(
    train: pd.DataFrame,
    features: list[str],
    columns: list[str],
    strategy: str = "median",
    constant: str = "0",
    indicators: bool = False,
) -> dict:
    """Fill values per column from the training split; numeric columns use the strategy, others the most frequent."""
    fill: dict[str, object] = {}
    fast = _block_fills(train, columns, strategy) if strategy in ("mean", "median") else {}
    for column in columns:
        if column in fast:
            fill[column] = fast[column]
            continue
        series = train[column]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if strategy == "constant":
            if numeric:
                try:
                    fill[column] = float(constant)
                except ValueError:
                    raise UserError(
                        f"prep.impute: constant {constant!r} is not a number for column {column!r}"
                    ) from None
            else:
                fill[column] = constant
        elif numeric and strategy in ("mean", "median"):
            value = series.mean() if strategy == "mean" else series.median()
            fill[column] = 0.0 if pd.isna(value) else float(value)
        else:
            counts = series.dropna().value_counts()
            if counts.empty:
                fill[column] = 0.0 if numeric else MISSING
            else:
                top = counts[counts == counts.max()].index
                fill[column] = plain(sorted(top, key=str)[0]) if not numeric else float(sorted(top)[0])
                if not numeric:
                    fill[column] = str(fill[column])
    flagged = [c for c in columns if indicators and train[c].isna().any()]
    return {
        "op": "impute",
        "strategy": strategy,
        "columns": list(columns),
        "fill": fill,
        "indicators": flagged,
        "features_in": list(features),
        "features_out": list(features) + [f"{c}__missing" for c in flagged],
    }


def _top_categories(train: pd.Series, max_categories: int) -> tuple[list[str], list[str]]:
    codes, texts = factorize_text(train)
    counts = np.bincount(codes + 1, minlength=len(texts) + 1)  # slot 0 counts missing rows
    totals: dict[str, int] = {}
    for text, count in zip([MISSING, *texts], counts, strict=True):
        if count:
            totals[text] = totals.get(text, 0) + int(count)
    order = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    names = [name for name, _ in order]
    return names[:max_categories], names[max_categories:]


def fit_onehot(
    train: pd.DataFrame, features: list[str], columns: list[str], max_categories: int = 20
) -> dict:
    """Top ``max_categories`` training values per column (by count, then text); the rest go to ``__other__``."""
    encodings = []
    out = list(features)
    for column in columns:
        kept, rest = _top_categories(train[column], max_categories)
        enc = {"column": column, "categories": kept, "other_values": rest}
        encodings.append(enc)
        out = _replace(out, column, onehot_names(enc))
    return {"op": "onehot", "encodings": encodings, "features_in": list(features), "features_out": out}


def fit_ordinal(train: pd.DataFrame, features: list[str], columns: list[str]) -> dict:
    """Codes 0..k-1 in sorted text order (False/True for booleans); unseen or missing values become -1."""
    encodings = []
    for column in columns:
        values = sorted(set(as_text(train[column])) - {MISSING})
        if MISSING in set(as_text(train[column])):
            values.append(MISSING)
        encodings.append({"column": column, "categories": values})
    return {
        "op": "ordinal",
        "encodings": encodings,
        "features_in": list(features),
        "features_out": list(features),
    }


def fit_scale(train: pd.DataFrame, features: list[str], columns: list[str], method: str = "standard") -> dict:
    """Center and scale per column from the training split; a zero spread scales by 1."""
    found: dict[str, tuple[float, float]] = {}
    for chunk, block in _float_rows(train, columns):
        for positions, rows in _rows_by_count(block):
            names = [chunk[i] for i in positions]
            if rows.shape[1] == 0:
                found.update((name, (0.0, 1.0)) for name in names)
                continue
            if method == "minmax":
                low = rows.min(axis=1)
                centers, spreads = low, rows.max(axis=1) - low
            elif method == "robust":
                q1, centers, q3 = np.percentile(rows, [25, 50, 75], axis=1)
                spreads = q3 - q1
            else:
                centers, spreads = rows.mean(axis=1), rows.std(axis=1)
            found.update(zip(names, zip(centers.tolist(), spreads.tolist(), strict=True), strict=True))
    centers_out, scales = [], []
    for column in columns:
        center, spread = found[column]
        centers_out.append(center)
        scales.append(spread if spread > 1e-12 and np.isfinite(spread) else 1.0)
    return {
        "op": "scale",
        "method": method,
        "columns": list(columns),
        "center": centers_out,
        "scale": scales,
        "features_in": list(features),
        "features_out": list(features),
    }


def _float_rows(frame: pd.DataFrame, columns: Sequence[str]) -> Iterator[tuple[list[str], np.ndarray]]:
    """(columns, block) pairs: a float64 (columns, rows) C-contiguous block with NaN for missing values, equal
    to ``Series.to_numpy(float64, na_value=nan)`` per column, in chunks that bound the extra memory."""
    dtypes = dtypes_of(frame)
    for chunk in column_chunks(columns, len(frame)):
        if all(_plain_number(dtypes[column]) for column in chunk):
            block = np.ascontiguousarray(frame[chunk].to_numpy(dtype=np.float64).T)
        else:
            block = np.stack([frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in chunk])
        yield chunk, block


def _plain_number(dtype: object) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "fiub"


def _rows_by_count(block: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The block's rows without their NaNs, grouped by how many values are left: each group is one
    C-contiguous (k, count) array, so numpy reduces every row exactly as it reduces that column alone."""
    valid = ~np.isnan(block)
    counts = valid.sum(axis=1)
    for count in np.unique(counts):
        positions = np.flatnonzero(counts == count)
        rows = block[positions]
        if count != block.shape[1]:
            rows = rows[valid[positions]].reshape(len(positions), int(count))
        yield positions, rows


def _block_fills(train: pd.DataFrame, columns: Sequence[str], strategy: str) -> dict[str, float]:
    """Mean or median fill values of plain numeric columns in a few numpy passes, bit for bit what
    ``Series.mean()`` / ``Series.median()`` give (pandas sums the column with zeros in the gaps, in float64
    for float64 columns; the median is numpy's over the present values as float64)."""
    # float32/float16 columns keep their own precision in pandas, integer means sum in buffered pieces:
    # both stay on the per-column path.
    kinds = "" if strategy == "mean" else "iu"
    dtypes = dtypes_of(train)
    eligible = [
        c
        for c in columns
        if isinstance(dtypes[c], np.dtype) and (dtypes[c] == np.float64 or dtypes[c].kind in kinds)
    ]
    fills: dict[str, float] = {}
    for chunk, block in _float_rows(train, eligible):
        if strategy == "mean":
            present = ~np.isnan(block)
            sums = np.where(present, block, 0.0).sum(axis=1)
            with np.errstate(all="ignore"):
                values = sums / present.sum(axis=1).astype(np.float64)
            fills.update(zip(chunk, values.tolist(), strict=True))
            continue
        for positions, rows in _rows_by_count(block):
            values = np.median(rows, axis=1) if rows.shape[1] else np.full(len(positions), np.nan)
            fills.update((chunk[i], value) for i, value in zip(positions, values.tolist(), strict=True))
    return {column: 0.0 if np.isnan(value) else float(value) for column, value in fills.items()}


def fit_datetime(
    features: list[str], columns: list[str], parts: Sequence[str] = ("year", "month", "day", "dayofweek")
) -> dict:
    """Dates become numeric parts; nothing is learned, but the step is recorded so prediction repeats it."""
    bad = [p for p in parts if p not in DATE_PARTS]
    if bad:
        raise UserError(f"unknown date part(s) {', '.join(bad)}; use {', '.join(DATE_PARTS)}")
    out = list(features)
    for column in columns:
        out = _replace(out, column, [f"{column}.{part}" for part in parts])
    return {
        "op": "datetime",
        "columns": list(columns),
        "parts": list(parts),
        "features_in": list(features),
        "features_out": out,
    }


def fit_zero_flags(features: list[str], columns: list[str]) -> dict:
    """A 0/1 "was exactly zero" column after the features for each of ``columns`` (see auto.zero_inflated)."""
    return {
        "op": "zero_flags",
        "columns": list(columns),
        "features_in": list(features),
        "features_out": list(features) + [zero_flag_name(c) for c in columns],
    }


def fit_drop(features: list[str], columns: list[str]) -> dict:
    out = [c for c in features if c not in set(columns)]
    return {"op": "drop", "columns": list(columns), "features_in": list(features), "features_out": out}


def _replace(features: list[str], column: str, new: list[str]) -> list[str]:
    index = features.index(column)
    return features[:index] + new + features[index + 1 :]


def apply_to_dataset(dataset: Dataset, step: dict, log: Callable[[str], None] | None = None) -> Dataset:
    """A new Dataset with ``step`` applied to every split and appended to the chain."""
    if getattr(dataset, "stream", None) is not None:  # a streamed table: statistics over every training row
        step = dataset.stream.refit(dataset, step, log)
    stats: dict = {}
    frames = {
        name: apply_step(step, frame, stats if name != "train" else {})
        for name, frame in dataset.splits().items()
    }
    if log and stats.get("unseen"):
        parts = ", ".join(f"{column}: {count}" for column, count in stats["unseen"].items())
        log(f"{step['op']}: values not seen in training found in validation/test rows ({parts})")
    return dataset.replace(**frames, chain=[*dataset.chain, step], features=list(step["features_out"]))


def fit_window(
    dataset: Dataset, lookback: int, horizon: int, columns: list[str], include_target: bool
) -> dict:
    """Window settings over already-numeric columns; the past target is standardised with training figures."""
    if not dataset.ordered:
        raise UserError(
            "prep.window: the split is shuffled; set data.split's time column or turn shuffle off"
        )
    if lookback < 1 or horizon < 0:
        raise UserError("prep.window: lookback must be at least 1 and horizon at least 0")
    if horizon == 0 and include_target:
        raise UserError(
            "prep.window: horizon 0 with include_target would show the model the value it must predict"
        )
    columns = list(columns) or list(dataset.features)
    bad = [c for c in columns if c not in dataset.features]
    if bad:
        raise UserError(
            f"prep.window: column(s) {', '.join(bad)} are not features; features are {', '.join(dataset.features)}"
        )
    step = {
        "op": "window",
        "lookback": int(lookback),
        "horizon": int(horizon),
        "columns": columns,
        "target": dataset.target,
        "target_input": bool(include_target),
        "target_center": 0.0,
        "target_scale": 1.0,
        "features_in": list(dataset.features),
        "features_out": columns + ([f"{dataset.target}__past"] if include_target else []),
    }
    if include_target:
        target = dataset.train[dataset.target]
        if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise UserError(f"prep.window: include_target needs a numeric target; {dataset.target!r} is not")
        values = target.to_numpy(dtype=np.float64, na_value=np.nan)
        step["target_center"] = float(np.nanmean(values))
        spread = float(np.nanstd(values))
        step["target_scale"] = spread if spread > 1e-12 else 1.0
    return step

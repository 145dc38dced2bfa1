"""Applying fitted preprocessing steps. A step is a plain JSON dict (see docs/preprocessing.md); the same code
applies it to the training splits and, later, to a raw table at prediction time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError

MISSING = "__missing__"
OTHER = "__other__"
UNSEEN = "__unseen__"
BLOCK_CELLS = 1 << 22  # cells in one 2-D block of a vectorised step (32 MB of float64)
_PART_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def _text_of(value: object) -> str:
    return "True" if value is True else "False" if value is False else str(value)


def factorize_text(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Codes per row (-1 for missing) and the text of each distinct value: one hash pass, no per-row strings."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    kind = getattr(getattr(uniques, "categories", uniques), "dtype", None)
    if getattr(kind, "kind", "") == "f":
        # A float prints in its own precision, as predict.py writes it: float32 0.1 is '0.1', not the
        # '0.10000000149011612' of its float64 value (which made every such category unseen in the bundle).
        return codes, [str(value) for value in np.asarray(uniques)]
    return codes, [_text_of(value.item() if hasattr(value, "item") else value) for value in uniques]


def as_text(series: pd.Series) -> np.ndarray:
    """Category values as text, the key one-hot/ordinal steps match on; missing becomes ``__missing__``."""
    codes, texts = factorize_text(series)
    return np.array([*texts, MISSING], dtype=object)[codes]


def _codes(series: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """Index of each row's text in ``categories``; -1 when not there (missing rows match ``__missing__``)."""
    codes, texts = factorize_text(series)
    lookup = pd.Index(list(categories), dtype=object).get_indexer(pd.Index([*texts, MISSING], dtype=object))
    return lookup.astype(np.int64)[codes]


def _replace_columns(features: list[str], column: str, new: list[str]) -> list[str]:
    index = features.index(column)
    return features[:index] + new + features[index + 1 :]


def onehot_names(enc: dict) -> list[str]:
    """Output column names of one encoded column, in order: categories, then __other__ (if any), __unseen__."""
    column = enc["column"]
    names = [f"{column}={category}" for category in enc["categories"]]
    if enc.get("other_values"):
        names.append(f"{column}={OTHER}")
    names.append(f"{column}={UNSEEN}")
    return names


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def dtypes_of(frame: pd.DataFrame) -> dict[Any, Any]:
    """Column -> dtype in one call: ``frame[column]`` builds a Series each time (~30 µs, 0.3 s per pass over
    10,000 columns)."""
    return dict(zip(frame.columns, frame.dtypes, strict=True))


def column_chunks(columns: Sequence[str], rows: int) -> Iterator[list[str]]:
    """Columns in groups whose 2-D block holds at most ``BLOCK_CELLS`` cells: wide tables get a few numpy
    passes instead of one Python step per column, long tables keep the extra memory to one small block."""
    size = max(1, BLOCK_CELLS // max(rows, 1))
    for start in range(0, len(columns), size):
        yield list(columns[start : start + size])


def assign_columns(frame: pd.DataFrame, parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``frame`` with the columns of ``parts`` replacing its own (same place) or appended (new names).

    One concat instead of one insert per column: inserting into a frame whose numbers sit in one 2-D block
    splits that block each time, which made a 10,000-column step quadratic.
    """
    parts = [part for part in parts if part.shape[1]]
    if not parts:
        return frame.copy(deep=False)
    names = [column for part in parts for column in part.columns]
    present = set(frame.columns)
    replaced = [column for column in names if column in present]
    rest = frame.drop(columns=replaced) if replaced else frame
    out = pd.concat([rest, *parts], axis=1)
    order = list(frame.columns) + [column for column in names if column not in present]
    return out if list(out.columns) == order else out[order]


def apply_step(step: dict, frame: pd.DataFrame, stats: dict | None = None) -> pd.DataFrame:
    """Apply one fitted step to ``frame`` (which holds at least the step's input features); returns a new frame.

    ``stats`` (optional) collects counts such as unseen categories per column.
    """
    op = step["op"]
    handler = _APPLY.get(op)
    if handler is None:
        raise UserError(f"unknown preprocessing step {op!r}; this model needs a newer Model Workbench")
    return handler(step, frame, stats if stats is not None else {})


def missing_mask(series: pd.Series) -> np.ndarray:
    """Missing for imputation: NaN/None/NaT, and +/-inf in numeric columns."""
    mask = series.isna().to_numpy()
    if pd.api.types.is_float_dtype(series):
        mask = mask | np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return mask


def _apply_impute(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    fills = step["fill"]
    new: list[pd.DataFrame] = []
    if step.get("indicators"):
        flags = {f"{c}__missing": missing_mask(frame[c]).astype(np.float32) for c in step["indicators"]}
        indicators = pd.DataFrame(flags, index=frame.index)
    else:
        indicators = None
    dtypes = dtypes_of(frame)
    wide = [c for c in step["columns"] if dtypes[c] == np.float64 and _is_number(fills[c])]
    vectorised = set(wide)
    for chunk in column_chunks(wide, len(frame)):
        # One numpy pass over a (rows, columns) block: NaN and +/-inf take the column's fill value, exactly
        # what Series.mask(mask, fill) gives per column; columns with no gap come back unchanged.
        block = frame[chunk].to_numpy(dtype=np.float64)
        gaps = ~np.isfinite(block)
        if gaps.any():
            filled = np.where(gaps, np.array([fills[c] for c in chunk], dtype=np.float64), block)
            new.append(pd.DataFrame(filled, index=frame.index, columns=chunk))
    single: dict[str, Any] = {}
    for column in (c for c in step["columns"] if c not in vectorised):
        fill = fills[column]
        series = frame[column]
        mask = missing_mask(series)
        if mask.any():
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                if _is_number(fill) and pd.api.types.is_integer_dtype(series) and fill != int(fill):
                    # a mean of 4.4 does not fit a (nullable) integer column: the column becomes float64,
                    # as the compiled plan and predict.py make it
                    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                    single[column] = np.where(mask, fill, values)
                else:
                    single[column] = series.mask(mask, fill).array
            else:
                single[column] = series.astype(object).mask(mask, fill).array
    if single:
        new.append(pd.DataFrame(single, index=frame.index))
    if indicators is not None:
        new.append(indicators)
    return assign_columns(frame, new)


def _apply_onehot(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    new: dict[str, np.ndarray] = {}
    for enc in step["encodings"]:
        column = enc["column"]
        codes = _codes(frame[column], enc["categories"])
        k = len(enc["categories"])
        for index in range(k):
            new[f"{column}={enc['categories'][index]}"] = (codes == index).astype(np.float32)
        unknown = codes < 0
        if enc.get("other_values"):
            is_other = unknown & (_codes(frame[column], enc["other_values"]) >= 0)
            new[f"{column}={OTHER}"] = is_other.astype(np.float32)
            unknown &= ~is_other
        new[f"{column}={UNSEEN}"] = unknown.astype(np.float32)
        count = int(unknown.sum())
        if count:
            stats.setdefault("unseen", {})[column] = stats.get("unseen", {}).get(column, 0) + count
    rest = frame.drop(columns=[enc["column"] for enc in step["encodings"]])
    return pd.concat([rest, pd.DataFrame(new, index=frame.index)], axis=1)


def _apply_ordinal(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    out = frame.copy(deep=False)
    for enc in step["encodings"]:
        codes = _codes(frame[enc["column"]], enc["categories"])
        count = int((codes < 0).sum())
        if count:
            stats.setdefault("unseen", {})[enc["column"]] = count
        out[enc["column"]] = codes.astype(np.float32)
    return out


def _apply_scale(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    centers = np.asarray(step["center"], dtype=np.float64).astype(np.float32)
    factors = (1.0 / np.asarray(step["scale"], dtype=np.float64)).astype(np.float32)  # == np.float32(1.0 / s)
    where = {column: index for index, column in enumerate(step["columns"])}
    new: list[pd.DataFrame] = []
    by_dtype: dict[np.dtype, list[str]] = {}
    single: dict[str, np.ndarray] = {}
    dtypes = dtypes_of(frame)
    for column in step["columns"]:
        dtype = dtypes[column]
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            by_dtype.setdefault(dtype, []).append(column)
        else:  # extension dtypes (Int64, boolean, ...): their own NA handling, one column at a time
            values = frame[column].to_numpy(dtype=np.float32, na_value=np.nan)
            index = where[column]
            result = np.subtract(values, centers[index], dtype=np.float32)
            result *= factors[index]
            single[column] = result
    for columns in by_dtype.values():
        for chunk in column_chunks(columns, len(frame)):
            # The same float32 cast, subtraction and multiplication as per column, over a 2-D block.
            positions = [where[c] for c in chunk]
            values = frame[chunk].to_numpy().astype(np.float32)
            result = np.subtract(values, centers[positions], dtype=np.float32)
            result *= factors[positions]
            new.append(pd.DataFrame(result, index=frame.index, columns=chunk))
    if single:
        new.append(pd.DataFrame(single, index=frame.index))
    return assign_columns(frame, new)


def _apply_datetime(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    new = {}
    for column in step["columns"]:
        values = frame[column]
        if not pd.api.types.is_datetime64_any_dtype(values):
            values = pd.to_datetime(values, errors="coerce", format="mixed")
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert(None)
        for part in step["parts"]:
            attribute = _PART_ATTRIBUTES.get(part, part)
            new[f"{column}.{part}"] = getattr(values.dt, attribute).to_numpy(
                dtype=np.float32, na_value=np.nan
            )
    rest = frame.drop(columns=step["columns"])
    return pd.concat([rest, pd.DataFrame(new, index=frame.index)], axis=1)


def zero_flag_name(column: str) -> str:
    return f"{column}__zero"


def _apply_zero_flags(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    """A 0/1 "was exactly zero" column per listed column (missing is not zero); the column itself stays."""
    flags = {
        zero_flag_name(c): (frame[c].to_numpy(dtype=np.float64, na_value=np.nan) == 0.0).astype(np.float32)
        for c in step["columns"]
    }
    return assign_columns(frame, [pd.DataFrame(flags, index=frame.index)])


def _apply_drop(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    return frame.drop(columns=[c for c in step["columns"] if c in frame.columns])


def _apply_window(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    return frame  # windows are built from the matrix, see window_channels/make_windows


_APPLY: dict[str, Callable[[dict, pd.DataFrame, dict], pd.DataFrame]] = {
    "impute": _apply_impute,
    "onehot": _apply_onehot,
    "ordinal": _apply_ordinal,
    "scale": _apply_scale,
    "datetime": _apply_datetime,
    "zero_flags": _apply_zero_flags,
    "drop": _apply_drop,
    "window": _apply_window,
}


def window_channels(frame: pd.DataFrame, window: dict) -> np.ndarray:
    """The per-time-step matrix a window step reads: its columns, then the scaled past target if included."""
    columns = list(window["columns"])
    n = len(frame)
    width = len(columns) + (1 if window.get("target_input") else 0)
    out = np.empty((n, width), dtype=np.float32)
    for index, column in enumerate(columns):
        out[:, index] = frame[column].to_numpy(dtype=np.float32, na_value=np.nan)
    if window.get("target_input"):
        target = frame[window["target"]].to_numpy(dtype=np.float32, na_value=np.nan)
        out[:, -1] = (target - np.float32(window["target_center"])) / np.float32(window["target_scale"])
    return out


def make_windows(matrix: np.ndarray, lookback: int, ends: np.ndarray) -> np.ndarray:
    """Windows ``matrix[end - lookback + 1 : end + 1]`` for each end row, as one float32 (n, lookback, f) array."""
    if len(ends) == 0:
        return np.zeros((0, lookback, matrix.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(matrix, lookback, axis=0)  # (n-L+1, f, L)
    return np.ascontiguousarray(view[ends - lookback + 1].transpose(0, 2, 1), dtype=np.float32)


def required_columns(chain: Sequence[dict], features: Sequence[str] | None = None) -> list[str]:
    """The raw input columns a chain (or, without steps, the feature list) needs."""
    if chain:
        needed = list(chain[0]["features_in"])
        window = chain[-1] if chain[-1]["op"] == "window" else None
        if window and window.get("target_input") and window["target"] not in needed:
            needed.append(window["target"])
        return needed
    if features is None:
        raise ValueError("an empty chain needs the feature list")
    return list(features)


def transform_frame(chain: Sequence[dict], frame: pd.DataFrame, stats: dict | None = None) -> pd.DataFrame:
    """Apply every step in order; the result holds the final feature columns (and untouched extra columns)."""
    for step in chain:
        frame = apply_step(step, frame, stats)
    return frame


def transform(
    chain: Sequence[dict],
    frame: pd.DataFrame,
    features: Sequence[str] | None = None,
    stats: dict | None = None,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Turn a RAW table into the model's input: float32 (n, f), or (n - lookback + 1, lookback, f) after a
    window step. Column order is exactly the training feature order. Raises UserError naming missing columns;
    unseen categories are counted into ``stats["unseen"]`` and logged.

    Runs a compiled :class:`Plan` over numpy columns; the result equals ``frame_matrix(transform_frame(...))``
    bit for bit. Callers that transform many tables compile once with ``Plan(chain, features)``.
    """
    from workbench.tabular.plan import Plan

    stats = {} if stats is None else stats
    out = Plan(chain, features).transform(frame, stats)
    if log and stats.get("unseen"):
        parts = ", ".join(f"{column}: {count}" for column, count in stats["unseen"].items())
        log(f"values not seen in training (treated as unseen): {parts}")
    return out


def frame_matrix(frame: pd.DataFrame, columns: Sequence[str], chunk: int = 8192) -> np.ndarray:
    """One float32 (n, f) array, filled in row blocks that stay in cache: no float64 copy of the whole table."""
    sources = []
    for column in columns:
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series):
            raise UserError(
                f"column {column!r} is not numeric ({series.dtype}); add prep.encode before training"
            )
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_extension_array_dtype(series):
            sources.append(series.to_numpy(dtype=np.float32, na_value=np.nan))
        else:
            sources.append(series.to_numpy())
    n = len(frame)
    out = np.empty((n, len(columns)), dtype=np.float32)
    for start in range(0, n, chunk):
        block = out[start : start + chunk]
        for index, values in enumerate(sources):
            block[:, index] = values[start : start + chunk]
    return out


def encode_labels(values: Any, classes: Sequence[Any]) -> np.ndarray:
    """Class ids (int64, index into ``classes``) for label values; UserError for labels not in ``classes``."""
    series = pd.Series(values)
    index = pd.Index(list(classes))
    codes = index.get_indexer(series)
    if (codes < 0).any():
        unknown = series[codes < 0].unique()[:5]
        raise UserError(f"label(s) {', '.join(map(str, unknown))} are not among the classes {list(classes)}")
    return codes.astype(np.int64)


def decode_labels(ids: Any, classes: Sequence[Any]) -> list:
    """Original label values for class ids."""
    lookup = list(classes)
    return [lookup[int(i)] for i in np.asarray(ids).reshape(-1)]

"""Applying fitted preprocessing steps. A step is a plain JSON dict (see docs/preprocessing.md).

What each step computes is written once, in ``workbench/export/predict_template.py``: the module every bundle
ships as its ``predict.py``. The training splits (``apply_step``), the app's predictor and the bundle's script
all run that code; this module adapts it to the app (DataFrames and Arrow batches in, UserError out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.export import predict_template as tpl

MISSING, OTHER, UNSEEN = tpl.MISSING, tpl.OTHER, tpl.UNSEEN
BLOCK_CELLS = tpl.BLOCK_CELLS
factorize_text = tpl.text_codes
as_text = tpl.as_text
onehot_names = tpl.onehot_names
required_columns = tpl.required_columns
make_windows = tpl.make_windows
assign_columns = tpl.assign_columns


def missing_mask(series: pd.Series) -> np.ndarray:
    """Missing for imputation: NaN/None/NaT, and +/-inf in numeric columns."""
    return tpl.missing_mask(tpl.array_of(series))


def zero_flag_name(column: str) -> str:
    return f"{column}__zero"


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


def apply_step(step: dict, frame: pd.DataFrame, stats: dict | None = None) -> pd.DataFrame:
    """Apply one fitted step to ``frame`` (which holds at least the step's input features); returns a new frame.

    ``stats`` (optional) collects counts such as unseen categories per column.
    """
    try:
        return tpl.apply_step(step, frame, stats)
    except tpl.PredictError as exc:
        raise UserError(str(exc)) from None


def transform_frame(chain: Sequence[dict], frame: pd.DataFrame, stats: dict | None = None) -> pd.DataFrame:
    """Apply every step in order; the result holds the final feature columns (and untouched extra columns)."""
    for step in chain:
        frame = apply_step(step, frame, stats)
    return frame


def _frame(data: Any) -> pd.DataFrame:
    """A DataFrame for a DataFrame or an Arrow record batch/table (converted as pandas reads Arrow)."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):
        return data.to_pandas()
    raise TypeError(f"expected a DataFrame or an Arrow record batch, got {type(data).__name__}")


class Transform:
    """A fitted chain made ready once (vocabularies as lookups, scales as float32 vectors) for many tables:
    ``Transform(chain, features)(frame_or_record_batch)`` → (float32 model input, True when every value in it
    is finite). Extra columns are ignored, order is free; missing columns are one UserError."""

    def __init__(self, chain: Sequence[dict], features: Sequence[str] | None = None) -> None:
        chain = list(chain)
        if not chain and features is None:
            raise ValueError("an empty chain needs the feature list")
        names = list(chain[-1]["features_out"]) if chain else list(features or [])
        try:
            self.steps = tpl.Steps(chain, names)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        self.needed = self.steps.needed

    def __call__(self, data: Any, stats: dict | None = None) -> tuple[np.ndarray, bool]:
        frame = _frame(data)
        missing = [column for column in self.needed if column not in frame.columns]
        if missing:
            raise UserError(
                f"input table lacks column(s) {', '.join(missing)}; the model needs {', '.join(self.needed)}"
            )
        columns = {name: tpl.array_of(frame[name]) for name in self.needed}
        try:
            return self.steps.model_input(columns, len(frame), stats)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None


def transform(
    chain: Sequence[dict],
    frame: Any,
    features: Sequence[str] | None = None,
    stats: dict | None = None,
    log: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Turn a RAW table (DataFrame or Arrow record batch) into the model's input: float32 (n, f), or
    (n - lookback + 1, lookback, f) after a window step. Column order is exactly the training feature order.
    Raises UserError naming missing columns; unseen categories are counted into ``stats["unseen"]`` and logged.

    The same numbers as ``frame_matrix(transform_frame(...))``; callers that transform many tables make the
    chain ready once with ``Transform(chain, features)``.
    """
    stats = {} if stats is None else stats
    out = Transform(chain, features)(frame, stats)[0]
    if log and stats.get("unseen"):
        parts = ", ".join(f"{column}: {count}" for column, count in stats["unseen"].items())
        log(f"values not seen in training (treated as unseen): {parts}")
    return out


def frame_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One float32 (n, f) array of numeric columns, filled in row blocks that stay in cache."""
    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    try:
        tpl.write_columns(out, [(i, tpl.array_of(frame[c]), c) for i, c in enumerate(columns)])
    except tpl.PredictError as exc:
        raise UserError(
            f"{str(exc).removesuffix(' after preprocessing')}; add prep.encode before training"
        ) from None
    return out


def window_channels(frame: pd.DataFrame, window: dict) -> np.ndarray:
    """The per-time-step matrix a window step reads: its columns, then the scaled past target if included."""
    names = [*window["columns"], *([window["target"]] if window.get("target_input") else [])]
    try:
        return tpl.window_matrix({name: tpl.array_of(frame[name]) for name in names}, window, len(frame))
    except tpl.PredictError as exc:
        raise UserError(str(exc)) from None


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

"""Fitted steps refitted over every training row of a streamed table, one pass per step.

A step is first fitted on the sample (which decides its columns, exactly as in memory); this pass replaces
its statistics with ones over every training row, read through the chain fitted so far:

- exact: category counts (one-hot categories and their order, ordinal values, most-frequent fills), means
  (mean fills, standard scaling's centre), population standard deviations (Chan's pairwise merge of batch
  moments, float64), minima and maxima;
- approximate, from the sample (a uniform sample of ``sample_rows`` rows): medians (median fills) and
  quartiles (robust scaling). An exact median needs every value at once.

What stays as the sample decided: which columns get "was missing" indicators, "was zero" flags and date
parts. One-hot keeps its cap: when the sample had more categories than the cap, the cap is the number kept;
otherwise every category is kept (the sample shows every value, see ``stream``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.chain import MISSING, factorize_text, onehot_names, transform_frame

if TYPE_CHECKING:
    from workbench.tabular.dataset import Dataset
    from workbench.tabular.stream_train import StreamSplit

STATELESS = ("drop", "zero_flags", "datetime")


class Moments:
    """Count, mean and M2 per column, merged batch by batch (Chan et al.), plus sums, minima and maxima."""

    def __init__(self, k: int) -> None:
        self.n = np.zeros(k)
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)
        self.total = np.zeros(k)
        self.low = np.full(k, np.inf)
        self.high = np.full(k, -np.inf)

    def add(self, block: np.ndarray) -> None:
        """``block``: float64 (k, rows) with NaN for missing values."""
        present = ~np.isnan(block)
        nb = present.sum(axis=1).astype(np.float64)
        filled = np.where(present, block, 0.0)
        sums = filled.sum(axis=1)
        self.total += sums
        with np.errstate(all="ignore"):
            mb = np.where(nb > 0, sums / nb, 0.0)
            m2b = (np.where(present, block - mb[:, None], 0.0) ** 2).sum(axis=1)
            n = self.n + nb
            delta = mb - self.mean
            share = np.where(n > 0, nb / np.where(n > 0, n, 1.0), 0.0)
            self.mean = self.mean + delta * share
            self.m2 = self.m2 + m2b + delta**2 * self.n * share
        self.n = n
        if block.shape[1]:
            with np.errstate(all="ignore"):
                self.low = np.fmin(self.low, np.where(present, block, np.inf).min(axis=1))
                self.high = np.fmax(self.high, np.where(present, block, -np.inf).max(axis=1))

    def std(self) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.sqrt(self.m2 / self.n)

    def sum_mean(self) -> np.ndarray:
        """Sum / count, as pandas ``Series.mean`` computes it (NaN where a column has no values)."""
        with np.errstate(all="ignore"):
            return self.total / self.n


def _float_block(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    if not columns:
        return np.zeros((0, len(frame)))
    return np.stack([frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in columns])


def _frames(split: StreamSplit, dataset: Dataset) -> Iterator[pd.DataFrame]:
    """Every training row, in batches, through the dataset's chain so far."""
    for _, frame in split.train_frames():
        yield transform_frame(dataset.chain, frame) if dataset.chain else frame


def refit_step(split: StreamSplit, dataset: Dataset, step: dict, log: Callable[[str], None] | None) -> dict:
    """``step`` (fitted on the sample) with its statistics taken over every training row."""
    op = step["op"]
    if op in STATELESS:
        return step
    if op == "window":
        raise UserError("prep.window needs every row in memory; it cannot follow a streamed table")
    handler = _REFIT.get(op)
    if handler is None:
        if log:
            log(f"stream: the {op} step keeps the statistics of the sample")
        return step
    out = handler(split, dataset, dict(step))
    if log:
        log(f"stream: {op} fitted over all {split.train_rows:,} training rows")
    return out


def _refit_scale(split: StreamSplit, dataset: Dataset, step: dict) -> dict:
    method = step.get("method", "standard")
    if method == "robust":
        return step  # quartiles: the sample's (approximate)
    columns = list(step["columns"])
    moments = Moments(len(columns))
    for frame in _frames(split, dataset):
        moments.add(_float_block(frame, columns))
    if method == "minmax":
        centers, spreads = moments.low, moments.high - moments.low
    else:
        centers, spreads = moments.mean, moments.std()
    empty = moments.n == 0
    centers = np.where(empty, 0.0, centers)
    spreads = np.where(empty, 1.0, spreads)
    step["center"] = [float(c) for c in centers]
    step["scale"] = [float(s) if s > 1e-12 and np.isfinite(s) else 1.0 for s in spreads]
    return step


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _refit_impute(split: StreamSplit, dataset: Dataset, step: dict) -> dict:
    strategy = step.get("strategy", "median")
    if strategy == "constant":
        return step
    columns = list(step["columns"])
    numeric = {c: _numeric(dataset.train[c]) for c in columns}
    means = [c for c in columns if numeric[c] and strategy == "mean"]
    counted = [c for c in columns if not numeric[c] or strategy not in ("mean", "median")]
    if not means and not counted:
        return step  # medians: the sample's (approximate)
    moments = Moments(len(means))
    counts: dict[str, dict[Any, int]] = {c: {} for c in counted}
    for frame in _frames(split, dataset):
        if means:
            moments.add(_float_block(frame, means))
        for column in counted:
            found = frame[column].dropna().value_counts()
            seen = counts[column]
            for value, count in zip(found.index.tolist(), found.tolist(), strict=True):
                seen[value] = seen.get(value, 0) + int(count)
    fill = dict(step["fill"])
    for column, value in zip(means, moments.sum_mean().tolist(), strict=True):
        fill[column] = 0.0 if np.isnan(value) else float(value)
    for column in counted:
        seen = counts[column]
        if not seen:
            fill[column] = 0.0 if numeric[column] else MISSING
            continue
        best = max(seen.values())
        top = [value for value, count in seen.items() if count == best]
        if numeric[column]:
            fill[column] = float(sorted(top)[0])
        else:
            from workbench.tabular.dataset import plain

            fill[column] = str(plain(sorted(top, key=str)[0]))
    step["fill"] = fill
    return step


def _text_counts(split: StreamSplit, dataset: Dataset, columns: list[str]) -> dict[str, dict[str, int]]:
    """Per column: how many training rows hold each value, by its text (``__missing__`` for missing)."""
    totals: dict[str, dict[str, int]] = {c: {} for c in columns}
    for frame in _frames(split, dataset):
        for column in columns:
            codes, texts = factorize_text(frame[column])
            counts = np.bincount(codes + 1, minlength=len(texts) + 1)
            seen = totals[column]
            for text, count in zip([MISSING, *texts], counts.tolist(), strict=True):
                if count:
                    seen[text] = seen.get(text, 0) + int(count)
    return totals


def _refit_onehot(split: StreamSplit, dataset: Dataset, step: dict) -> dict:
    encodings = [dict(enc) for enc in step["encodings"]]
    totals = _text_counts(split, dataset, [enc["column"] for enc in encodings])
    out = list(step["features_in"])
    for enc in encodings:
        order = sorted(totals[enc["column"]].items(), key=lambda item: (-item[1], item[0]))
        names = [name for name, _ in order]
        cap = len(enc["categories"]) if enc.get("other_values") else len(names)
        enc["categories"], enc["other_values"] = names[:cap], names[cap:]
        index = out.index(enc["column"])
        out = out[:index] + onehot_names(enc) + out[index + 1 :]
    step["encodings"] = encodings
    step["features_out"] = out
    return step


def _refit_ordinal(split: StreamSplit, dataset: Dataset, step: dict) -> dict:
    encodings = [dict(enc) for enc in step["encodings"]]
    totals = _text_counts(split, dataset, [enc["column"] for enc in encodings])
    for enc in encodings:
        seen = set(totals[enc["column"]])
        values = sorted(seen - {MISSING})
        if MISSING in seen:
            values.append(MISSING)
        enc["categories"] = values
    step["encodings"] = encodings
    return step


_REFIT = {
    "scale": _refit_scale,
    "impute": _refit_impute,
    "onehot": _refit_onehot,
    "ordinal": _refit_ordinal,
}

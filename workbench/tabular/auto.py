"""The default minimum chain, so file -> split -> train works without explicit transforms.

Order: dates to parts, text/bool to numbers, fill missing numbers, scale. Columns already handled by an
explicit step are left alone; each applied step is recorded in the chain like a user's step.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from workbench.tabular import fit
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


def _has_missing(dataset: Dataset, column: str) -> bool:
    return any(frame[column].isna().any() for frame in dataset.splits().values() if len(frame))


def prepare_for_training(dataset: Dataset, log: Callable[[str], None]) -> Dataset:
    """Apply the minimum chain for columns not yet handled; a no-op when that is already done."""
    if dataset.window is not None:
        return dataset  # prep.window prepares its columns before building windows
    kinds = {c: column_kind(dataset.train[c]) for c in dataset.features}
    dates = [c for c in dataset.features if kinds[c] == "datetime"]
    if dates:
        dataset = fit.apply_to_dataset(dataset, fit.fit_datetime(dataset.features, dates), log)
        log(f"auto: dates turned into year/month/day/weekday: {', '.join(dates)}")
    kinds = {c: column_kind(dataset.train[c]) for c in dataset.features}
    flags = [c for c in dataset.features if kinds[c] == "bool"]
    texts = [c for c in dataset.features if kinds[c] == "category"]
    if flags:
        dataset = fit.apply_to_dataset(dataset, fit.fit_ordinal(dataset.train, dataset.features, flags), log)
        log(f"auto: true/false columns as 0/1: {', '.join(flags)}")
    if texts:
        step = fit.fit_onehot(dataset.train, dataset.features, texts, MAX_ONEHOT)
        dataset = fit.apply_to_dataset(dataset, step, log)
        log(f"auto: one-hot encoded (at most {MAX_ONEHOT} categories each): {', '.join(texts)}")
    imputed = _handled(dataset.chain, "impute")
    numeric = [
        c
        for c in dataset.features
        if pd.api.types.is_numeric_dtype(dataset.train[c])
        and c not in imputed
        and not _is_onehot_output(dataset.chain, c)
    ]
    # Without explicit steps every numeric column gets a fill value, so missing values at prediction time are
    # handled too; after explicit impute/scale steps only columns that still hold gaps are filled.
    to_impute = [c for c in numeric if not _prepared(dataset) or _has_missing(dataset, c)]
    if to_impute:
        dataset = fit.apply_to_dataset(
            dataset, fit.fit_impute(dataset.train, dataset.features, to_impute, "median"), log
        )
        log(f"auto: missing values filled with training medians in {len(to_impute)} column(s)")
    scaled = _handled(dataset.chain, "scale")
    to_scale = [
        c for c in dataset.features if c not in scaled and pd.api.types.is_numeric_dtype(dataset.train[c])
    ]
    if to_scale and not any(step["op"] == "scale" for step in dataset.chain):
        dataset = fit.apply_to_dataset(
            dataset, fit.fit_scale(dataset.train, dataset.features, to_scale, "standard"), log
        )
        log(f"auto: standardised {len(to_scale)} numeric column(s) with training mean and std")
    return dataset


def _is_onehot_output(chain: list[dict], column: str) -> bool:
    return any(
        step["op"] == "onehot" and column in set(step["features_out"]) - set(step["features_in"])
        for step in chain
    )


def _prepared(dataset: Dataset) -> bool:
    """True when the user already ran explicit impute or scale steps (then auto does not add fills everywhere)."""
    return any(step["op"] in ("impute", "scale") for step in dataset.chain)

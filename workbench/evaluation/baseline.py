"""A strong simple model beside the network: scikit-learn's HistGradientBoosting on the same split.

It is fitted on the training rows exactly as the network saw them (the model's fitted preprocessing; windows
flattened) with default settings and a fixed seed, and scored with the same functions on the same test and
validation rows, so a user sees at once whether the network beats it. Seconds on the bundled tables.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from workbench.evaluation.metrics import HEADLINE, classification_metrics, regression_metrics

MAX_TRAIN_ROWS = 500_000  # above this, a seeded sample of the training rows (a baseline, not a contest)


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


def fit_baseline(
    arrays: dict[str, np.ndarray], task: str, classes: list[Any], splits: tuple[str, ...], seed: int = 0
) -> dict[str, Any]:
    """Headline figures of HistGradientBoosting per split, or ``{"skipped": why}`` when it does not apply."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    x_train, y_train = _flat(arrays["x_train"]), np.asarray(arrays["y_train"])
    if len(x_train) < 2:
        return {"skipped": "fewer than 2 training rows"}
    if task != "classification" and y_train.ndim > 1 and y_train.shape[1] > 1:
        return {"skipped": "several target columns (gradient boosting predicts one)"}
    notes = []
    if len(x_train) > MAX_TRAIN_ROWS:
        keep = np.random.default_rng(seed).choice(len(x_train), MAX_TRAIN_ROWS, replace=False)
        x_train, y_train = x_train[keep], y_train[keep]
        notes.append(f"fitted on a sample of {MAX_TRAIN_ROWS:,} training rows")
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "classification":
            model = HistGradientBoostingClassifier(random_state=seed)
            y_fit = y_train.reshape(-1).astype(np.int64)
            if len(np.unique(y_fit)) < 2:
                return {"skipped": "only one class in the training rows"}
        else:
            model = HistGradientBoostingRegressor(random_state=seed)
            y_fit = y_train.reshape(-1).astype(np.float64)
        model.fit(x_train, y_fit)
    out: dict[str, Any] = {
        "model": type(model).__name__,
        "seconds": round(time.perf_counter() - began, 3),
        "iterations": int(model.n_iter_),
        "notes": notes,
        "splits": {},
    }
    for split in splits:
        x, y = _flat(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        if len(x) == 0:
            continue
        if task == "classification":
            proba = np.zeros((len(x), len(classes)))
            proba[:, model.classes_.astype(np.int64)] = model.predict_proba(x)
            figures = classification_metrics(y.reshape(-1).astype(np.int64), proba, classes)
        else:
            figures = regression_metrics(y.reshape(-1), model.predict(x))
        out["splits"][split] = {k: figures[k] for k in ("rows", *HEADLINE) if figures.get(k) is not None}
    return out

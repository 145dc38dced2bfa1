"""A strong simple model beside the network: scikit-learn's HistGradientBoosting on the same split.

It is fitted on the training rows exactly as the network saw them (the model's fitted preprocessing; windows
flattened) with default settings and a fixed seed, and scored with the same functions on the same test and
validation rows, so a user sees at once whether the network beats it. Seconds on the bundled tables.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
import warnings
from collections import OrderedDict
from typing import Any

import numpy as np

from workbench.evaluation.metrics import HEADLINE, classification_metrics, regression_metrics

MAX_TRAIN_ROWS = 500_000  # above this, a seeded sample of the training rows (a baseline, not a contest)
_CACHE: OrderedDict[str, dict[str, Any]] = OrderedDict()
_CACHE_SIZE = 4


def _flat(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


def _key(
    arrays: dict[str, np.ndarray], task: str, classes: list[Any], splits: tuple[str, ...], seed: int
) -> str:
    digest = hashlib.sha256(repr((task, classes, splits, seed)).encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}{value.shape}{value.dtype}".encode())
        digest.update(value.data)
    return digest.hexdigest()


def fit_baseline(
    arrays: dict[str, np.ndarray], task: str, classes: list[Any], splits: tuple[str, ...], seed: int = 0
) -> dict[str, Any]:
    """Headline figures of HistGradientBoosting per split, or ``{"skipped": why}`` when it does not apply.

    The same rows give the same figures, so they are kept per process: a sweep's trials (or a re-run after a
    training setting changed) fit the baseline once.
    """
    key = _key(arrays, task, classes, splits, seed)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return copy.deepcopy(_CACHE[key]) | {"reused": True}
    from threadpoolctl import threadpool_limits

    # OpenMP threads spin-wait: on a busy machine more threads than free cores made a 2 s fit take 90 s.
    with threadpool_limits(max(1, (os.cpu_count() or 2) - 1), user_api="openmp"):
        out = _fit(arrays, task, classes, splits, seed)
    _CACHE[key] = copy.deepcopy(out)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out


def _fit(
    arrays: dict[str, np.ndarray], task: str, classes: list[Any], splits: tuple[str, ...], seed: int
) -> dict[str, Any]:
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

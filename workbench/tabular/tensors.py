"""Training tensors built once: features float32 straight from the columns, targets int64 class ids or float32."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.chain import encode_labels, frame_matrix, make_windows, window_channels
from workbench.tabular.dataset import CLASSIFICATION, Dataset, column_kind

if TYPE_CHECKING:
    import torch


@dataclass
class TensorSplits:
    # A tensor, or a batch source that stands in for one (a streamed table's TrainStream; see TrainData).
    x_train: Any
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    feature_names: list[str]
    classes: list
    task: str
    n_features: int
    n_outputs: int
    window: dict | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            name: getattr(self, name) for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }


def check_numeric(dataset: Dataset) -> None:
    """UserError naming the feature columns that are still text/dates, suggesting prep.encode."""
    bad = [c for c in dataset.features if column_kind(dataset.train[c]) in ("category", "datetime")]
    if bad:
        shown = ", ".join(bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise UserError(
            f"feature column(s) {shown} are not numeric; add prep.encode (or clean.types) before training"
        )


def _targets(dataset: Dataset, frame: pd.DataFrame) -> np.ndarray:
    if dataset.task == CLASSIFICATION:
        return encode_labels(frame[dataset.target], dataset.classes)
    values = frame[dataset.target].to_numpy(dtype=np.float32, na_value=np.nan)
    return values.reshape(-1, 1)


def _check_finite(matrix: np.ndarray, names: list[str], split: str) -> None:
    bad = (
        ~np.isfinite(matrix.reshape(-1, matrix.shape[-1])).all(axis=0)
        if matrix.size
        else np.zeros(0, dtype=bool)
    )
    if bad.any():
        cols = [names[i] for i in np.flatnonzero(bad)][:10]
        raise UserError(
            f"{split} split: missing or infinite values in {', '.join(cols)}; add prep.impute before training"
        )


def to_arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    """The six numpy arrays (x/y for train, val, test) behind ``to_tensors``."""
    if dataset.window:
        return _window_arrays(dataset)
    check_numeric(dataset)
    out: dict[str, np.ndarray] = {}
    for name, frame in dataset.splits().items():
        matrix = frame_matrix(frame, dataset.features)
        if len(frame):
            _check_finite(matrix, dataset.features, name)
        out[f"x_{name}"] = matrix
        out[f"y_{name}"] = _targets(dataset, frame) if len(frame) else _empty_targets(dataset)
    return out


def _empty_targets(dataset: Dataset) -> np.ndarray:
    return (
        np.zeros(0, dtype=np.int64) if dataset.task == CLASSIFICATION else np.zeros((0, 1), dtype=np.float32)
    )


def _window_arrays(dataset: Dataset) -> dict[str, np.ndarray]:
    """Windows over the three splits joined in time order; a window belongs to the split of its target row,
    so validation windows may look back into training rows (the past is known), never forward."""
    window = dataset.window or {}
    lookback, horizon = int(window["lookback"]), int(window["horizon"])
    frames = [f for f in dataset.splits().values()]
    joined = pd.concat(frames, ignore_index=True)
    matrix = window_channels(joined, window)
    _check_finite(matrix, list(window["features_out"]), "joined")
    targets = _targets(dataset, joined)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, frame in dataset.splits().items():
        stop = start + len(frame)
        target_rows = np.arange(max(start, lookback - 1 + horizon), stop)
        ends = target_rows - horizon
        out[f"x_{name}"] = make_windows(matrix, lookback, ends)
        out[f"y_{name}"] = targets[target_rows]
        start = stop
    if len(out["x_train"]) == 0:
        raise UserError(
            f"prep.window: no training windows; the training split has fewer than lookback + horizon ({lookback + horizon}) rows"
        )
    return out


def to_tensors(dataset: Dataset, device: str = "cpu") -> TensorSplits:
    """Features (n, f) or (n, lookback, f) float32 and targets (int64 ids or float32 (n, 1)) as torch tensors."""
    import torch

    arrays = to_arrays(dataset)
    tensors = {name: torch.from_numpy(array).to(device) for name, array in arrays.items()}
    names = list(dataset.window["features_out"]) if dataset.window else list(dataset.features)
    return TensorSplits(
        x_train=tensors["x_train"],
        y_train=tensors["y_train"],
        x_val=tensors["x_val"],
        y_val=tensors["y_val"],
        x_test=tensors["x_test"],
        y_test=tensors["y_test"],
        feature_names=names,
        classes=list(dataset.classes),
        task=dataset.task,
        n_features=len(names),
        n_outputs=len(dataset.classes) if dataset.task == CLASSIFICATION else 1,
        window=dict(dataset.window) if dataset.window else None,
    )

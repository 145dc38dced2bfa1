"""The Dataset that flows on ``dataset`` wires: three splits, column roles and the fitted preprocessing chain."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CLASSIFICATION = "classification"
REGRESSION = "regression"


def column_kind(series: pd.Series) -> str:
    """The kind a user thinks in: "numeric", "category", "datetime", "bool" or "image" (data.images' path)."""
    images = series.attrs.get("workbench.images") if series.attrs else None
    if isinstance(images, dict) and series.name == images.get("column"):
        return "image"
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "category"


def plain(value: Any) -> Any:
    """JSON-friendly values from numpy/pandas ones, inside nested dicts and lists too (labels, fill values,
    categories, manifests): numpy scalars and arrays to Python, timestamps to ISO text, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/inf
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


RAW_ROWS = 4096  # raw held-out rows kept for the export's parity check (512 rows + a window's lookback)


@dataclass
class Dataset:
    """Train/validation/test frames plus what the model and the exported bundle need to know.

    Frames keep the target column (original values) and may keep non-feature columns (time column);
    ``features`` lists the current model-input columns in order. Nodes never mutate a Dataset: use ``replace``.
    """

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    target: str
    task: str
    features: list[str]
    input_schema: dict[str, str]
    classes: list = field(default_factory=list)
    chain: list[dict] = field(default_factory=list)
    time_column: str | None = None
    window: dict | None = None
    ordered: bool = False  # splits are contiguous and in time order (needed by prep.window)
    roles: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    augmentations: list[dict] = field(default_factory=list)
    dropped_rows: int = 0
    # The first held-out rows as data.split made them, before any fitted step: the export runs the bundle's
    # own predict.py against the app on these raw rows. Captured (copied, small) by the first ``replace``.
    raw: dict[str, pd.DataFrame] | None = field(default=None, repr=False, compare=False)
    # A streamed Parquet source (workbench.tabular.stream.StreamSplit): ``train`` is then a bounded sample
    # of the training rows, and fitted steps and training read every row from the files.
    stream: Any = field(default=None, repr=False, compare=False)

    def replace(self, **changes: Any) -> Dataset:
        """A copy with ``changes``; frames are shared (pandas copy-on-write), lists/dicts deep-copied."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name in ("features", "input_schema", "classes", "chain", "window", "roles", "augmentations"):
            values[name] = copy.deepcopy(values[name])
        if values["raw"] is None and not self.chain:
            # Copies of the first held-out rows only: slices would keep whole frames alive through prep.
            values["raw"] = {name: getattr(self, name).iloc[:RAW_ROWS].copy() for name in ("val", "test")}
        values.update(changes)
        return Dataset(**values)

    def splits(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def raw_splits(self) -> dict[str, pd.DataFrame] | None:
        """The splits before any fitted step, or None when they were not kept."""
        if self.raw is not None:
            return self.raw
        return None if self.chain else {"val": self.val, "test": self.test}

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict[str, Any]:
        """Figures for the GUI's dataset view and the run report."""
        out: dict[str, Any] = {
            "rows": {name: len(frame) for name, frame in self.splits().items()},
            "target": self.target,
            "task": self.task,
            "n_features": len(self.features),
            "features": list(self.features),
            "input_columns": dict(self.input_schema),
            "steps": [step.get("op", "?") for step in self.chain],
            "time_column": self.time_column,
            "window": self.window,
            "dropped_rows": self.dropped_rows,
            "augmentations": [a.get("method") for a in self.augmentations],
        }
        if self.stream is not None:  # the training rows stay in the files; ``train`` is a sample of them
            out["streamed"] = {"train_rows": self.stream.train_rows, "sample_rows": len(self.train)}
        if self.task == CLASSIFICATION:
            counts = self.train[self.target].value_counts()
            out["classes"] = [plain(c) for c in self.classes]
            out["class_counts_train"] = {str(plain(c)): int(counts.get(c, 0)) for c in self.classes}
        elif len(self.train):
            target = pd.to_numeric(self.train[self.target], errors="coerce")
            out["target_mean"] = float(target.mean())
            out["target_std"] = float(target.std()) if len(target) > 1 else 0.0
        return out

"""The app's predictor: a raw table → the fitted chain (``workbench.tabular.chain.transform``) → the model.

A bundle runs through onnxruntime (the same file a user ships); an in-memory TrainedModel runs through torch.
Input checks and the output table come from the bundle's own ``predict.py`` source, so the app and the
standalone script report problems alike and write the same columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.export import predict_template as tpl


@dataclass
class PredictionResult:
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, Any]:
        return {"rows_predicted": len(self.table), "unseen_values": int(sum(self.unseen.values()))}


class Predictor:
    """Turns raw tables into predictions with one model; build it with ``from_bundle`` or ``from_model``."""

    def __init__(self, prep: dict[str, Any], run: Callable[[np.ndarray], np.ndarray], source: str) -> None:
        from workbench.tabular.plan import Plan

        self.prep = prep
        self.plan = Plan(prep["steps"], prep["feature_names"])  # compiled once: vocabularies, scale vectors
        self._run = run
        self.source = source
        self._columns: dict[tuple[str, ...], pd.Index] = {}
        self._keep: Any = None  # an extracted .zip bundle lives as long as the predictor

    @classmethod
    def from_bundle(cls, path: str | Path | Any, threads: int = 0) -> Predictor:
        """A checked bundle (folder, .zip or LoadedBundle) run by onnxruntime with spinning threads off."""
        from workbench.export.parity import ort_session
        from workbench.export.reader import LoadedBundle, open_bundle

        bundle = path if isinstance(path, LoadedBundle) else open_bundle(path)
        try:
            session = ort_session(bundle.path / "model.onnx", threads)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise UserError(f"bundle {bundle.path}: model.onnx cannot be loaded ({exc})") from None
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: x})[0]

        predictor = cls(bundle.preprocessing, run, str(bundle.path))
        predictor._keep = bundle
        return predictor

    @classmethod
    def from_model(cls, model: Any) -> Predictor:
        """An in-memory TrainedModel, run by torch on the CPU."""
        import torch

        from workbench.export.bundle import preprocessing_spec

        def run(x: np.ndarray) -> np.ndarray:
            return model.predict_tensor(torch.from_numpy(x)).numpy()

        return cls(preprocessing_spec(model), run, "trained model")

    @classmethod
    def from_any(cls, value: Any) -> Predictor:
        """What a MODEL input may carry: a TrainedModel, a Bundle (from deploy.export) or a bundle path."""
        if hasattr(value, "module") and hasattr(value, "architecture"):
            return cls.from_model(value)
        path = getattr(value, "path", value)
        if isinstance(path, str | Path):
            return cls.from_bundle(path)
        raise UserError(f"model: expected a trained model or an exported bundle, got {type(value).__name__}")

    def features(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], dict[str, int]]:
        """(model input, notes, unseen counts per column) for a raw table, after checking its columns and values."""
        try:
            columns, notes = tpl.check_columns(frame, self.prep)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        stats: dict[str, Any] = {}
        x = self.plan.apply(columns, len(frame), stats)
        try:
            tpl.check_finite(x, self.prep)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        unseen = {str(k): int(v) for k, v in stats.get("unseen", {}).items()}
        if unseen:
            parts = ", ".join(f"{c}: {n}" for c, n in unseen.items())
            notes.append(f"values not seen in training (treated as unseen): {parts}")
        return x, notes, unseen

    def _table(self, columns: dict[str, Any]) -> pd.DataFrame:
        """The same DataFrame as ``tpl.prediction_frame``, without re-inferring the column index every call."""
        names = tuple(columns)
        index = self._columns.get(names)
        if index is None:
            index = self._columns[names] = pd.Index(list(names))
        arrays = list(columns.values())
        if all(isinstance(a, np.ndarray | pd.api.extensions.ExtensionArray) for a in arrays):
            try:  # pandas' internal constructor: ~20 µs instead of ~60 µs for a dict
                return pd.DataFrame._from_arrays(
                    arrays, columns=index, index=pd.RangeIndex(len(arrays[0])), verify_integrity=False
                )
            except (AttributeError, TypeError):
                pass
        return pd.DataFrame(columns, copy=False)

    def raw(self, x: np.ndarray, batch: int = 65536) -> np.ndarray:
        """The model's raw outputs (logits or values) for already-preprocessed rows."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if 0 < len(x) <= batch:
            return self._run(x)
        parts = [self._run(x[i : i + batch]) for i in range(0, len(x), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)

    def predict(
        self, frame: pd.DataFrame, proba: bool = False, log: Callable[[str], None] | None = None
    ) -> PredictionResult:
        """Predictions for a raw table: ``prediction`` (+ ``proba_<class>``; ``row`` for windowed models)."""
        x, notes, unseen = self.features(frame)
        values, probabilities = tpl.postprocess(self.raw(x), self.prep)
        table = self._table(tpl.output_columns(values, probabilities, self.prep, proba))
        if log:
            for note in notes:
                log(note)
        return PredictionResult(table, notes, unseen)


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write predictions as CSV or Parquet, chosen by the file's suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif suffix in (".csv", ".txt", ""):
        table.to_csv(path, index=False)
    else:
        raise UserError(f"output: {path.name} must end in .csv or .parquet")
    return path

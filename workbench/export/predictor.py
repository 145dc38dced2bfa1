"""The app's predictor: a raw table → the fitted steps → the model.

A bundle runs through onnxruntime (the same file a user ships); an in-memory TrainedModel runs through torch.
Input checks, the preprocessing and the output table are the bundle's own ``predict.py`` source
(``predict_template``), so the app and the standalone script compute, report and write alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench import ports
from workbench.errors import UserError
from workbench.export import predict_images_template as tpl_images
from workbench.export import predict_template as tpl

try:  # pandas >= 3: a DataFrame straight from its blocks
    from pandas.api.internals import create_dataframe_from_blocks as _FROM_BLOCKS
except ImportError:  # pragma: no cover - older pandas
    _FROM_BLOCKS = None


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
        self.prep = prep
        try:  # made ready once: vocabularies, fill and scale vectors
            self.steps = tpl.Steps(prep["steps"], prep["feature_names"], prep.get("window"))
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        self._run = run
        self.source = source
        self._columns: dict[tuple[str, ...], tuple] = {}  # output names → (Index, block placements)
        self._keep: Any = None  # an extracted .zip bundle lives as long as the predictor

    @classmethod
    def from_bundle(cls, path: str | Path | Any, threads: int = 0) -> Predictor:
        """A checked bundle (folder, .zip or LoadedBundle) run by onnxruntime with spinning threads off.

        Small work (rows × weights under ``SMALL_WORK``) runs on a one-thread session: waking pool threads
        costs more than they save there (1024 credit-risk rows: 10 % faster end to end, same numbers);
        anything bigger uses ``threads`` (0: onnxruntime's default).
        """
        from workbench.export.reader import LoadedBundle, open_bundle

        bundle = path if isinstance(path, LoadedBundle) else open_bundle(path)
        if bundle.kind == "image":  # pictures in, not rows: same predict() contract, its own input checks
            return ImagePredictor.from_bundle(bundle, threads)  # type: ignore[return-value]
        onnx_path = bundle.path / "model.onnx"
        label = bundle.source or bundle.path
        main = _runner(onnx_path, threads)
        try:  # once per bundle: model.onnx takes and gives the shapes preprocessing.json describes
            tpl.check_model_io(main.session, bundle.preprocessing, label)  # type: ignore[attr-defined]
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        window = bundle.preprocessing.get("window") or {}
        per_row = max(1, onnx_path.stat().st_size // 4) * max(1, int(window.get("lookback", 1)))
        single: list = [main] if threads == 1 else []

        def run(x: np.ndarray) -> np.ndarray:
            if len(x) * per_row > cls.SMALL_WORK:
                return main(x)
            if not single:
                single.append(_runner(onnx_path, 1))  # the same file, checked above
            return single[0](x)

        predictor = cls(bundle.preprocessing, run, str(bundle.source or bundle.path))
        predictor._keep = bundle
        return predictor

    SMALL_WORK = 1 << 23  # multiply-adds (≈ weights × rows) that one core does in ~0.1–0.2 ms

    @classmethod
    def from_model(cls, model: Any) -> Predictor:
        """An in-memory TrainedModel, run by torch on the CPU (an image model: an ImagePredictor)."""
        import torch

        if getattr(model, "images", None):
            return ImagePredictor.from_model(model)  # type: ignore[return-value]

        from workbench.export.bundle import preprocessing_spec

        def run(x: np.ndarray) -> np.ndarray:
            return model.predict_tensor(torch.from_numpy(x)).numpy()

        return cls(preprocessing_spec(model), run, "trained model")

    @classmethod
    def from_any(cls, value: Any) -> Predictor:
        """What a MODEL input may carry, by its port type: a TrainedModel, a Bundle (from deploy.export) or a
        bundle path."""
        kind = ports.type_of(value)
        if kind == ports.MODEL:
            return cls.from_model(value)
        if kind == ports.BUNDLE:
            return cls.from_bundle(value.path)
        if isinstance(value, str | Path):
            return cls.from_bundle(value)
        raise UserError(f"model: expected a trained model or an exported bundle, got {type(value).__name__}")

    def features(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str], dict[str, int]]:
        """(model input, notes, unseen counts per column) for a raw table, after checking its columns and values."""
        try:
            x, notes, unseen = tpl.model_features(frame, self.prep, self.steps)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        return x, notes, {str(k): int(v) for k, v in unseen.items()}

    def _output(self, values: Any, proba: Any, with_proba: bool) -> pd.DataFrame:
        """``tpl.prediction_frame``'s table; labels + the (classes, rows) probability block handed to pandas as
        two blocks (~10 µs) when this pandas has ``create_dataframe_from_blocks``, else column by column."""
        columns = tpl.output_columns(values, proba, self.prep, with_proba)
        if not (
            _FROM_BLOCKS is not None
            and with_proba
            and isinstance(proba, np.ndarray)
            and proba.ndim == 2
            and proba.dtype == np.float64
            and list(columns)[:1] == ["prediction"]
            and isinstance(values, np.ndarray)
            and values.ndim == 1
            and len(columns) == 1 + len(proba)
        ):
            return pd.DataFrame(columns, copy=False)
        names = tuple(columns)
        found = self._columns.get(names)
        if found is None:
            found = self._columns[names] = (pd.Index(list(names)), np.array([0]), np.arange(1, len(names)))
        index, first, rest = found
        blocks = [(values.reshape(1, -1), first), (proba, rest)]
        return _FROM_BLOCKS(blocks, index=pd.RangeIndex(len(values)), columns=index)

    def raw(self, x: np.ndarray, batch: int = 65536) -> np.ndarray:
        """The model's raw outputs (logits or values) for already-preprocessed rows."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if 0 < len(x) <= batch:
            return self._run(x)
        parts = [self._run(x[i : i + batch]) for i in range(0, len(x), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)

    def predict(
        self,
        frame: pd.DataFrame,
        proba: bool = False,
        log: Callable[[str], None] | None = None,
        keep: list[str] | None = None,
        row_id: bool = False,
    ) -> PredictionResult:
        """Predictions for a raw table: ``prediction`` (+ ``proba_<class>``; ``row`` for windowed models), after
        the input columns in ``keep`` ([] all of them) and a ``row_id`` when asked (``tpl.with_kept``)."""
        x, notes, unseen = self.features(frame)
        values, probabilities = tpl.postprocess(self.raw(x), self.prep)
        table = self._output(values, probabilities, proba)
        if keep is not None or row_id:
            try:
                table = tpl.with_kept(table, frame, keep, row_id)
            except tpl.PredictError as exc:
                raise UserError(str(exc)) from None
        if log:
            for note in notes:
                log(note)
        return PredictionResult(table, notes, unseen)


class ImagePredictor:
    """Pictures → classes with an image bundle (onnxruntime: the file a user ships) or an in-memory image model
    (torch). Finding, decoding, probabilities and output columns are the bundle's own ``predict.py``
    (``predict_images_template``), so ``workbench predict`` writes what that script writes."""

    kind = "image"

    def __init__(self, prep: dict[str, Any], run: Callable[[np.ndarray], np.ndarray], source: str) -> None:
        self.prep = prep
        self._run = run
        self.source = source
        self._keep: Any = None

    @classmethod
    def from_bundle(cls, bundle: Any, threads: int = 0) -> ImagePredictor:
        """A checked image bundle (a LoadedBundle); model.onnx must take the uint8 pictures it describes."""
        label = bundle.source or bundle.path
        main = _runner(bundle.path / "model.onnx", threads, label)
        session = main.session  # type: ignore[attr-defined]
        try:
            tpl.check_model_io(session, bundle.preprocessing, label)
        except tpl.PredictError as exc:
            raise UserError(str(exc)) from None
        if session.get_inputs()[0].type != "tensor(uint8)":
            raise UserError(f"bundle {label}: model.onnx does not take uint8 pictures; re-export the model")
        predictor = cls(bundle.preprocessing, main, str(label))
        predictor._keep = bundle
        return predictor

    @classmethod
    def from_model(cls, model: Any) -> ImagePredictor:
        """An in-memory image TrainedModel, run by torch on the CPU (pixels are normalised inside it)."""
        import torch

        from workbench.export.bundle import preprocessing_spec

        def run(x: np.ndarray) -> np.ndarray:
            return model.predict_tensor(torch.from_numpy(x)).numpy()

        return cls(preprocessing_spec(model), run, "trained model")

    @property
    def classes(self) -> list[Any]:
        return list(self.prep["labels"]["classes"])

    def find(self, inputs: list[str | Path]) -> list[str]:
        """Picture files among ``inputs`` (files as given, folders searched), as predict.py finds them."""
        try:
            paths = tpl_images.find_images([str(item) for item in inputs])
        except tpl_images.PredictError as exc:
            raise UserError(str(exc)) from None
        if not paths:
            raise UserError("no pictures found in " + ", ".join(str(item) for item in inputs))
        return paths

    def classify(
        self, paths: list[str], warn: Callable[[str], None] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """(the paths that could be read, their class probabilities in the order of ``classes``)."""
        return tpl_images.classify(self.prep, list(paths), self._run, warn)

    def predict_files(
        self,
        inputs: list[str | Path],
        top_k: int = 3,
        proba: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> PredictionResult:
        """predict.py's table for picture files and folders: path, the ``top_k`` classes with probabilities
        (and ``proba_<class>``); unreadable pictures are skipped with a note each."""
        if top_k < 1:
            raise UserError("--top-k must be at least 1")
        notes: list[str] = []
        kept, probabilities = self.classify(self.find(inputs), notes.append)
        if not kept:
            raise UserError("none of the pictures could be read" + (f" ({notes[0]})" if notes else ""))
        if log:
            for note in notes:
                log(note)
        columns = tpl_images.rows(kept, probabilities, self.classes, top_k, proba)
        return PredictionResult(pd.DataFrame(columns), notes)

    def predict(
        self,
        frame: pd.DataFrame,
        proba: bool = False,
        log: Callable[[str], None] | None = None,
        keep: list[str] | None = None,
        row_id: bool = False,
    ) -> PredictionResult:
        """One prediction per row of a table naming picture files in the bundle's image column (``path``):
        ``prediction``, ``probability`` (+ ``proba_<class>``), as the table predictor's contract."""
        column = str(self.prep["image"].get("column", "path"))
        if column not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:30]))
            raise UserError(f"input lacks column {column!r} naming the picture files; columns: {shown}")
        values = frame[column].tolist()
        bad = [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip()]
        if bad:
            raise UserError(f"column {column!r}: row {bad[0] + 1} names no picture file")
        notes: list[str] = []
        kept, probabilities = self.classify(values, notes.append)
        if len(kept) != len(values):
            raise UserError(f"{len(values) - len(kept)} picture(s) could not be read; {notes[0]}")
        columns = tpl_images.rows(kept, probabilities, self.classes, 1, proba)
        del columns["path"]
        table = pd.DataFrame(columns)
        if keep is not None or row_id:
            try:
                table = tpl.with_kept(table, frame, keep, row_id)
            except tpl.PredictError as exc:
                raise UserError(str(exc)) from None
        return PredictionResult(table, [])


def write_image_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """An image prediction table as CSV, written by predict.py's own writer (byte-identical output) to a
    temporary file beside ``path`` that replaces it only when complete."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        tpl_images.write_csv(name, {str(c): table[c].tolist() for c in table.columns})
        os.chmod(name, path.stat().st_mode & 0o777 if path.exists() else 0o644)  # mkstemp's file is 0600
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path


def _runner(onnx_path: Path, threads: int, label: Any = None) -> Callable[[np.ndarray], np.ndarray]:
    """``x → first output`` of an onnxruntime session; the function's ``session`` attribute is the session."""
    from workbench.export.parity import ort_session

    label = label or onnx_path.parent
    try:
        session = ort_session(onnx_path, threads)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"bundle {label}: model.onnx cannot be loaded ({first}); re-export the model"
        ) from None
    name, outputs = session.get_inputs()[0].name, [session.get_outputs()[0].name]

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(outputs, {name: x})[0]

    run.session = session  # type: ignore[attr-defined]
    return run


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write predictions as CSV or Parquet, chosen by the file's suffix. CSV cells that a spreadsheet would run
    as formulas are escaped (``tpl.csv_safe``); Parquet keeps the raw values."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        table.to_parquet(path, index=False)
    elif suffix in (".csv", ".txt", ""):
        tpl.csv_safe(table).to_csv(path, index=False)
    else:
        raise UserError(f"output: {path.name} must end in .csv or .parquet")
    return path

"""Parity on the whole path: raw held-out rows → the bundle's own ``predict.py`` → outputs, against the app.

The network check (``parity.check_parity``) sees already-prepared rows, so it cannot see a difference in the
preprocessing that ``predict.py`` re-implements (a category written as ``'0.10000000149011612'`` by the app
and ``'0.1'`` by the script, a date parsed differently). Here the very file that ships in the bundle is
loaded from the staging folder and run on raw rows as read from the user's file; the app's answer comes from
the training path (the fitted chain as recorded, then the trained module).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.export.parity import RTOL, TOLERANCE, Comparison, compare

PAIR = "app vs predict.py"
MAX_ROWS = 512
_counter = itertools.count()


def held_out_rows(dataset: Any) -> pd.DataFrame | None:
    """Raw test rows (validation rows when the test split is too small), at most ``MAX_ROWS``, in order."""
    raw = dataset.raw_splits() if dataset is not None and hasattr(dataset, "raw_splits") else None
    if not raw:
        return None
    for name in ("test", "val"):
        frame = raw.get(name)
        if frame is not None and len(frame) >= 2:
            window = getattr(dataset, "window", None) or {}
            limit = MAX_ROWS + int(window.get("lookback", 0))
            return frame.iloc[:limit].reset_index(drop=True)
    return None


@contextlib.contextmanager
def _load_script(path: Path) -> Any:
    """Import the bundle's predict.py as a private module, removed from ``sys.modules`` afterwards."""
    name = f"_workbench_bundle_predict_{next(_counter)}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses in the script look their module up here
    try:
        # Compiled from the text, not imported: an import would leave __pycache__/ inside the bundle.
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)  # noqa: S102 - our own staged file
        yield module
    finally:
        sys.modules.pop(name, None)


def app_outputs(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """(values or class ids, probabilities or None) the app computes for raw rows: the training path."""
    from workbench.evaluation.align import raw_outputs, to_predictions
    from workbench.tabular.chain import transform

    if getattr(model, "images", None):  # the files named in the path column, decoded as in training
        from workbench.images.data import model_pixels

        x = model_pixels(model, [str(p) for p in frame[model.images.get("column", "path")].tolist()])
    else:
        x = transform(list(model.chain or []), frame, list(model.feature_names))
    raw = raw_outputs(model, x)
    if model.head in ("binary", "multiclass"):
        return to_predictions(raw, model.head)
    return raw, None


def script_outputs(folder: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """The prediction table the bundle's predict.py makes for ``frame`` (warnings are errors: a deprecation
    in the script is a future break for the user)."""
    with _load_script(folder / "predict.py") as script, warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            table, _notes = script.predict_frame(folder, frame, with_proba=True)
        except script.PredictError as exc:
            raise UserError(
                f"export refused: the bundle's predict.py rejects held-out rows the app accepts ({exc}); "
                "report this as a bug"
            ) from None
    return table


def check_raw_parity(
    model: Any, folder: Path, frame: pd.DataFrame, atol: float = TOLERANCE, rtol: float = RTOL
) -> Comparison:
    """Compare the app and the bundle's predict.py on raw rows: probabilities (and labels where the app is
    not on a knife's edge) for classes, values for numbers."""
    values, proba = app_outputs(model, frame)
    table = script_outputs(folder, frame)
    if len(table) != len(values):
        return Comparison(PAIR, float("inf"), float("inf"), False)
    if proba is not None:
        classes = list(model.classes or [])
        theirs = table[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
        result = compare(PAIR, proba, theirs, atol, rtol)
        ordered = np.sort(proba, axis=1)
        clear = (
            (ordered[:, -1] - ordered[:, -2]) > 2 * atol if proba.shape[1] > 1 else np.ones(len(proba), bool)
        )
        labels = np.asarray(classes, dtype=object)[values]
        same = np.asarray(table["prediction"].astype(object) == pd.Series(labels, dtype=object))
        if not same[clear].all():
            return Comparison(PAIR, result.max_abs_diff, result.max_rel_diff, False)
        return result
    column = table["prediction"]
    theirs = np.asarray(column.tolist(), dtype=np.float64).reshape(len(column), -1)
    return compare(PAIR, values.reshape(len(values), -1), theirs, atol, rtol)

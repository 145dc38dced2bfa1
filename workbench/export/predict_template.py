"""Standalone predictor for a Model Workbench bundle: CSV in, predictions out, without the app.

Needs only pandas, numpy and onnxruntime. It applies the fitted preprocessing recorded in preprocessing.json
(imputation, category vocabularies with the unseen bucket, scaling, date parts, "was zero" flags, windows) and
runs model.onnx. This file is copied into every bundle as predict.py, and it is the one implementation of
those steps: Model Workbench imports it to prepare its training splits and to predict, so the script computes
what the model was trained on, and the app and the script check, compute and write alike.

    python predict.py INPUT.csv -o predictions.csv [--proba] [--keep-columns [COLS]] [--row-id]

Exit codes: 0 success, 1 bad input or a damaged bundle (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MISSING = "__missing__"
OTHER = "__other__"
UNSEEN = "__unseen__"
KINDS = ("numeric", "category", "datetime", "bool")
HEADS = ("binary", "multiclass", "regression")
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")  # workbench.tabular.vocabulary
_DATE_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}  # pandas' supported names
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}
BLOCK_CELLS = 1 << 22  # cells in one 2-D block of a step over many columns (32 MB of float64)
UNION_ROWS = 8192  # from this many rows, each Arrow text column is looked up on its own (``Step._slots``)


# >>> bundle files: written once, here; export/bundle.py copies this section into the image predict.py
BUNDLE_FORMAT = 1  # the newest bundle format this script reads (workbench.export.bundle.BUNDLE_FORMAT)
CHECKED_FILES = ("model.onnx", "preprocessing.json")
_JSON_LIMIT = 512 << 20  # bytes; preprocessing.json of a 100k-category vocabulary is a few MB


class PredictError(Exception):
    """Bad input or a damaged bundle; the message is one line for the person running the script."""


# --------------------------------------------------------------------------- bundle files


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(folder: Path, name: str) -> dict:
    """A bundle JSON file as a dict; a missing, huge, malformed or too deeply nested file is one line."""
    path = folder / name
    if not path.is_file():
        raise PredictError(f"bundle {folder}: {name} is missing; re-export the model")
    try:
        if path.stat().st_size > _JSON_LIMIT:
            raise PredictError(
                f"bundle {folder}: {name} is too large to be a bundle file; re-export the model"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise PredictError(f"bundle {folder}: {name} is nested too deeply; re-export the model") from None
    except json.JSONDecodeError as exc:
        raise PredictError(
            f"bundle {folder}: {name} is not valid JSON (line {exc.lineno}); re-export the model"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PredictError(f"bundle {folder}: {name} cannot be read ({exc}); re-export the model") from None
    if not isinstance(data, dict):
        raise PredictError(f"bundle {folder}: {name} does not hold a JSON object; re-export the model")
    return data


def verify_files(folder: Path, manifest: dict, names: tuple[str, ...] = CHECKED_FILES) -> None:
    """Compare files with the sizes and checksums the manifest recorded at export (a changed file is refused).

    ``manifest`` has passed ``check_manifest``."""
    recorded = manifest["files"]
    for name in names:
        path = folder / name
        if path.is_symlink() or not path.is_file():
            raise PredictError(
                f"bundle {folder}: {name} is missing (or not a plain file); re-export the model"
            )
        entry = recorded.get(name)
        if entry is None:
            raise PredictError(
                f"bundle {folder}: the manifest has no checksum for {name}; re-export the model"
            )
        size = entry.get("bytes")
        if (size is not None and path.stat().st_size != size) or sha256_file(path) != entry["sha256"]:
            raise PredictError(
                f"bundle {folder}: {name} was changed after export (checksum mismatch); "
                "restore the file or re-export the model"
            )


# --------------------------------------------------------------------------- bundle content checks
# A file whose checksum matches can still be wrong: a hand-edited bundle with a rewritten manifest, or a broken
# tool. Every field is checked before anything reads it, so a problem is one line naming the file and the field,
# never a TypeError deep inside pandas. The app runs these same checks (workbench/export/reader.py).


def _number(value: object) -> bool:
    """A JSON number float32 can hold (no NaN, no infinity, no 400-digit integer)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -1e30 < value < 1e30


def _names(value: object) -> bool:
    return (
        isinstance(value, list) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)
    )


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {  # kind → (test, what the message says)
    "str": (lambda v: isinstance(v, str), "text"),
    "str?": (lambda v: v is None or isinstance(v, str), "text or null"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a whole number >= 1"),
    "size": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
    "num": (_number, "a finite number"),
    "scale": (lambda v: _number(v) and abs(v) > 1e-30, "a non-zero finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "dict?": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "names": (_names, "a list of distinct texts"),
    "nums": (lambda v: isinstance(v, list) and all(_number(x) for x in v), "a list of finite numbers"),
    "scales": (lambda v: isinstance(v, list) and all(_TYPES["scale"][0](x) for x in v), "non-zero numbers"),
    "counts": (lambda v: isinstance(v, list) and all(_TYPES["count"][0](x) for x in v), "whole numbers >= 1"),
    "sha256": (lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None, "a sha256 hex"),
    "labels": (
        lambda v: (
            isinstance(v, list)
            and all(isinstance(x, str) or _number(x) for x in v)
            and len({str(x) for x in v}) == len(v)
        ),
        "a list of distinct class labels",
    ),
}
_REQUIRED = object()


class _Fields:
    """Reads the fields of one bundle file; a missing or wrong one raises PredictError naming file and field."""

    def __init__(self, folder: Path, name: str) -> None:
        self.where = f"bundle {folder}: {name}"

    def fail(self, field: str, what: str) -> PredictError:
        return PredictError(f"{self.where}: {field} {what}; re-export the model")

    def get(self, data: dict, key: str, kind: str, path: str = "", default: object = _REQUIRED):  # noqa: ANN201
        field = f"{path}.{key}" if path else key
        if not isinstance(data, dict):
            raise self.fail(path or "the top level", "must be an object")
        if key not in data:
            if default is _REQUIRED:
                raise self.fail(field, "is missing")
            return default
        test, what = _TYPES[kind]
        if not test(data[key]):
            raise self.fail(field, f"must be {what}")
        return data[key]

    def choice(self, data: dict, key: str, choices: tuple, path: str = "") -> str:
        value = self.get(data, key, "str", path)
        if value not in choices:
            raise self.fail(f"{path}.{key}" if path else key, f"must be one of {', '.join(choices)}")
        return value


def check_manifest(manifest: dict, folder: Path) -> dict:
    """The manifest fields anything reads: kind, format, and a size and sha256 per listed file."""
    if manifest.get("kind") != "model-workbench-bundle":
        raise PredictError(f"bundle {folder}: manifest.json is not a Model Workbench bundle manifest")
    f = _Fields(folder, "manifest.json")
    if f.get(manifest, "format", "int") > BUNDLE_FORMAT:
        raise PredictError(
            f"bundle {folder}: written by a newer Model Workbench (format {manifest['format']})"
        )
    for name, entry in f.get(manifest, "files", "dict").items():
        f.get(entry, "sha256", "sha256", f"files[{name!r}]")
        f.get(entry, "bytes", "size", f"files[{name!r}]", None)
    for key in ("metrics", "training_metrics"):
        f.get(manifest, key, "dict", default={})
    f.get(manifest, "task", "str?", default=None)
    return manifest


def open_session(folder: Path, threads: int = 0):  # noqa: ANN201 - onnxruntime is imported lazily
    """model.onnx on the CPU, no spinning threads (they cost other work more than they gain a small model)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictError(
            f"bundle {folder}: model.onnx cannot be loaded ({first}); re-export the model"
        ) from None


# <<< bundle files


# op → (field, kind[, default]) besides op, features_in and features_out
_STEP_FIELDS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "impute": (("columns", "names"), ("fill", "dict"), ("indicators", "names", [])),
    "onehot": (("encodings", "list"),),
    "ordinal": (("encodings", "list"),),
    "scale": (("columns", "names"), ("center", "nums"), ("scale", "scales")),
    "datetime": (("columns", "names"), ("parts", "names")),
    "zero_flags": (("columns", "names"),),
    "drop": (("columns", "names"),),
    "window": (
        ("columns", "names"),
        ("lookback", "count"),
        ("target_input", "bool", False),
        ("target", "str?", None),
        ("target_center", "num", 0.0),
        ("target_scale", "scale", 1.0),
    ),  # fmt: skip
}
_TEXT_KINDS = ("category", "datetime")  # kinds that are not numbers until a step encodes them


def check_preprocessing(prep: dict, folder: Path) -> dict:
    """Every field of preprocessing.json, and that the steps fit together: each step reads only columns the
    input or an earlier step provides, numbers stay numbers, and the result is the model's input shape."""
    f = _Fields(folder, "preprocessing.json")
    if f.get(prep, "format", "int") > BUNDLE_FORMAT:
        raise PredictError(f"bundle {folder}: written by a newer Model Workbench (format {prep['format']})")
    columns = f.get(prep, "input_columns", "names")
    schema = f.get(prep, "input_schema", "dict", default={})
    for column in columns:
        if schema.get(column) is not None and schema[column] not in KINDS:
            raise f.fail(f"input_schema[{column!r}]", f"must be one of {', '.join(KINDS)}")
    features = f.get(prep, "feature_names", "names")
    shape = f.get(prep, "input_shape", "counts")
    labels = f.get(prep, "labels", "dict")
    f.choice(labels, "task", ("classification", "regression"), "labels")
    head = f.choice(labels, "head", HEADS, "labels")
    classes = f.get(labels, "classes", "labels", "labels", [])
    f.get(labels, "target", "str?", "labels", None)
    if head != "regression" and (len(classes) != 2 if head == "binary" else len(classes) < 2):
        raise f.fail(
            "labels.classes", f"must list the {'2 ' if head == 'binary' else ''}classes of a {head} model"
        )
    steps = f.get(prep, "steps", "list")
    avail = {c: schema.get(c) for c in columns}  # column → kind, as the steps run
    for i, step in enumerate(steps):
        at = f"steps[{i}]"
        if not isinstance(step, dict):
            raise f.fail(at, "must be an object")
        op = f.get(step, "op", "str", at)
        if op not in _STEP_FIELDS:
            raise PredictError(f"unknown preprocessing step {op!r}; this bundle needs a newer predict.py")
        f.get(step, "features_in", "names", at)
        f.get(step, "features_out", "names", at)
        fields = {k: f.get(step, k, kind, at, *default) for k, kind, *default in _STEP_FIELDS[op]}
        reads: list = fields.get("columns") or []
        if op in ("onehot", "ordinal"):
            reads = [
                f.get(e, "column", "str", f"{at}.encodings[{j}]") for j, e in enumerate(fields["encodings"])
            ]
            for j, enc in enumerate(fields["encodings"]):
                f.get(enc, "categories", "names", f"{at}.encodings[{j}]")
                f.get(enc, "other_values", "names", f"{at}.encodings[{j}]", [])
        unknown = [c for c in reads if c not in avail]
        if len(set(reads)) != len(reads) or (unknown and op != "drop"):
            what = (
                f"reads {unknown[0]!r}, which no earlier step provides" if unknown else "names a column twice"
            )
            raise f.fail(at, what)
        _step_flow(f, at, op, fields, reads, avail, i == len(steps) - 1)
    window = f.get(prep, "window", "dict?", default=None)
    last: dict = steps[-1] if steps else {}
    if window is not None or last.get("op") == "window":
        used = ("columns", "lookback", "target_input", "target", "target_center", "target_scale")
        if window is None or last.get("op") != "window" or any(window.get(k) != last.get(k) for k in used):
            raise f.fail("window", "does not match the last step")
        expected = [last["lookback"], len(last["columns"]) + bool(last["target_input"])]
    else:
        expected = [len(features)]
        for name in features:
            if name not in avail or avail[name] in _TEXT_KINDS:
                what = "do not produce" if name not in avail else "do not turn into numbers"
                raise f.fail("feature_names", f"lists {name!r}, which the steps {what}")
    if features != (last["features_out"] if last else columns):
        raise f.fail("feature_names", "do not match the features the steps produce")
    if shape != expected:
        raise f.fail("input_shape", f"must be {expected} for these features")
    needed = list(steps[0]["features_in"]) if steps else list(features)
    if window and window["target_input"] and window["target"] not in needed:
        needed.append(window["target"])
    if columns != needed:
        raise f.fail("input_columns", "do not match the columns the first step reads")
    return prep


def _step_flow(f: _Fields, at: str, op: str, fields: dict, reads: list, avail: dict, last: bool) -> None:
    """Check one step's values against the kinds of the columns it reads; update ``avail`` with its output."""
    if op == "impute":
        for column in reads:
            value, numeric = fields["fill"].get(column), avail[column] == "numeric"
            if not (_number(value) or (isinstance(value, str | bool) and not numeric)):
                raise f.fail(f"{at}.fill[{column!r}]", "must be a number" + ("" if numeric else " or text"))
        for column in fields["indicators"]:
            if column not in avail:
                raise f.fail(f"{at}.indicators", f"names {column!r}, which no earlier step provides")
            _add(f, at, avail, [f"{column}__missing"])
    elif op == "scale":
        if not len(fields["center"]) == len(fields["scale"]) == len(reads):
            raise f.fail(at, "needs one center and one scale per column")
        for column in reads:
            if avail[column] in _TEXT_KINDS:
                raise f.fail(f"{at}.columns", f"scales {column!r}, which is not a number at that point")
            avail[column] = "numeric"
    elif op in ("onehot", "ordinal"):
        for column, enc in zip(reads, fields["encodings"], strict=True):
            if op == "ordinal":
                avail[column] = "numeric"
                continue
            del avail[column]
            names = [*enc["categories"], *([OTHER] if enc.get("other_values") else []), UNSEEN]
            _add(f, at, avail, [f"{column}={name}" for name in names])
    elif op == "datetime":
        bad = [p for p in fields["parts"] if p not in DATE_PARTS]
        if bad:
            raise f.fail(f"{at}.parts", f"must be among {', '.join(DATE_PARTS)}, not {bad[0]!r}")
        for column in reads:
            del avail[column]
            _add(f, at, avail, [f"{column}.{part}" for part in fields["parts"]])
    elif op == "zero_flags":
        for column in reads:
            if avail[column] in _TEXT_KINDS:
                raise f.fail(f"{at}.columns", f"flags {column!r}, which is not a number at that point")
        _add(f, at, avail, [f"{column}__zero" for column in reads])
    elif op == "drop":
        for column in reads:
            avail.pop(column, None)
    elif op == "window":
        if not last:
            raise f.fail(at, "must be the last step")
        if fields["target_input"] and fields["target"] not in avail:
            raise f.fail(f"{at}.target", "must name an input column")
        for column in reads:
            if avail[column] in _TEXT_KINDS:
                raise f.fail(f"{at}.columns", f"reads {column!r}, which is not a number at that point")


def _add(f: _Fields, at: str, avail: dict, names: list) -> None:
    """New numeric columns a step makes; one that already exists would be a second column of that name."""
    for name in names:
        if name in avail:
            raise f.fail(at, f"makes a column {name!r} that already exists")
        avail[name] = "numeric"


def check_model_io(sess, prep: dict, folder: Path) -> None:  # noqa: ANN001 - an onnxruntime session
    """model.onnx takes the input shape preprocessing.json describes and gives one output per class (or value)."""
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    labels = prep["labels"]
    want_out = {"binary": 1, "multiclass": len(labels["classes"])}.get(labels["head"])
    got_in = list(inputs[0].shape[1:]) if inputs else None
    got_out = list(outputs[0].shape[1:]) if outputs else None
    if got_in is None or got_out is None or len(got_in) != len(prep["input_shape"]) or len(got_out) != 1:
        raise PredictError(
            f"bundle {folder}: model.onnx does not have one input and one output of the expected rank"
        )
    for got, want, what in ((got_in, prep["input_shape"], "input"), (got_out, [want_out], "output")):
        if any(isinstance(g, int) and w is not None and g != w for g, w in zip(got, want, strict=True)):
            raise PredictError(
                f"bundle {folder}: model.onnx {what} has shape {got}; preprocessing.json expects {want}"
            )


# --------------------------------------------------------------------------- input checks


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" … ({len(rows)} rows)" if len(rows) > limit else "")


_CHECKED = frozenset(("numeric", "datetime", "bool"))  # kinds whose values are checked (and converted)
_LAYOUT: list = [None]  # the last (column index, prep, positions, kinds, notes): an Index never changes


def _layout(frame: pd.DataFrame, prep: dict) -> tuple[list, list[str]]:
    """(expected kind of each needed column, notes) for the frame's columns; checked once per column index
    object, so batches of one table skip re-reading the column names."""
    index = frame.columns
    last = _LAYOUT[0]
    if last is not None and last[0] is index and last[1] is prep:
        return last[2], list(last[3])
    needed = list(prep["input_columns"])
    schema = prep.get("input_schema", {})
    names = index.tolist()
    where = {name: position for position, name in enumerate(names)}
    missing = [c for c in needed if c not in where]
    if missing:
        raise PredictError(
            f"input lacks column(s) {', '.join(map(repr, missing))}; the model needs {', '.join(needed)}"
        )
    notes = []
    target = prep.get("labels", {}).get("target")
    if len(names) != len(needed):
        wanted = set(needed)
        extra = [str(c) for c in names if c not in wanted and c != target]
        if extra:
            shown = ", ".join(extra[:10]) + (" …" if len(extra) > 10 else "")
            notes.append(f"ignored {len(extra)} column(s) the model does not use: {shown}")
    if len(where) != len(names):
        dup = sorted({str(c) for c in names if names.count(c) > 1})
        raise PredictError(f"input has more than one column named {', '.join(dup)}; rename them")
    kinds = [schema.get(c) for c in needed]
    _LAYOUT[0] = (index, prep, kinds, notes)
    return kinds, list(notes)


def check_columns(frame: pd.DataFrame, prep: dict) -> tuple[dict, list[str]]:
    """``check_input`` as ``{column: array}`` in model input order (no DataFrame built; the app's fast path).

    Columns whose values already have the expected kind are passed through untouched; only the others are
    converted (and their bad values reported).
    """
    kinds, notes = _layout(frame, prep)
    out = {}
    problems = []
    for column, kind in zip(prep["input_columns"], kinds, strict=True):
        values = array_of(frame[column])
        if kind not in _CHECKED or (
            kind == "numeric" and type(values) is np.ndarray and values.dtype.kind in "iuf"
        ):
            out[column] = values
            continue
        if _has_kind(values, kind):
            out[column] = values
            continue
        series, bad, what = _convert(pd.Series(values, copy=False), kind)
        if bad is not None and bad.any():
            sample = ", ".join(repr(str(v)) for v in pd.Series(values, copy=False)[bad].unique()[:3])
            if kind == "datetime":  # as in training: an unreadable date is a missing value, not a bad file
                notes.append(
                    f"column {column!r}: row(s) {_rows(bad)} hold {sample}, not dates; treated as missing"
                )
            else:
                problems.append(f"column {column!r} expects {what} but row(s) {_rows(bad)} hold {sample}")
        out[column] = series.to_numpy() if not isinstance(series.dtype, pd.BooleanDtype) else series.array
    if problems:
        raise PredictError("wrong value type: " + "; ".join(problems))
    return out, notes


def _has_kind(values, kind: str) -> bool:  # noqa: ANN001
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        return kind == "numeric"
    if kind == "numeric":
        return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    if kind == "datetime":
        return pd.api.types.is_datetime64_any_dtype(dtype)
    return kind != "bool" or pd.api.types.is_bool_dtype(dtype)


def _convert(series: pd.Series, kind: str) -> tuple[pd.Series, np.ndarray | None, str]:
    """(converted values, rows whose value could not be converted, what was expected) for one column."""
    if kind == "numeric":
        if pd.api.types.is_bool_dtype(series):
            return series.astype("float64"), None, "numbers"
        text = series.astype("string").str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = series.notna().to_numpy() & numbers.isna().to_numpy() & (text != "").fillna(False).to_numpy()
        return numbers.astype("float64"), bad, "numbers"
    if kind == "datetime":
        dates = to_dates(series)
        text = series.astype("string").str.strip()
        given = (series.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)
        return dates, given & dates.isna().to_numpy(), "dates"
    text = series.astype("string").str.strip().str.lower()
    values = pd.array([True if t in _TRUE else False if t in _FALSE else pd.NA for t in text.fillna("")])
    return pd.Series(values, dtype="boolean"), series.notna().to_numpy() & pd.isna(values), "true/false"


def to_dates(values: pd.Series) -> pd.Series:
    """Text or numbers → naive dates; unreadable values become NaT. Mixed UTC offsets are converted to UTC, as
    the app's reader converts zoned dates."""
    try:
        dates = pd.to_datetime(values, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):  # "Mixed timezones detected"
        dates = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_convert(None)
    return dates


def check_input(frame: pd.DataFrame, prep: dict) -> tuple[pd.DataFrame, list[str]]:
    """The input columns the model needs, with values of the expected kind; notes for ignored columns.

    Missing columns are named; values of the wrong type are reported by column and row (1 = first data
    row); extra columns are dropped with a note. Numbers in text columns are converted.
    """
    columns, notes = check_columns(frame, prep)
    return pd.DataFrame(columns, copy=False), notes


# --------------------------------------------------------------------------- preprocessing
# The one implementation of every fitted step (docs/preprocessing.md). Model Workbench imports this module: its
# training path (workbench.tabular.chain applies these steps to the training splits) and its predictor run the
# functions below, so this copy computes exactly what the model was trained on. A step reads and writes named
# column arrays (numpy arrays or pandas extension arrays); a column a step makes for many columns at once is kept
# as (block, row) of the (columns, rows) block it wrote, and a one-hot group stays as one slot per row until
# something reads one of its columns. The model input is written from those blocks and slots directly.


def _text(value: object) -> str:
    return "True" if value is True else "False" if value is False else str(value)


def text_codes(values) -> tuple:  # noqa: ANN001 - any column array
    """(code per row, -1 for missing; the text of each distinct value): the text a category step matches on.
    A float prints in its own precision: float32 0.1 is '0.1', not the '0.10000000149011612' of its float64."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    kind = getattr(getattr(uniques, "categories", uniques), "dtype", None)
    if getattr(kind, "kind", "") == "f":
        return codes, [str(value) for value in np.asarray(uniques)]
    return codes, [_text(value.item() if hasattr(value, "item") else value) for value in uniques]


def as_text(values) -> np.ndarray:  # noqa: ANN001
    """Each row's category text (``__missing__`` for a missing value), as an object array."""
    codes, texts = text_codes(values)
    return np.array([*texts, MISSING], dtype=object)[codes]


def _arrow_text(values):  # noqa: ANN001, ANN202 - a pyarrow string array, or None
    """Arrow-backed text (pandas' default ``str``) as one pyarrow array; None for anything else."""
    dtype = getattr(values, "dtype", None)
    if isinstance(values, np.ndarray) or not (
        getattr(dtype, "storage", None) == "pyarrow" or hasattr(dtype, "pyarrow_dtype")
    ):
        return None
    chunks = values.__arrow_array__()
    array = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
    return array if str(array.type) in ("string", "large_string") else None


class Vocabulary:
    """Category text → slot for one encoded column. A text not listed (and a missing value, unless
    ``__missing__`` is listed) gets ``unseen``."""

    def __init__(self, table: dict, unseen: int) -> None:
        self.table, self.unseen = table, unseen
        self.missing = table.get(MISSING, unseen)
        self.slots = np.array([*table.values(), self.missing, unseen], dtype=np.int64)
        # the usual one-hot vocabulary: each listed text's position is its slot, anything else is unseen
        self.direct = list(table.values()) == list(range(len(table))) and self.missing == unseen == len(table)
        self._arrow: dict = {}

    def __call__(self, values) -> np.ndarray:  # noqa: ANN001
        """The slot of each row (int64)."""
        arrow = _arrow_text(values)
        if arrow is not None:
            return self.arrow_slots(arrow)
        codes, texts = text_codes(values)
        lookup = np.array([self.table.get(t, self.unseen) for t in texts] + [self.missing], dtype=np.int64)
        return lookup[codes]

    def arrow_slots(self, array) -> np.ndarray:  # noqa: ANN001 - a pyarrow string array
        """``__call__`` for Arrow text."""
        if self.direct:  # positions are slots: no remapping pass
            return self.arrow_index(array, direct=True)
        return self.slots.take(self.arrow_index(array))

    def arrow_index(self, array, direct: bool = False) -> np.ndarray:  # noqa: ANN001
        """Each row's position among the listed texts (intp); one past them for a missing value, two past for
        a text not listed (``direct``: one past them for both). One hash lookup in Arrow, no Python string per
        row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        options = self._arrow.get((array.type, direct))
        if options is None:  # a null matches the null listed last, or (direct) nothing
            listed = pa.array([*self.table, *([] if direct else [None])], type=array.type)
            options = pc.SetLookupOptions(listed, skip_nulls=direct)
            self._arrow[array.type, direct] = options
        found = pc.index_in(array, options=options)
        if found.null_count:  # texts not listed
            found = pc.fill_null(found, len(self.table) + (0 if direct else 1))
        return found.to_numpy().astype(np.intp)  # int32 indices make a numpy gather ~2x slower


def onehot_names(enc: dict) -> list:
    """The columns one encoded column becomes, in order: its categories, ``__other__`` (when values were
    grouped), ``__unseen__``."""
    names = [*enc["categories"], *([OTHER] if enc.get("other_values") else []), UNSEEN]
    return [f"{enc['column']}={name}" for name in names]


class OneHot:
    """One encoded column's 0/1 columns, kept as the slot of each row."""

    __slots__ = ("slots", "width")

    def __init__(self, slots: np.ndarray, width: int) -> None:
        self.slots, self.width = slots, width

    def __getitem__(self, slot: int) -> np.ndarray:
        return (self.slots == slot).astype(np.float32)

    def block(self) -> np.ndarray:
        """The (width, rows) float32 block of the columns."""
        out = np.zeros((self.width, len(self.slots)), dtype=np.float32)
        out.reshape(-1)[self.slots * len(self.slots) + np.arange(len(self.slots))] = 1.0
        return out


def column(env: dict, name: str):  # noqa: ANN201 - a column array
    """A column of ``env`` as an array (a row of a block, a one-hot column made from its slots)."""
    value = env[name]
    if type(value) is tuple:
        return value[0][value[1]]
    return value


def missing_mask(values) -> np.ndarray:  # noqa: ANN001
    """Missing for imputation: NaN/None/NaT, and +/-inf in float columns."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return ~np.isfinite(values)
    mask = np.asarray(pd.isna(values), dtype=bool)
    if pd.api.types.is_float_dtype(values.dtype):
        mask = mask | np.isinf(np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan)))
    return mask


def _floats(values, dtype: type = np.float64) -> np.ndarray:  # noqa: ANN001
    """Numbers as a numpy array of ``dtype`` (a plain cast), missing values as NaN."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(dtype, copy=False)
    return pd.Series(values, copy=False).to_numpy(dtype=dtype, na_value=np.nan)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(stats: dict, column: str, count: int) -> None:
    if count:
        stats.setdefault("unseen", {})[column] = stats.get("unseen", {}).get(column, 0) + count


class Step:
    """One fitted step of preprocessing.json, made ready once (lookups, fill and scale vectors); ``run``
    applies it to the named column arrays of ``n`` rows in ``env``."""

    def __init__(self, step: dict) -> None:
        self.step, self.op = step, step["op"]
        run = getattr(self, f"_{self.op}", None)
        if run is None:
            raise PredictError(
                f"unknown preprocessing step {self.op!r}; this model needs a newer Model Workbench"
            )
        self.run: Callable[[dict, int, dict], None] = run
        if self.op in ("onehot", "ordinal"):
            self.encodings = []
            for enc in step["encodings"]:
                table = {text: slot for slot, text in enumerate(enc["categories"])}
                width = len(enc["categories"]) + 1
                if self.op == "onehot" and enc.get("other_values"):
                    for text in enc["other_values"]:
                        table.setdefault(text, len(enc["categories"]))
                    width += 1
                unseen = width - 1 if self.op == "onehot" else -1
                self.encodings.append((enc["column"], Vocabulary(table, unseen), onehot_names(enc)))
            # Arrow text columns are looked up in one pass over the texts of all of them (one fixed cost)
            texts = list(dict.fromkeys(t for _, vocabulary, _ in self.encodings for t in vocabulary.table))
            self.union = Vocabulary({text: index for index, text in enumerate(texts)}, len(texts))
            self.remaps = [  # union position → slot, as ``Vocabulary.arrow_index`` numbers them
                np.array([v.table.get(t, v.unseen) for t in texts] + [v.missing, v.unseen], dtype=np.int64)
                for _, v, _ in self.encodings
            ]
        if self.op == "scale":
            self.centers = np.array(step["center"], dtype=np.float64).astype(np.float32)[:, None]
            self.factors = (1.0 / np.array(step["scale"], dtype=np.float64)).astype(np.float32)[:, None]

    def reads(self) -> list:
        """The columns the step reads."""
        if self.op in ("onehot", "ordinal"):
            return [enc[0] for enc in self.encodings]
        return [*self.step.get("columns", []), *self.step.get("indicators", [])]

    def _impute(self, env: dict, n: int, stats: dict) -> None:
        step, fills = self.step, self.step["fill"]
        flags = [(f"{c}__missing", missing_mask(column(env, c))) for c in step.get("indicators", [])]
        plain = []  # float64 columns with a number to fill in: filled as (columns, rows) blocks
        for name in step["columns"]:
            values, fill = column(env, name), fills[name]
            if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
                continue  # never missing
            if isinstance(values, np.ndarray) and values.dtype == np.float64 and _is_number(fill):
                plain.append((name, values))
                continue
            mask = missing_mask(values)
            if not mask.any():
                continue
            series = pd.Series(values, copy=False)
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                if _is_number(fill) and pd.api.types.is_integer_dtype(series) and fill != int(fill):
                    env[name] = np.where(mask, fill, _floats(values))  # a 4.4 mean does not fit an integer
                else:
                    env[name] = array_of(series.mask(mask, fill))
            else:
                env[name] = series.astype(object).mask(mask, fill).to_numpy()
        size = max(1, BLOCK_CELLS // max(n, 1))
        for start in range(0, len(plain), size):
            chunk = plain[start : start + size]
            block = np.array([values for _, values in chunk], dtype=np.float64)
            gaps = ~np.isfinite(block)
            filled: np.ndarray = np.asarray(gaps.any(axis=1))
            if filled.any():  # columns without a gap stay as they are
                np.copyto(block, np.array([fills[name] for name, _ in chunk])[:, None], where=gaps)
                env.update((name, (block, row)) for row, (name, _) in enumerate(chunk) if filled[row])
        env.update((name, mask.astype(np.float32)) for name, mask in flags)

    def _slots(self, env: dict, n: int) -> list:
        """The slot of each row, per encoded column. Small batches of Arrow text look all their columns up in
        one pass (one fixed cost); from ``UNION_ROWS`` rows each column has its own, smaller, lookup (65,536
        rows x 4 columns: ~3.0 vs ~4.3 ms, no concatenation and no remapping), two columns at a time (Arrow
        lets go of the GIL: features of 65,536 credit-risk rows 6.1/8.6 -> 5.4/6.6 ms best/median)."""
        values = [column(env, name) for name, _, _ in self.encodings]
        arrows = [_arrow_text(v) for v in values] if len(values) > 1 else [None] * len(values)
        types = {a.type for a in arrows if a is not None}
        if n < UNION_ROWS and all(a is not None for a in arrows) and len(types) == 1:
            import pyarrow as pa

            index = self.union.arrow_index(pa.concat_arrays(arrows))
            return [remap.take(index[i * n : (i + 1) * n]) for i, remap in enumerate(self.remaps)]
        jobs = [
            partial(vocabulary, v) if a is None else partial(vocabulary.arrow_slots, a)
            for v, a, (_, vocabulary, _) in zip(values, arrows, self.encodings, strict=True)
        ]
        if n >= UNION_ROWS and sum(a is not None for a in arrows) > 1:
            return _shared(jobs)
        return [job() for job in jobs]

    def _onehot(self, env: dict, n: int, stats: dict) -> None:
        for (name, vocabulary, names), slots in zip(self.encodings, self._slots(env, n), strict=True):
            del env[name]
            hot = OneHot(slots, len(names))
            env.update((out, (hot, slot)) for slot, out in enumerate(names))
            _count(stats, name, int(np.count_nonzero(slots == vocabulary.unseen)))

    def _ordinal(self, env: dict, n: int, stats: dict) -> None:
        for (name, _, _), codes in zip(self.encodings, self._slots(env, n), strict=True):
            env[name] = codes.astype(np.float32)
            _count(stats, name, int(np.count_nonzero(codes < 0)))

    def _scale(self, env: dict, n: int, stats: dict) -> None:
        """(x - center) * (1 / scale) in float32, after a float32 cast, as (columns, rows) blocks."""
        names = self.step["columns"]
        size = max(1, BLOCK_CELLS // max(n, 1))
        for start in range(0, len(names), size):
            chunk = names[start : start + size]
            block = np.empty((len(chunk), n), dtype=np.float32)
            for row, name in enumerate(chunk):  # one cast per column, straight into the block
                values = column(env, name)
                plain = isinstance(values, np.ndarray) and values.dtype.kind in "fiub"
                block[row] = values if plain else _floats(values, np.float32)
            block -= self.centers[start : start + size]
            block *= self.factors[start : start + size]
            env.update((name, (block, row)) for row, name in enumerate(chunk))

    def _datetime(self, env: dict, n: int, stats: dict) -> None:
        for name in self.step["columns"]:
            values = pd.Series(column(env, name), copy=False)
            del env[name]
            dates = values if pd.api.types.is_datetime64_any_dtype(values) else to_dates(values)
            if getattr(dates.dt, "tz", None) is not None:
                dates = dates.dt.tz_convert(None)
            for part in self.step["parts"]:
                part_values = getattr(dates.dt, _DATE_ATTRIBUTES.get(part, part))
                env[f"{name}.{part}"] = part_values.to_numpy(dtype=np.float32, na_value=np.nan)

    def _zero_flags(self, env: dict, n: int, stats: dict) -> None:
        for name in self.step["columns"]:  # a 0/1 "was exactly zero" column each; missing is not zero
            env[f"{name}__zero"] = (_floats(column(env, name)) == 0.0).astype(np.float32)

    def _drop(self, env: dict, n: int, stats: dict) -> None:
        for name in self.step["columns"]:
            env.pop(name, None)

    def _window(self, env: dict, n: int, stats: dict) -> None:
        pass  # windows are cut from the finished rows (``Steps.model_input``)


_WORKER: list = []  # one thread that helps with big Arrow lookups (``_shared``), started on first use


def _shared(jobs: list) -> list:
    """``[job() for job in jobs]`` on this thread and one worker: the worker takes the jobs from the end, this
    thread from the start, and runs itself any job the worker has not begun, so a machine with no idle core
    costs no waiting (and a forked child, whose worker thread did not come along, still gets its results)."""
    if not _WORKER:
        from concurrent.futures import ThreadPoolExecutor

        _WORKER.append(ThreadPoolExecutor(1, thread_name_prefix="predict-lookup"))
    futures = [_WORKER[0].submit(job) for job in reversed(jobs[1:])][::-1]
    try:
        out = [jobs[0]()]
        for job, future in zip(jobs[1:], futures, strict=True):
            out.append(job() if future.cancel() else future.result())
    except BaseException:
        for future in futures:  # the worker need not finish a batch that failed
            future.cancel()
        raise
    return out


class Steps:
    """The fitted steps of preprocessing.json made ready once; ``model_input`` turns raw column arrays into the
    model's input."""

    def __init__(self, steps: list, features: list, window: dict | None = None) -> None:
        self.steps = [Step(step) for step in steps]
        self.features = list(features)
        last = steps[-1] if steps else None
        self.window = window or (last if last is not None and last["op"] == "window" else None)
        self.needed = required_columns(steps, features)
        self._starts: np.ndarray | None = None  # flat offset of each output row (``_row_starts``)

    def run(self, env: dict, n: int, stats: dict) -> dict:
        """Apply every step to ``env`` (column name → array), in place."""
        for step in self.steps:
            step.run(env, n, stats)
        return env

    def model_input(self, columns: dict, n: int, stats: dict | None = None) -> tuple:
        """(float32 model input, True when every value in it is finite) for raw column arrays of ``n`` rows:
        (n, features), or (n - lookback + 1, lookback, window columns) for a windowed model."""
        stats = {} if stats is None else stats
        env = self.run(dict(columns), n, stats)
        if self.window:
            return _windows(env, self.window, n), False
        out = np.zeros((n, len(self.features)), dtype=np.float32)
        return out, self._write(env, out)

    def _write(self, env: dict, out: np.ndarray) -> bool:
        """Write the finished columns into the zeroed ``out`` (rows, features), each block and one-hot group
        at once; True when every number written is finite (0/1 columns always are)."""
        sources: dict[int, tuple[Any, list[int], list[int]]] = {}
        single = []
        for index, name in enumerate(self.features):
            value = env[name]
            if type(value) is tuple:
                entry = sources.get(id(value[0]))
                if entry is None:
                    entry = sources[id(value[0])] = (value[0], [], [])  # source, its rows, their columns
                entry[1].append(value[1])
                entry[2].append(index)
            else:
                single.append((index, value, name))
        write_columns(out, single)
        finite = not single or bool(np.isfinite(out[:, [index for index, _, _ in single]].sum()))
        n, width = out.shape
        for source, rows, cols in sources.values():
            if type(source) is OneHot:  # a 1 in the column of each row's slot
                if rows == list(range(source.width)) and cols == list(range(cols[0], cols[0] + len(cols))):
                    starts = self._row_starts(n, width)
                    out.reshape(-1)[cols[0] :][source.slots + starts] = 1.0  # the group's columns in order
                else:  # some of the group's columns were dropped, replaced or moved by a later step
                    where = np.full(source.width, -1, dtype=np.int64)
                    where[rows] = cols
                    target = where[source.slots]
                    keep = target >= 0
                    out.reshape(-1)[self._row_starts(n, width)[keep] + target[keep]] = 1.0
                continue
            whole = rows == list(range(len(source)))
            out[:, cols] = (source if whole else source[rows]).T  # one fancy write: runs of slices no faster
            if source.dtype != np.float32 or not whole:  # a number beyond float32's range
                finite = finite and bool(np.isfinite(out[:, cols].sum()))  # is infinite once written
            else:
                finite = finite and bool(np.isfinite(source.sum()))
        return finite

    def _row_starts(self, n: int, width: int) -> np.ndarray:
        """The flat offset of each row of an (n, width) array (the last size asked kept)."""
        found = self._starts
        if found is None or found.shape[0] != n or (n > 1 and found[1] != width):
            found = self._starts = np.arange(0, n * width, width, dtype=np.int64)
        return found


def _numbers(values, name: str) -> np.ndarray:  # noqa: ANN001
    """A finished column as numbers (float32 where it is not a plain numpy number column)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values
    if isinstance(values, np.ndarray) or not pd.api.types.is_numeric_dtype(values.dtype):
        raise PredictError(f"column {name!r} is not numeric ({values.dtype}) after preprocessing")
    return values.to_numpy(dtype=np.float32, na_value=np.nan)


def write_columns(out: np.ndarray, columns: list, rows: int = 8192) -> None:
    """``out[:, index] = values`` (cast to float32) for each (index, values, name), in row blocks that stay
    in the CPU cache; PredictError naming a column that is not numbers."""
    arrays = [(index, _numbers(values, name)) for index, values, name in columns]
    for start in range(0, len(out), rows):
        part = out[start : start + rows]
        for index, values in arrays:
            part[:, index] = values[start : start + rows]


def required_columns(steps: list, features: list | None = None) -> list:
    """The raw input columns a chain (or, without steps, the feature list) reads."""
    if not steps:
        return list(features or [])
    needed = list(steps[0]["features_in"])
    last = steps[-1]
    if last["op"] == "window" and last.get("target_input") and last["target"] not in needed:
        needed.append(last["target"])
    return needed


def window_matrix(env: dict, window: dict, n: int) -> np.ndarray:
    """The (rows, channels) float32 matrix a window step reads: its columns, then the scaled past target."""
    names = list(window["columns"])
    matrix = np.empty((n, len(names) + bool(window.get("target_input"))), dtype=np.float32)
    for index, name in enumerate(names):
        matrix[:, index] = _numbers(column(env, name), name)
    if window.get("target_input"):
        target = _floats(column(env, window["target"]), np.float32)
        matrix[:, -1] = (target - np.float32(window["target_center"])) / np.float32(window["target_scale"])
    return matrix


def make_windows(matrix: np.ndarray, lookback: int, ends: np.ndarray) -> np.ndarray:
    """Windows ``matrix[end - lookback + 1 : end + 1]`` for each end row, as one float32 (n, lookback, f) array."""
    if len(ends) == 0:
        return np.zeros((0, lookback, matrix.shape[1]), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(matrix, lookback, axis=0)  # (n-L+1, f, L)
    return np.ascontiguousarray(view[ends - lookback + 1].transpose(0, 2, 1), dtype=np.float32)


def _windows(env: dict, window: dict, n: int) -> np.ndarray:
    lookback = int(window["lookback"])
    if n < lookback:
        raise PredictError(f"the model reads windows of {lookback} rows; the input has only {n}")
    return make_windows(window_matrix(env, window, n), lookback, np.arange(lookback - 1, n))


# --------------------------------------------------------------------------- tables


def array_of(series: pd.Series):  # noqa: ANN201
    """A Series' values as a numpy array (plain numbers, dates) or a pandas extension array."""
    values = series.array
    return values.to_numpy() if isinstance(values, pd.arrays.NumpyExtensionArray) else values


def assign_columns(frame: pd.DataFrame, parts: list) -> pd.DataFrame:
    """``frame`` with the columns of ``parts`` (DataFrames) replacing its own (same place) or appended (new
    names); one concat instead of one insert per column, which made a 10,000-column step quadratic."""
    parts = [part for part in parts if part.shape[1]]
    if not parts:
        return frame.copy(deep=False)
    names = [name for part in parts for name in part.columns]
    present = set(frame.columns)
    replaced = [name for name in names if name in present]
    out = pd.concat([frame.drop(columns=replaced) if replaced else frame, *parts], axis=1)
    order = list(frame.columns) + [name for name in names if name not in present]
    return out if list(out.columns) == order else out[order]


def apply_step(step: dict, frame: pd.DataFrame, stats: dict | None = None) -> pd.DataFrame:
    """``step`` applied to a DataFrame (how the training splits go through it): the columns it changes are
    replaced in place, the columns it makes appended and the ones it removes dropped."""
    prepared = Step(step)
    present = set(frame.columns)
    env = {name: array_of(frame[name]) for name in dict.fromkeys(prepared.reads()) if name in present}
    before = dict(env)
    prepared.run(env, len(frame), {} if stats is None else stats)
    groups: dict = {}
    single = {}
    for name, value in env.items():
        if before.get(name) is value:
            continue
        if type(value) is tuple:
            groups.setdefault(id(value[0]), (value[0], []))[1].append((value[1], name))
        else:
            single[name] = value
    parts = []
    for source, members in groups.values():
        block = source.block() if type(source) is OneHot else source
        rows = [row for row, _ in members]
        block = block if rows == list(range(len(block))) else block[rows]
        names = [name for _, name in members]
        parts.append(pd.DataFrame(block.T, index=frame.index, columns=names, copy=False))
    if single:
        parts.append(pd.DataFrame(single, index=frame.index, copy=False))
    removed = [name for name in before if name not in env]
    return assign_columns(frame.drop(columns=removed) if removed else frame, parts)


def transform(prep: dict, frame: pd.DataFrame, stats: dict) -> np.ndarray:
    """The model input for a checked frame (``check_input``)."""
    steps = Steps(prep["steps"], prep["feature_names"], prep.get("window"))
    return steps.model_input({c: array_of(frame[c]) for c in steps.needed}, len(frame), stats)[0]


def model_features(frame: pd.DataFrame, prep: dict, steps: Steps) -> tuple[np.ndarray, list, dict]:
    """(model input, notes, unseen values per column) for a raw table: its columns checked, the fitted steps
    applied, values the model cannot fill refused."""
    columns, notes = check_columns(frame, prep)
    stats: dict = {}
    x, finite = steps.model_input(columns, len(frame), stats)
    if not finite:
        check_finite(x, prep)
    unseen = stats.get("unseen", {})
    if unseen:
        parts = ", ".join(f"{c}: {n}" for c, n in unseen.items())
        notes.append(f"values not seen in training (treated as unseen): {parts}")
    return x, notes, unseen


def check_finite(x: np.ndarray, prep: dict) -> None:
    # one float32 pass: a finite sum means every value is finite (an overflowing sum only costs the full check)
    if x.size == 0 or np.isfinite(x.sum()):
        return
    flat = x.reshape(len(x), -1, x.shape[-1]) if x.ndim == 3 else x[:, None, :]
    bad = ~np.isfinite(flat).all(axis=1)
    if bad.any():
        names = prep["feature_names"]
        columns = [names[i] for i in np.flatnonzero(bad.any(axis=0))][:5]
        raise PredictError(
            f"missing values the model cannot fill in {', '.join(columns)} (row(s) {_rows(bad.any(axis=1))}); "
            "fill them in the input"
        )


# --------------------------------------------------------------------------- model outputs


_LABELS: dict = {}


def _label_array(classes: list):  # noqa: ANN202 - numpy or pandas array
    """The class labels as one array whose dtype pandas would infer for a column of them (cached)."""
    key = tuple((type(c).__name__, c) for c in classes)
    found = _LABELS.get(key)
    if found is None:
        found = pd.Series(list(classes)).array
        found = found.to_numpy() if isinstance(found, pd.arrays.NumpyExtensionArray) else found
        if len(_LABELS) < 64:
            _LABELS[key] = found
    return found


def postprocess(outputs: np.ndarray, prep: dict) -> tuple:
    """(labels or values as an array, class probabilities as a (classes, rows) array, or None) from raw outputs."""
    labels = prep["labels"]
    head, classes = labels["head"], labels.get("classes") or []
    out = np.asarray(outputs, dtype=np.float64)
    if head == "binary":  # probabilities as one (classes, rows) block: row i is proba_<class i>
        logit = out[:, 0]
        proba = np.empty((2, len(logit)))
        p1 = proba[1]  # 1 / (1 + exp(-logit)), computed in place
        np.negative(logit, out=p1)
        np.exp(p1, out=p1)
        p1 += 1.0
        np.divide(1.0, p1, out=p1)
        np.subtract(1.0, p1, out=proba[0])
        return _label_array(classes).take((logit > 0).astype(np.intp)), proba
    if head == "multiclass":
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        proba = shifted / shifted.sum(axis=1, keepdims=True)
        return _label_array(classes).take(out.argmax(axis=1)), np.ascontiguousarray(proba.T)
    return out[:, 0] if out.shape[1] == 1 else [list(row) for row in out], None


def output_columns(values, proba, prep: dict, with_proba: bool) -> dict:  # noqa: ANN001
    """The output table's columns in order: window end row (windowed models), prediction, proba_<class>."""
    columns: dict = {}
    window = prep.get("window")
    if window:
        lookback = int(window["lookback"])
        columns["row"] = np.arange(lookback, lookback + len(values))
    columns["prediction"] = values
    if with_proba and proba is not None:
        for index, label in enumerate(prep["labels"]["classes"]):
            columns[f"proba_{label}"] = proba[index]
    return columns


def prediction_frame(values, proba, prep: dict, with_proba: bool) -> pd.DataFrame:  # noqa: ANN001
    """The output table: window end row (windowed models), prediction, and proba_<class> columns if asked."""
    return pd.DataFrame(output_columns(values, proba, prep, with_proba), copy=False)


def parse_keep(text: str | None) -> list | None:
    """``--keep-columns`` as given: None (not given), [] (given bare: every input column) or the names listed."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def with_kept(
    table: pd.DataFrame, frame: pd.DataFrame, keep: list | None, row_id: bool = False, first: bool = True
) -> pd.DataFrame:
    """The predictions with input columns (``keep``: None none, [] all, else these names) and/or a 0-based
    ``row_id`` of the input row, in front (``first``) or after, so each prediction can be matched to its row.
    A windowed model's prediction carries its window's last row. A kept name that clashes with an output
    column gets ``input_``."""
    if keep is None and not row_id:
        return table
    names = [str(c) for c in frame.columns] if keep == [] else list(keep or [])
    missing = [name for name in names if name not in frame.columns]
    if missing:
        shown = ", ".join(map(str, list(frame.columns)[:30]))
        raise PredictError(
            f"--keep-columns: no column {', '.join(map(repr, missing))} in the input; columns: {shown}"
        )
    rows = table["row"].to_numpy() - 1 if "row" in table.columns else np.arange(len(table))
    front: dict = {}
    if row_id:
        front["row_id" if "row_id" not in table.columns else "input_row_id"] = rows
    for name in names:
        key = name if name not in table.columns and name not in front else f"input_{name}"
        front[key] = frame[name].to_numpy()[rows]
    kept = pd.DataFrame(front, index=table.index)
    return pd.concat([kept, table] if first else [table, kept], axis=1)


# --------------------------------------------------------------------------- running


def session(folder: Path, threads: int = 0, prep: dict | None = None):  # noqa: ANN201 - imported lazily
    """The bundle's onnxruntime session; with ``prep``, its inputs and outputs checked against it."""
    sess = open_session(folder, threads)
    if prep is not None:
        check_model_io(sess, prep, folder)
    return sess


def run_session(sess, x: np.ndarray, batch: int = 65536) -> np.ndarray:  # noqa: ANN001
    name = sess.get_inputs()[0].name
    parts = [sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def predict_frame(
    folder: Path, frame: pd.DataFrame, with_proba: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    manifest = check_manifest(read_json(folder, "manifest.json"), folder)
    verify_files(folder, manifest)
    prep = check_preprocessing(read_json(folder, "preprocessing.json"), folder)
    sess = session(folder, prep=prep)
    steps = Steps(prep["steps"], prep["feature_names"], prep.get("window"))
    x, notes, _unseen = model_features(frame, prep, steps)
    values, proba = postprocess(run_session(sess, x), prep)
    return prediction_frame(values, proba, prep, with_proba), notes


def read_input(path: Path) -> pd.DataFrame:
    """A CSV/TSV/TXT (separator, encoding and decimal comma detected) or Parquet file."""
    if not path.is_file():
        raise PredictError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise PredictError(f"{path.name}: reading Parquet needs pyarrow (pip install pyarrow)") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises its own types for damaged files
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise PredictError(f"{path.name}: not a readable Parquet file ({first})") from None
    if suffix in (".xlsx", ".xlsm", ".xls", ".ods"):
        raise PredictError(f"{path.name}: spreadsheets are not read here; save the sheet as CSV")
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    encoding = _encoding(head)
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    sep = _separator(text)
    # "1,5" in a semicolon file is a decimal comma (the usual European export)
    decimal = "," if sep == ";" and re.search(r"(^|;)\s*-?\d+,\d+\s*(;|$)", text, re.M) else "."
    try:
        return pd.read_csv(path, sep=sep, decimal=decimal, encoding=encoding)
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
        raise PredictError(f"{path.name}: cannot be read as CSV ({exc})") from None


def _encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:  # utf-8-sig also reads files without a BOM; a character cut at the 64 KB mark is not an error
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252" if _decodes(head, "cp1252") else "latin-1"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _separator(text: str) -> str:
    """The candidate that splits the first lines into the same number (> 1) of fields most often."""
    lines = [line for line in (text.splitlines()[:-1] or text.splitlines()) if line.strip()][:50]
    best, best_score = ",", 0
    for candidate in (",", ";", "\t", "|"):
        counts = [len(row) for row in csv.reader(lines, delimiter=candidate)]
        if not counts or counts[0] < 2:
            continue
        score = sum(c == counts[0] for c in counts) * counts[0]
        if score > best_score:
            best, best_score = candidate, score
    return best


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _formula(text: str) -> bool:
    return text[:1] in ("=", "+", "-", "@", "\t", "\r") and _NUMBER.fullmatch(text) is None


def csv_safe(table: pd.DataFrame) -> pd.DataFrame:
    """The table with text cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR, as
    a class label ``=HYPERLINK(...)`` may) prefixed with ``'``; plain numbers such as -1.5 stay as they are. For
    CSV only: Parquet keeps the raw values."""
    out = table
    for position in range(table.shape[1]):
        column = table.iloc[:, position]
        if column.dtype.kind in "biufcmM" or not len(column):
            continue
        text = column.astype("string")
        risky = text.str[:1].isin(list("=+-@\t\r")).to_numpy(dtype=bool, na_value=False).copy()
        if risky.any():
            risky[risky] = [_formula(t) for t in text[risky]]
        if risky.any():
            values = column.astype(object).to_numpy(copy=True)
            values[risky] = ["'" + str(v) for v in values[risky]]
            out = out.copy() if out is table else out
            out.isetitem(position, values)
    names = [("'" + c) if isinstance(c, str) and _formula(c) else c for c in out.columns]
    if names != list(out.columns):
        out = out.set_axis(names, axis=1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict with this exported Model Workbench bundle.")
    parser.add_argument("input", help="CSV/TSV (or .parquet) file with the model's input columns")
    parser.add_argument(
        "-o", "--output", help="where to write predictions (.csv or .parquet); default stdout"
    )
    parser.add_argument("--proba", action="store_true", help="add class probability columns")
    parser.add_argument(
        "--keep-columns",
        nargs="?",
        const="",
        metavar="COLS",
        help="copy input columns into the output (all of them, or the comma-separated COLS)",
    )
    parser.add_argument(
        "--row-id", action="store_true", help="add row_id: the 0-based input row of each prediction"
    )
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parent), help="bundle folder")
    args = parser.parse_args(argv)
    try:
        frame = read_input(Path(args.input))
        table, notes = predict_frame(Path(args.bundle), frame, args.proba)
        table = with_kept(table, frame, parse_keep(args.keep_columns), args.row_id)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.output:
        csv_safe(table).to_csv(sys.stdout, index=False)
    elif args.output.lower().endswith(".parquet"):
        table.to_parquet(args.output, index=False)
    else:
        csv_safe(table).to_csv(args.output, index=False)
    if args.output:
        print(f"{len(table)} prediction(s) written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

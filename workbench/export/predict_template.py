"""Standalone predictor for a Model Workbench bundle: CSV in, predictions out, without the app.

Needs only pandas, numpy and onnxruntime. It re-implements the fitted preprocessing recorded in
preprocessing.json (imputation, category vocabularies with the unseen bucket, scaling, date parts, windows)
and runs model.onnx. This file is copied into every bundle as predict.py; the app reuses its input checks
and output formatting, so both give the same table.

    python predict.py INPUT.csv -o predictions.csv [--proba]

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
from pathlib import Path

import numpy as np
import pandas as pd

MISSING = "__missing__"
OTHER = "__other__"
UNSEEN = "__unseen__"
CHECKED_FILES = ("model.onnx", "preprocessing.json")
_TRUE = {"true", "1", "1.0", "yes", "y", "t"}
_FALSE = {"false", "0", "0.0", "no", "n", "f"}


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
    path = folder / name
    if not path.is_file():
        raise PredictError(f"bundle {folder}: {name} is missing; re-export the model")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PredictError(f"bundle {folder}: {name} cannot be read ({exc}); re-export the model") from None


def verify_files(folder: Path, manifest: dict, names: tuple[str, ...] = CHECKED_FILES) -> None:
    """Compare files with the checksums the manifest recorded at export (a changed file is refused)."""
    recorded = manifest.get("files", {})
    for name in names:
        path = folder / name
        if not path.is_file():
            raise PredictError(f"bundle {folder}: {name} is missing; re-export the model")
        expected = recorded.get(name, {}).get("sha256")
        if not expected:
            raise PredictError(
                f"bundle {folder}: the manifest has no checksum for {name}; re-export the model"
            )
        if sha256_file(path) != expected:
            raise PredictError(
                f"bundle {folder}: {name} was changed after export (checksum mismatch); "
                "restore the file or re-export the model"
            )


# --------------------------------------------------------------------------- input checks


def _rows(mask: np.ndarray, limit: int = 5) -> str:
    rows = np.flatnonzero(mask) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" … ({len(rows)} rows)" if len(rows) > limit else "")


def column_getter(frame: pd.DataFrame):  # noqa: ANN201 - a function of a column position
    """Column position → its backing array (numpy or pandas extension array), without building a Series;
    pandas' fast internal accessor when this pandas has it, else the public one."""
    getter = getattr(frame, "_get_column_array", None)
    if getter is not None:
        return getter

    def public(position: int):  # noqa: ANN202
        array = frame.iloc[:, position].array
        return array.to_numpy() if isinstance(array, pd.arrays.NumpyExtensionArray) else array

    return public


_CHECKED = frozenset(("numeric", "datetime", "bool"))  # kinds whose values are checked (and converted)
_LAYOUT: list = [None]  # the last (column index, prep, positions, kinds, notes): an Index never changes


def _layout(frame: pd.DataFrame, prep: dict) -> tuple[list[int], list, list[str]]:
    """(position of each needed column, its expected kind, notes) for the frame's columns; checked once per
    column index object, so batches of one table skip re-reading the column names."""
    index = frame.columns
    last = _LAYOUT[0]
    if last is not None and last[0] is index and last[1] is prep:
        return last[2], last[3], list(last[4])
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
    positions, kinds = [where[c] for c in needed], [schema.get(c) for c in needed]
    _LAYOUT[0] = (index, prep, positions, kinds, notes)
    return positions, kinds, list(notes)


def check_columns(frame: pd.DataFrame, prep: dict) -> tuple[dict, list[str]]:
    """``check_input`` as ``{column: array}`` in model input order (no DataFrame built; the app's fast path).

    Columns whose values already have the expected kind are passed through untouched; only the others are
    converted (and their bad values reported).
    """
    positions, kinds, notes = _layout(frame, prep)
    out = {}
    problems = []
    column_array = column_getter(frame)
    for column, position, kind in zip(prep["input_columns"], positions, kinds, strict=True):
        values = column_array(position)
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
        dates = pd.to_datetime(series, errors="coerce", format="mixed")
        return dates, series.notna().to_numpy() & dates.isna().to_numpy(), "dates"
    text = series.astype("string").str.strip().str.lower()
    values = pd.array([True if t in _TRUE else False if t in _FALSE else pd.NA for t in text.fillna("")])
    return pd.Series(values, dtype="boolean"), series.notna().to_numpy() & pd.isna(values), "true/false"


def check_input(frame: pd.DataFrame, prep: dict) -> tuple[pd.DataFrame, list[str]]:
    """The input columns the model needs, with values of the expected kind; notes for ignored columns.

    Missing columns are named; values of the wrong type are reported by column and row (1 = first data
    row); extra columns are dropped with a note. Numbers in text columns are converted.
    """
    columns, notes = check_columns(frame, prep)
    return pd.DataFrame(columns, copy=False), notes


# --------------------------------------------------------------------------- preprocessing


def as_text(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy()
    if pd.api.types.is_bool_dtype(series):
        text = np.where(series.to_numpy(dtype=bool, na_value=False), "True", "False").astype(object)
    else:
        text = series.astype(str).to_numpy(dtype=object)
    if missing.any():
        text = text.copy()
        text[missing] = MISSING
    return text


def missing_mask(series: pd.Series) -> np.ndarray:
    """Missing for imputation: NaN/None/NaT, and +/-inf in float columns (as the app's chain does)."""
    mask = series.isna().to_numpy()
    if pd.api.types.is_float_dtype(series):
        mask = mask | np.isinf(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return mask


def _codes(series: pd.Series, categories: list) -> np.ndarray:
    return pd.Index(list(categories), dtype=object).get_indexer(as_text(series))


def _count(stats: dict, column: str, count: int) -> None:
    if count:
        stats.setdefault("unseen", {})[column] = stats.get("unseen", {}).get(column, 0) + count


def apply_step(step: dict, frame: pd.DataFrame, stats: dict) -> pd.DataFrame:
    op = step["op"]
    if op == "impute":
        out = frame.copy(deep=False)
        extra = {
            f"{c}__missing": missing_mask(frame[c]).astype(np.float32) for c in step.get("indicators", [])
        }
        for column in step["columns"]:
            fill = step["fill"][column]
            series = frame[column]
            mask = missing_mask(series)
            if mask.any():
                if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                    out[column] = series.mask(mask, fill)
                else:
                    out[column] = series.astype(object).mask(mask, fill)
        for name, values in extra.items():
            out[name] = values
        return out
    if op == "onehot":
        new = {}
        for enc in step["encodings"]:
            column, categories = enc["column"], enc["categories"]
            codes = _codes(frame[column], categories)
            for index, category in enumerate(categories):
                new[f"{column}={category}"] = (codes == index).astype(np.float32)
            unknown = codes < 0
            if enc.get("other_values"):
                other = pd.Index(enc["other_values"], dtype=object).get_indexer(as_text(frame[column])) >= 0
                is_other = unknown & other
                new[f"{column}={OTHER}"] = is_other.astype(np.float32)
                unknown &= ~is_other
            new[f"{column}={UNSEEN}"] = unknown.astype(np.float32)
            _count(stats, column, int(unknown.sum()))
        rest = frame.drop(columns=[enc["column"] for enc in step["encodings"]])
        return pd.concat([rest, pd.DataFrame(new, index=frame.index)], axis=1)
    if op == "ordinal":
        out = frame.copy(deep=False)
        for enc in step["encodings"]:
            codes = _codes(frame[enc["column"]], enc["categories"])
            _count(stats, enc["column"], int((codes < 0).sum()))
            out[enc["column"]] = codes.astype(np.float32)
        return out
    if op == "scale":
        out = frame.copy(deep=False)
        for column, center, scale in zip(step["columns"], step["center"], step["scale"], strict=True):
            values = frame[column].to_numpy(dtype=np.float32, na_value=np.nan)
            result = np.subtract(values, np.float32(center), dtype=np.float32)
            result *= np.float32(1.0 / scale)
            out[column] = result
        return out
    if op == "datetime":
        new = {}
        for column in step["columns"]:
            values = frame[column]
            if not pd.api.types.is_datetime64_any_dtype(values):
                values = pd.to_datetime(values, errors="coerce", format="mixed")
            if getattr(values.dt, "tz", None) is not None:
                values = values.dt.tz_convert(None)
            for part in step["parts"]:
                new[f"{column}.{part}"] = getattr(values.dt, part).to_numpy(dtype=np.float32, na_value=np.nan)
        rest = frame.drop(columns=step["columns"])
        return pd.concat([rest, pd.DataFrame(new, index=frame.index)], axis=1)
    if op == "drop":
        return frame.drop(columns=[c for c in step["columns"] if c in frame.columns])
    if op == "window":
        return frame
    raise PredictError(f"unknown preprocessing step {op!r}; this bundle needs a newer predict.py")


def _matrix(frame: pd.DataFrame, columns: list) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float32)
    for index, column in enumerate(columns):
        series = frame[column]
        if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
            raise PredictError(f"column {column!r} is not numeric after preprocessing")
        out[:, index] = series.to_numpy(dtype=np.float32, na_value=np.nan)
    return out


def transform(prep: dict, frame: pd.DataFrame, stats: dict) -> np.ndarray:
    """The model input (float32 (n, f), or (n - lookback + 1, lookback, f) windows) for a checked frame."""
    steps = prep["steps"]
    for step in steps:
        frame = apply_step(step, frame, stats)
    window = prep.get("window")
    if not window:
        return _matrix(frame, prep["feature_names"])
    matrix = _matrix(frame, list(window["columns"]))
    if window.get("target_input"):
        target = frame[window["target"]].to_numpy(dtype=np.float32, na_value=np.nan)
        past = (target - np.float32(window["target_center"])) / np.float32(window["target_scale"])
        matrix = np.concatenate([matrix, past.reshape(-1, 1)], axis=1)
    lookback = int(window["lookback"])
    if len(matrix) < lookback:
        raise PredictError(f"the model reads windows of {lookback} rows; the input has only {len(matrix)}")
    view = np.lib.stride_tricks.sliding_window_view(matrix, lookback, axis=0)
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)


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


# --------------------------------------------------------------------------- running


def session(folder: Path, threads: int = 0):  # noqa: ANN201 - onnxruntime is imported lazily
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise PredictError(
            f"bundle {folder}: model.onnx cannot be loaded ({exc}); re-export the model"
        ) from None


def run_session(sess, x: np.ndarray, batch: int = 65536) -> np.ndarray:  # noqa: ANN001
    name = sess.get_inputs()[0].name
    parts = [sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, 1), dtype=np.float32)


def predict_frame(
    folder: Path, frame: pd.DataFrame, with_proba: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    manifest = read_json(folder, "manifest.json")
    verify_files(folder, manifest)
    prep = read_json(folder, "preprocessing.json")
    checked, notes = check_input(frame, prep)
    stats: dict = {}
    x = transform(prep, checked, stats)
    check_finite(x, prep)
    if stats.get("unseen"):
        parts = ", ".join(f"{c}: {n}" for c, n in stats["unseen"].items())
        notes.append(f"values not seen in training (treated as unseen): {parts}")
    values, proba = postprocess(run_session(session(folder), x), prep)
    return prediction_frame(values, proba, prep, with_proba), notes


def read_input(path: Path) -> pd.DataFrame:
    """A CSV/TSV/TXT (separator, encoding and decimal comma detected) or Parquet file."""
    if not path.is_file():
        raise PredictError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Predict with this exported Model Workbench bundle.")
    parser.add_argument("input", help="CSV/TSV (or .parquet) file with the model's input columns")
    parser.add_argument(
        "-o", "--output", help="where to write predictions (.csv or .parquet); default stdout"
    )
    parser.add_argument("--proba", action="store_true", help="add class probability columns")
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parent), help="bundle folder")
    args = parser.parse_args(argv)
    try:
        table, notes = predict_frame(Path(args.bundle), read_input(Path(args.input)), args.proba)
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.output:
        table.to_csv(sys.stdout, index=False)
    elif args.output.lower().endswith(".parquet"):
        table.to_parquet(args.output, index=False)
    else:
        table.to_csv(args.output, index=False)
    if args.output:
        print(f"{len(table)} prediction(s) written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading a user's table from disk, sniffing what people actually save: delimiters, decimal commas,
encodings, header rows, NA markers and dates. Every failure becomes one ``UserError`` line naming the file.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.sniff import (
    SAMPLE_BYTES,
    StoppableFile,
    check_full_utf8,
    decode_sample,
    header_width,
    looks_binary,
    short_error,
    sniff_text,
)

NA_MARKERS = [
    "",
    "NA",
    "N/A",
    "n/a",
    "na",
    "NaN",
    "nan",
    "NULL",
    "null",
    "None",
    "none",
    "?",
    "-",
    "#N/A",
    "missing",
]
EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls"}
_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_SLASH_DATE = re.compile(r"^\d{1,4}[/.]\d{1,2}[/.]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?$")
_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%y", "%m/%d/%y")
# A table wider than this is refused from its header, before the body is parsed: pandas spends minutes
# building a frame of a million columns (a 12 MB file took > 400 s) and nothing downstream (profile, one-hot,
# a model's input layer) is useful at that width. 16,384 is the widest sheet Excel can hold, so any table a
# spreadsheet made fits, and so does a 10,000-feature table with its target (2,000 rows go file -> split ->
# auto prep in seconds). data.file's max_columns raises it for a table that really is wider.
DEFAULT_MAX_COLUMNS = 16_384
# JSON becomes Python objects before it becomes a table: about 13x the file's size in memory (300,000
# records, 42 MB -> 540 MB), so 256 MB of JSON already needs ~3.5 GB. Larger files are refused up front.
MAX_JSON_BYTES = 256 * 1024 * 1024
READ_BLOCK = 1024 * 1024  # a JSON file is read in such blocks, asking between them whether to stop
Check = Callable[[], None]


def read_table(
    path: str | Path,
    *,
    file_format: str = "auto",
    sheet: str = "",
    delimiter: str = "",
    decimal: str = "",
    thousands: str = "",
    encoding: str = "",
    header: str = "auto",
    na_values: list[str] | None = None,
    parse_dates: bool = True,
    bad_lines: str = "error",
    log: Any = None,
    max_columns: int = DEFAULT_MAX_COLUMNS,
    check: Check | None = None,
) -> pd.DataFrame:
    """Read CSV/TSV/TXT, Parquet, Excel or JSON(L) into a DataFrame; empty strings mean 'sniff it'.

    ``header`` is "auto", "yes" or "no". ``bad_lines`` is "error" or "skip" for ragged text rows.
    Infinite numbers become missing values (with a log line), duplicate column names get ``.1`` suffixes.
    A table with more than ``max_columns`` columns is refused (from the header for text and Parquet).
    ``check`` is called between blocks and stages of a long read and stops it by raising (a node passes
    ``ctx.check_cancelled``, so Stop ends the read and the node reports "stopped").
    """
    path = Path(path)
    say = log or (lambda _message: None)
    check = check or (lambda: None)
    if not path.exists():
        raise UserError(f"{path.name}: file not found at {path}")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; choose a data file")
    if path.stat().st_size == 0:
        raise UserError(f"{path.name}: the file is empty; choose a file with a header row and data rows")
    kind = file_format if file_format != "auto" else _kind_from_suffix(path)
    if kind == "parquet":
        frame = _read_parquet(path, max_columns)
    elif kind == "excel":
        frame = _read_excel(path, sheet, header, say)
    elif kind in ("json", "jsonl"):
        frame = _read_json(path, kind == "jsonl", "", check)
    else:
        frame = _read_text(
            path,
            delimiter,
            decimal,
            thousands,
            encoding,
            header,
            na_values,
            bad_lines,
            say,
            max_columns,
            check,
        )
    check()
    _check_width(path.name, frame.shape[1], max_columns)
    return finish_frame(frame, path.name, parse_dates, say, check)


def _check_width(name: str, count: int, max_columns: int, at_least: bool = False) -> None:
    if count > max_columns:
        raise UserError(
            f"{name}: {'at least ' if at_least else ''}{count:,} columns, more than the limit of "
            f"{max_columns:,}; keep fewer columns in the file, or raise max_columns on the data file node"
        )


def _kind_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "text"


def _read_parquet(path: Path, max_columns: int) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        width = len(pq.read_schema(path).names)
    except Exception:  # noqa: BLE001 - read_parquet below names the problem
        width = 0
    _check_width(path.name, width, max_columns)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
        raise UserError(
            f"{path.name}: not a readable Parquet file ({short_error(exc)}); re-export it"
        ) from None


def _read_excel(path: Path, sheet: str, header: str, say: Any) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path.name}: not a readable Excel file ({short_error(exc)})") from None
    names = list(book.sheet_names)
    chosen: str | int = names[0] if names else 0
    if sheet:
        if sheet in names:
            chosen = sheet
        elif sheet.strip().isdigit() and int(sheet) < len(names):
            chosen = names[int(sheet)]
        else:
            raise UserError(f"{path.name}: no sheet {sheet!r}; sheets are {', '.join(names)}")
    if len(names) > 1:
        say(
            f"{path.name}: reading sheet {chosen!r} of {len(names)} ({', '.join(names)}); set 'sheet' to change"
        )
    frame = pd.read_excel(book, sheet_name=chosen, header=None if header == "no" else 0)
    if header == "no":
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    return frame


def _read_json(path: Path, lines: bool, encoding: str, check: Check) -> pd.DataFrame:
    """JSON is parsed whole, so its size is checked before a byte is read and the read is cancellable."""
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise UserError(
            f"{path.name}: {size / 2**20:,.0f} MB of JSON is more than the {MAX_JSON_BYTES // 2**20} MB this "
            "app reads at once (JSON needs ~13x its size in memory); convert it to Parquet or CSV first (JSON "
            "Lines: pandas.read_json(path, lines=True, chunksize=100_000), appending each chunk to one CSV)"
        )
    with path.open("rb") as handle:
        head = handle.read(8192)
        if not encoding and head[:2] not in (b"\xff\xfe", b"\xfe\xff") and looks_binary(head):
            raise UserError(f"{path.name}: looks like a binary file, not JSON; choose a JSON or CSV file")
        blocks = [head]
        while block := handle.read(READ_BLOCK):
            check()
            blocks.append(block)
    text = decode_sample(b"".join(blocks), encoding, path.name)[0]
    return json_frame(text, path.name, lines, check)


def json_frame(text: str, name: str, lines: bool = False, check: Check | None = None) -> pd.DataFrame:
    """A table from JSON records, a dict of columns, ``{"data": [...]}`` or JSON Lines."""
    try:
        records: Any  # parsed JSON: records, a dict of columns or {"data": [...]}, checked below
        if lines:
            records = []
            for number, line in enumerate(text.splitlines(), start=1):
                if check and number % 65536 == 0:
                    check()
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise UserError(f"{name}: invalid JSON at line {number} ({exc.msg})") from None
        else:
            records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{name}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    if isinstance(records, dict):
        lists = [value for value in records.values() if isinstance(value, list)]
        if len(records) == 1 and lists and all(isinstance(item, dict) for item in lists[0]):
            records = lists[0]
        elif records and all(isinstance(value, list) for value in records.values()):
            if len({len(value) for value in records.values()}) > 1:
                raise UserError(f"{name}: the JSON column lists have different lengths")
            return pd.DataFrame(records)
        else:
            raise UserError(f"{name}: JSON must be a list of records or an object of column lists")
    if not isinstance(records, list) or not all(isinstance(item, dict) for item in records):
        raise UserError(f"{name}: JSON must be a list of records (objects), one per row")
    frame = pd.json_normalize(records, sep=".")  # nested objects become "parent.child" columns
    return frame


def _read_text(
    path: Path,
    delimiter: str,
    decimal: str,
    thousands: str,
    encoding: str,
    header: str,
    na_values: list[str] | None,
    bad_lines: str,
    say: Any,
    max_columns: int,
    check: Check,
) -> pd.DataFrame:
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if not encoding and head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    if not encoding and looks_binary(head):
        raise UserError(
            f"{path.name}: looks like a binary file, not a text table; choose a CSV, Excel or Parquet file"
        )
    text, used_encoding = decode_sample(head, encoding, path.name)
    if path.stat().st_size > len(head) and not encoding and used_encoding == "utf-8-sig":
        used_encoding = check_full_utf8(path, check)
    stripped = text.lstrip()
    if not stripped:
        raise UserError(f"{path.name}: holds only blank lines; choose a file with a header row and data rows")
    if stripped[:1] in ("{", "["):
        say(f"{path.name}: the content is JSON, reading it as JSON")
        rows = stripped.splitlines()
        lines = (
            rows[0].startswith("{")
            and rows[0].rstrip().endswith("}")
            and (len(rows) > 1 or len(head) < path.stat().st_size)
        )
        return _read_json(path, lines, encoding, check)
    sniffed = sniff_text(text, path.name)
    delim = {"tab": "\t", "\\t": "\t", "space": r"\s+"}.get(delimiter, delimiter) or sniffed["delimiter"]
    dec = decimal or sniffed["decimal"]
    thou = "" if thousands == "none" else (thousands or sniffed["thousands"])
    has_header = sniffed["header"] if header == "auto" else header == "yes"
    if thou == dec:
        thou = ""
    width, exact = header_width(path, text, delim, len(head) < path.stat().st_size, max_columns)
    _check_width(path.name, width, max_columns, at_least=not exact)
    check()
    if used_encoding not in ("utf-8-sig", "utf-8"):
        say(f"{path.name}: not UTF-8, read as {used_encoding}")
    options: dict[str, Any] = {
        "sep": delim,
        "header": 0 if has_header else None,
        "na_values": NA_MARKERS if na_values is None else na_values,
        "keep_default_na": na_values is None,
        "encoding": used_encoding,
    }
    simple = dec == "." and not thou and delim != r"\s+" and bad_lines == "error" and has_header
    frame = None
    if simple:
        with StoppableFile(path, check) as source:
            try:
                frame = pd.read_csv(source, engine="pyarrow", **options)
            except Exception:  # noqa: BLE001 - fall back to the C parser for its clearer messages
                source.raise_if_stopped()
                frame = None
    if frame is None:
        with StoppableFile(path, check) as source:
            try:
                frame = pd.read_csv(
                    source,
                    engine="c" if delim != r"\s+" else "python",
                    decimal=dec,
                    thousands=thou or None,
                    on_bad_lines="skip" if bad_lines == "skip" else "error",
                    **options,
                )
            except pd.errors.EmptyDataError:
                source.raise_if_stopped()
                raise UserError(f"{path.name}: no columns found; is it empty or only blank lines?") from None
            except pd.errors.ParserError as exc:
                source.raise_if_stopped()
                detail = str(exc).split("C error: ")[-1].strip().rstrip(".")
                raise UserError(
                    f"{path.name}: rows have different numbers of fields ({detail}); fix the file or set bad_lines to 'skip'"
                ) from None
            except (UnicodeDecodeError, ValueError) as exc:
                source.raise_if_stopped()
                raise UserError(f"{path.name}: cannot read the file ({short_error(exc)})") from None
            except Exception:
                source.raise_if_stopped()
                raise
    if not has_header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    say(
        f"{path.name}: delimiter {delim!r}, decimal {dec!r}"
        + (f", thousands {thou!r}" if thou else "")
        + f", encoding {used_encoding.replace('utf-8-sig', 'utf-8')}, header {'yes' if has_header else 'no'}"
    )
    return frame


def finish_frame(
    frame: pd.DataFrame, name: str, parse_dates: bool, say: Any, check: Check | None = None
) -> pd.DataFrame:
    """Checks and fixes shared by every format: no rows, duplicate names, infinities, date columns."""
    check = check or (lambda: None)
    if frame.shape[1] == 0:
        raise UserError(f"{name}: no columns found; check the delimiter and header settings")
    if len(frame) == 0:
        raise UserError(f"{name}: has a header but no data rows; add rows or choose another file")
    columns = [str(column).strip() for column in frame.columns]
    if len(set(columns)) != len(columns):
        seen: Counter[str] = Counter()
        fixed = []
        for column in columns:
            fixed.append(column if not seen[column] else f"{column}.{seen[column]}")
            seen[column] += 1
        say(
            f"{name}: duplicate column names renamed: {', '.join(sorted({c for c in columns if seen[c] > 1}))}"
        )
        columns = fixed
    frame.columns = columns
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_float_dtype(series):
            values = series.to_numpy()
            infinite = np.isinf(values)
            count = int(infinite.sum())
            if count:
                frame[column] = series.mask(infinite)
                say(f"{name}: column {column!r} had {count} infinite value(s), treated as missing")
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object and any(
            isinstance(v, list | dict | np.ndarray) for v in series.dropna().iloc[:100]
        ):
            frame[column] = series.map(_nested_text)
            say(f"{name}: column {column!r} holds lists or objects, kept as JSON text")
    check()
    if parse_dates:
        for column in frame.columns:
            check()
            series = frame[column]
            if series.dtype == object and isinstance(_first_valid(series), datetime.date):
                frame[column] = pd.to_datetime(series, errors="coerce")
                continue
            if pd.api.types.is_string_dtype(series) or series.dtype == object:
                parsed = parse_date_column(series)
                if parsed is not None:
                    frame[column] = parsed
                    say(f"{name}: column {column!r} read as dates")
    return frame


def _nested_text(value: object) -> object:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _first_valid(series: pd.Series) -> object:
    index = series.first_valid_index()
    return None if index is None else series.loc[index]


def parse_date_column(series: pd.Series) -> pd.Series | None:
    """Dates when at least 95 % of the non-missing text values are dates of one format; else None."""
    values = series.dropna()
    if values.empty or not all(isinstance(v, str) for v in values.iloc[:50]):
        return None
    sample = values.iloc[:200].astype(str).str.strip()
    if sample.map(lambda v: bool(_ISO_DATE.match(v))).all():
        formats: tuple[str, ...] = ("ISO8601",)
    elif sample.map(lambda v: bool(_SLASH_DATE.match(v))).all():
        formats = _DATE_FORMATS
    else:
        return None
    for fmt in formats:
        try:
            pd.to_datetime(sample, format=fmt if fmt == "ISO8601" else fmt + _time_suffix(sample))
        except (ValueError, TypeError):
            continue
        full = fmt if fmt == "ISO8601" else fmt + _time_suffix(sample)
        parsed = pd.to_datetime(series.astype("string").str.strip(), format=full, errors="coerce")
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert(None)
        if parsed.notna().sum() >= 0.95 * len(values):
            return parsed
    return None


def _time_suffix(sample: pd.Series) -> str:
    first = sample.iloc[0]
    if " " not in first:
        return ""
    return " %H:%M:%S" if first.count(":") == 2 else " %H:%M"

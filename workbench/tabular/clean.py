"""Stateless cleaning before the split: the same rule on any table, nothing learned, nothing to export."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.io import parse_date_column
from workbench.tabular.vocabulary import DATE_PARTS, OPERATORS


def check_columns(frame: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        shown = ", ".join(map(str, list(frame.columns)[:30]))
        raise UserError(f"{where}: no column(s) {', '.join(unknown)}; the table has {shown}")


def select_columns(frame: pd.DataFrame, keep: Sequence[str] = (), drop: Sequence[str] = ()) -> pd.DataFrame:
    """Keep the listed columns (in that order) when any are given, then drop the listed ones."""
    check_columns(frame, [*keep, *drop], "clean.columns")
    out = frame[list(keep)] if keep else frame
    out = out.drop(columns=[c for c in drop if c in out.columns])
    if out.shape[1] == 0:
        raise UserError("clean.columns: no columns left; keep at least one")
    return out


def drop_missing(
    frame: pd.DataFrame, axis: str = "rows", threshold: float = 0.0, columns: Sequence[str] = ()
) -> tuple[pd.DataFrame, int]:
    """Drop rows (or columns) whose share of missing values is above ``threshold``; returns how many went.

    With ``axis="rows"`` and threshold 0, any missing value in ``columns`` (all when empty) drops the row.
    """
    check_columns(frame, columns, "clean.missing")
    subset = frame[list(columns)] if columns else frame
    if axis == "columns":
        share = subset.isna().mean()
        gone = [str(c) for c in share.index[share > threshold]]
        return frame.drop(columns=gone), len(gone)
    share = subset.isna().to_numpy().mean(axis=1)
    keep = share <= threshold
    return frame.loc[keep], int((~keep).sum())


def dedupe(frame: pd.DataFrame, columns: Sequence[str] = (), keep: str = "first") -> tuple[pd.DataFrame, int]:
    """Drop repeated rows (judged on ``columns``, all when empty); returns how many were dropped."""
    check_columns(frame, columns, "clean.dedupe")
    mask = frame.duplicated(subset=list(columns) or None, keep=keep if keep in ("first", "last") else False)
    return frame.loc[~mask], int(mask.sum())


def _coerce_value(series: pd.Series, text: str, column: str) -> object:
    if pd.api.types.is_bool_dtype(series):
        return text.strip().lower() in ("1", "true", "yes", "y", "t")
    if pd.api.types.is_numeric_dtype(series):
        try:
            return float(text)
        except ValueError:
            raise UserError(
                f"clean.filter: column {column!r} is numeric but the value {text!r} is not a number"
            ) from None
    if pd.api.types.is_datetime64_any_dtype(series):
        try:
            return pd.Timestamp(text)
        except ValueError:
            raise UserError(
                f"clean.filter: column {column!r} holds dates but {text!r} is not a date"
            ) from None
    return text


def filter_rows(frame: pd.DataFrame, column: str, operator: str, value: str = "") -> tuple[pd.DataFrame, int]:
    """Keep rows where ``column <operator> value`` holds; the value is parsed to the column's type, never eval'd."""
    check_columns(frame, [column], "clean.filter")
    if operator not in OPERATORS:
        raise UserError(f"clean.filter: unknown operator {operator!r}; use one of {', '.join(OPERATORS)}")
    series = frame[column]
    if operator == "is_missing":
        mask = series.isna()
    elif operator == "not_missing":
        mask = series.notna()
    elif operator in ("contains", "not_contains"):
        found = series.astype(str).str.contains(value, regex=False) & series.notna()
        mask = found if operator == "contains" else ~found
    elif operator in ("in", "not_in"):
        items = [_coerce_value(series, part.strip(), column) for part in value.split(",") if part.strip()]
        found = series.isin(items)
        mask = found if operator == "in" else ~found
    else:
        target = _coerce_value(series, value, column)
        compare = {
            "==": series.__eq__,
            "!=": series.__ne__,
            "<": series.__lt__,
            "<=": series.__le__,
            ">": series.__gt__,
            ">=": series.__ge__,
        }[operator]
        try:
            mask = compare(target).fillna(False).astype(bool)
        except TypeError:
            raise UserError(
                f"clean.filter: cannot compare column {column!r} with {value!r} using {operator}"
            ) from None
    mask = np.asarray(mask, dtype=bool)
    return frame.loc[mask], int((~mask).sum())


def cast_columns(frame: pd.DataFrame, columns: Sequence[str], to: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Cast columns to numeric, category (text), datetime or bool; returns values that could not be read, per column."""
    check_columns(frame, columns, "clean.types")
    out = frame.copy(deep=False)
    lost: dict[str, int] = {}
    for column in columns:
        series = frame[column]
        before = int(series.notna().sum())
        if to == "numeric":
            text = (
                series.astype("string").str.strip().str.replace(",", ".", regex=False)
                if not pd.api.types.is_numeric_dtype(series)
                else series
            )
            result = pd.to_numeric(text, errors="coerce").astype("float64")
        elif to == "category":
            result = (
                series.astype("string").astype("str")
                if series.notna().all()
                else series.astype("str").where(series.notna())
            )
        elif to == "datetime":
            parsed = (
                parse_date_column(series.astype("str").where(series.notna()))
                if not pd.api.types.is_datetime64_any_dtype(series)
                else series
            )
            result = parsed if parsed is not None else pd.to_datetime(series, errors="coerce", format="mixed")
        elif to == "bool":
            text = series.astype("string").str.strip().str.lower()
            result = text.map(
                {
                    "1": True,
                    "true": True,
                    "yes": True,
                    "y": True,
                    "t": True,
                    "0": False,
                    "false": False,
                    "no": False,
                    "n": False,
                    "f": False,
                    "1.0": True,
                    "0.0": False,
                }
            )
            result = result.astype("boolean") if result.isna().any() else result.astype(bool)
        else:
            raise UserError(f"clean.types: unknown type {to!r}; use numeric, category, datetime or bool")
        out[column] = result
        after = int(pd.Series(result).notna().sum())
        if after < before:
            lost[column] = before - after
    return out, lost


def date_parts(
    frame: pd.DataFrame, columns: Sequence[str], parts: Sequence[str], drop_original: bool = True
) -> pd.DataFrame:
    """Add ``column.part`` numeric columns (year, month, ...) for date columns."""
    check_columns(frame, columns, "clean.types")
    bad = [p for p in parts if p not in DATE_PARTS]
    if bad:
        raise UserError(f"clean.types: unknown date part(s) {', '.join(bad)}; use {', '.join(DATE_PARTS)}")
    out = frame.copy(deep=False)
    for column in columns:
        series = frame[column]
        if not pd.api.types.is_datetime64_any_dtype(series):
            raise UserError(f"clean.types: column {column!r} is not a date column; cast it to datetime first")
        for part in parts:
            attribute = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}.get(part, part)
            out[f"{column}.{part}"] = getattr(series.dt, attribute).astype("float64")
    if drop_original:
        out = out.drop(columns=list(columns))
    return out

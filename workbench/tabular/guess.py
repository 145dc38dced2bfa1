"""Guess what a new user's table is for: which column to predict, the task, and which columns to leave out.

Why: dropping a file should give a sensible first model without a single setting. The guess is always shown
with its reason (the dialog, ``workbench new``), so a wrong guess is one click or one ``--target`` away.

Rules, in order: a column named like a target (target, label, class, y, outcome, price — whole name first,
then a word of the name), else the last column that is not a time axis; never an ID-like, free-text or
constant column (the ID/free-text test is data.split's own, ``split.looks_like_id``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.dataset import CLASSIFICATION, column_kind
from workbench.tabular.split import MAX_CLASSES_FOR_NUMBERS, detect_task, looks_like_id

TARGET_NAMES = ("target", "label", "class", "y", "outcome", "price")
ID_NAMES = {"id", "uuid", "guid", "index", "idx", "key", "row", "rowid", "record"}
TIME_NAMES = {"year", "date", "time", "timestamp", "datetime", "month", "day", "week", "hour", "quarter"}


@dataclass
class ColumnGuess:
    """One column as the dialog lists it: kind, distinct values, gaps and why it is left out (if it is)."""

    name: str
    kind: str
    unique: int
    missing: int
    note: str = ""  # "" when usable; else why the column is left out of the model

    @property
    def usable(self) -> bool:
        return not self.note

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "unique": self.unique, "missing": self.missing,
                "note": self.note}  # fmt: skip


@dataclass
class Guess:
    """The guessed (or chosen) target and task, with reasons, and the columns to leave out of the features."""

    target: str | None
    task: str | None
    reason: str
    task_reason: str
    rows: int
    columns: list[ColumnGuess] = field(default_factory=list)

    @property
    def drop(self) -> list[str]:
        """ID-like, free-text and constant columns other than the target: they would only add noise."""
        return [c.name for c in self.columns if not c.usable and c.name != self.target]

    def column(self, name: str) -> ColumnGuess | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "task": self.task,
            "reason": self.reason,
            "task_reason": self.task_reason,
            "rows": self.rows,
            "drop": self.drop,
            "columns": [c.to_json() for c in self.columns],
        }


def words(name: str) -> list[str]:
    """A column name's words, lower case: ``SalePrice`` -> sale, price; ``class_label`` -> class, label."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _whole_numbers(values: pd.Series) -> bool:
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    array = values.to_numpy(dtype=np.float64, na_value=np.nan)
    array = array[np.isfinite(array)]
    return bool(array.size) and bool(np.all(np.mod(array, 1.0) == 0))


def id_reason(series: pd.Series, kind: str | None = None, unique: int | None = None) -> str:
    """Why ``series`` looks like an ID or free text (not something to learn from or predict); "" if it does not."""
    values = series.dropna()
    rows = len(values)
    kind = kind or column_kind(series)
    unique = int(values.nunique()) if unique is None else unique
    if rows == 0:
        return ""
    name_says_id = bool(set(words(str(series.name))[-1:]) & ID_NAMES) or str(series.name).lower().endswith(
        "id"
    )
    if kind == "category" and looks_like_id(unique, rows):
        label = "ID-like" if unique == rows or name_says_id else "free text"
        return f"{label}: {unique:,} different values in {rows:,} rows"
    if kind == "numeric" and unique > MAX_CLASSES_FOR_NUMBERS and _whole_numbers(values):
        if unique == rows and (name_says_id or _counts_up(values)):
            return f"ID-like: a different whole number in each of {rows:,} rows"
        if name_says_id and looks_like_id(unique, rows):
            return f"ID-like: named like an ID, {unique:,} different values in {rows:,} rows"
    return ""


def _counts_up(values: pd.Series) -> bool:
    """Row numbers: whole numbers rising by one (in file order or once sorted)."""
    array = np.sort(values.to_numpy(dtype=np.float64))
    return bool(array.size > 1 and np.all(np.diff(array) == 1.0))


def describe_columns(frame: pd.DataFrame) -> list[ColumnGuess]:
    """Kind, distinct values, gaps and an exclusion note (ID-like, free text, constant) for every column."""
    out = []
    for index, name in enumerate(frame.columns):
        series = frame.iloc[:, index]
        kind = column_kind(series)
        unique = int(series.nunique(dropna=True))
        missing = int(series.isna().sum())
        note = ""
        if unique == 0:
            note = "empty: no values"
        elif unique == 1:
            note = f"constant: every row holds {series.dropna().iloc[0]!r}"
        elif kind != "datetime":
            note = id_reason(series.rename(str(name)), kind, unique)
        out.append(ColumnGuess(str(name), kind, unique, missing, note))
    return out


def _time_like(column: ColumnGuess) -> bool:
    return column.kind == "datetime" or bool(set(words(column.name)) & TIME_NAMES)


def _why_not_last(column: ColumnGuess, rows: int) -> str:
    """Why the last-column rule passes over a usable column: a time axis, or values in under half the rows."""
    if _time_like(column):
        return "a time column"
    if column.missing * 2 > rows:
        return f"mostly empty ({column.missing:,} of {rows:,} rows)"
    return ""


def guess_target(columns: list[ColumnGuess], rows: int) -> tuple[str | None, str]:
    """The column to predict and why; (None, why not) when no column can be a target."""
    usable = [c for c in columns if c.usable]
    if not usable:
        return None, "no column can be a target: every column is ID-like, free text, empty or constant"
    for wanted in TARGET_NAMES:
        for column in usable:
            if column.name.strip().lower() == wanted:
                return column.name, f"it is named {column.name!r}, a usual name for the column to predict"
    for wanted in TARGET_NAMES:
        for column in usable:
            if wanted != "y" and wanted in words(column.name):  # a lone y is a target; pos_y is not
                return (
                    column.name,
                    f"its name has the word {wanted!r}, a usual name for the column to predict",
                )
    for column in reversed(usable):
        if not _why_not_last(column, rows):
            if column is columns[-1]:
                return column.name, "it is the last column"
            later = [
                f"{c.name!r} is {c.note.split(':')[0] if c.note else _why_not_last(c, rows)}"
                for c in columns[columns.index(column) + 1 :]
            ]
            return column.name, f"it is the last column that can be predicted ({'; '.join(later)})"
    return usable[-1].name, "it is the last column (every usable column is a time column)"


def guess_task(series: pd.Series) -> tuple[str, str]:
    """data.split's task for this target (its own ``detect_task``) and a reason a person can check."""
    values = series.dropna()
    task = detect_task(values)
    unique = int(values.nunique())
    if task == CLASSIFICATION:
        if pd.api.types.is_bool_dtype(values):
            why = "it holds true/false values"
        elif not pd.api.types.is_numeric_dtype(values):
            why = f"it holds text: {unique:,} classes"
        else:
            why = f"it holds {unique:,} different whole numbers: classes"
    else:
        why = f"it holds numbers with {unique:,} different values"
    return task, why


def guess(frame: pd.DataFrame, target: str | None = None) -> Guess:
    """Describe the columns and guess target and task; ``target`` (a user's choice) is checked, not guessed.

    A chosen target that is missing, ID-like, free text or constant is refused with one line naming it.
    """
    columns = describe_columns(frame)
    if target is None:
        chosen, reason = guess_target(columns, int(len(frame)))
    else:
        found = next((c for c in columns if c.name == target), None)
        if found is None:
            names = [c.name for c in columns]
            close = difflib.get_close_matches(target, names, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; columns are {', '.join(names[:30])}"
            raise UserError(f"target column {target!r} not found{hint}")
        if not found.usable:
            raise UserError(
                f"target column {target!r} cannot be predicted ({found.note}); choose another column"
            )
        chosen, reason = target, "you chose it"
    if chosen is None:
        return Guess(None, None, reason, "", int(len(frame)), columns)
    task, task_reason = guess_task(frame[chosen])
    return Guess(chosen, task, reason, task_reason, int(len(frame)), columns)

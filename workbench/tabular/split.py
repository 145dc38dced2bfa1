"""Splitting a table into train/validation/test with a detected task, stratified or in time order."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.dataset import CLASSIFICATION, REGRESSION, Dataset, column_kind, plain

MAX_CLASSES_FOR_NUMBERS = 20
# A classification target with more classes than this AND fewer than two rows per class on average is an
# ID or free text: most classes can never be both learned and checked (a stratified split needs 3 rows of
# a class to put one in each of train, validation and test).
MIN_ROWS_PER_CLASS = 2
# A text FEATURE is left out by default only when it is nearly unique (fewer than 1.1 rows per value: names,
# ticket or order numbers): one-hot encoding it gives top-20 columns of one row each, pure noise. A column
# with some repeats (many_categories' 10,000 codes in 12,000 rows) stays and is capped by the encoder.
ROWS_PER_ID_VALUE = 1.1
# The fewest training rows a regression is fitted on (a model, a scale and a fill value from fewer rows say
# nothing); a classification needs a training row of every class instead (stratification puts it there).
MIN_TRAIN_ROWS = 5


def looks_like_id(distinct: int, rows: int, rows_per_value: float = MIN_ROWS_PER_CLASS) -> bool:
    """An ID or free text rather than classes to learn: many values, too few rows per value (data.split refuses
    such a target and leaves such text features out; the target guess and ``workbench new`` leave them out)."""
    return distinct > MAX_CLASSES_FOR_NUMBERS and distinct * rows_per_value > rows


def id_like_columns(frame: pd.DataFrame, columns: Sequence[str]) -> dict[str, str]:
    """Text columns of ``columns`` that are nearly unique per row, with the reason shown to the user."""
    found = {}
    for column in columns:
        series = frame[column]
        if column_kind(series) != "category":
            continue
        values = series.dropna()
        distinct = int(values.nunique())
        if looks_like_id(distinct, len(values), ROWS_PER_ID_VALUE):
            found[str(column)] = f"ID-like text: {distinct:,} different values in {len(values):,} rows"
    return found


def detect_task(target: pd.Series) -> str:
    """Classification for text/bool targets and for whole numbers with few distinct values; else regression."""
    values = target.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return CLASSIFICATION
    distinct = values.nunique()
    whole = bool(np.all(np.mod(values.to_numpy(dtype=np.float64), 1.0) == 0))
    if whole and distinct <= MAX_CLASSES_FOR_NUMBERS and distinct < max(3, 0.5 * len(values)):
        return CLASSIFICATION
    return REGRESSION


def _regression_hint(target: pd.Series) -> str:
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    return ", or set the task to regression (it holds numbers)" if numeric else ""


def _sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    if test_fraction > 0 and n_test == 0 and n >= 3:
        n_test = 1
    if val_fraction > 0 and n_val == 0 and n >= 3:
        n_val = 1
    return n_val, n_test


def split_table(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str = "auto",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    stratify: bool = True,
    time_column: str = "",
    shuffle: bool = True,
    features: Sequence[str] = (),
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> Dataset:
    """Build a Dataset: drop rows without a target (counted), detect the task, split, record roles."""
    say = log or (lambda _message: None)
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:30]))
        raise UserError(f"data.split: target column {target!r} not found; columns are {shown}")
    if time_column and time_column not in frame.columns:
        raise UserError(f"data.split: time column {time_column!r} not found")
    if val_fraction + test_fraction >= 0.95:
        raise UserError("data.split: validation + test fractions leave no training rows; lower them")
    has_target = frame[target].notna().to_numpy()
    dropped = int((~has_target).sum())
    if not has_target.any():
        raise UserError(f"data.split: target column {target!r} has no values; choose another target")
    if dropped:
        say(f"dropped {dropped} row(s) whose target {target!r} is missing")
        frame = frame.loc[has_target]
    task = detect_task(frame[target]) if task == "auto" else task
    if task not in (CLASSIFICATION, REGRESSION):
        raise UserError(f"data.split: task must be auto, classification or regression, not {task!r}")
    classes: list = []
    if task == CLASSIFICATION:
        classes = sorted((plain(v) for v in frame[target].unique()), key=lambda v: (str(type(v)), v))
        if len(classes) < 2:
            raise UserError(
                f"data.split: target {target!r} has one class ({classes[0]!r}); classification needs at least two"
            )
        if looks_like_id(len(classes), len(frame)):
            raise UserError(
                f"data.split: target {target!r} looks like an ID or free text ({len(classes):,} different "
                f"values in {len(frame):,} rows), not classes to learn; pick another target column"
                + _regression_hint(frame[target])
            )
    else:
        if not pd.api.types.is_numeric_dtype(frame[target]):
            raise UserError(f"data.split: regression needs a numeric target; {target!r} holds text")
    n = len(frame)
    if n < 3 and task == CLASSIFICATION:  # a regression gets _check_size's line, with the rows it needs
        raise UserError(f"data.split: only {n} row(s) with a target; at least 3 are needed")
    left_out: dict[str, str] = {}
    if features:
        unknown = [c for c in features if c not in frame.columns]
        if unknown:
            raise UserError(f"data.split: feature column(s) {', '.join(unknown)} not found")
        feature_list = [c for c in features if c != target]
    else:
        feature_list = [c for c in frame.columns if c not in (target, time_column)]
        left_out = id_like_columns(frame, feature_list)
        feature_list = [c for c in feature_list if c not in left_out]
    if not feature_list:
        extra = (
            f" ({', '.join(left_out)} left out as ID-like; name them in features to use them)"
            if left_out
            else ""
        )
        raise UserError(f"data.split: no feature columns left besides the target{extra}; keep more columns")
    rng = np.random.default_rng(seed)
    ordered = False
    if time_column or not shuffle:
        if time_column:
            frame = frame.sort_values(time_column, kind="stable")
        positions = np.arange(n)
        n_val, n_test = _sizes(n, val_fraction, test_fraction)
        n_train = n - n_val - n_test
        parts = positions[:n_train], positions[n_train : n_train + n_val], positions[n_train + n_val :]
        ordered = True
        say(f"time-ordered split by {time_column or 'row order'}")
    elif task == CLASSIFICATION and stratify:
        codes = pd.Index(classes).get_indexer(frame[target])
        chunks: list[list[np.ndarray]] = [[], [], []]
        for code in range(len(classes)):
            members = rng.permutation(np.flatnonzero(codes == code))
            n_val, n_test = _sizes(len(members), val_fraction, test_fraction)
            if len(members) - n_val - n_test < 1:
                n_val, n_test = 0, 0
            chunks[0].append(members[n_val + n_test :])
            chunks[1].append(members[:n_val])
            chunks[2].append(members[n_val : n_val + n_test])
        train_rows, val_rows, test_rows = (np.sort(np.concatenate(chunk)) for chunk in chunks)
        parts = train_rows, val_rows, test_rows
    else:
        positions = rng.permutation(n)
        n_val, n_test = _sizes(n, val_fraction, test_fraction)
        parts = (
            np.sort(positions[n_val + n_test :]),
            np.sort(positions[:n_val]),
            np.sort(positions[n_val : n_val + n_test]),
        )
    empty = [
        name
        for name, part, fraction in (
            ("validation", parts[1], val_fraction),
            ("test", parts[2], test_fraction),
        )
        if fraction > 0 and len(part) == 0
    ]
    if task == CLASSIFICATION and empty and not ordered:
        raise UserError(
            f"data.split: target {target!r} has {len(classes):,} classes in {n:,} rows, too few rows per class to "
            f"put any in {' or '.join(empty)} (a class needs at least "
            f"{rows_needed(task, (val_fraction, test_fraction))[0]} rows for that); pick another target column, "
            "merge rare classes, add rows" + _regression_hint(frame[target])
        )
    _check_size(task, parts, (val_fraction, test_fraction))
    if task == CLASSIFICATION:
        rare = _rare_classes(
            classes, pd.Index(classes).get_indexer(frame[target]), parts, (val_fraction, test_fraction)
        )
        if rare:
            say(
                f"class(es) too rare to appear in every held-out split, so the test figures say nothing about them: {rare}; "
                f"a class needs at least {rows_needed(task, (val_fraction, test_fraction))[0]} rows"
            )
    train, val, test = (frame.iloc[p].reset_index(drop=True) for p in parts)
    if task == CLASSIFICATION and train[target].nunique() < 2:
        raise UserError(
            f"data.split: the training split has one class of {target!r}; use more rows or lower test/validation fractions"
        )
    roles = {c: "feature" for c in feature_list}
    roles[target] = "target"
    if time_column:
        roles[time_column] = "time"
    for column in frame.columns:
        roles.setdefault(str(column), "ignored")
    say(
        f"{task}: {len(train)} train / {len(val)} validation / {len(test)} test rows, {len(feature_list)} features"
    )
    if left_out:
        say(
            f"left out {len(left_out)} ID-like text column(s), nearly one value per row: "
            + "; ".join(f"{c} ({why.split(': ', 1)[1]})" for c, why in left_out.items())
            + ". Name a column in data.split's features to use it anyway"
        )
    dataset = Dataset(
        train=train,
        val=val,
        test=test,
        target=target,
        task=task,
        features=list(feature_list),
        input_schema={c: column_kind(frame[c]) for c in feature_list},
        classes=classes,
        chain=[],
        time_column=time_column or None,
        ordered=ordered,
        roles=roles,
        seed=seed,
        dropped_rows=dropped,
    )
    if not left_out:
        return dataset
    # Recorded in the chain (a drop step that reads nothing: prediction never asks for these columns) so the
    # model and its bundle's model card can say what was left out and why.
    record = {
        "op": "drop",
        "columns": list(left_out),
        "reasons": dict(left_out),
        "features_in": list(feature_list),
        "features_out": list(feature_list),
    }
    return dataset.replace(chain=[record])


def rows_needed(task: str, fractions: tuple[float, float]) -> tuple[int, int, int, int]:
    """(total, train, validation, test): the fewest rows that give regression ``MIN_TRAIN_ROWS`` training rows
    and one row to each held-out split with a fraction, or that give one class a row in every such split."""
    train = MIN_TRAIN_ROWS if task == REGRESSION else 1
    for n in range(train, 100_000):
        n_val, n_test = _sizes(n, *fractions)
        if n - n_val - n_test >= train and all(
            size > 0 for size, fraction in zip((n_val, n_test), fractions, strict=True) if fraction > 0
        ):
            return n, n - n_val - n_test, n_val, n_test
    return train, train, 0, 0  # pragma: no cover - fractions below 0.95 always fit


def _check_size(task: str, parts: tuple[np.ndarray, ...], fractions: tuple[float, float]) -> None:
    """One clear line when the table is too small for the split it is given, naming the rows it needs."""
    sizes = [len(p) for p in parts]
    total, train, n_val, n_test = rows_needed(task, fractions)
    need = f"{train} to train" + "".join(
        f", {size} for {name}" for size, name in ((n_val, "validation"), (n_test, "test")) if size
    )
    shares = f"{round(fractions[0] * 100)} % validation, {round(fractions[1] * 100)} % test"
    if task == REGRESSION and sizes[0] < MIN_TRAIN_ROWS:
        raise UserError(
            f"data.split: {sum(sizes)} row(s) with a target are too few for this split ({shares}): a regression "
            f"needs at least {total} rows ({need}); add rows or lower the validation/test fractions"
        )
    empty = [name for name, size, fraction in zip(("validation", "test"), sizes[1:], fractions, strict=True)
             if fraction > 0 and size == 0]  # fmt: skip
    if empty:
        who = "every class" if task == CLASSIFICATION else "the table"
        raise UserError(
            f"data.split: {sum(sizes)} row(s) with a target leave no {' or '.join(empty)} rows ({shares}): "
            f"{who} needs at least {total} rows ({need}); add rows or set that fraction to 0"
        )


def _rare_classes(classes: list, codes: np.ndarray, parts: tuple[np.ndarray, ...], fractions: tuple) -> str:
    """Classes with no row in a held-out split that has a fraction: they are learned but never checked."""
    held = [part for part, fraction in zip(parts[1:], fractions, strict=True) if fraction > 0]
    totals = np.bincount(codes, minlength=len(classes))
    absent = np.zeros(len(classes), dtype=bool)
    for part in held:
        absent |= np.bincount(codes[part], minlength=len(classes)) == 0
    rare = [f"{classes[code]!r} ({int(totals[code])} rows)" for code in np.flatnonzero(absent)]
    return ", ".join(rare[:10]) + (f" and {len(rare) - 10} more" if len(rare) > 10 else "")

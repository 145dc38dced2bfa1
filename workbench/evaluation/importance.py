"""Permutation importance per ORIGINAL input column (not per one-hot column).

Shuffling a raw column and re-running the fitted chain changes exactly the model-input columns derived from
it (its one-hot block, its missing-value flag, its date parts), row by row. Every chain step is a per-row
function of one raw column, so permuting those derived columns together with one row permutation gives the
same matrix as ``chain.transform(permuted raw table)`` without re-running pandas for every repeat (a test
checks the equivalence). Windowed inputs permute each channel's whole window across rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.evaluation.align import raw_outputs, split_arrays, to_predictions

_LOWER_IS_BETTER = {"log_loss", "mae", "rmse"}


def feature_origins(chain: Sequence[dict], feature_names: Sequence[str]) -> dict[str, str]:
    """Model-input feature name → the raw input column it is computed from."""
    origin: dict[str, str] = {}
    if chain:
        origin = {c: c for c in chain[0].get("features_in", [])}
    for step in chain:
        op = step["op"]
        if op == "onehot":
            for enc in step["encodings"]:
                prefix = f"{enc['column']}="
                for name in step["features_out"]:
                    if name.startswith(prefix) and name not in origin:
                        origin[name] = origin.get(enc["column"], enc["column"])
        elif op == "datetime":
            for column in step["columns"]:
                for part in step["parts"]:
                    origin[f"{column}.{part}"] = origin.get(column, column)
        elif op == "impute":
            for column in step.get("indicators", []):
                origin[f"{column}__missing"] = origin.get(column, column)
        elif op == "zero_flags":
            for column in step["columns"]:
                origin[f"{column}__zero"] = origin.get(column, column)
        elif op == "window" and step.get("target_input"):
            origin[f"{step['target']}__past"] = step["target"]
    return {name: origin.get(name, name) for name in feature_names}


def feature_groups(chain: Sequence[dict], feature_names: Sequence[str]) -> dict[str, list[int]]:
    """Raw input column → indices of the model-input features (last axis) derived from it, in input order."""
    groups: dict[str, list[int]] = {}
    for index, (_, source) in enumerate(feature_origins(chain, feature_names).items()):
        groups.setdefault(source, []).append(index)
    return groups


def make_scorer(task: str, head: str, scoring: str) -> tuple[str, Callable[[np.ndarray, np.ndarray], float]]:
    """(scoring name, fn(y, raw outputs) → score where higher is better)."""
    from sklearn import metrics as M  # noqa: N812

    if scoring == "auto":
        scoring = "accuracy" if task == "classification" else "r2"
    classification = scoring in ("accuracy", "balanced_accuracy", "f1_macro", "log_loss")
    if classification != (task == "classification"):
        raise UserError(f"scoring: {scoring!r} does not fit a {task} model")

    def score(y: np.ndarray, raw: np.ndarray) -> float:
        pred, proba = to_predictions(raw, head)
        y = (
            np.asarray(y).reshape(-1)
            if task == "classification"
            else np.asarray(y, dtype=np.float64).reshape(-1)
        )
        if scoring == "accuracy":
            return float(M.accuracy_score(y, pred))
        if scoring == "balanced_accuracy":
            return float(M.balanced_accuracy_score(y, pred))
        if scoring == "f1_macro":
            return float(M.f1_score(y, pred, average="macro", zero_division=0))
        if scoring == "log_loss":
            assert proba is not None  # a classification head always gives probabilities
            labels = list(range(proba.shape[1]))
            return -float(M.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=labels))
        if scoring == "r2":
            return float(M.r2_score(y, pred))
        if scoring == "mae":
            return -float(M.mean_absolute_error(y, pred))
        return -float(M.root_mean_squared_error(y, pred))

    return scoring, score


def permutation_importance(
    predict_raw: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    groups: dict[str, list[int]],
    score: Callable[[np.ndarray, np.ndarray], float],
    repeats: int = 5,
    seed: int = 0,
    check_cancelled: Callable[[], None] | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """(baseline score, per group the score drops of each repeat). Rows are permuted along axis 0."""
    rng = np.random.default_rng(seed)
    baseline = score(y, predict_raw(x))
    drops: dict[str, np.ndarray] = {}
    for name, columns in groups.items():
        values = np.empty(repeats)
        for r in range(repeats):
            if check_cancelled:
                check_cancelled()
            shuffled = x.copy()
            order = rng.permutation(len(x))
            shuffled[..., columns] = x[order][..., columns]
            values[r] = baseline - score(y, predict_raw(shuffled))
        drops[name] = values
    return baseline, drops


@dataclass
class ImportanceReport:
    scoring: str
    split: str
    baseline: float
    repeats: int
    rows: list[dict[str, Any]] = field(default_factory=list)  # sorted by mean drop, largest first

    @property
    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"importance_baseline_{self.scoring}": self.baseline}
        if self.rows:
            out["most_important_column"] = self.rows[0]["column"]
        return out

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "column": r["column"],
                    "importance": r["mean"],
                    "std": r["std"],
                    "n_features": r["n_features"],
                }
                for r in self.rows
            ]  # fmt: skip
        )

    def to_json(self) -> dict[str, Any]:
        return {"scoring": self.scoring, "split": self.split, "baseline": self.baseline,
                "repeats": self.repeats, "rows": self.rows}  # fmt: skip


def model_importance(
    model: Any,
    dataset: Any,
    split: str = "test",
    repeats: int = 5,
    seed: int = 0,
    scoring: str = "auto",
    max_rows: int = 0,
    check_cancelled: Callable[[], None] | None = None,
) -> ImportanceReport:
    """Permutation importance of a TrainedModel on one split of a dataset, per raw input column."""
    arrays = split_arrays(model, dataset)
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if len(x) < 2:
        raise UserError(f"evaluate.importance: the {split} split has {len(x)} row(s); at least 2 are needed")
    if max_rows and len(x) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
        x, y = x[keep], y[keep]
    name, score = make_scorer(model.task, model.head, scoring)
    groups = feature_groups(model.chain or [], model.feature_names)
    baseline, drops = permutation_importance(
        lambda a: raw_outputs(model, a), x, y, groups, score, repeats, seed, check_cancelled
    )
    rows = [
        {
            "column": column,
            "mean": float(v.mean()),
            "std": float(v.std()),
            "values": v.tolist(),
            "n_features": len(groups[column]),
        }  # fmt: skip
        for column, v in drops.items()
    ]
    rows.sort(key=lambda r: -r["mean"])
    shown_baseline = -baseline if name in _LOWER_IS_BETTER else baseline
    return ImportanceReport(name, split, float(shown_baseline), repeats, rows)

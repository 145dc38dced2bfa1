"""Evaluation figures computed with scikit-learn (not re-implemented), and the report the app draws.

Classification: accuracy, balanced accuracy, precision/recall/F1 (macro and per class), ROC-AUC (binary, or
one-vs-rest), log loss, confusion matrix (counts and row-normalised), ROC and precision-recall curve points.
Regression: MAE, RMSE, R², MAPE and residuals. Figures that cannot be computed on a split (a class absent,
one row) are None with a note instead of an error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.evaluation.align import raw_outputs, split_arrays, to_predictions

MAX_CURVE_POINTS = 200
MAX_SCATTER_POINTS = 2000
HEADLINE = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc",
            "log_loss", "mae", "rmse", "r2", "mape")  # fmt: skip


def _thin(*arrays: np.ndarray, limit: int = MAX_CURVE_POINTS) -> list[list[float]]:
    """At most ``limit`` evenly spaced points (first and last kept), as plain lists for JSON and plots."""
    n = len(arrays[0])
    index = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else np.zeros(0, int)
    return [np.asarray(a, dtype=np.float64)[index].tolist() for a in arrays]


def _safe(fn: Any, notes: list[str], what: str) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(fn())
    except ValueError as exc:
        notes.append(f"{what}: not computed ({str(exc).splitlines()[0]})")
        return None
    return value if np.isfinite(value) else None


def classification_metrics(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> dict[str, Any]:
    """Figures, per-class table, confusion matrices and curve points for class ids ``y`` and probabilities."""
    from sklearn import metrics as M  # noqa: N812

    n_classes = len(classes)
    labels = list(range(n_classes))
    pred = proba.argmax(axis=1)
    notes: list[str] = []
    out: dict[str, Any] = {"rows": int(len(y)), "notes": notes}
    if len(y) == 0:
        notes.append("no rows")
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["accuracy"] = float(M.accuracy_score(y, pred))
        out["balanced_accuracy"] = float(M.balanced_accuracy_score(y, pred))
        p, r, f, support = M.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        macro = M.precision_recall_fscore_support(y, pred, labels=labels, average="macro", zero_division=0)
    out["precision_macro"], out["recall_macro"], out["f1_macro"] = (float(v) for v in macro[:3])
    out["per_class"] = [
        {
            "class": c,
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, c in enumerate(classes)
    ]
    if n_classes == 2:
        out["roc_auc"] = _safe(lambda: M.roc_auc_score(y, proba[:, 1]), notes, "ROC-AUC")
    else:
        out["roc_auc"] = _safe(
            lambda: M.roc_auc_score(y, proba, multi_class="ovr", labels=labels), notes, "ROC-AUC"
        )
    out["log_loss"] = _safe(
        lambda: M.log_loss(y, np.clip(proba, 1e-15, 1.0), labels=labels), notes, "log loss"
    )
    counts = M.confusion_matrix(y, pred, labels=labels)
    rows = counts.sum(axis=1, keepdims=True)
    out["confusion"] = counts.tolist()
    out["confusion_normalized"] = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0).tolist()
    curves_for = [1] if n_classes == 2 else labels
    out["roc_curves"], out["pr_curves"] = [], []
    for k in curves_for:
        positive = y == k
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = M.roc_curve(positive, proba[:, k])
        precision, recall, _ = M.precision_recall_curve(positive, proba[:, k])
        fpr_t, tpr_t = _thin(fpr, tpr)
        recall_t, precision_t = _thin(recall, precision)
        out["roc_curves"].append({"class": classes[k], "fpr": fpr_t, "tpr": tpr_t,
                                  "auc": float(M.auc(fpr, tpr))})  # fmt: skip
        out["pr_curves"].append({"class": classes[k], "recall": recall_t, "precision": precision_t,
                                 "average_precision": float(M.average_precision_score(positive, proba[:, k]))})  # fmt: skip
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """MAE, RMSE, R², MAPE and residual points for true values ``y`` and predictions ``pred``."""
    from sklearn import metrics as M  # noqa: N812

    y, pred = np.asarray(y, dtype=np.float64).reshape(-1), np.asarray(pred, dtype=np.float64).reshape(-1)
    notes: list[str] = []
    out: dict[str, Any] = {"rows": int(len(y)), "notes": notes}
    if len(y) == 0:
        notes.append("no rows")
        return out
    out["mae"] = float(M.mean_absolute_error(y, pred))
    out["rmse"] = float(M.root_mean_squared_error(y, pred))
    out["r2"] = _safe(lambda: M.r2_score(y, pred), notes, "R²") if len(y) > 1 else None
    if np.any(y == 0):
        notes.append("MAPE: some true values are 0, so percentage errors there are huge")
    out["mape"] = _safe(lambda: M.mean_absolute_percentage_error(y, pred), notes, "MAPE")
    residuals = y - pred
    out["residual_mean"], out["residual_std"] = float(residuals.mean()), float(residuals.std())
    actual, predicted, resid = _thin(y, pred, residuals, limit=MAX_SCATTER_POINTS)
    out["scatter"] = {"actual": actual, "predicted": predicted, "residual": resid}
    return out


@dataclass
class EvaluationReport:
    """What evaluate.metrics outputs on its REPORT wire; ``metrics`` feeds the run report."""

    task: str
    target: str
    classes: list[Any]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)  # HistGradientBoosting on the same rows

    @property
    def metrics(self) -> dict[str, float]:
        """Test figures under plain names (``accuracy``, ``rmse`` …), validation ones with a ``val_`` prefix;
        the baseline's with a ``baseline_`` prefix (``baseline_accuracy``, ``baseline_val_accuracy``)."""
        flat: dict[str, float] = {}
        for source, first in ((self.splits, ""), (self.baseline.get("splits", {}), "baseline_")):
            for split, prefix in (("test", ""), ("val", "val_")):
                figures = source.get(split, {})
                for name in HEADLINE:
                    value = figures.get(name)
                    if isinstance(value, int | float) and value is not None:
                        flat[first + prefix + name] = float(value)
        return flat

    def baseline_line(self) -> str:
        """'Baseline (HistGradientBoosting, test): accuracy 0.95 — the network's 0.97 is 0.02 better', or ''."""
        if not self.baseline.get("splits"):
            reason = self.baseline.get("skipped")
            return f"Baseline (HistGradientBoosting): not fitted ({reason})" if reason else ""
        name = "accuracy" if self.task == "classification" else "r2"
        mine, theirs = self.metrics.get(name), self.metrics.get(f"baseline_{name}")
        if theirs is None:
            return ""
        label = "R²" if name == "r2" else name
        line = f"Baseline (HistGradientBoosting, test): {label} {theirs:.4g}"
        if mine is not None:
            gap = mine - theirs
            verdict = "better" if gap > 0 else "worse"
            line += f" — the network's {mine:.4g} is {abs(gap):.3g} {verdict}" if gap else " — the same"
        return line

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "classes": list(self.classes),
            "splits": self.splits,
            "baseline": self.baseline,
        }


def evaluate(
    model: Any, dataset: Any, splits: tuple[str, ...] = ("test", "val"), baseline: bool = False
) -> tuple[EvaluationReport, pd.DataFrame]:
    """Evaluate ``model`` on the dataset's splits; returns the report and a predictions table (all splits).

    ``baseline``: also fit HistGradientBoosting on the same training rows and score it on the same splits.
    """
    arrays = split_arrays(model, dataset)
    report = EvaluationReport(model.task, str(model.target), list(model.classes or []))
    tables = []
    for split in splits:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        raw = raw_outputs(model, x)
        pred, proba = to_predictions(raw, model.head)
        table: dict[str, Any] = {"split": split, "row": np.arange(1, len(x) + 1)}
        if getattr(model, "images", None):  # the file behind each row: the app's mistakes gallery opens it
            column = model.images.get("column", "path")
            table["path"] = getattr(dataset, split)[column].astype(str).to_numpy()
        if model.task == "classification":
            assert proba is not None  # a classification head always gives probabilities
            report.splits[split] = classification_metrics(y, proba, report.classes)
            table["actual"] = [report.classes[int(i)] for i in y]
            table["prediction"] = [report.classes[int(i)] for i in pred]
            for index, label in enumerate(report.classes):
                table[f"proba_{label}"] = proba[:, index] if proba is not None else np.nan
        else:
            report.splits[split] = regression_metrics(y, pred)
            table["actual"] = np.asarray(y, dtype=np.float64).reshape(-1)
            table["prediction"] = pred
            table["residual"] = table["actual"] - pred
        tables.append(pd.DataFrame(table))
    if baseline and getattr(model, "images", None):
        report.baseline = {"skipped": "images: no gradient boosting baseline on pixels"}
    elif baseline:
        from workbench.evaluation.baseline import fit_baseline

        report.baseline = fit_baseline(arrays, model.task, report.classes, splits)
    return report, pd.concat(tables, ignore_index=True)

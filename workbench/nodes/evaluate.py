"""Evaluate: metrics on the test/validation splits, permutation importance, surrogate-tree explanations.

Thin adapters over ``workbench.evaluation``; a MODEL input may also carry an exported bundle, which is
reloaded from its safetensors weights (never pickle).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import params as P
from workbench import ports
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import BUNDLE, DATASET, MODEL, REPORT, TABLE

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

_MODEL_IN = PortSpec("model", MODEL, help="A trained model (or an exported bundle).")
_DATASET_IN = PortSpec("dataset", DATASET, help="The dataset the model was trained on (its splits).")


def trained_model(value: Any) -> Any:
    """A TrainedModel from what a MODEL wire carries, by its port type: the model itself, or a Bundle from
    deploy.export (or a bundle folder), reloaded from its safetensors weights."""
    kind = ports.type_of(value)
    if kind == MODEL:
        return value
    if kind != BUNDLE and not isinstance(value, str | Path):
        raise UserError(f"model: expected a trained model or an exported bundle, got {type(value).__name__}")
    from workbench.export.reader import load_trained_model

    return load_trained_model(value.path if kind == BUNDLE else value)


class EvaluateMetrics(NodeType):
    spec = NodeSpec(
        type_id="evaluate.metrics",
        title="Evaluate",
        category="evaluate",
        help=(
            "How good is the model on rows it never trained on. Classes: accuracy, balanced accuracy, "
            "precision/recall/F1, ROC-AUC, log loss, confusion matrix, ROC and precision-recall curves. "
            "Numbers: MAE, RMSE, R², MAPE and residuals. Computed with scikit-learn on the test split "
            "(and validation), beside a HistGradientBoosting baseline fitted on the same training rows."
        ),
        inputs=(_MODEL_IN, _DATASET_IN),
        outputs=(
            PortSpec("report", REPORT, help="Figures, confusion matrix and curve points per split."),
            PortSpec(
                "predictions",
                TABLE,
                help="One row per test/validation row: actual, prediction, probabilities.",
            ),
        ),
        params=(
            P.Choice(
                "splits",
                "test_and_val",
                choices=("test_and_val", "test"),
                labels={"test_and_val": "Test and validation", "test": "Test only"},
            ),
            P.Bool(
                "baseline",
                True,
                label="Gradient boosting baseline",
                help=(
                    "Also fit scikit-learn's HistGradientBoosting on the same training rows and features and "
                    "score it on the same splits (baseline_* figures), to see whether the network beats a "
                    "strong simple model. Seconds on most tables; turn off to save them."
                ),
            ),
        ),
        summary=("splits",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.evaluation.metrics import evaluate

        model = trained_model(inputs["model"])
        splits = ("test", "val") if params["splits"] == "test_and_val" else ("test",)
        if params["baseline"]:
            ctx.check_cancelled()
        report, table = evaluate(model, inputs["dataset"], splits, baseline=params["baseline"])
        for split in splits:
            for note in report.splits[split].get("notes", []):
                ctx.warn(f"{split}: {note}")
        shown = ", ".join(
            f"{k} {v:.4g}" for k, v in report.metrics.items() if not k.startswith(("val_", "baseline_"))
        )
        ctx.log(f"test split ({report.splits['test'].get('rows', 0)} rows): {shown}")
        line = report.baseline_line()
        if line:
            seconds = report.baseline.get("seconds")
            if report.baseline.get("reused"):
                ctx.log(line + " (same rows as an earlier run: reused)")
            else:
                ctx.log(line + (f" (fitted in {seconds:.1f} s)" if seconds is not None else ""))
        return {"report": report, "predictions": table}


class EvaluateImportance(NodeType):
    spec = NodeSpec(
        type_id="evaluate.importance",
        title="Feature importance",
        category="evaluate",
        help=(
            "Permutation importance: how much the score drops when one input column is shuffled. Measured "
            "per original column (all one-hot columns of a category together), repeated with a seed."
        ),
        inputs=(_MODEL_IN, _DATASET_IN),
        outputs=(
            PortSpec("report", REPORT, help="Baseline score and per-column drops of every repeat."),
            PortSpec("table", TABLE, help="column, importance (mean drop), std."),
        ),
        params=(
            P.Choice("split", "test", choices=("test", "val"), help="Rows to shuffle."),
            P.Int("repeats", 5, minimum=1, maximum=100, help="Shuffles per column; more is steadier."),
            P.Int("seed", 0, minimum=0),
            P.Choice(
                "scoring",
                "auto",
                choices=(
                    "auto",
                    "accuracy",
                    "balanced_accuracy",
                    "f1_macro",
                    "log_loss",
                    "r2",
                    "mae",
                    "rmse",
                ),
                help="auto: accuracy for classes, R² for numbers.",
            ),
            P.Int("max_rows", 0, minimum=0, help="Use at most this many rows (0 = all)."),
        ),
        summary=("repeats", "scoring"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.evaluation.importance import model_importance

        report = model_importance(
            trained_model(inputs["model"]),
            inputs["dataset"],
            split=params["split"],
            repeats=params["repeats"],
            seed=params["seed"],
            scoring=params["scoring"],
            max_rows=params["max_rows"],
            check_cancelled=ctx.check_cancelled,
        )
        top = ", ".join(f"{r['column']} {r['mean']:.3g}" for r in report.rows[:5])
        ctx.log(f"baseline {report.scoring} {report.baseline:.4g}; largest drops: {top}")
        return {"report": report, "table": report.table()}


class EvaluateSurrogate(NodeType):
    spec = NodeSpec(
        type_id="evaluate.surrogate",
        title="Explain with rules",
        category="evaluate",
        help=(
            "Fits a shallow decision tree to the model's own predictions and prints its rules "
            '("if income > 3200 and region = south then …"). Fidelity says how often the tree agrees with '
            "the model on test rows; trust the rules only as far as that figure."
        ),
        inputs=(_MODEL_IN, _DATASET_IN),
        outputs=(
            PortSpec("report", REPORT, help="Fidelity and the rules with their conditions."),
            PortSpec("rules", TABLE, help="One row per rule: text, prediction, rows, share."),
        ),
        params=(
            P.Int(
                "max_depth",
                3,
                minimum=1,
                maximum=8,
                help="Conditions per rule at most; deeper is truer but harder to read.",
            ),
            P.Float(
                "min_leaf_fraction",
                0.02,
                minimum=0.0,
                maximum=0.5,
                help="Smallest rule, as a share of training rows.",
            ),
            P.Int("seed", 0, minimum=0),
        ),
        summary=("max_depth",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        import pandas as pd

        from workbench.evaluation.surrogate import fit_surrogate

        report, _ = fit_surrogate(
            trained_model(inputs["model"]),
            inputs["dataset"],
            max_depth=params["max_depth"],
            min_leaf_fraction=params["min_leaf_fraction"],
            seed=params["seed"],
        )
        ctx.log(
            f"surrogate tree: {report.n_leaves} rules, fidelity {report.fidelity:.3f} ({report.fidelity_name})"
        )
        for line in report.text[:10]:
            ctx.log(line)
        table = pd.DataFrame(
            [
                {"rule": r["text"], "prediction": r["prediction"], "rows": r["rows"], "share": r["share"]}
                for r in report.rules
            ]  # fmt: skip
        )
        return {"report": report, "rules": table}


NODE_TYPES = (EvaluateMetrics, EvaluateImportance, EvaluateSurrogate)

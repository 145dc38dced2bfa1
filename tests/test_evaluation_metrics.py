"""evaluate.metrics: scikit-learn figures on the test/validation splits, the report object and the run report."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as M  # noqa: N812
from test_export_models import classifier, multiclass, regressor, run_node, split

from workbench.errors import UserError
from workbench.evaluation.metrics import evaluate
from workbench.nodes.evaluate import EvaluateMetrics


@pytest.fixture(scope="module")
def clf() -> tuple:
    return classifier()


def test_binary_figures_match_sklearn_on_the_predictions(clf: tuple) -> None:
    model, dataset, _ = clf
    report, table = evaluate(model, dataset)
    test = table[table["split"] == "test"]
    assert len(test) == len(dataset.test) and set(table["split"]) == {"test", "val"}
    y = (test["actual"] == "yes").to_numpy()
    figures = report.splits["test"]
    assert figures["accuracy"] == pytest.approx(M.accuracy_score(test["actual"], test["prediction"]))
    assert figures["roc_auc"] == pytest.approx(M.roc_auc_score(y, test["proba_yes"]))
    assert figures["log_loss"] == pytest.approx(M.log_loss(y, test["proba_yes"]), rel=1e-6)
    assert figures["accuracy"] > 0.8  # the label is learnable: the model did learn it
    counts = np.array(figures["confusion"])
    assert counts.shape == (2, 2) and counts.sum() == len(test)
    assert np.allclose(np.array(figures["confusion_normalized"]).sum(axis=1), 1.0)
    roc = figures["roc_curves"][0]
    assert roc["class"] == "yes" and (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0) and roc["fpr"][-1] == 1.0
    assert len(roc["fpr"]) <= 200 and figures["pr_curves"][0]["average_precision"] > 0.5
    assert [row["class"] for row in figures["per_class"]] == ["no", "yes"]
    flat = report.metrics
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert flat[name] == figures[name]
    assert flat["val_accuracy"] == report.splits["val"]["accuracy"]


def test_multiclass_one_vs_rest(tmp_path) -> None:
    model, dataset, _ = multiclass()
    report, table = evaluate(model, dataset, ("test",))
    test = table[table["split"] == "test"]
    proba = test[[f"proba_{c}" for c in model.classes]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0)
    expected = M.roc_auc_score(test["actual"], proba, multi_class="ovr", labels=model.classes)
    assert report.metrics["roc_auc"] == pytest.approx(expected)
    assert len(report.splits["test"]["per_class"]) == 3 and len(report.splits["test"]["roc_curves"]) == 3
    assert "val_accuracy" not in report.metrics


def test_regression_figures() -> None:
    model, dataset, _ = regressor()
    report, table = evaluate(model, dataset)
    test = table[table["split"] == "test"]
    assert np.allclose(test["residual"], test["actual"] - test["prediction"])
    flat = report.metrics
    assert flat["mae"] == pytest.approx(M.mean_absolute_error(test["actual"], test["prediction"]))
    assert flat["rmse"] == pytest.approx(M.root_mean_squared_error(test["actual"], test["prediction"]))
    assert flat["r2"] == pytest.approx(M.r2_score(test["actual"], test["prediction"]))
    assert flat["mape"] == pytest.approx(M.mean_absolute_percentage_error(test["actual"], test["prediction"]))
    assert len(report.splits["test"]["scatter"]["actual"]) == len(test)


def test_node_outputs_report_and_table_and_accepts_a_bundle(clf: tuple, tmp_path) -> None:
    model, dataset, _ = clf
    out = run_node(EvaluateMetrics, {"model": model, "dataset": dataset}, {"splits": "test"})
    assert set(out) == {"report", "predictions"}
    assert set(out["predictions"]["split"]) == {"test"}
    from workbench.export.bundle import write_bundle

    bundle = write_bundle(model, tmp_path / "b")
    again = run_node(EvaluateMetrics, {"model": bundle, "dataset": dataset}, {"splits": "test"})
    assert again["report"].metrics == pytest.approx(out["report"].metrics)


def test_a_differently_prepared_dataset_is_refused(clf: tuple) -> None:
    model, _, frame = clf
    other = split(frame.assign(income=frame["income"] * 10), "label")
    from workbench.tabular.fit import apply_to_dataset, fit_scale

    other = apply_to_dataset(other, fit_scale(other.train, other.features, ["income"]))
    with pytest.raises(UserError, match="preprocessing differs"):
        evaluate(model, other)


def test_pipeline_run_report_carries_plain_metric_names(tmp_path) -> None:
    """data → split → train → evaluate → export → predict through the real executor."""
    from workbench.execution.executor import Executor
    from workbench.graph import Pipeline
    from workbench.registry import NodeRegistry

    registry = NodeRegistry()
    for name in ("collect", "transform", "train", "evaluate", "deploy"):
        registry.load_module(f"workbench.nodes.{name}")
    p = Pipeline(registry)
    p.add("data.sample", "data", name="iris")
    p.add("data.split", "split", target="species")
    p.add("train.supervised", "train", epochs=5, device="cpu", threads=1)
    p.add("evaluate.metrics", "eval")
    p.add("evaluate.importance", "imp", repeats=2)
    p.add("evaluate.surrogate", "why")
    p.add("deploy.export", "export", path=str(tmp_path / "bundle"))
    p.add("deploy.predict", "predict", output=str(tmp_path / "preds.csv"))
    p.connect("data.table", "split.table")
    p.connect("split.dataset", "train.dataset")
    for node in ("eval", "imp", "why"):
        p.connect("train.model", f"{node}.model")
        p.connect("split.dataset", f"{node}.dataset")
    p.connect("train.model", "export.model")
    p.connect("split.dataset", "export.dataset")
    p.connect("export.bundle", "predict.model")
    p.connect("data.table", "predict.table")
    result = Executor().run(p, write_run_folder=False)
    assert result.status == "ok", result.failures
    report = result.report()
    assert {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"} <= set(
        report["metrics"]["eval"]
    )
    assert report["metrics"]["export"]["parity_max_abs_diff"] <= 1e-4
    assert report["metrics"]["why"]["surrogate_fidelity"] > 0.5
    assert report["artifacts"]["export.bundle"] == str(tmp_path / "bundle")
    assert len(result.output("predict", "predictions")) == 150

"""Scenario datasets: small, reproducible from the seeded generator, learnable by a linear model, and the
built-in samples load offline."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score

from workbench import paths
from workbench.nodes.collect import SAMPLE_NAMES
from workbench.tabular.auto import prepare_for_training
from workbench.tabular.clean import select_columns
from workbench.tabular.io import read_table
from workbench.tabular.samples import NAMES, load_sample, suggested_target
from workbench.tabular.split import split_table
from workbench.tabular.tensors import to_arrays

DATASETS = paths.resource("datasets")


def arrays(name: str, target: str, drop: tuple[str, ...] = (), **options):
    frame = select_columns(read_table(DATASETS / name), drop=list(drop))
    dataset = prepare_for_training(split_table(frame, target, **options), lambda _m: None)
    return dataset, to_arrays(dataset)


def auc(name: str, target: str, drop: tuple[str, ...] = (), **options) -> float:
    _ds, a = arrays(name, target, drop, **options)
    model = LogisticRegression(max_iter=2000).fit(a["x_train"], a["y_train"])
    return roc_auc_score(a["y_test"], model.predict_proba(a["x_test"])[:, 1])


def r2(name: str, target: str, drop: tuple[str, ...] = (), **options) -> float:
    _ds, a = arrays(name, target, drop, **options)
    model = Ridge().fit(a["x_train"], a["y_train"][:, 0])
    return r2_score(a["y_test"][:, 0], model.predict(a["x_test"]))


def test_files_are_small_and_documented():
    readme = (DATASETS / "README.md").read_text(encoding="utf-8")
    for name in ("credit_risk.csv", "stock_prices.csv", "breast_cancer.csv", "student_performance.csv"):
        path = DATASETS / name
        assert path.stat().st_size < 1_000_000
        assert name in readme


def test_generator_reproduces_the_committed_files():
    spec = importlib.util.spec_from_file_location("generate_datasets", DATASETS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, build in module.DATASETS.items():
        buffer = io.StringIO()
        build().to_csv(buffer, index=False, lineterminator="\n")
        assert buffer.getvalue() == (DATASETS / name).read_text(encoding="utf-8"), name


def test_credit_risk_is_imbalanced_with_gaps_and_learnable():
    ds, _ = arrays("credit_risk.csv", "default", ("applicant_id",))
    share = (ds.train["default"] == 1).mean()
    assert 0.08 < share < 0.25
    assert read_table(DATASETS / "credit_risk.csv").isna().sum().sum() > 100
    assert {"employment_type", "home_ownership", "loan_purpose"} <= {
        c for c, k in ds.input_schema.items() if k == "category"
    }
    assert auc("credit_risk.csv", "default", ("applicant_id",)) > 0.78


def test_breast_cancer_is_learnable():
    assert auc("breast_cancer.csv", "diagnosis") > 0.98


def test_student_performance_regression_and_pass_fail():
    assert r2("student_performance.csv", "final_grade", ("student_id", "passed")) > 0.55
    assert auc("student_performance.csv", "passed", ("student_id", "final_grade")) > 0.9


def test_stock_prices_are_daily_and_predictable_one_step_ahead():
    frame = read_table(DATASETS / "stock_prices.csv")
    assert frame["date"].is_monotonic_increasing and frame["date"].dt.day_of_week.max() <= 4
    assert r2("stock_prices.csv", "next_close", ("next_day_up",), time_column="date") > 0.9
    assert auc("stock_prices.csv", "next_day_up", ("next_close",), time_column="date") > 0.58


@pytest.mark.parametrize("name", NAMES)
def test_samples_load_offline_with_their_target(name):
    frame = load_sample(name)
    assert len(frame) > 100 and suggested_target(name) in frame.columns


def test_catalog_sample_names_match_the_library():
    assert tuple(SAMPLE_NAMES) == tuple(NAMES)


def test_readme_exists_next_to_generator():
    assert Path(DATASETS / "generate.py").exists()

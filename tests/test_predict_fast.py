"""The compiled prediction path (``chain.Plan`` over numpy columns) gives exactly the numbers of the DataFrame
path the training splits go through (``frame_matrix(transform_frame(...))``), for every step kind and for the
awkward inputs: gaps, +/-inf, unseen and missing categories, arrow-backed and object text, booleans, dates.
Also: predict.py treats +/-inf as missing like the app, and the predictor's output table equals predict.py's.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from fakes import native_spy
from test_export_models import classifier, multiclass, regressor, split, train

from workbench.errors import UserError
from workbench.export import predict_template as tpl
from workbench.export.predictor import Predictor
from workbench.tabular import fit
from workbench.tabular.chain import frame_matrix, transform, transform_frame
from workbench.tabular.plan import Plan

torch.set_num_threads(1)


def raw_table(n: int, seed: int, text_dtype: object = "str", inf: bool = True) -> pd.DataFrame:
    """Mixed raw columns with gaps, infinities, rare values and values the training split never saw."""
    rng = np.random.default_rng(seed)
    num = rng.normal(10, 3, n)
    num[rng.random(n) < 0.1] = np.nan
    if inf:  # prediction input only: the app's reader turns infinities in training files into gaps
        num[rng.random(n) < 0.03] = np.inf
        num[rng.random(n) < 0.03] = -np.inf
    small = rng.normal(0, 1, n).astype(np.float32)
    small[rng.random(n) < 0.1] = np.nan
    city = rng.choice(["paris", "lyon", "nice", "metz", "brest", "caen"], n).astype(object)
    city[rng.random(n) < 0.08] = None
    size = rng.choice(["s", "m", "l", "xl", "xxl"], n, p=[0.3, 0.3, 0.3, 0.08, 0.02]).astype(object)
    size[rng.random(n) < 0.05] = None
    code = rng.choice([1, 2, 3, "x"], n).astype(object)
    code[rng.random(n) < 0.05] = np.nan
    flag = pd.array(rng.random(n) < 0.5, dtype="boolean")
    flag[rng.random(n) < 0.1] = pd.NA
    return pd.DataFrame(
        {
            "num": num,
            "count": rng.integers(0, 50, n),
            "small": small,
            "city": pd.array(city, dtype=text_dtype),
            "size": pd.array(size, dtype=text_dtype),
            "code": code,
            "member": rng.random(n) < 0.3,
            "flag": flag,
            "day": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
            "level": rng.choice([0.5, 1.0, 2.5], n),
        }
    )


def chains(train: pd.DataFrame) -> dict[str, list[dict]]:
    """Fitted chains in different orders, each step fitted on the output of the previous ones."""

    def build(*makers) -> list[dict]:  # noqa: ANN002
        frame, features, chain = train, list(train.columns), []
        for make in makers:
            step = json.loads(json.dumps(make(frame, features)))
            chain.append(step)
            frame, features = transform_frame([step], frame), list(step["features_out"])
        return chain

    nums = ["num", "count", "small"]
    return {
        "onehot_impute_scale": build(
            lambda f, c: fit.fit_drop(c, ["day", "code", "flag"]),
            lambda f, c: fit.fit_onehot(f, c, ["city", "member", "size"], 3),
            lambda f, c: fit.fit_impute(f, c, nums, "median"),
            lambda f, c: fit.fit_scale(f, c, [*nums, "level"], "standard"),
        ),
        "everything": build(
            lambda f, c: fit.fit_drop(c, ["size"]),
            lambda f, c: fit.fit_datetime(c, ["day"], ["year", "month", "dayofweek", "dayofyear"]),
            lambda f, c: fit.fit_impute(f, c, [*nums, "city", "code"], "mean", indicators=True),
            lambda f, c: fit.fit_ordinal(f, c, ["member", "flag"]),
            lambda f, c: fit.fit_onehot(f, c, ["city", "code", "level"], 2),
            lambda f, c: fit.fit_scale(f, c, ["num", "count", "member", "day.year"], "robust"),
            lambda f, c: fit.fit_drop(c, ["city=__unseen__", "day.month"]),
        ),
        "scale_then_impute": build(
            lambda f, c: fit.fit_drop(c, ["day", "code", "flag"]),
            lambda f, c: fit.fit_scale(f, c, nums, "minmax"),
            lambda f, c: fit.fit_impute(f, c, nums, "constant", "0.5", indicators=True),
            lambda f, c: fit.fit_ordinal(f, c, ["member", "level", "size", "city"]),
        ),
    }


def reference(chain: list[dict], frame: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The DataFrame path the training splits take."""
    stats: dict = {}
    out = transform_frame(chain, frame[list(frame.columns)], stats)
    return frame_matrix(out, chain[-1]["features_out"]), stats


@pytest.mark.parametrize("text_dtype", ["str", object])
@pytest.mark.parametrize("name", ["onehot_impute_scale", "everything", "scale_then_impute"])
def test_plan_equals_the_dataframe_path_bit_for_bit(name: str, text_dtype: object) -> None:
    chain = chains(raw_table(400, 0, inf=False))[name]
    for n, seed in ((1, 5), (7, 6), (1024, 7), (20000, 8)):
        rows = raw_table(n, seed, text_dtype)
        rows["city"] = rows["city"].where(rows.index % 13 != 0, "toulouse")  # unseen in training
        expected, expected_stats = reference(chain, rows)
        stats: dict = {}
        got = transform(chain, rows, stats=stats)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.array_equal(got, expected, equal_nan=True), (name, n)
        assert stats == expected_stats
        if n == 1024:
            assert stats["unseen"]["city"] > 0


def test_plan_handles_column_order_extra_columns_and_a_reused_plan() -> None:
    chain = chains(raw_table(300, 1, inf=False))["everything"]
    plan = Plan(chain)
    rows = raw_table(50, 2)
    expected, _ = reference(chain, rows)
    shuffled = rows[list(rows.columns)[::-1]].assign(extra=1.0)
    for _ in range(2):
        assert np.array_equal(plan.transform(shuffled), expected, equal_nan=True)
    with pytest.raises(UserError, match="lacks column\\(s\\) city"):
        plan.transform(rows.drop(columns=["city"]))


def test_onehot_codes_for_arrow_text_with_literal_bucket_names() -> None:
    step = {
        "op": "onehot",
        "encodings": [{"column": "c", "categories": ["a", "__missing__"], "other_values": ["b"]}],
        "features_in": ["c"],
        "features_out": ["c=a", "c=__missing__", "c=__other__", "c=__unseen__"],
    }
    for dtype in ("str", object, "string[pyarrow]", "string[python]"):
        frame = pd.DataFrame({"c": pd.array(["a", None, "b", "z", "__missing__", "__other__"], dtype=dtype)})
        stats: dict = {}
        got = transform([step], frame, stats=stats)
        assert got.tolist() == [
            [1, 0, 0, 0],
            [0, 1, 0, 0],
            [0, 0, 1, 0],
            [0, 0, 0, 1],
            [0, 1, 0, 0],
            [0, 0, 0, 1],
        ]
        assert stats == {"unseen": {"c": 2}}


def test_template_treats_infinity_as_missing_like_the_app() -> None:
    """predict.py's impute fills +/-inf in float columns (and flags them), exactly like the app's chain."""
    step = {
        "op": "impute",
        "strategy": "median",
        "columns": ["x", "t"],
        "fill": {"x": 2.5, "t": "b"},
        "indicators": ["x"],
        "features_in": ["x", "t"],
        "features_out": ["x", "t", "x__missing"],
    }
    scale = {
        "op": "scale",
        "method": "standard",
        "columns": ["x"],
        "center": [1.0],
        "scale": [2.0],
        "features_in": step["features_out"],
        "features_out": step["features_out"],
    }
    ordinal = {
        "op": "ordinal",
        "encodings": [{"column": "t", "categories": ["a", "b"]}],
        "features_in": step["features_out"],
        "features_out": step["features_out"],
    }
    frame = pd.DataFrame({"x": [np.inf, -np.inf, np.nan, 4.0], "t": ["a", None, "b", "a"]})
    prep = {"steps": [step, scale, ordinal], "feature_names": step["features_out"], "window": None}
    ours = tpl.transform(prep, frame, {})
    app = transform(prep["steps"], frame)
    assert np.array_equal(ours, app)
    assert ours[:, 0].tolist() == [0.75, 0.75, 0.75, 1.5]  # (2.5 - 1) / 2 for inf, -inf and NaN
    assert ours[:, 2].tolist() == [1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("make", [classifier, multiclass, regressor])
def test_predictor_table_equals_predict_py(make, tmp_path) -> None:  # noqa: ANN001
    from workbench.evaluation.align import split_arrays
    from workbench.export.bundle import write_bundle

    model, dataset, frame = make()
    folder = write_bundle(model, tmp_path / "b", check_rows=split_arrays(model, dataset)["x_test"]).path
    rows = frame.drop(columns=["label", "amount"]).head(300).reset_index(drop=True)
    rows.loc[2, "income"] = np.inf
    rows.loc[4, "region"] = "west"
    predictor = Predictor.from_bundle(folder)
    for proba in (False, True):
        got = predictor.predict(rows, proba=proba)
        expected, notes = tpl.predict_frame(folder, rows, proba)
        pd.testing.assert_frame_equal(got.table, expected)
        assert got.notes == notes and got.unseen == {"region": 1}
    one = predictor.predict(rows.head(1), proba=True).table
    pd.testing.assert_frame_equal(one, predictor.predict(rows, proba=True).table.head(1))


def fused_chains(train: pd.DataFrame) -> dict[str, list[dict]]:
    """Chains of the shape the fused path takes (numbers imputed/scaled, raw text one-hot encoded, drops)."""
    built = {}
    nums = ["num", "count", "small"]
    for name, drop_after in (("complete", []), ("dropped_onehot", ["city=__unseen__", "size=m"])):
        frame, features, chain = train, list(train.columns), []
        makers = [
            lambda f, c: fit.fit_drop(c, ["day", "code", "flag", "member", "level"]),
            lambda f, c: fit.fit_onehot(f, c, ["city", "size"], 3),
            lambda f, c: fit.fit_impute(f, c, nums[:2], "median"),
            lambda f, c: fit.fit_scale(f, c, nums, "standard"),
        ]
        if drop_after:
            makers.append(lambda f, c, d=drop_after: fit.fit_drop(c, d))
        for make in makers:
            step = json.loads(json.dumps(make(frame, features)))
            chain.append(step)
            frame, features = transform_frame([step], frame), list(step["features_out"])
        built[name] = chain
    return built


@pytest.fixture(params=["C pass", "numpy pass"])
def fused_pass(request, monkeypatch) -> list | None:  # noqa: ANN001
    """Runs a test through the optional C pass (calls recorded) and through the numpy pass."""
    from workbench.tabular import plan_fused

    real = plan_fused.NATIVE
    if request.param == "numpy pass":
        monkeypatch.setattr(plan_fused, "NATIVE", None)
        return None
    if real is None:
        pytest.skip("the C pass was not built (no C compiler at install time)")
    calls: list = []
    monkeypatch.setattr(plan_fused, "NATIVE", native_spy(real, calls))
    return calls


@pytest.mark.parametrize("text_dtype", ["str", "string[pyarrow]", object])
@pytest.mark.parametrize("name", ["complete", "dropped_onehot"])
def test_fused_path_equals_the_dataframe_path(name: str, text_dtype: object, fused_pass) -> None:  # noqa: ANN001
    chain = fused_chains(raw_table(400, 3, inf=False))[name]
    plan = Plan(chain)
    assert plan.fused is not None
    for n, seed in ((1, 1), (16, 2), (17, 3), (1024, 4), (5000, 5)):
        rows = raw_table(n, seed, text_dtype)
        city = rows["city"].astype(object)
        city[rows.index % 11 == 0] = "toulouse"  # unseen in training
        city[rows.index % 17 == 1] = "xl"  # a value of another encoded column's vocabulary
        city[rows.index % 19 == 2] = "__missing__"  # the bucket's name, as text
        rows["city"] = pd.array(city, dtype=text_dtype)
        if n > 1:  # Arrow columns in several chunks
            rows = pd.concat([rows.iloc[: n // 3], rows.iloc[n // 3 :]], ignore_index=True)
        if text_dtype is object:  # pandas infers str for a column of texts; keep real object arrays
            rows = rows.astype({"city": object, "size": object})
        expected, expected_stats = reference(chain, rows)
        columns = {c: rows[c].array for c in plan.needed}
        columns = {
            c: a.to_numpy() if isinstance(a, pd.arrays.NumpyExtensionArray) else a for c, a in columns.items()
        }
        for chunk in (plan.fused.CHUNK, 7):  # one pass, and big batches in chunks
            plan.fused.CHUNK = chunk
            stats: dict = {}
            fused = plan.fused.run(columns, n, stats)
            assert fused is not None
            got, finite = fused
            assert got.dtype == np.float32 and got.shape == expected.shape
            assert np.array_equal(got, expected, equal_nan=True), (name, n, text_dtype, chunk)
            assert finite == bool(np.isfinite(expected).all())
            assert stats == expected_stats and list(stats.get("unseen", {})) == list(
                expected_stats.get("unseen", {})
            )
        del plan.fused.CHUNK
        if fused_pass is not None:  # the C pass takes Arrow text; object arrays stay with numpy
            assert (n in fused_pass) == (text_dtype is not object), (n, fused_pass)
        assert stats == expected_stats
        assert np.array_equal(plan.transform(rows), expected, equal_nan=True)
        if n >= 1024:
            assert stats["unseen"]["city"] > 0


def test_fused_path_leaves_other_runtime_types_to_the_general_path() -> None:
    chain = fused_chains(raw_table(300, 4, inf=False))["complete"]
    plan = Plan(chain)
    rows = raw_table(50, 5)
    rows["num"] = pd.array(rows["num"].round(), dtype="Float64")  # an extension array: not fused
    columns = {c: rows[c].array for c in plan.needed}
    assert plan.fused.run(columns, len(rows), {}) is None
    expected, stats = reference(chain, rows)
    got_stats: dict = {}
    assert np.array_equal(plan.transform(rows, got_stats), expected, equal_nan=True)
    assert got_stats == stats
    assert Plan(chains(raw_table(300, 4, inf=False))["scale_then_impute"]).fused is None


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("target", ["label", "amount"])
def test_fused_predictor_table_equals_predict_py(target: str, tmp_path, fused_pass) -> None:  # noqa: ANN001
    """Numbers and text only (the credit-risk shape): the predictor takes the fused path and still writes
    predict.py's table, notes and unseen counts; an input that overflows float32 is refused by both."""
    from workbench.export.bundle import write_bundle
    from workbench.tabular.samples import load_sample

    frame = load_sample("credit_risk").drop(columns=["applicant_id"]).head(400)
    frame = frame.rename(columns={"default": target})
    task = "regression" if target == "amount" else "classification"
    model = train(split(frame, target, **({"task": task} if task == "regression" else {})), epochs=2)
    folder = write_bundle(model, tmp_path / "b").path
    predictor = Predictor.from_bundle(folder)
    assert predictor.plan.fused is not None
    rows = frame.drop(columns=[target]).reset_index(drop=True)
    rows.loc[1, "annual_income"] = np.inf  # imputed like a gap
    rows.loc[3, "loan_purpose"] = "wedding"  # unseen
    rows.loc[5, "home_ownership"] = None
    for proba in (False, True):
        for part in (rows, rows.head(1), rows.head(17)):
            got = predictor.predict(part, proba=proba)
            expected, notes = tpl.predict_frame(folder, part, proba)
            pd.testing.assert_frame_equal(got.table, expected)
            assert got.notes == notes
    assert predictor.predict(rows).unseen == {"loan_purpose": 1}
    assert fused_pass is None or len(fused_pass) >= 7
    rows.loc[2, "loan_amount"] = 1e300  # finite in float64, infinite once scaled in float32
    with pytest.raises(UserError, match="loan_amount"):
        predictor.predict(rows)
    with pytest.raises(tpl.PredictError, match="loan_amount"):
        tpl.predict_frame(folder, rows, False)


def test_small_batches_run_on_one_onnxruntime_thread_with_the_same_numbers(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from workbench.export import predictor as predictor_module
    from workbench.export.bundle import write_bundle
    from workbench.tabular.samples import load_sample

    frame = load_sample("credit_risk").drop(columns=["applicant_id"]).head(300)
    folder = write_bundle(train(split(frame, "default"), epochs=1), tmp_path / "b").path
    rows = frame.drop(columns=["default"])
    made: list[int] = []
    real = predictor_module._runner
    monkeypatch.setattr(
        predictor_module, "_runner", lambda path, threads: made.append(threads) or real(path, threads)
    )
    predictor = Predictor.from_bundle(folder, threads=2)
    assert made == [2]
    small = predictor.predict(rows, proba=True).table  # 300 rows × ~4k weights: one thread
    assert made == [2, 1]
    monkeypatch.setattr(Predictor, "SMALL_WORK", 0)  # everything is big now: the 2-thread session
    big = predictor.predict(rows, proba=True).table
    assert made == [2, 1]
    pd.testing.assert_frame_equal(small, big, check_exact=True)
    assert Predictor.from_bundle(folder, threads=1) and made[-1] == 1 and len(made) == 3  # one session only

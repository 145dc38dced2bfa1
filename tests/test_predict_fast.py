"""One implementation of the fitted steps (``predict_template``, shipped as every bundle's predict.py): the
prediction path over column arrays (``chain.transform``, the predictor) gives exactly the numbers of the
DataFrame path the training splits go through (``frame_matrix(transform_frame(...))``), for every step kind and
the awkward inputs: gaps, +/-inf, unseen and missing categories, arrow-backed (in chunks) and object text,
booleans, dates, extension arrays. predict.py is that very module, and the predictor's output table equals
predict.py's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch
from test_export_models import classifier, multiclass, regressor, split, train

from workbench.errors import UserError
from workbench.export import predict_template as tpl
from workbench.export.predictor import Predictor
from workbench.tabular import fit
from workbench.tabular.chain import Transform, frame_matrix, transform, transform_frame

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


def onehot(features: list[str], column: str, index: int) -> str:
    return [name for name in features if name.startswith(f"{column}=")][index]


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
        "reads_onehot": build(  # later steps read (and drop) one-hot columns
            lambda f, c: fit.fit_drop(c, ["day", "code", "flag"]),
            lambda f, c: fit.fit_zero_flags(c, ["count"]),
            lambda f, c: fit.fit_onehot(f, c, ["city", "size"], 3),
            lambda f, c: fit.fit_scale(f, c, ["num", onehot(c, "city", 0), "size=__unseen__"], "standard"),
            lambda f, c: fit.fit_impute(f, c, ["num", "small"], "median"),
            lambda f, c: fit.fit_drop(c, [onehot(c, "city", 1)]),
        ),
    }


def reference(chain: list[dict], frame: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The DataFrame path the training splits take."""
    stats: dict = {}
    out = transform_frame(chain, frame[list(frame.columns)], stats)
    return frame_matrix(out, chain[-1]["features_out"]), stats


@pytest.mark.parametrize("text_dtype", ["str", "string[pyarrow]", object])
@pytest.mark.parametrize("name", ["onehot_impute_scale", "everything", "scale_then_impute", "reads_onehot"])
def test_model_input_equals_the_dataframe_path_bit_for_bit(
    name: str, text_dtype: object, monkeypatch
) -> None:  # noqa: ANN001
    chain = chains(raw_table(400, 0, inf=False))[name]
    for n, seed in ((1, 5), (7, 6), (1024, 7), (20000, 8)):
        rows = raw_table(n, seed, text_dtype)
        city = rows["city"].astype(object).where(rows.index % 13 != 0, "toulouse")  # unseen in training
        city[rows.index % 19 == 2] = "__missing__"  # the bucket's name, as text
        rows["city"] = pd.array(city, dtype=text_dtype)
        if n > 1:  # Arrow columns in several chunks
            rows = pd.concat([rows.iloc[: n // 3], rows.iloc[n // 3 :]], ignore_index=True)
        if text_dtype is object:  # pandas infers str for a column of texts; keep real object arrays
            rows = rows.astype({"city": object, "size": object})
        expected, expected_stats = reference(chain, rows)
        stats: dict = {}
        got = transform(chain, rows, stats=stats)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.array_equal(got, expected, equal_nan=True), (name, n)
        assert stats == expected_stats
        if n == 1024:
            assert stats["unseen"]["city"] > 0


def test_transform_handles_column_order_extra_columns_record_batches_and_reuse() -> None:
    chain = chains(raw_table(300, 1, inf=False))["everything"]
    ready = Transform(chain)
    rows = raw_table(50, 2)
    expected, _ = reference(chain, rows)
    shuffled = rows[list(rows.columns)[::-1]].assign(extra=1.0)
    for _ in range(2):
        assert np.array_equal(ready(shuffled)[0], expected, equal_nan=True)
    batch = pa.RecordBatch.from_pandas(rows, preserve_index=False)  # a streamed batch: as pandas reads it
    assert np.array_equal(transform(chain, batch), expected, equal_nan=True)
    with pytest.raises(UserError, match="lacks column\\(s\\) city"):
        ready(rows.drop(columns=["city"]))


def test_encoded_columns_of_mixed_storage_in_one_step() -> None:
    """Arrow text columns of one step are looked up in one pass; an object column beside them, its own way."""
    chain = chains(raw_table(300, 3, inf=False))["onehot_impute_scale"]
    rows = raw_table(200, 4)
    rows["size"] = rows["size"].astype(object)
    expected, expected_stats = reference(chain, rows)
    stats: dict = {}
    assert np.array_equal(transform(chain, rows, stats=stats), expected, equal_nan=True)
    assert stats == expected_stats


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


def test_predict_py_reads_category_text_as_training_wrote_it() -> None:
    """Dates and float32 values encoded as categories: predict.py had its own text of a value ('2023-01-01' for
    the '2023-01-01 00:00:00' the app's training wrote, '0.1' for an object column's float32 0.1) and sent
    every such row to the unseen bucket. One text function now serves both."""
    train = pd.DataFrame(
        {
            "day": pd.to_datetime(["2023-01-01", "2023-01-02", "2023-01-01", "2023-01-03"]),
            "w": pd.array([0.1, 0.2, 0.1, 0.3], dtype="float32"),
            "o": pd.Series([np.float32(0.1), np.float32(0.2), np.float32(0.1), "x"], dtype=object),
        }
    )
    step = json.loads(json.dumps(fit.fit_onehot(train, list(train.columns), ["day", "w", "o"], 5)))
    prep = {"steps": [step], "feature_names": step["features_out"], "window": None}
    stats: dict = {}
    script = tpl.transform(prep, train, stats)
    assert np.array_equal(script, transform([step], train)) and stats == {}
    assert script.sum() == 3 * len(train)  # each row in one known category per column


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


def test_extension_arrays_give_the_numbers_of_the_dataframe_path() -> None:
    chain = chains(raw_table(300, 4, inf=False))["onehot_impute_scale"]
    rows = raw_table(50, 5)
    rows["num"] = pd.array(rows["num"].round(), dtype="Float64")
    rows["count"] = pd.array(rows["count"], dtype="Int64")
    rows.loc[3, "count"] = pd.NA
    expected, stats = reference(chain, rows)
    got_stats: dict = {}
    assert np.array_equal(transform(chain, rows, got_stats), expected, equal_nan=True)
    assert got_stats == stats


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("target", ["label", "amount"])
def test_credit_risk_predictor_table_equals_predict_py(target: str, tmp_path) -> None:  # noqa: ANN001
    """Numbers, "was zero" flags and text (the credit-risk shape): the predictor writes predict.py's table,
    notes and unseen counts for one row, a few and many; an input that overflows float32 is refused by both.
    The bundle's predict.py is the very module the app computes with."""
    from workbench.export.bundle import write_bundle
    from workbench.tabular.samples import load_sample

    frame = load_sample("credit_risk").drop(columns=["applicant_id"]).head(400)
    frame = frame.rename(columns={"default": target})
    frame.loc[frame.index % 12 == 0, "employment_years"] = 0.0  # zero-inflated, as in the whole sample
    frame.loc[frame.index % 12 == 1, "employment_years"] = 0.1
    task = "regression" if target == "amount" else "classification"
    model = train(split(frame, target, **({"task": task} if task == "regression" else {})), epochs=2)
    assert [step["op"] for step in model.chain][:2] == ["zero_flags", "onehot"]
    folder = write_bundle(model, tmp_path / "b").path
    assert (folder / "predict.py").read_bytes() == Path(tpl.__file__).read_bytes()
    predictor = Predictor.from_bundle(folder)
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
    rows.loc[2, "loan_amount"] = 1e300  # finite in float64, infinite once scaled in float32
    with pytest.raises(UserError, match="loan_amount"):
        predictor.predict(rows)
    with pytest.raises(tpl.PredictError, match="loan_amount"):
        tpl.predict_frame(folder, rows, False)


def test_no_private_pandas_arrow_or_onnxruntime_attributes() -> None:
    """Prediction and preprocessing use public API only: a private attribute breaks with the next release."""
    private = re.compile(r"_get_column_array|_from_arrays|_pa_array|\b_sess\b|_mgr\b|_ixs\b")
    root = Path(tpl.__file__).resolve().parents[1]
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in [*root.joinpath("export").glob("*.py"), *root.joinpath("tabular").glob("*.py")]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert found == []


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

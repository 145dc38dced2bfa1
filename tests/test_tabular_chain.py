"""Fitted steps: fit on train only, JSON round trip, transform(chain, raw) == training features, tensors, windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.errors import UserError
from workbench.tabular import fit
from workbench.tabular.augment import augment
from workbench.tabular.auto import prepare_for_training
from workbench.tabular.chain import decode_labels, encode_labels, transform
from workbench.tabular.io import read_table
from workbench.tabular.split import split_table
from workbench.tabular.tensors import to_tensors

torch.set_num_threads(1)
DATA = Path(__file__).parent / "data"


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.1] = np.nan
    city = rng.choice(["paris", "lyon", "nice", "metz"], n, p=[0.5, 0.3, 0.15, 0.05]).astype(object)
    city[rng.random(n) < 0.05] = None
    return pd.DataFrame(
        {
            "age": age,
            "city": city,
            "member": rng.random(n) < 0.3,
            "joined": pd.date_range("2020-01-01", periods=n, freq="D"),
            "label": np.where(rng.random(n) < 0.4, "yes", "no"),
        }
    )


def split(n: int = 300) -> object:
    return split_table(table(n), "label", seed=0)


def roundtrip(step: dict) -> dict:
    return json.loads(json.dumps(step))


def test_impute_fits_on_train_only():
    ds = split()
    step = fit.fit_impute(ds.train, ds.features, ["age", "city"], "mean", indicators=True)
    assert step["fill"]["age"] == pytest.approx(ds.train["age"].mean())
    assert step["fill"]["age"] != pytest.approx(pd.concat([ds.train, ds.val, ds.test])["age"].mean())
    assert step["fill"]["city"] == "paris"
    assert roundtrip(step) == step
    out = fit.apply_to_dataset(ds, step)
    assert out.features[-2:] == ["age__missing", "city__missing"]
    assert not out.test["age"].isna().any()
    assert out.test["age__missing"].sum() == ds.test["age"].isna().sum()
    assert ds.chain == [] and "age__missing" not in ds.features  # the input dataset is untouched


def test_impute_median_most_frequent_constant():
    train = pd.DataFrame({"a": [1.0, 2.0, 10.0, np.nan], "b": ["x", "y", "y", None]})
    assert fit.fit_impute(train, ["a", "b"], ["a"], "median")["fill"]["a"] == 2.0
    assert fit.fit_impute(train, ["a", "b"], ["a", "b"], "most_frequent")["fill"] == {"a": 1.0, "b": "y"}
    assert fit.fit_impute(train, ["a", "b"], ["a", "b"], "constant", "7")["fill"] == {"a": 7.0, "b": "7"}
    with pytest.raises(UserError, match="not a number"):
        fit.fit_impute(train, ["a"], ["a"], "constant", "seven")


def test_onehot_cap_other_and_unseen_buckets():
    train = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"]})
    step = roundtrip(fit.fit_onehot(train, ["c"], ["c"], max_categories=2))
    assert step["encodings"][0]["categories"] == ["a", "b"]
    assert step["encodings"][0]["other_values"] == ["c", "d"]
    assert step["features_out"] == ["c=a", "c=b", "c=__other__", "c=__unseen__"]
    stats: dict = {}
    matrix = transform([step], pd.DataFrame({"c": ["b", "d", "zzz", "a"]}), stats=stats)
    assert matrix.tolist() == [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]]
    assert stats["unseen"] == {"c": 1}


def test_ordinal_and_bool_encoding():
    train = pd.DataFrame({"size": ["m", "s", "l", None], "flag": [True, False, True, True]})
    step = roundtrip(fit.fit_ordinal(train, ["size", "flag"], ["size", "flag"]))
    assert step["encodings"][0]["categories"] == ["l", "m", "s", "__missing__"]
    assert step["encodings"][1]["categories"] == ["False", "True"]
    matrix = transform([step], pd.DataFrame({"size": ["s", "xl", None], "flag": [False, True, True]}))
    assert matrix.tolist() == [[2, 0], [-1, 1], [3, 1]]


@pytest.mark.parametrize(
    ("method", "center", "scale"),
    [("standard", 2.5, np.std([1, 2, 3, 4])), ("minmax", 1.0, 3.0), ("robust", 2.5, 1.5)],
)
def test_scale_methods(method, center, scale):
    train = pd.DataFrame({"v": [1.0, 2.0, 3.0, 4.0], "k": [5.0, 5.0, 5.0, 5.0]})
    step = roundtrip(fit.fit_scale(train, ["v", "k"], ["v", "k"], method))
    assert step["center"][0] == pytest.approx(center)
    assert step["scale"][0] == pytest.approx(scale)
    assert step["scale"][1] == 1.0  # constant column: no division by zero
    out = transform([step], pd.DataFrame({"v": [center], "k": [5.0]}))
    assert out.dtype == np.float32 and out.tolist() == [[0.0, 0.0]]


def test_auto_chain_reproduces_training_features_from_raw_input():
    ds = split()
    prepared = prepare_for_training(ds, lambda _m: None)
    assert [s["op"] for s in prepared.chain] == ["datetime", "ordinal", "onehot", "impute", "scale"]
    splits = to_tensors(prepared)
    chain = json.loads(json.dumps(prepared.chain))
    raw = ds.test[list(ds.input_schema)]
    assert np.array_equal(transform(chain, raw), splits.x_test.numpy())
    assert splits.feature_names == prepared.features == chain[-1]["features_out"]
    # Column order of the raw table does not matter; extra columns are ignored.
    shuffled = ds.val[list(ds.input_schema)[::-1] + ["label"]]
    assert np.array_equal(transform(chain, shuffled), splits.x_val.numpy())


def test_auto_is_a_noop_when_prepared():
    ds = prepare_for_training(split(), lambda _m: None)
    again = prepare_for_training(ds, lambda _m: None)
    assert again.chain == ds.chain


def test_auto_keeps_user_steps_and_only_fills_gaps():
    ds = split()
    ds = fit.apply_to_dataset(ds, fit.fit_onehot(ds.train, ds.features, ["city"], 2))
    ds = fit.apply_to_dataset(ds, fit.fit_scale(ds.train, ds.features, [], "standard"))
    out = prepare_for_training(ds, lambda _m: None)
    ops = [s["op"] for s in out.chain]
    assert ops[:2] == ["onehot", "scale"]
    assert "impute" in ops and out.chain[ops.index("impute")]["columns"] == ["age"]


def test_transform_names_missing_columns_and_bad_labels():
    raw = split()
    ds = prepare_for_training(raw, lambda _m: None)
    with pytest.raises(UserError, match="lacks column\\(s\\) city"):
        transform(ds.chain, raw.test.drop(columns=["city"]))
    assert encode_labels(["no", "yes", "no"], ["no", "yes"]).tolist() == [0, 1, 0]
    assert decode_labels(np.array([1, 0]), ["no", "yes"]) == ["yes", "no"]
    with pytest.raises(UserError, match="maybe"):
        encode_labels(["maybe"], ["no", "yes"])


def test_tensors_dtypes_and_shapes():
    ds = prepare_for_training(split(), lambda _m: None)
    t = to_tensors(ds)
    assert t.x_train.dtype == torch.float32 and t.y_train.dtype == torch.int64
    assert t.x_train.shape == (len(ds.train), len(ds.features)) == (len(ds.train), t.n_features)
    assert t.n_outputs == 2 and t.classes == ["no", "yes"] and t.task == "classification"
    assert t.y_test.tolist() == encode_labels(ds.test["label"], ["no", "yes"]).tolist()
    reg = prepare_for_training(split_table(table().drop(columns=["joined"]), "age"), lambda _m: None)
    r = to_tensors(reg)
    assert r.y_train.dtype == torch.float32 and r.y_train.shape == (len(reg.train), 1) and r.n_outputs == 1


def test_tensors_refuse_text_and_gaps():
    ds = split()
    with pytest.raises(UserError, match="city.*prep.encode"):
        to_tensors(ds)
    numeric = split_table(table()[["age", "label"]], "label")
    with pytest.raises(UserError, match="age.*prep.impute"):
        to_tensors(numeric)


def test_high_cardinality_file_is_capped():
    frame = read_table(DATA / "many_categories.csv")
    ds = prepare_for_training(split_table(frame, "y"), lambda _m: None)
    assert len(ds.features) == 20 + 2  # top 20, __other__, __unseen__
    assert to_tensors(ds).x_train.shape[1] == 22


def series_dataset(n: int = 120):
    t = np.arange(n)
    frame = pd.DataFrame(
        {"day": pd.date_range("2024-01-01", periods=n), "x": np.sin(t / 5), "y": t * 0.5 + np.sin(t / 3)}
    )
    return split_table(frame, "y", time_column="day", val_fraction=0.15, test_fraction=0.15)


def test_window_tensors_and_raw_transform():
    ds = prepare_for_training(series_dataset(), lambda _m: None)
    step = fit.fit_window(ds, 5, 2, [], include_target=True)
    windowed = ds.replace(chain=[*ds.chain, step], features=step["features_out"], window=step)
    t = to_tensors(windowed)
    assert t.x_train.shape == (len(ds.train) - 5 - 2 + 1, 5, 2)
    assert t.x_val.shape == (len(ds.val), 5, 2)  # validation windows may look back into training rows
    assert t.y_train.shape == (t.x_train.shape[0], 1)
    first_target = ds.train["y"].iloc[6]
    assert t.y_train[0, 0].item() == pytest.approx(first_target)
    raw = series_dataset()  # the unprepared rows, as a user would supply them
    raw_rows = pd.concat([raw.train, raw.val, raw.test], ignore_index=True)
    windows = transform(json.loads(json.dumps(windowed.chain)), raw_rows[["x", "y"]])
    assert windows.shape == (len(raw_rows) - 4, 5, 2)
    # The window ending at row 4 + k predicts row 6 + k: the first training sample is windows[0].
    assert np.allclose(windows[0], t.x_train[0].numpy(), atol=1e-6)
    assert np.allclose(windows[-1], t.x_test[-1].numpy(), atol=1e-6) is False or t.x_test.shape[0] > 0


def test_window_needs_time_order_and_no_leak():
    shuffled = prepare_for_training(split_table(table(), "label"), lambda _m: None)
    with pytest.raises(UserError, match="shuffled"):
        fit.fit_window(shuffled, 5, 1, [], False)
    ds = prepare_for_training(series_dataset(), lambda _m: None)
    with pytest.raises(UserError, match="horizon 0"):
        fit.fit_window(ds, 5, 0, [], True)


def test_augment_touches_train_only():
    ds = prepare_for_training(split(), lambda _m: None)
    over, added = augment(ds, "oversample", amount=1.0)
    counts = over.train["label"].value_counts()
    assert counts["yes"] == counts["no"] and added == counts["no"] - ds.train["label"].value_counts()["yes"]
    assert over.val is ds.val and over.test is ds.test
    noisy, added = augment(ds, "noise", amount=0.5, noise_std=0.1, seed=1)
    assert added == round(len(ds.train) * 0.5) and len(noisy.train) == len(ds.train) + added
    mixed, _ = augment(ds, "mixup", amount=1.0, alpha=0.4)
    assert set(mixed.train["label"]) == {"no", "yes"}
    assert mixed.augmentations[-1]["method"] == "mixup" and ds.augmentations == []
    with pytest.raises(UserError, match="prep.encode"):
        augment(split(), "noise")

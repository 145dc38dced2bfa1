"""Issue 13 on the user's own tables: derived features before the user's fill/scale steps, ID-like text left out
(and said so), tables too small for their split refused with the rows they need, log counts that are true,
mean fill of nullable integers, and the "was zero" flag that the export and predict.py repeat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.cli import main
from workbench.errors import UserError
from workbench.export import predict_template as tpl
from workbench.graph import Pipeline
from workbench.tabular import fit
from workbench.tabular.auto import derive_features, prepare_for_training, zero_inflated
from workbench.tabular.chain import transform, transform_frame
from workbench.tabular.split import rows_needed, split_table


def shop_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A customer table as users have them: a date, a spend that is 0 for many rows (smallest other spend
    tiny next to its spread), a name per row, a numeric column with gaps, and a label that needs all three."""
    rng = np.random.default_rng(seed)
    spend = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.gamma(1.0, 300.0, n) + 0.31, 2))
    joined = pd.date_range("2011-01-01", periods=n, freq="5D")
    visits = rng.poisson(4, n).astype(float)
    visits[rng.random(n) < 0.1] = np.nan
    label = np.where((spend > 0) & (joined.month > 3), "keeps", "leaves")
    return pd.DataFrame(
        {
            "joined": joined,
            "spend": spend,
            "name": [f"Customer {i:04d}, {rng.choice(['Ann', 'Bo', 'Cy'])}" for i in range(n)],
            "visits": visits,
            "label": label,
        }
    )


def save_pipeline(folder: Path, csv: str, nodes: list[tuple[str, str, dict]], links: list[str]) -> Path:
    pipeline = Pipeline()
    pipeline.add("data.file", "file", path=csv)
    for type_id, node_id, params in nodes:
        pipeline.add(type_id, node_id, **params)
    for link in links:
        left, right = link.split(" -> ")
        pipeline.connect(left, right)
    path = folder / "p.pipeline.json"
    pipeline.save(path)
    return path


# -- 1. derived features come before the user's own fill and scale steps


def test_date_parts_and_zero_flags_are_made_before_the_users_impute_and_scale(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    shop_table().to_csv(tmp_path / "shop.csv", index=False)
    path = save_pipeline(
        tmp_path,
        "shop.csv",
        [
            ("data.split", "split", {"target": "label"}),
            ("prep.impute", "impute", {"strategy": "mean", "indicators": True}),
            ("prep.scale", "scale", {}),
            ("train.supervised", "train", {"epochs": 2}),
            ("deploy.export", "export", {"path": "bundle"}),
        ],
        [
            "file.table -> split.table",
            "split.dataset -> impute.dataset",
            "impute.dataset -> scale.dataset",
            "scale.dataset -> train.dataset",
            "train.model -> export.model",
            "scale.dataset -> export.dataset",
        ],
    )
    assert main(["run", str(path), "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    prep = json.loads((tmp_path / "bundle" / "preprocessing.json").read_text())
    ops = [step["op"] for step in prep["steps"]]
    # the record of the left-out name, the flags and the date parts, THEN the user's impute and scale
    assert ops[:5] == ["drop", "zero_flags", "datetime", "impute", "scale"]
    scale = prep["steps"][4]
    assert {"joined.year", "joined.month", "joined.day", "joined.dayofweek", "spend"} <= set(scale["columns"])
    year = scale["columns"].index("joined.year")
    assert 2011 <= scale["center"][year] <= 2017 and scale["scale"][year] > 0.5  # year scaled like any number
    assert "spend__zero" in prep["feature_names"] and "spend__zero" not in scale["columns"]  # a 0/1 flag
    # ID-like text: not an input, said in the log and in the model card, never a fill value
    assert "name" not in prep["input_columns"] and "name" not in prep["steps"][3]["columns"]
    assert "left out 1 ID-like text column(s)" in err and "name (400 different values in 400 rows)" in err
    card = (tmp_path / "bundle" / "README.md").read_text()
    assert (
        "## Columns left out" in card
        and "| `name` | ID-like text: 400 different values in 400 rows |" in card
    )
    assert "Customer 0" not in card
    # true counts: visits is the only column with gaps (the date parts and spend have none)
    gaps = int(shop_table()["visits"].isna().sum())
    assert f"filled {gaps} missing value(s) in 1 column(s) (mean); " in err
    assert "1 'was missing' column(s) added" in err
    # the export ran the bundle's predict.py on raw held-out rows against the app (it refuses on a mismatch)
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["parity"]["rows"] > 0


def test_weather_like_table_scales_the_date_parts_with_the_users_scale_step() -> None:
    """The issue's case: split → prep.scale → train. Before, the parts came after the scale step (year ≈ 2013
    reached the network as is); now the user's scale step fits and applies to them."""
    frame = shop_table(200).drop(columns=["name"])
    dataset = derive_features(split_table(frame, "label"), lambda _m: None)
    columns = fit.pick_columns(dataset, [], {"numeric"}, "prep.scale")
    assert "joined.year" in columns
    scaled = fit.apply_to_dataset(dataset, fit.fit_scale(dataset.train, dataset.features, columns))
    prepared = prepare_for_training(scaled, lambda _m: None)
    assert [s["op"] for s in prepared.chain][:3] == ["zero_flags", "datetime", "scale"]
    assert "datetime" not in [s["op"] for s in prepared.chain[3:]]
    assert abs(float(prepared.train["joined.year"].mean())) < 1e-3  # standardised, not ≈ 2013


# -- 2. ID-like text columns


def test_id_like_text_is_left_out_unless_named_in_features() -> None:
    frame = shop_table(300)
    messages: list[str] = []
    dataset = split_table(frame, "label", log=messages.append)
    assert "name" not in dataset.features and dataset.roles["name"] == "ignored"
    assert dataset.chain[0]["op"] == "drop" and dataset.chain[0]["columns"] == ["name"]
    assert dataset.chain[0]["features_in"] == dataset.features  # prediction never asks for it
    assert any("Name a column in data.split's features to use it anyway" in m for m in messages)
    named = split_table(frame, "label", features=["joined", "spend", "name"])
    assert "name" in named.features and named.chain == []
    # a text column with repeats (a code shared by a few rows) is a category, not an ID: it stays
    codes = frame.assign(code=[f"C{i // 3}" for i in range(len(frame))]).drop(columns=["name"])
    assert "code" in split_table(codes, "label").features


# -- 3. a table too small for its split


def test_a_three_row_table_is_refused_with_the_rows_each_split_needs(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "three.csv").write_text("x,y\n1,2.0\n2,3.5\n3,4.1\n")
    path = save_pipeline(
        tmp_path,
        "three.csv",
        [("data.split", "split", {"target": "y"}), ("train.supervised", "train", {"epochs": 1})],
        ["file.table -> split.table", "split.dataset -> train.dataset"],
    )
    assert main(["run", str(path), "--device", "cpu", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert (
        "data.split: 3 row(s) with a target are too few for this split (15 % validation, 15 % test): a regression "
        "needs at least 7 rows (5 to train, 1 for validation, 1 for test)"
    ) in err
    assert rows_needed("regression", (0.15, 0.15)) == (7, 5, 1, 1)
    assert split_table(pd.DataFrame({"x": range(7), "y": np.arange(7.0) * 2}), "y").task == "regression"


def test_small_classification_splits_name_the_rows_a_class_needs() -> None:
    stratified = pd.DataFrame({"x": range(6), "label": list("aabbcc")})
    with pytest.raises(UserError, match=r"a class needs at least 3 rows for that"):
        split_table(stratified, "label")
    messages: list[str] = []
    rare = pd.DataFrame({"x": range(42), "label": ["a"] * 20 + ["b"] * 20 + ["c"] * 2})
    split_table(rare, "label", log=messages.append)
    assert any("too rare to appear in every held-out split" in m and "'c' (2 rows)" in m for m in messages)


# -- 4. counts in the log are true


def test_auto_fill_line_counts_the_columns_that_had_gaps() -> None:
    frame = pd.DataFrame(
        {
            "a": [1.0, np.nan, 3.0, 4.0] * 10,
            "b": [np.inf, 2.0, 2.0, 1.0] * 10,
            "c": np.arange(40.0),
            "label": ["x", "y"] * 20,
        }
    )
    messages: list[str] = []
    prepare_for_training(split_table(frame, "label"), messages.append)
    line = next(m for m in messages if "medians" in m)
    assert line.startswith("auto: 20 missing value(s) in 2 column(s) filled with training medians")
    assert "fill values kept for all 3 numeric columns" in line


# -- 5. mean fill of a nullable integer column


def test_mean_fill_of_a_nullable_integer_column_in_the_app_plan_and_predict_py() -> None:
    train = pd.DataFrame({"n": pd.array([1, None, 4, 8], dtype="Int64"), "y": [0, 1, 0, 1]})
    step = fit.fit_impute(train, ["n"], ["n"], "mean")
    assert step["fill"]["n"] == pytest.approx(13 / 3)
    raw = pd.DataFrame({"n": pd.array([None, 2, None], dtype="Int64")})
    app = transform_frame([step], raw)["n"].to_numpy(dtype=np.float64)
    assert app.tolist() == [13 / 3, 2.0, 13 / 3]
    plan = transform([step], raw)
    bundle = tpl.apply_step(json.loads(json.dumps(step)), raw, {})["n"].to_numpy(dtype=np.float64)
    assert np.array_equal(plan[:, 0], app.astype(np.float32))
    assert np.array_equal(bundle, app)


# -- 6. the "was zero" flag


def test_zero_inflated_columns_get_a_flag_the_bundle_repeats() -> None:
    frame = shop_table(300).drop(columns=["name"])
    frame["count"] = np.arange(300) % 4  # 25 % zeros but 1 is far from 0 in std units: no flag
    found = zero_inflated(frame, ["spend", "count", "visits"])
    assert list(found) == ["spend"] and found["spend"][0] > 0.2 and found["spend"][1] < 0.01
    dataset = prepare_for_training(split_table(frame, "label"), lambda _m: None)
    assert dataset.chain[0] == {
        "op": "zero_flags",
        "columns": ["spend"],
        "features_in": ["joined", "spend", "visits", "count"],
        "features_out": ["joined", "spend", "visits", "count", "spend__zero"],
    }
    raw = dataset.raw_splits()["test"].copy()
    raw.loc[raw.index[0], "spend"] = np.nan  # missing is not zero
    chain = json.loads(json.dumps(dataset.chain))
    app = transform(chain, raw)
    where = dataset.features.index("spend__zero")
    assert app[0, where] == 0.0
    assert np.array_equal(app[1:, where], (raw["spend"].to_numpy()[1:] == 0).astype(np.float32))
    frame_path = transform_frame(chain, raw)
    assert np.array_equal(frame_path["spend__zero"].to_numpy(), app[:, where])
    prep = {"steps": chain, "feature_names": chain[-1]["features_out"], "window": None}
    checked, _ = tpl.check_input(
        raw[list(dataset.input_schema)],
        {"input_columns": chain[0]["features_in"], "input_schema": dataset.input_schema},
    )
    assert np.array_equal(tpl.transform(prep, checked, {}), app)


def test_predict_py_checks_a_zero_flag_step(tmp_path: Path) -> None:
    prep = {
        "format": 1,
        "input_columns": ["s"],
        "input_schema": {"s": "numeric"},
        "steps": [
            {"op": "zero_flags", "columns": ["s"], "features_in": ["s"], "features_out": ["s", "s__zero"]}
        ],
        "feature_names": ["s", "s__zero"],
        "input_shape": [2],
        "labels": {"task": "regression", "head": "regression", "target": "y", "classes": []},
    }
    assert tpl.check_preprocessing(prep, tmp_path) is prep
    prep["steps"][0]["columns"] = ["t"]
    with pytest.raises(tpl.PredictError, match="reads 't', which no earlier step provides"):
        tpl.check_preprocessing(prep, tmp_path)


def test_predict_py_runs_standalone_on_the_flag_and_date_steps(tmp_path: Path) -> None:
    """The template as a script (how a bundle runs it), importing nothing of the app."""
    script = tmp_path / "predict.py"
    script.write_text(Path(tpl.__file__).read_text())
    code = (
        "import sys, json, pandas as pd; sys.path.insert(0, sys.argv[1]); import predict as p; "
        "steps = json.loads(sys.argv[2]); frame = pd.DataFrame({'d': ['2020-03-04', ''], 's': [0.0, 2.5]}); "
        "out = frame\n"
        "for step in steps: out = p.apply_step(step, out, {})\n"
        "print(json.dumps(out.astype(float).to_dict('list')))"
    )
    steps = [
        {
            "op": "zero_flags",
            "columns": ["s"],
            "features_in": ["d", "s"],
            "features_out": ["d", "s", "s__zero"],
        },
        fit.fit_datetime(["d", "s", "s__zero"], ["d"], ("year", "dayofweek")),
    ]
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code, str(tmp_path), json.dumps(steps)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["s__zero"] == [1.0, 0.0] and out["d.year"][0] == 2020.0 and np.isnan(out["d.year"][1])

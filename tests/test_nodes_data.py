"""The data nodes as the executor sees them: specs, ports, params, run() through a NodeContext, cache keys."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import ports
from workbench.errors import UserError
from workbench.execution.context import NodeContext, RunContext
from workbench.nodes import clean, collect, transform
from workbench.params import resolve
from workbench.registry import NodeRegistry
from workbench.tabular.dataset import Dataset
from workbench.tabular.tensors import to_tensors

DATA = Path(__file__).parent / "data"
ALL = (*collect.NODE_TYPES, *clean.NODE_TYPES, *transform.NODE_TYPES)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def run(node_type, inputs=None, base_dir=None, **params):
    ctx = NodeContext(RunContext(base_dir=base_dir), "n1")
    values = resolve(node_type.spec.params, params)
    out = node_type().run(ctx, inputs or {}, values)
    return out, ctx.run.log_lines


def test_catalog_registers_with_expected_ids_and_ports():
    registry = NodeRegistry(ALL)
    ids = {t.spec.type_id for t in registry}
    assert ids == {
        "data.file", "data.sample", "clean.columns", "clean.missing", "clean.dedupe", "clean.filter", "clean.types",
        "data.split", "prep.impute", "prep.encode", "prep.scale", "prep.augment", "prep.window",
    }  # fmt: skip
    for node_type in ALL:
        spec = node_type.spec
        spec.to_json()
        if spec.type_id.startswith(("data.file", "data.sample", "clean.")):
            assert [(p.name, p.type) for p in spec.outputs] == [("table", ports.TABLE)]
        if spec.type_id.startswith("prep."):
            assert [(p.name, p.type) for p in spec.inputs] == [("dataset", ports.DATASET)]
            assert [(p.name, p.type) for p in spec.outputs] == [("dataset", ports.DATASET)]
    split = transform.DataSplit.spec
    assert (split.inputs[0].name, split.outputs[0].name) == ("table", "dataset")


def test_node_modules_import_without_pandas_numpy_or_torch():
    code = (
        "import sys; import workbench.nodes.collect, workbench.nodes.clean, workbench.nodes.transform;"
        "print([m for m in ('pandas', 'numpy', 'torch', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_data_file_reads_relative_to_the_pipeline_folder_and_logs():
    out, log = run(collect.DataFile, base_dir=DATA, path="semicolon_decimal_comma.csv")
    assert out["table"]["temp"].tolist() == [12.5, 15.25, 18.0]
    assert any("3 rows x 3 columns" in line for line in log)
    out, _ = run(collect.DataFile, base_dir=DATA, path="multi_sheet.xlsx", sheet="second")
    assert out["table"]["x"].tolist() == [10.5, 20.5, 30.5]
    out, _ = run(collect.DataFile, base_dir=DATA, path="na_markers.csv", na_values="4")
    assert out["table"]["a"].isna().tolist() == [False, True, True, True]
    with pytest.raises(UserError, match="empty"):
        run(collect.DataFile, base_dir=DATA, path="empty.csv")


def test_data_file_resolves_scenario_datasets_from_resources():
    out, _ = run(collect.DataFile, path="datasets/credit_risk.csv")
    assert len(out["table"]) == 3000


def test_data_file_fingerprint_changes_with_the_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a\n1\n")
    node = collect.DataFile()
    resolver = RunContext(base_dir=tmp_path).resolve_path
    first = node.fingerprint_extra({"path": "t.csv"}, resolver)
    assert str(path.stat().st_size) in first
    time.sleep(0.01)
    path.write_text("a\n1\n2\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert node.fingerprint_extra({"path": "t.csv"}, resolver) != first
    assert node.fingerprint_extra({"path": "missing.csv"}, resolver) == ""


def test_data_sample():
    out, log = run(collect.DataSample, name="iris")
    assert out["table"].shape == (150, 5) and set(out["table"]["species"]) == {
        "setosa",
        "versicolor",
        "virginica",
    }
    assert any("species" in line for line in log)


def test_cleaning_nodes():
    table = pd.DataFrame({"id": [1, 2, 2, 3], "v": ["1", "2", "2", None], "w": [1.0, None, None, 4.0]})
    out, _ = run(clean.CleanColumns, {"table": table}, drop=["id"])
    assert list(out["table"].columns) == ["v", "w"]
    out, log = run(clean.CleanMissing, {"table": table}, columns=["w"])
    assert out["table"]["id"].tolist() == [1, 3] and "dropped 2 rows" in log[-1]
    out, _ = run(clean.CleanDedupe, {"table": table})
    assert out["table"]["id"].tolist() == [1, 2, 3]
    out, _ = run(clean.CleanFilter, {"table": table}, column="id", operator=">=", value="2")
    assert out["table"]["id"].tolist() == [2, 2, 3]
    out, log = run(clean.CleanTypes, {"table": table}, columns=["v"], to="numeric")
    assert out["table"]["v"].tolist()[:3] == [1.0, 2.0, 2.0]
    assert table["v"].tolist()[0] == "1"  # the input table is not mutated


def credit_table() -> pd.DataFrame:
    out, _ = run(collect.DataFile, path="datasets/credit_risk.csv")
    return out["table"].drop(columns=["applicant_id"])


def test_split_and_prep_chain_end_to_end():
    out, log = run(transform.DataSplit, {"table": credit_table()}, target="default", seed=1)
    ds = out["dataset"]
    assert isinstance(ds, Dataset) and ds.task == "classification"
    # employment_years is 0 for the unemployed: data.split adds its "was zero" flag before any prep step
    assert [s["op"] for s in ds.chain] == ["zero_flags"] and "employment_years__zero" in ds.features
    assert any("2100 train / 450 validation / 450 test" in line for line in log)
    imputed = run(transform.PrepImpute, {"dataset": ds}, strategy="median", indicators=True)[0]["dataset"]
    assert "annual_income__missing" in imputed.features and len(ds.chain) == 1
    encoded = run(transform.PrepEncode, {"dataset": imputed}, max_categories=3)[0]["dataset"]
    assert "loan_purpose=__other__" in encoded.features
    scaled = run(transform.PrepScale, {"dataset": encoded}, method="robust")[0]["dataset"]
    assert "annual_income__missing" not in scaled.chain[-1]["columns"]  # 0/1 flags are left alone
    augmented, log = run(transform.PrepAugment, {"dataset": scaled}, method="oversample")
    balanced = augmented["dataset"]
    assert balanced.train["default"].value_counts().nunique() == 1
    assert len(balanced.test) == len(ds.test)
    tensors = to_tensors(balanced)
    assert tensors.x_train.shape == (len(balanced.train), len(balanced.features))
    assert [s["op"] for s in balanced.chain] == ["zero_flags", "impute", "onehot", "scale"]


def test_prep_scale_refuses_text_columns():
    ds = run(transform.DataSplit, {"table": credit_table()}, target="default")[0]["dataset"]
    with pytest.raises(UserError, match="employment_type.*prep.encode"):
        run(transform.PrepScale, {"dataset": ds}, columns=["employment_type"])


def test_prep_window_on_the_price_series():
    prices = run(collect.DataFile, path="datasets/stock_prices.csv")[0]["table"]
    table = prices.drop(columns=["next_close", "next_day_up"])
    ds = run(transform.DataSplit, {"table": table}, target="close", time_column="date")[0]["dataset"]
    windowed, log = run(transform.PrepWindow, {"dataset": ds}, lookback=20, horizon=1)
    w = windowed["dataset"]
    assert w.window["lookback"] == 20 and w.features[-1] == "close__past" and "close" in w.input_schema
    tensors = to_tensors(w)
    assert tensors.x_train.shape[1:] == (20, len(w.features)) and tensors.y_val.shape == (len(ds.val), 1)
    assert tensors.y_train[0, 0].item() == pytest.approx(ds.train["close"].iloc[20])
    assert np.isfinite(tensors.x_test.numpy()).all()


def test_clean_types_date_parts_node():
    table = pd.DataFrame({"d": ["2024-01-02", "2024-03-04"], "v": [1, 2]})
    out, _ = run(
        clean.CleanTypes,
        {"table": table},
        columns=["d"],
        to="datetime",
        date_parts="year, month",
        drop_original=True,
    )
    assert list(out["table"].columns) == ["v", "d.year", "d.month"]
    assert out["table"]["d.month"].tolist() == [1.0, 3.0]

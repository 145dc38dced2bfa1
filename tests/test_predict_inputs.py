"""Bad prediction inputs, the deploy nodes, and the ``workbench predict`` / ``workbench export`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_export_models import classifier, run_node

from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.execution.context import NodeContext, RunContext
from workbench.export.bundle import Bundle, write_bundle
from workbench.export.predictor import Predictor
from workbench.nodes.deploy import DeployExport, DeployPredict


@pytest.fixture(scope="module")
def trained() -> tuple:
    return classifier()


@pytest.fixture(scope="module")
def bundle(trained: tuple, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    model, dataset, _ = trained
    rows = split_arrays(model, dataset)["x_test"]
    return write_bundle(model, tmp_path_factory.mktemp("p") / "bundle", check_rows=rows)


@pytest.fixture(scope="module")
def predictor(bundle: Bundle) -> Predictor:
    return Predictor.from_bundle(bundle.path)


def _rows(trained: tuple, n: int = 12) -> pd.DataFrame:
    return trained[2].drop(columns=["label", "amount"]).head(n).reset_index(drop=True)


def test_missing_columns_are_named(predictor: Predictor, trained: tuple) -> None:
    rows = _rows(trained).drop(columns=["income", "region"])
    with pytest.raises(
        UserError, match=r"input lacks column\(s\) 'income', 'region'; the model needs income, age"
    ):
        predictor.predict(rows)


def test_extra_columns_are_ignored_with_a_note(predictor: Predictor, trained: tuple) -> None:
    rows = _rows(trained)
    plain = predictor.predict(rows, proba=True)
    extra = predictor.predict(rows.assign(comment="hi", label="yes", zz=1.0), proba=True)
    assert extra.table.equals(plain.table)
    assert extra.notes == [
        "ignored 2 column(s) the model does not use: comment, zz"
    ]  # the target is not "extra"
    assert plain.notes == []


def test_unseen_categories_are_counted(predictor: Predictor, trained: tuple) -> None:
    rows = _rows(trained)
    rows.loc[[2, 5], "region"] = ["west", "middle"]
    result = predictor.predict(rows)
    assert result.unseen == {"region": 2}
    assert any("region: 2" in note for note in result.notes)
    assert result.metrics == {"rows_predicted": 12, "unseen_values": 2}


def test_wrong_types_are_reported_by_column_and_row(predictor: Predictor, trained: tuple) -> None:
    rows = _rows(trained).astype({"income": object, "age": object, "member": object})
    rows.loc[2, "income"] = "abc"
    rows.loc[6, "income"] = "12,5x"
    rows.loc[4, "age"] = "old"
    rows.loc[1, "member"] = "maybe"
    with pytest.raises(UserError) as info:
        predictor.predict(rows)
    message = str(info.value)
    assert "column 'income' expects numbers but row(s) 3, 7 hold 'abc', '12,5x'" in message
    assert "column 'age' expects numbers but row(s) 5 hold 'old'" in message
    assert "column 'member' expects true/false but row(s) 2 hold 'maybe'" in message


def test_text_that_holds_numbers_and_flags_is_converted(predictor: Predictor, trained: tuple) -> None:
    rows = _rows(trained)
    as_text = rows.astype({"income": str, "member": str})
    as_text["member"] = as_text["member"].map({"True": "yes", "False": "no"})
    a = predictor.predict(rows, proba=True).table
    b = predictor.predict(as_text, proba=True).table
    assert np.abs(a["proba_yes"].to_numpy() - b["proba_yes"].to_numpy()).max() < 1e-6


def test_deploy_export_node_writes_relative_to_the_pipeline(trained: tuple, tmp_path: Path) -> None:
    model, dataset, _ = trained
    ctx = NodeContext(RunContext(base_dir=tmp_path), "export")
    from workbench import params as P

    params = P.resolve(DeployExport.spec.params, {"path": "out/model", "zip": True})
    out = DeployExport().run(ctx, {"model": model, "dataset": dataset}, params)
    bundle = out["bundle"]
    assert bundle.path == (tmp_path / "out" / "model").resolve()
    assert ctx.artifacts["bundle"] == bundle.path and ctx.artifacts["bundle_zip"].is_file()
    assert 0 <= bundle.metrics["parity_max_abs_diff"] <= 1e-4
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert 0.5 < manifest["metrics"]["accuracy"] <= 1.0  # test-split figures at export
    assert manifest["parity"]["rows"] == len(dataset.test)
    assert len(manifest["fingerprints"]["data"]) == 24


def test_deploy_predict_node_takes_a_bundle_or_a_model(
    trained: tuple, bundle: Bundle, tmp_path: Path
) -> None:
    model = trained[0]
    rows = _rows(trained, 30)
    from workbench import params as P

    ctx = NodeContext(RunContext(base_dir=tmp_path), "predict")
    params = P.resolve(DeployPredict.spec.params, {"output": "preds.parquet"})
    from_bundle = DeployPredict().run(ctx, {"model": bundle, "table": rows}, params)["predictions"]
    assert ctx.artifacts["predictions"] == tmp_path / "preds.parquet"
    assert pd.read_parquet(tmp_path / "preds.parquet").equals(from_bundle)
    from_model = run_node(DeployPredict, {"model": model, "table": rows})["predictions"]
    assert (from_model["prediction"] == from_bundle["prediction"]).all()
    assert np.abs(from_model["proba_yes"] - from_bundle["proba_yes"]).max() < 1e-5


def _cli(*argv: str) -> int:
    from workbench.cli import main

    return main(list(argv))


def test_cli_predict(bundle: Bundle, trained: tuple, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tmp_path / "in.csv"
    _rows(trained, 25).to_csv(source, index=False)
    assert _cli("predict", str(bundle.path), str(source), "-o", str(tmp_path / "out.csv")) == 0
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["prediction"] and len(out) == 25
    assert set(out["prediction"]) <= {"yes", "no"}
    _rows(trained, 5).drop(columns=["age"]).to_csv(source, index=False)
    assert _cli("predict", str(bundle.path), str(source), "-o", str(tmp_path / "bad.csv")) == 1
    assert "input lacks column(s) 'age'" in capsys.readouterr().err
    assert not (tmp_path / "bad.csv").exists()


def test_cli_export_runs_the_pipeline_up_to_the_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench import graph
    from workbench.registry import NodeRegistry

    registry = NodeRegistry()
    for name in ("collect", "transform", "model", "train", "evaluate", "deploy"):
        registry.load_module(f"workbench.nodes.{name}")
    monkeypatch.setattr(graph, "_default_registry", registry)
    pipeline = graph.Pipeline(registry)
    pipeline.add("data.sample", "data", name="iris")
    pipeline.add("data.split", "split", target="species")
    pipeline.add("train.supervised", "train", epochs=3, device="cpu", threads=1)
    pipeline.connect("data.table", "split.table")
    pipeline.connect("split.dataset", "train.dataset")
    pipeline.save(tmp_path / "iris.json")
    target = tmp_path / "exported"
    assert _cli("export", str(tmp_path / "iris.json"), "--node", "train", "-o", str(target), "--zip") == 0
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["classes"] == ["setosa", "versicolor", "virginica"]
    assert manifest["fingerprints"]["pipeline"] and manifest["fingerprints"]["data"]
    assert "accuracy" in manifest["metrics"] and (tmp_path / "exported.zip").is_file()
    assert _cli("export", str(tmp_path / "iris.json"), "--node", "split", "-o", str(target)) == 1


def test_the_export_node_records_what_the_bundle_was_made_from(tmp_path: Path) -> None:
    """The export node's bundle names the node's own cache key as its pipeline fingerprint (it was always null:
    the node looked for a fingerprint the context did not have)."""
    from workbench import graph
    from workbench.execution.executor import Executor
    from workbench.registry import builtin_registry

    pipeline = graph.Pipeline(builtin_registry())
    pipeline.add("data.sample", "data", name="iris")
    pipeline.add("data.split", "split", target="species")
    pipeline.add("train.supervised", "train", epochs=2, device="cpu", threads=1)
    pipeline.add("deploy.export", "export", path=str(tmp_path / "bundle"))
    pipeline.connect("data.table", "split.table")
    pipeline.connect("split.dataset", "train.dataset")
    pipeline.connect("train.model", "export.model")
    executor = Executor()
    assert executor.run(pipeline).status == "ok"
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["fingerprints"]["pipeline"] == executor.fingerprints(pipeline)["export"]

"""The model bundle: files, parity for classification/regression/sequence models, round trip, tampering."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_export_models import classifier, multiclass, regressor, sequence_model

from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.export.bundle import FILES, write_bundle
from workbench.export.parity import ort_session
from workbench.export.predictor import Predictor
from workbench.export.reader import load_trained_model, open_bundle


@pytest.fixture(scope="module")
def clf() -> tuple:
    return classifier()


@pytest.fixture(scope="module")
def seq() -> tuple:
    return sequence_model("gru")


@pytest.fixture(scope="module")
def clf_bundle(clf: tuple, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    model, dataset, frame = clf
    rows = split_arrays(model, dataset)["x_test"]
    folder = tmp_path_factory.mktemp("b") / "credit_bundle"
    return (
        write_bundle(model, folder, check_rows=rows, make_zip=True, metrics={"accuracy": 0.9}),
        model,
        frame,
    )


def _torch_out(model, x: np.ndarray) -> np.ndarray:
    return model.predict_tensor(torch.from_numpy(x)).numpy()


def _check_parity(model, dataset, folder: Path) -> dict:
    x = split_arrays(model, dataset)["x_test"]
    bundle = write_bundle(model, folder, check_rows=x)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["parity_max_abs_diff"] == bundle.metrics["parity_max_abs_diff"]
    assert 0.0 <= manifest["parity_max_abs_diff"] <= 1e-4
    assert manifest["parity"]["rows"] == min(len(x), 512)
    # Independently of the check inside the export: ONNX at several batch sizes (dynamic batch) vs torch.
    session = ort_session(folder / "model.onnx")
    for n in (1, 3, len(x)):
        onnx_out = session.run(None, {"features": x[:n]})[0]
        assert np.abs(onnx_out - _torch_out(model, x[:n])).max() <= 1e-4
    return manifest


def test_parity_classification(clf: tuple, tmp_path: Path) -> None:
    model, dataset, _ = clf
    manifest = _check_parity(model, dataset, tmp_path / "b")
    assert manifest["head"] == "binary" and manifest["classes"] == ["no", "yes"]


def test_parity_multiclass(tmp_path: Path) -> None:
    model, dataset, _ = multiclass()
    manifest = _check_parity(model, dataset, tmp_path / "b")
    assert manifest["head"] == "multiclass" and manifest["n_outputs"] == 3


def test_parity_regression(tmp_path: Path) -> None:
    model, dataset, _ = regressor()
    manifest = _check_parity(model, dataset, tmp_path / "b")
    assert manifest["task"] == "regression" and manifest["head"] == "regression"


def test_parity_sequence_model(seq: tuple, tmp_path: Path) -> None:
    model, dataset, _ = seq
    manifest = _check_parity(model, dataset, tmp_path / "b")
    assert manifest["input_shape"] == [8, 2]  # lookback x (driver, past value)
    assert manifest["window"]["lookback"] == 8


def test_bundle_files_and_manifest(clf_bundle: tuple) -> None:
    bundle, model, _ = clf_bundle
    folder = bundle.path
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, "manifest.json"])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == set(FILES)
    for key in ("task", "target", "classes", "input_schema", "metrics", "seed", "fingerprints", "versions",
                "device", "created", "onnx"):  # fmt: skip
        assert key in manifest
    assert manifest["input_columns"] == ["income", "age", "region", "member", "noise"]
    assert manifest["input_schema"]["region"] == "category"
    assert manifest["metrics"] == {"accuracy": 0.9}
    assert torch.__version__.startswith(manifest["versions"]["torch"].split("+")[0])
    assert {"onnx", "onnxruntime", "model-workbench"} <= set(manifest["versions"])
    assert manifest["onnx"]["opset"] >= 18
    prep = json.loads((folder / "preprocessing.json").read_text())
    assert [s["op"] for s in prep["steps"]] == [s["op"] for s in model.chain]
    assert prep["labels"] == {
        "task": "classification",
        "target": "label",
        "head": "binary",
        "classes": ["no", "yes"],
    }
    readme = (folder / "README.md").read_text()
    assert "`region`" in readme and "python predict.py" in readme
    # ONNX: one file (weights inside) with a symbolic batch dimension.
    import onnx

    graph = onnx.load(str(folder / "model.onnx")).graph
    assert not list(folder.glob("*.data"))
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param


def test_round_trip_rebuilds_the_same_model(clf_bundle: tuple) -> None:
    bundle, model, _ = clf_bundle
    loaded = load_trained_model(bundle.path)
    x = np.random.default_rng(1).standard_normal((50, len(model.feature_names))).astype(np.float32)
    assert np.array_equal(_torch_out(loaded, x), _torch_out(model, x))
    assert loaded.chain == model.chain and loaded.classes == model.classes and loaded.head == "binary"
    # The engine's transfer learning reads the same two files.
    from workbench.engine.transfer import load_pretrained

    module, arch = load_pretrained(bundle.path)
    assert arch["input_shape"] == model.architecture["input_shape"]
    with torch.no_grad():
        assert torch.equal(module(torch.from_numpy(x)), model.module(torch.from_numpy(x)))


def test_zip_holds_the_bundle_and_predicts(clf_bundle: tuple) -> None:
    bundle, _, frame = clf_bundle
    assert bundle.zip_path and bundle.zip_path.name == "credit_bundle.zip"
    with zipfile.ZipFile(bundle.zip_path) as archive:
        assert "credit_bundle/model.onnx" in archive.namelist()
    rows = frame.drop(columns=["label", "amount"]).head(20)
    from_zip = Predictor.from_bundle(bundle.zip_path).predict(rows, proba=True).table
    from_dir = Predictor.from_bundle(bundle.path).predict(rows, proba=True).table
    assert from_zip.equals(from_dir)


def test_loading_never_touches_pt2_or_pickle(clf_bundle: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, _, frame = clf_bundle

    def refuse(*args, **kwargs):
        raise AssertionError("unsafe loader called")

    monkeypatch.setattr(torch.export, "load", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    import pickle

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    load_trained_model(bundle.path)
    Predictor.from_bundle(bundle.path).predict(frame.head(5))


def _copy(bundle_path: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(bundle_path, target)
    return target


def test_tampered_onnx_is_refused(clf_bundle: tuple, tmp_path: Path) -> None:
    folder = _copy(clf_bundle[0].path, tmp_path)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[-10] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"model\.onnx was changed after export"):
        open_bundle(folder)


def test_tampered_preprocessing_is_refused(clf_bundle: tuple, tmp_path: Path) -> None:
    folder = _copy(clf_bundle[0].path, tmp_path)
    prep = json.loads((folder / "preprocessing.json").read_text())
    prep["steps"][0]["fill"] = {k: 0 for k in prep["steps"][0].get("fill", {})}
    (folder / "preprocessing.json").write_text(json.dumps(prep))
    with pytest.raises(UserError, match=r"preprocessing\.json was changed"):
        Predictor.from_bundle(folder)


def test_missing_and_broken_files(clf_bundle: tuple, tmp_path: Path) -> None:
    folder = _copy(clf_bundle[0].path, tmp_path)
    (folder / "weights.safetensors").unlink()
    with pytest.raises(UserError, match=r"weights\.safetensors missing"):
        open_bundle(folder)
    (folder / "manifest.json").write_text("{not json")
    (folder / "weights.safetensors").write_text("x")
    with pytest.raises(UserError, match=r"manifest\.json is not valid JSON"):
        open_bundle(folder)
    with pytest.raises(UserError, match="no such folder"):
        open_bundle(tmp_path / "nowhere")


def test_export_refused_when_parity_fails(clf: tuple, tmp_path: Path) -> None:
    model, _, _ = clf
    folder = tmp_path / "refused"
    with pytest.raises(UserError, match="export refused"):
        write_bundle(model, folder, tolerance=-1.0)  # any difference, even 0, is "too large"
    assert not folder.exists() and not list(tmp_path.iterdir())


def test_export_refuses_a_folder_with_other_files(clf: tuple, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="is not a model bundle"):
        write_bundle(clf[0], tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "kind, config",
    [
        (
            "mlp",
            {
                "layers": [
                    {"units": 16, "batch_norm": True, "dropout": 0.2},
                    {"units": 8, "activation": "gelu"},
                ]
            },
        ),
        ("sequence", {"cell": "cnn1d", "hidden": 8, "num_layers": 2}),
        ("sequence", {"cell": "gru", "hidden": 8, "num_layers": 2, "bidirectional": True}),
    ],
)
def test_parity_other_architectures(kind: str, config: dict, tmp_path: Path) -> None:
    from test_export_models import mixed_frame, run_node, series_frame, split, train

    from workbench.engine.models import ModelSpec
    from workbench.nodes.transform import PrepWindow

    if kind == "mlp":
        dataset = split(mixed_frame(300), "label")
    else:
        plain = split(series_frame(200), "value", task="regression", shuffle=False, features=["driver"])
        dataset = run_node(PrepWindow, {"dataset": plain}, {"lookback": 5})["dataset"]
    model = train(dataset, epochs=2, spec=ModelSpec(kind, config))
    manifest = _check_parity(model, dataset, tmp_path / "b")
    assert manifest["device"]["trained_on"]

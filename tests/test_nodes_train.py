"""The model.* and train.supervised nodes over real tabular Datasets: defaults, events, stop, outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from workbench import params as P
from workbench.engine.device import resolve_device, resolve_precision
from workbench.events import CollectingReporter, LogRecord, MetricsLogged, Progress
from workbench.execution.context import NodeContext, RunContext
from workbench.nodes.model import NODE_TYPES as MODEL_NODES
from workbench.nodes.model import LinearModel, MLPModel, PretrainedModel, SequenceModel
from workbench.nodes.train import NODE_TYPES as TRAIN_NODES
from workbench.nodes.train import SupervisedTrain
from workbench.registry import NodeRegistry
from workbench.tabular.split import split_table


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def iris_like(n: int = 450, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = rng.normal(0, 2.5, (3, 4))
    frame = pd.DataFrame(centers[y] + rng.normal(0, 1, (n, 4)), columns=["sl", "sw", "pl", "pw"])
    frame["species"] = np.array(["setosa", "versicolor", "virginica"])[y]
    return frame


def run_node(node_type, inputs=None, values=None, run=None):
    run = run or RunContext(reporter=CollectingReporter())
    ctx = NodeContext(run, "n1")
    params = P.resolve(node_type.spec.params, values or {})
    return node_type().run(ctx, inputs or {}, params), run.reporter


def test_catalog_registers_and_imports_without_torch():
    registry = NodeRegistry([*MODEL_NODES, *TRAIN_NODES])
    assert {t.spec.type_id for t in registry} == {
        "model.mlp",
        "model.linear",
        "model.sequence",
        "model.pretrained",
        "train.supervised",
    }
    for node_type in registry:
        json.dumps(node_type.spec.to_json())
    code = "import sys, workbench.nodes.model, workbench.nodes.train; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_default_mlp_and_training_match_the_brief():
    out, _ = run_node(MLPModel)
    spec = out["model"]
    assert spec.kind == "mlp"
    assert spec.config["layers"] == [
        {"units": 128, "activation": "relu", "dropout": 0.0, "batch_norm": False}
    ]
    defaults = P.default_values(SupervisedTrain.spec.params)
    assert (
        defaults["optimizer"],
        defaults["loss"],
        defaults["batch_size"],
        defaults["epochs"],
        defaults["lr"],
    ) == (
        "adam",
        "auto",
        0,  # auto: from the number of training rows (tests/test_train_defaults.py)
        0,  # auto: until the validation loss stops improving
        1e-3,
    )
    dataset = split_table(iris_like(), "species")
    # Two clicks: a dataset into train.supervised, default model (no model wired) — same as model.mlp defaults.
    trained_default, _ = run_node(SupervisedTrain, {"dataset": dataset})
    trained_mlp, reporter = run_node(SupervisedTrain, {"dataset": dataset, "model": spec})
    model = trained_mlp["model"]
    assert model.architecture == trained_default["model"].architecture
    assert (
        model.architecture["head"] == "multiclass" and model.architecture["layers"] == spec.config["layers"]
    )
    module = model.module
    assert (
        str(module.body[0])
        == "Sequential(\n  (0): Linear(in_features=4, out_features=128, bias=True)\n  (1): ReLU()\n)"
    )
    assert (module.head.in_features, module.head.out_features) == (128, 3)  # softmax over 3 class logits
    records = trained_mlp["history"]["records"]
    assert [r["epoch"] for r in records] == list(range(1, len(records) + 1)) and all(
        "val_loss" in r for r in records
    )
    log = [e.message for e in reporter.of_type(LogRecord)]
    precision = resolve_precision("auto", resolve_device("auto"))  # fp32 on CPU, bf16/fp16 on a GPU
    assert any(
        "fit started" in m and "batch 32 · auto (at most 200) epochs" in m and precision in m for m in log
    )


def test_train_node_outputs_a_usable_model_with_chain_and_labels():
    dataset = split_table(iris_like(), "species", seed=1)
    out, reporter = run_node(SupervisedTrain, {"dataset": dataset}, {"epochs": 15})
    model = out["model"]
    assert model.classes == ["setosa", "versicolor", "virginica"] and model.task == "classification"
    assert model.feature_names == ["sl", "sw", "pl", "pw"] and model.target == "species"
    assert [step["op"] for step in model.chain] == ["impute", "scale"]  # the automatic chain travels along
    assert next(model.module.parameters()).device.type == "cpu" and not model.module.training
    from workbench.tabular.auto import prepare_for_training
    from workbench.tabular.tensors import to_tensors

    splits = to_tensors(prepare_for_training(dataset, lambda _m: None), "cpu")
    accuracy = (model.predict_labels(splits.x_test) == splits.y_test).float().mean().item()
    assert accuracy >= 0.9
    for key in (
        "samples_per_second",
        "final_train_loss",
        "final_val_loss",
        "best_val_loss",
        "epochs_run",
        "device",
        "precision",
        "stopped",
    ):
        assert key in model.metrics
    assert model.metrics["epochs_run"] == 15 and model.metrics["stopped"] is False
    metrics = reporter.of_type(MetricsLogged)
    assert [m.step for m in metrics] == list(range(1, 16))
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(metrics[0].values)
    progress = reporter.of_type(Progress)
    assert progress and progress[-1].fraction == 1.0 and progress[-1].rate_unit == "samples/s"
    assert {"epoch", "batch", "epochs", "batches", "eta_total_s"} <= set(progress[-1].extra)


def test_regression_node_reaches_r2():
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (1500, 2))
    frame = pd.DataFrame(x, columns=["a", "b"])
    frame["y"] = np.sin(x[:, 0]) * 3 + x[:, 1] ** 2
    dataset = split_table(frame, "y", task="regression")
    spec = {"layers": [{"units": 64, "activation": "tanh"}, {"units": 64, "activation": "tanh"}]}
    model_spec = run_node(MLPModel, values=spec)[0]["model"]
    out, _ = run_node(
        SupervisedTrain,
        {"dataset": dataset, "model": model_spec},
        {"epochs": 60, "batch_size": 32, "lr": 3e-3},
    )
    model = out["model"]
    assert model.architecture["head"] == "regression"
    from workbench.tabular.auto import prepare_for_training
    from workbench.tabular.tensors import to_tensors

    splits = to_tensors(prepare_for_training(dataset, lambda _m: None), "cpu")
    pred = model.predict_tensor(splits.x_test)
    target = splits.y_test
    r2 = 1 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
    assert r2.item() >= 0.95


def test_stop_from_the_run_returns_outputs_marked_stopped():
    dataset = split_table(iris_like(n=3000), "species")
    run = RunContext(reporter=CollectingReporter())

    def reporter(event):
        run.reporter.events.append(event)  # type: ignore[attr-defined]
        if isinstance(event, MetricsLogged) and event.step == 2:
            run.token.cancel()

    collecting = run.reporter
    run.reporter = reporter
    run.reporter.events = collecting.events  # type: ignore[attr-defined]
    out, _ = run_node(SupervisedTrain, {"dataset": dataset}, {"epochs": 10}, run=run)
    model = out["model"]
    assert model.metrics["stopped"] is True and model.metrics["epochs_run"] == 2
    assert [r["epoch"] for r in out["history"]["records"]] == [1, 2]
    assert model.predict_tensor(np.zeros((2, 4), dtype=np.float32)).shape == (2, 3)
    assert any("stopped by the user" in e.message for e in collecting.events if isinstance(e, LogRecord))


def test_early_stopping_and_checkpoints_through_the_node(tmp_path):
    dataset = split_table(iris_like(), "species")
    run = RunContext(reporter=CollectingReporter(), run_dir=tmp_path / "run")
    out, reporter = run_node(
        SupervisedTrain,
        {"dataset": dataset},
        {"epochs": 4, "checkpoint_every": 2, "early_stopping": True, "patience": 2},
        run,
    )
    folder = tmp_path / "run" / "nodes" / "n1" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["epoch_0002.pt", "epoch_0004.pt", "last.pt"]
    log = [e.message for e in reporter.of_type(LogRecord)]
    assert sum("checkpoint saved" in m for m in log) == 2
    resumed, _ = run_node(
        SupervisedTrain, {"dataset": dataset}, {"epochs": 6, "resume_from": str(folder / "epoch_0004.pt")}
    )
    assert [r["epoch"] for r in resumed["history"]["records"]] == [1, 2, 3, 4, 5, 6]
    assert resumed["history"]["records"][:4] == out["history"]["records"]


def test_model_nodes_output_specs(tmp_path):
    assert run_node(LinearModel)[0]["model"].kind == "linear"
    seq = run_node(SequenceModel, values={"cell": "lstm", "hidden": 16})[0]["model"]
    assert seq.kind == "sequence" and seq.config["cell"] == "lstm" and seq.config["hidden"] == 16
    with pytest.raises(Exception, match="not found"):
        run_node(PretrainedModel, values={"source": str(tmp_path / "missing")})
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "weights.safetensors").write_bytes(b"")
    (bundle / "architecture.json").write_text("{}")
    spec = run_node(
        PretrainedModel, values={"source": str(bundle), "freeze": "layers", "layers": "body.0, body.1"}
    )[0]
    assert spec["model"].config == {
        "source": str(bundle),
        "freeze": "layers",
        "layers": ["body.0", "body.1"],
        "replace_head": "auto",
        "unfreeze_after": 0,
    }
    assert (
        PretrainedModel()
        .fingerprint_extra({"source": str(bundle)}, lambda p: p)
        .startswith("weights.safetensors:0:")
    )


def test_sequence_model_trains_on_windows_or_explains():
    dataset = split_table(iris_like(), "species")
    spec = run_node(SequenceModel)[0]["model"]
    from workbench.errors import UserError

    with pytest.raises(UserError, match="prep.window"):
        run_node(SupervisedTrain, {"dataset": dataset, "model": spec})


def test_bad_settings_are_one_line_user_errors():
    from workbench.errors import UserError

    dataset = split_table(iris_like(), "species")
    with pytest.raises(UserError, match="custom_class_weights"):
        run_node(
            SupervisedTrain, {"dataset": dataset}, {"class_weights": "custom", "custom_class_weights": "1, x"}
        )
    with pytest.raises(UserError, match="class_weights: give 3"):
        run_node(
            SupervisedTrain, {"dataset": dataset}, {"class_weights": "custom", "custom_class_weights": "1, 2"}
        )
    with pytest.raises(UserError, match="loss: mse is for regression"):
        run_node(SupervisedTrain, {"dataset": dataset}, {"loss": "mse"})
    with pytest.raises(UserError, match="device"):
        run_node(SupervisedTrain, {"dataset": dataset}, {"device": "quantum"})


@pytest.mark.parametrize("cell", ["gru", "lstm", "cnn1d"])
def test_sequence_models_learn_a_windowed_series(cell):
    from workbench.nodes.transform import PrepWindow

    t = np.arange(1200)
    frame = pd.DataFrame(
        {"t": t, "load": np.sin(t / 6.0) + 0.05 * np.random.default_rng(0).normal(size=len(t))}
    )
    frame["next"] = frame["load"].shift(-1).fillna(0.0)
    dataset = split_table(frame, "next", task="regression", time_column="t", features=["load"])
    windowed = run_node(
        PrepWindow, {"dataset": dataset}, {"lookback": 12, "horizon": 0, "include_target": False}
    )[0]
    spec = run_node(SequenceModel, values={"cell": cell, "hidden": 16})[0]["model"]
    out, _ = run_node(
        SupervisedTrain,
        {"dataset": windowed["dataset"], "model": spec},
        {"epochs": 12, "batch_size": 32, "lr": 5e-3},
    )
    model = out["model"]
    records = out["history"]["records"]
    assert model.architecture["kind"] == "sequence" and model.architecture["input_shape"] == [12, 1]
    assert model.window is not None and model.window["lookback"] == 12
    assert records[-1]["val_loss"] < 0.1 * records[0]["val_loss"] or records[-1]["val_loss"] < 0.02


def test_regression_target_far_from_zero_is_standardised_and_predicts_in_original_units():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1200, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["price"] = 2500.0 + 300.0 * x[:, 0] - 120.0 * x[:, 1] + rng.normal(0, 5, 1200)
    dataset = split_table(frame, "price", task="regression")
    linear = run_node(LinearModel)[0]["model"]
    out, reporter = run_node(
        SupervisedTrain, {"dataset": dataset, "model": linear}, {"epochs": 40, "lr": 0.02}
    )
    model = out["model"]
    from workbench.tabular.auto import prepare_for_training
    from workbench.tabular.tensors import to_tensors

    splits = to_tensors(prepare_for_training(dataset, lambda _m: None), "cpu")
    pred = model.predict_tensor(splits.x_test)
    mae = (pred - splits.y_test).abs().mean().item()
    assert mae < 15.0  # noise is 5; without standardising the output stays thousands off
    assert model.metrics["target_scaled"] is True
    assert abs(model.history[-1]["val_mae"] - mae) < 5.0  # reported MAE is in price units, not std units
    live = [
        e.values["val_mae"] for e in reporter.events if isinstance(e, MetricsLogged) and "val_mae" in e.values
    ]
    assert live[-1] == pytest.approx(model.history[-1]["val_mae"], rel=1e-6)
    unscaled, _ = run_node(
        SupervisedTrain,
        {"dataset": dataset, "model": linear},
        {"epochs": 40, "lr": 0.02, "scale_target": False},
    )
    worse = (unscaled["model"].predict_tensor(splits.x_test) - splits.y_test).abs().mean().item()
    assert worse > 10 * mae

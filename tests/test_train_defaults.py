"""train.supervised defaults that train to a good model on their own (issue 13.5).

Auto epochs stop by themselves and keep the best weights; an explicit epoch count still runs exactly that
many (also from pipeline files saved before auto existed); a run that ends while the validation loss is
still falling says so with an epoch count to try. The quality figures against gradient boosting are
measured by benchmarks/bench_defaults.py (docs/examples.md), not here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import params as P
from workbench.cli import main as cli_main
from workbench.engine.models import default_spec
from workbench.events import CollectingReporter, LogRecord, Progress
from workbench.execution.context import NodeContext, RunContext
from workbench.nodes.train import AUTO_MAX_EPOCHS, SupervisedTrain, auto_batch_size
from workbench.tabular.auto import prepare_for_training
from workbench.tabular.split import split_table
from workbench.tabular.tensors import to_tensors


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def blobs(n: int = 400, seed: int = 0, spread: float = 1.6) -> pd.DataFrame:
    """Two overlapping classes: a few percent of rows cannot be told apart, so the validation loss bottoms out."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, spread, (n, 3)) + np.where(y[:, None] == 1, 1.5, -1.5)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["label"] = np.array(["no", "yes"])[y]
    return frame


def train(dataset, values=None):
    run = RunContext(reporter=CollectingReporter())
    params = P.resolve(SupervisedTrain.spec.params, {"device": "cpu", "threads": 1, **(values or {})})
    out = SupervisedTrain().run(NodeContext(run, "train"), {"dataset": dataset}, params)
    log = [e.message for e in run.reporter.of_type(LogRecord)]
    return out, log, run.reporter


def val_loss_of(model, dataset) -> float:
    splits = to_tensors(prepare_for_training(dataset, lambda _m: None), "cpu")
    with torch.no_grad():
        logits = model.module(splits.x_val).reshape(-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, splits.y_val.float()).item()


def test_auto_epochs_stop_by_themselves_and_keep_the_best_weights():
    dataset = split_table(blobs(), "label")
    out, log, _ = train(dataset)  # nothing set: the defaults
    records, metrics = out["history"]["records"], out["history"]["metrics"]
    assert metrics["auto_epochs"] is True and metrics["early_stopped"] is True
    assert len(records) < AUTO_MAX_EPOCHS
    best = min(records, key=lambda r: r["val_loss"])
    assert metrics["restored_epoch"] == best["epoch"] < records[-1]["epoch"]
    assert records[-1]["val_loss"] > best["val_loss"]
    # The model handed on is the best epoch's, not the last one's.
    assert val_loss_of(out["model"], dataset) == pytest.approx(best["val_loss"], abs=1e-5)
    assert records[-1]["lr"] < records[0]["lr"] == 1e-3  # the learning rate was lowered on the plateau
    assert any(m.startswith("auto: training until the validation loss has not improved for 10") for m in log)
    assert any("restored the best weights from epoch" in m for m in log)
    assert not any("still falling" in m for m in log)
    assert metrics["batch_size"] == 32


def test_an_explicit_epoch_count_runs_exactly_that_many_with_a_constant_lr():
    dataset = split_table(blobs(), "label")
    out, log, _ = train(dataset, {"epochs": 7, "batch_size": 64})
    records, metrics = out["history"]["records"], out["history"]["metrics"]
    assert [r["epoch"] for r in records] == list(range(1, 8))
    assert metrics["auto_epochs"] is False and metrics["early_stopped"] is False
    assert metrics["restored_epoch"] is None and metrics["batch_size"] == 64
    assert {r["lr"] for r in records} == {1e-3}
    assert any("batch 64 · 7 epochs" in m for m in log)
    assert not any(m.startswith("auto: training") for m in log)


def test_auto_epochs_respect_the_cap_and_the_users_own_early_stopping():
    dataset = split_table(blobs(), "label")
    capped, log, _ = train(dataset, {"max_epochs": 4, "lr": 1e-4})
    assert len(capped["history"]["records"]) == 4
    assert any("still falling" in m and "raise max_epochs (e.g. to 20)" in m for m in log)
    own, log, _ = train(dataset, {"early_stopping": True, "monitor": "val_accuracy", "patience": 2})
    assert any("until val_accuracy has not improved for 2 epochs" in m for m in log)
    assert any("val_accuracy did not improve for 2 epoch(s)" in m for m in log)


def test_the_still_falling_hint_names_epochs_to_try_and_stays_quiet_when_converged():
    dataset = split_table(blobs(), "label")
    short, log, _ = train(dataset, {"epochs": 5, "batch_size": 64, "lr": 3e-4})
    hints = [m for m in log if "still falling" in m]
    assert len(hints) == 1 and short["history"]["metrics"]["still_improving"] is True
    assert "ended at epoch 5" in hints[0] and "set epochs to 0 (auto" in hints[0] and "epochs=20" in hints[0]
    long, log, _ = train(dataset, {"epochs": 80, "batch_size": 32})
    records = long["history"]["records"]
    assert min(records, key=lambda r: r["val_loss"])["epoch"] < 80  # converged: the loss turned
    assert (
        not any("still falling" in m for m in log) and long["history"]["metrics"]["still_improving"] is False
    )


def test_auto_batch_size_follows_the_training_rows():
    assert [auto_batch_size(n) for n in (10, 240, 1_300, 3_118, 4_930, 37_758, 10**7)] == [
        32,
        32,
        32,
        64,
        64,
        512,
        512,
    ]


def test_progress_in_auto_mode_has_no_fixed_end():
    dataset = split_table(blobs(), "label")
    _, _, reporter = train(dataset)
    last = reporter.of_type(Progress)[-1]
    assert last.extra["epochs"] is None and last.extra["max_epochs"] == AUTO_MAX_EPOCHS
    assert f"/auto (at most {AUTO_MAX_EPOCHS})" in last.label and last.extra["eta_total_s"] is None


def test_windows_default_to_a_gru_and_tables_to_dense_128():
    assert default_spec((4,)).config["layers"][0]["units"] == 128 and default_spec((4,)).kind == "mlp"
    assert default_spec((20, 3)).kind == "sequence" and default_spec((20, 3)).config["cell"] == "gru"
    from workbench.nodes.transform import PrepWindow

    t = np.arange(300, dtype=float)
    frame = pd.DataFrame({"t": t, "u": np.cos(t / 8.0), "v": np.sin(t / 8.0)})
    dataset = split_table(frame, "v", task="regression", time_column="t", shuffle=False)
    run = RunContext(reporter=CollectingReporter())
    params = P.resolve(PrepWindow.spec.params, {"lookback": 10, "horizon": 1})
    windowed = PrepWindow().run(NodeContext(run, "w"), {"dataset": dataset}, params)["dataset"]
    out, _, _ = train(windowed, {"epochs": 1})
    assert out["model"].architecture["kind"] == "sequence" and out["model"].architecture["hidden"] == 64


def _write_pipeline(folder, train_params):
    table = folder / "blobs.csv"
    blobs().to_csv(table, index=False)
    doc = {
        "format_version": 1,
        "app": "model-workbench 0.1.0",
        "nodes": [
            {"id": "file", "type": "data.file", "params": {"path": str(table)}, "position": [0, 0]},
            {"id": "split", "type": "data.split", "params": {"target": "label"}, "position": [250, 0]},
            {"id": "train", "type": "train.supervised", "params": train_params, "position": [500, 0]},
        ],
        "links": [
            {"from": ["file", "table"], "to": ["split", "table"]},
            {"from": ["split", "dataset"], "to": ["train", "dataset"]},
        ],
    }
    path = folder / "p.pipeline.json"
    path.write_text(json.dumps(doc))
    return path


def _run_cli(path, report):
    code = cli_main(["run", str(path), "--quiet", "--device", "cpu", "--report", str(report)])
    assert code == 0
    return json.loads(report.read_text())["metrics"]["train"]


def test_files_saved_before_auto_keep_their_epochs_and_files_that_never_set_them_get_auto(tmp_path):
    # What the app wrote before this change: every parameter, with the old defaults, no max_epochs.
    old = {
        "epochs": 10,
        "batch_size": 64,
        "lr": 0.001,
        "optimizer": "adam",
        "scheduler": "none",
        "early_stopping": False,
        "patience": 5,
        "restore_best": True,
        "threads": 1,
    }
    (tmp_path / "old").mkdir()
    metrics = _run_cli(_write_pipeline(tmp_path / "old", old), tmp_path / "old.json")
    assert metrics["epochs_run"] == 10 and metrics["batch_size"] == 64 and metrics["auto_epochs"] is False
    (tmp_path / "new").mkdir()
    metrics = _run_cli(_write_pipeline(tmp_path / "new", {"threads": 1}), tmp_path / "new.json")
    assert metrics["auto_epochs"] is True and metrics["early_stopped"] is True
    assert metrics["epochs_run"] < AUTO_MAX_EPOCHS and metrics["restored_epoch"] < metrics["epochs_run"]

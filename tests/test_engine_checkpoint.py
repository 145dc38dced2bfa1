"""Checkpoints: safe loading, and a resumed run's loss curve equals an uninterrupted one (CPU, same seed)."""

from __future__ import annotations

import pickle

import pytest
import torch

from workbench.engine.callbacks import Callback, Checkpointer, EarlyStopping
from workbench.engine.checkpoint import load_checkpoint
from workbench.engine.device import seed_everything
from workbench.engine.models import ModelSpec, build_model
from workbench.engine.trainer import TrainConfig, TrainData, fit
from workbench.errors import UserError

SPEC = ModelSpec("mlp", {"layers": [{"units": 32, "dropout": 0.3, "batch_norm": True}, {"units": 16}]})


def data() -> TrainData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long() + (x[:, 3] > 1).long()
    return TrainData(x[:400], y[:400], x[400:], y[400:], "multiclass", 3)


class EpochsTrained(Callback):
    def __init__(self) -> None:
        self.epochs: list[int] = []

    def on_epoch_start(self, state) -> None:
        self.epochs.append(state.epoch)


def run(tmp_path, name, epochs, resume=None, scheduler="one_cycle", counter=None):
    seed_everything(7)
    model, arch = build_model(SPEC, (6,), 3, "multiclass")
    config = TrainConfig(
        epochs=epochs, batch_size=32, lr=5e-3, seed=7, scheduler=scheduler, resume_from=resume
    )
    callbacks = [EarlyStopping("val_loss", patience=50), Checkpointer(tmp_path / name, every=1)]
    if counter is not None:
        callbacks.append(counter)
    return fit(model, data(), config, callbacks, architecture=arch)


def curve(history):
    return [(r["epoch"], r["train_loss"], r["val_loss"], r["val_accuracy"], r["lr"]) for r in history]


@pytest.mark.parametrize("scheduler", ["one_cycle", "plateau"])
def test_resumed_run_equals_uninterrupted(tmp_path, scheduler):
    full = run(tmp_path, "full", 5, scheduler=scheduler)
    counter = EpochsTrained()
    resumed = run(tmp_path, "resumed", 5, str(tmp_path / "full" / "epoch_0002.pt"), scheduler, counter)
    assert counter.epochs == [3, 4, 5]  # really resumed: epochs 1-2 come from the checkpoint
    assert curve(resumed.history) == curve(full.history)  # exact, not approximate
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key])


def test_checkpoint_contents_load_weights_only(tmp_path):
    result = run(tmp_path, "a", 3)
    path = tmp_path / "a" / "epoch_0003.pt"
    assert path.is_file() and (tmp_path / "a" / "last.pt").is_file()
    raw = torch.load(path, map_location="cpu", weights_only=True)  # must not need pickle
    for key in ("model", "optimizer", "scheduler", "rng", "epoch", "history", "callbacks", "architecture"):
        assert key in raw
    data_ = load_checkpoint(path)
    assert data_["epoch"] == 3 and data_["architecture"]["layers"][0]["units"] == 32
    assert data_["history"] == result.history
    assert data_["callbacks"]["EarlyStopping"]["best_epoch"] >= 1


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_unsafe_or_foreign_files_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(UserError, match="cannot be read safely"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(UserError, match="not a Model Workbench checkpoint"):
        load_checkpoint(other)
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_with_a_different_model_is_a_user_error(tmp_path):
    run(tmp_path, "a", 1)
    model, _ = build_model(ModelSpec("mlp", {"layers": [{"units": 8}]}), (6,), 3, "multiclass")
    config = TrainConfig(epochs=2, resume_from=str(tmp_path / "a" / "last.pt"))
    with pytest.raises(UserError, match="does not match"):
        fit(model, data(), config)

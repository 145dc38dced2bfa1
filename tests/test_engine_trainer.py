"""The training loop on plain tensors: accuracy, regression fit, early stopping, stop, pause, NaN, OOM."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from torch import nn

from workbench.engine.callbacks import Callback, EarlyStopping, ProgressReporter, StopAfter
from workbench.engine.device import resolve_device, resolve_precision
from workbench.engine.models import ModelSpec, build_model, default_spec
from workbench.engine.trainer import TrainConfig, TrainData, evaluate_loss, fit, make_loss
from workbench.errors import UserError
from workbench.execution.context import CancelToken


def blobs(n: int = 450, classes: int = 3, features: int = 4, seed: int = 0, spread: float = 3.0):
    """Iris-like: well separated Gaussian clusters."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * spread
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, features, generator=g)
    return x, y


def split(x, y, n_train: int, n_val: int):
    return (
        (x[:n_train], y[:n_train]),
        (x[n_train : n_train + n_val], y[n_train : n_train + n_val]),
        (
            x[n_train + n_val :],
            y[n_train + n_val :],
        ),
    )


class Messages(Callback):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_log(self, state, message: str) -> None:
        self.lines.append(message)


def test_iris_like_classification_reaches_90_percent_test_accuracy():
    x, y = blobs()
    (xt, yt), (xv, yv), (xs, ys) = split(x, y, 300, 75)
    model, arch = build_model(default_spec(), (4,), 3, "multiclass")
    result = fit(model, TrainData(xt, yt, xv, yv, "multiclass", 3), TrainConfig(epochs=10))
    with torch.no_grad():
        accuracy = (model(xs).argmax(1) == ys).float().mean().item()
    assert accuracy >= 0.9
    assert result.metrics["epochs_run"] == 10 and not result.stopped
    assert result.history[-1]["val_loss"] < result.history[0]["val_loss"]
    assert result.metrics["samples_per_second"] > 0 and result.metrics["precision"] == resolve_precision(
        "auto", resolve_device("auto")
    )


def test_binary_head_uses_one_logit_and_learns():
    x, y = blobs(classes=2, seed=3)
    model, arch = build_model(default_spec(), (4,), 1, "binary")
    assert arch["head"] == "binary" and model.head.out_features == 1
    fit(model, TrainData(x[:300], y[:300], x[300:], y[300:], "binary", 2), TrainConfig(epochs=8))
    with torch.no_grad():
        accuracy = ((model(x[300:])[:, 0] > 0).long() == y[300:]).float().mean().item()
    assert accuracy >= 0.9


def test_smooth_regression_r2_above_095():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1200, 2, generator=g) * 4 - 2
    y = (torch.sin(x[:, 0]) + 0.5 * x[:, 1] ** 2).unsqueeze(1)
    spec = ModelSpec(
        "mlp", {"layers": [{"units": 64, "activation": "tanh"}, {"units": 64, "activation": "tanh"}]}
    )
    model, _ = build_model(spec, (2,), 1, "regression")
    config = TrainConfig(epochs=60, batch_size=32, lr=3e-3)
    result = fit(model, TrainData(x[:900], y[:900], x[900:1050], y[900:1050], "regression"), config)
    with torch.no_grad():
        pred = model(x[1050:])
    target = y[1050:]
    r2 = 1 - ((pred - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
    assert r2.item() >= 0.95
    assert "val_mae" in result.history[-1]


def test_early_stopping_restores_best_weights():
    x, y = blobs(seed=2)
    # Validation labels are permuted, so the better the model fits train, the worse val gets.
    xv, yv = x[300:], (y[300:] + 1) % 3
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    class Snap(Callback):
        def on_epoch_end(self, state, record):
            snapshots[state.epoch] = {k: v.cpu().clone() for k, v in state.model.state_dict().items()}

    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    stopper = EarlyStopping("val_loss", patience=2, restore_best=True)
    messages = Messages()
    result = fit(
        model,
        TrainData(x[:300], y[:300], xv, yv, "multiclass", 3),
        TrainConfig(epochs=30, lr=1e-2, device="cpu"),  # fp32: the loss is rechecked in fp32 below
        [Snap(), stopper, messages],
    )
    records = result.history
    best = min(records, key=lambda r: r["val_loss"])
    assert result.stop_reason == "early_stop" and result.metrics["early_stopped"]
    assert len(records) < 30 and best["epoch"] < records[-1]["epoch"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[best["epoch"]][key])
    loss_fn = make_loss(TrainConfig(), TrainData(x, y, head="multiclass", n_classes=3), y)
    again = evaluate_loss(model, xv, yv, loss_fn, "multiclass")
    assert again["val_loss"] == pytest.approx(best["val_loss"], rel=1e-5)
    assert any("early stop at epoch" in line for line in messages.lines)
    assert any(f"restored the best weights from epoch {best['epoch']}" in line for line in messages.lines)


def test_stop_mid_run_leaves_usable_outputs():
    x, y = blobs(n=1000)
    token = CancelToken()

    class CancelAt(Callback):
        def on_batch_end(self, state):
            if state.epoch == 2 and state.batch == 5:
                token.cancel()

    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    result = fit(
        model,
        TrainData(x[:800], y[:800], x[800:], y[800:], "multiclass", 3),
        TrainConfig(epochs=10),
        [CancelAt()],
        control=token,
    )
    assert result.stopped and result.metrics["stopped"] is True
    assert [r["epoch"] for r in result.history] == [1]  # the partial epoch 2 is not recorded
    assert not model.training
    with torch.no_grad():
        out = model(x[800:])
    assert torch.isfinite(out).all()
    assert (out.argmax(1) == y[800:]).float().mean() > 0.5  # the trained-so-far weights are kept


def test_stop_after_callback_is_cooperative():
    x, y = blobs()
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    result = fit(
        model, TrainData(x, y, head="multiclass", n_classes=3), TrainConfig(epochs=5), [StopAfter(3)]
    )
    assert result.stopped and result.history == []


def test_pause_blocks_between_batches_until_resumed():
    x, y = blobs()
    token = CancelToken()
    paused_at: list[int] = []

    class PauseOnce(Callback):
        def on_batch_end(self, state):
            if state.epoch == 1 and state.batch == 2:
                token.pause()
                paused_at.append(state.batch)
                threading.Timer(0.3, token.resume).start()

    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    t0 = time.perf_counter()
    result = fit(
        model, TrainData(x, y, head="multiclass", n_classes=3), TrainConfig(epochs=2), [PauseOnce()], token
    )
    assert time.perf_counter() - t0 >= 0.3
    assert paused_at == [2] and result.metrics["epochs_run"] == 2 and not result.stopped
    assert (
        result.metrics["train_seconds"] < time.perf_counter() - t0 - 0.25
    )  # paused time is not training time


class NaNAt(nn.Module):
    """Wraps a model and poisons the output of the n-th training forward pass."""

    def __init__(self, inner: nn.Module, at: int) -> None:
        super().__init__()
        self.inner, self.at, self.calls = inner, at, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                out = out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_and_batch_and_advice():
    x, y = blobs()
    inner, _ = build_model(default_spec(), (4,), 3, "multiclass")
    model = NaNAt(inner, at=7 + 5)  # 450 rows / 64 = 8 batches an epoch (the last has 2 rows)
    with pytest.raises(UserError) as err:
        fit(model, TrainData(x, y, head="multiclass", n_classes=3), TrainConfig(epochs=3, batch_size=64))
    message = str(err.value)
    assert "epoch 2, batch 4 of 8" in message
    assert "lower lr" in message and "grad_clip" in message and "scale the inputs" in message


class OOMAbove(nn.Module):
    def __init__(self, inner: nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x):
        if self.training and x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner(x)


def test_out_of_memory_reports_batch_size_or_halves_and_continues():
    x, y = blobs()
    inner, _ = build_model(default_spec(), (4,), 3, "multiclass")
    with pytest.raises(UserError, match="at batch size 64 .epoch 1, batch 1.; lower batch_size"):
        fit(
            OOMAbove(inner, 20),
            TrainData(x, y, head="multiclass", n_classes=3),
            TrainConfig(epochs=1, batch_size=64, device="cpu"),
        )
    messages = Messages()
    config = TrainConfig(
        epochs=2, batch_size=64, on_oom="halve", device="cpu"
    )  # the messages name the device
    result = fit(OOMAbove(inner, 20), TrainData(x, y, head="multiclass", n_classes=3), config, [messages])
    assert result.metrics["batch_size"] == 16 and result.metrics["epochs_run"] == 2
    assert [m for m in messages.lines if "out of memory" in m] == [
        "out of memory on cpu at batch size 64 (epoch 1, batch 1); continuing with 32",
        "out of memory on cpu at batch size 32 (epoch 1, batch 1); continuing with 16",
    ]


def test_progress_reports_are_throttled_and_complete():
    x, y = blobs(n=5000)
    calls: list[tuple[float, dict]] = []
    reporter = ProgressReporter(lambda fraction, **kw: calls.append((fraction, kw)), interval_s=0.0)
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    fit(
        model,
        TrainData(x, y, head="multiclass", n_classes=3),
        TrainConfig(epochs=2, read_every=4),
        [reporter],
    )
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    last = calls[-1][1]
    assert last["epoch"] == 2 and last["batch"] == last["batches"] == 79 and last["rate_unit"] == "samples/s"
    assert last["eta_total_s"] == 0.0 and last["rate"] > 0
    mid = calls[len(calls) // 4][1]
    assert mid["eta_total_s"] > mid["eta_s"] >= 0 and mid["label"].startswith("epoch 1/2 · batch")
    slow: list[float] = []
    throttled = ProgressReporter(lambda fraction, **kw: slow.append(fraction), interval_s=10.0)
    fit(
        model,
        TrainData(x, y, head="multiclass", n_classes=3),
        TrainConfig(epochs=2, read_every=1),
        [throttled],
    )
    assert len(slow) <= 3  # one per epoch end (+ at most one in between): not one per batch


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
@pytest.mark.parametrize("scheduler", ["none", "step", "cosine", "one_cycle", "plateau"])
def test_optimizers_and_schedulers_train(optimizer, scheduler):
    x, y = blobs(n=300)
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    config = TrainConfig(
        epochs=3,
        optimizer=optimizer,
        scheduler=scheduler,
        step_size=1,
        lr=1e-3 if optimizer == "rmsprop" else 1e-2,
        nesterov=True,
        grad_clip=1.0,
        label_smoothing=0.1,
        class_weights="balanced",
    )
    result = fit(model, TrainData(x, y, x[:50], y[:50], "multiclass", 3), config)
    losses = [r["train_loss"] for r in result.history]
    assert losses[-1] < losses[0]
    if scheduler == "step":
        assert result.history[1]["lr"] == pytest.approx(config.lr * 0.1)


def test_losses_must_fit_the_task():
    x, y = blobs(n=100)
    data = TrainData(x, y, head="multiclass", n_classes=3)
    with pytest.raises(UserError, match="loss: mse is for regression"):
        make_loss(TrainConfig(loss="mse"), data, y)
    with pytest.raises(UserError, match="bce needs 2 classes"):
        make_loss(TrainConfig(loss="bce"), data, y)
    with pytest.raises(UserError, match="class_weights: give 3"):
        make_loss(TrainConfig(class_weights=[1.0, 2.0]), data, y)
    reg = TrainData(x, y.float().unsqueeze(1), head="regression")
    with pytest.raises(UserError, match="classification but the target is numeric"):
        make_loss(TrainConfig(loss="cross_entropy"), reg, y)
    for name in ("mse", "mae", "huber"):
        assert make_loss(TrainConfig(loss=name), reg, y.float())(x[:, :1], x[:, 1:2]).ndim == 0


def test_same_seed_same_result_on_cpu():
    x, y = blobs()
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model, _ = build_model(
            ModelSpec("mlp", {"layers": [{"units": 16, "dropout": 0.2}]}), (4,), 3, "multiclass"
        )
        runs.append(fit(model, TrainData(x, y, x, y, "multiclass", 3), TrainConfig(epochs=3, seed=5)).history)
    assert [r["train_loss"] for r in runs[0]] == [r["train_loss"] for r in runs[1]]


def test_bad_settings_are_user_errors():
    x, y = blobs(n=50)
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    with pytest.raises(UserError, match="device"):
        fit(model, TrainData(x, y, head="multiclass", n_classes=3), TrainConfig(device="tpu"))
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            fit(model, TrainData(x, y, head="multiclass", n_classes=3), TrainConfig(device="cuda"))
    with pytest.raises(UserError, match="training split is empty"):
        fit(model, TrainData(x[:0], y[:0], head="multiclass", n_classes=3), TrainConfig())
    with pytest.raises(UserError, match="fp16 needs a GPU"):
        fit(
            model,
            TrainData(x, y, head="multiclass", n_classes=3),
            TrainConfig(precision="fp16", device="cpu"),
        )


def test_gc_is_frozen_during_training_and_threads_are_restored():
    import gc

    x, y = blobs()
    seen: list[int] = []

    class FreezeProbe(Callback):
        def on_batch_end(self, state):
            seen.append(gc.get_freeze_count())

    before_threads = torch.get_num_threads()
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    fit(
        model,
        TrainData(x, y, head="multiclass", n_classes=3),
        TrainConfig(epochs=1, threads=1),
        [FreezeProbe()],
    )
    assert seen[0] > 0 and all(count > 0 for count in seen)  # frozen right after the warm-up step
    assert gc.get_freeze_count() == 0  # and given back to normal collection afterwards
    assert torch.get_num_threads() == before_threads

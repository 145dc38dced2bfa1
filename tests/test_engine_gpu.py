"""CUDA and mixed-precision paths; skipped without a CUDA GPU."""

from __future__ import annotations

import pytest
import torch

from workbench.engine.callbacks import Checkpointer
from workbench.engine.device import resolve_device, resolve_precision
from workbench.engine.models import build_model, default_spec
from workbench.engine.trainer import TrainConfig, TrainData, fit
from workbench.errors import UserError

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def blobs(n: int = 2000):
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(3, 4, generator=g) * 3
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + torch.randn(n, 4, generator=g), y


def test_auto_device_and_precision_on_cuda():
    device = resolve_device("auto")
    assert device.type == "cuda"
    expected = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    assert resolve_precision("auto", device) == expected
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16", "fp32"])
def test_training_on_cuda_reaches_accuracy(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    x, y = blobs()
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    config = TrainConfig(epochs=5, device="cuda", precision=precision)
    result = fit(model, TrainData(x[:1500], y[:1500], x[1500:], y[1500:], "multiclass", 3), config)
    assert result.metrics["device"].startswith("cuda:0")
    assert result.metrics["precision"] == resolve_precision(precision, torch.device("cuda"))
    assert result.history[-1]["val_accuracy"] >= 0.9
    assert next(model.parameters()).dtype == torch.float32  # autocast keeps fp32 master weights


def test_fp16_grad_scaler_state_is_checkpointed_and_resumes(tmp_path):
    x, y = blobs()
    data = TrainData(x[:1500], y[:1500], x[1500:], y[1500:], "multiclass", 3)
    model, arch = build_model(default_spec(), (4,), 3, "multiclass")
    fit(
        model,
        data,
        TrainConfig(epochs=2, device="cuda", precision="fp16"),
        [Checkpointer(tmp_path)],
        architecture=arch,
    )
    raw = torch.load(tmp_path / "last.pt", weights_only=True)
    assert raw["scaler"] and "scale" in raw["scaler"]
    model2, _ = build_model(default_spec(), (4,), 3, "multiclass")
    config = TrainConfig(epochs=4, device="cuda", precision="fp16", resume_from=str(tmp_path / "last.pt"))
    result = fit(model2, data, config)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]


def test_cuda_metrics_are_read_without_per_batch_sync():
    """A long epoch still reports progress and a finite loss (device-side accumulation)."""
    x, y = blobs(n=50_000)
    calls = []
    from workbench.engine.callbacks import ProgressReporter

    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    fit(
        model,
        TrainData(x, y, head="multiclass", n_classes=3),
        TrainConfig(epochs=1, batch_size=64, device="cuda"),
        [ProgressReporter(lambda f, **k: calls.append(k), 0.0)],
    )
    assert calls and calls[-1]["batch"] == calls[-1]["batches"]


def test_fit_returns_the_model_on_its_home_device_and_frees_gpu_memory():
    x, y = blobs()
    data = TrainData(x[:1500], y[:1500], x[1500:], y[1500:], "multiclass", 3)
    model, _ = build_model(default_spec(), (4,), 3, "multiclass")
    before = torch.cuda.memory_allocated()
    result = fit(model, data, TrainConfig(epochs=2, device="cuda"))
    assert result.metrics["device"].startswith("cuda")
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert model(x[1500:]).shape == (500, 3)  # CPU tensors work with the returned model
    assert torch.cuda.memory_allocated() <= before + 1024  # the split and the weights left the GPU

    nan_rows = torch.full((100, 4), float("nan"))  # a diverging loss: a UserError from inside the loop
    with pytest.raises(UserError):
        fit(model, TrainData(nan_rows, y[:100], head="multiclass", n_classes=3), TrainConfig(device="cuda"))
    assert {p.device.type for p in model.parameters()} == {"cpu"}

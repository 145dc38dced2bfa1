"""TrainConfig is derived from the train node's parameter specs: one source of defaults, auto resolved in fit."""

from __future__ import annotations

import dataclasses

import torch

from workbench import params as P
from workbench.engine.models import build_model, default_spec
from workbench.engine.train_params import AUTO_LR_FACTOR, AUTO_PATIENCE, NODE_ONLY, TRAIN_PARAMS
from workbench.engine.trainer import TrainConfig, TrainData, fit
from workbench.nodes.train import SupervisedTrain


def test_the_node_params_are_the_engine_specs_and_the_config_defaults():
    assert SupervisedTrain.spec.params is TRAIN_PARAMS
    config = dataclasses.asdict(TrainConfig())
    defaults = P.resolve(TRAIN_PARAMS, {})
    for name, value in defaults.items():
        if name in NODE_ONLY:
            assert name not in config
        elif name == "resume_from":
            assert value == "" and config[name] is None
        else:
            assert config[name] == value, name
    assert TrainConfig().epochs == 0 and TrainConfig().max_epochs == defaults["max_epochs"] == 200


def test_from_params_takes_the_node_values_by_name_and_resolving_is_idempotent():
    params = P.resolve(TRAIN_PARAMS, {"lr": 0.01, "max_epochs": 50, "resume_from": ""})
    config = TrainConfig.from_params(params, device="cpu")
    assert (config.lr, config.max_epochs, config.device, config.resume_from) == (0.01, 50, "cpu", None)
    resolved = config.resolved(1_300)
    assert (resolved.epochs, resolved.batch_size, resolved.scheduler, resolved.gamma) == (
        50,
        32,
        "plateau",
        AUTO_LR_FACTOR,
    )
    assert (resolved.early_stopping, resolved.monitor, resolved.patience) == (True, "val_loss", AUTO_PATIENCE)
    assert resolved.resolved(1_300) == resolved and resolved.auto_choices(1_300) == {}
    fixed = TrainConfig(epochs=7, batch_size=16).resolved(1_300)
    assert (fixed.epochs, fixed.batch_size, fixed.scheduler, fixed.early_stopping) == (7, 16, "none", False)


def test_fit_with_the_default_config_trains_auto_epochs_and_stops_early():
    torch.manual_seed(0)
    x = torch.randn(600, 4)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model, _ = build_model(default_spec((4,)), (4,), 1, "binary")
    result = fit(
        model, TrainData(x[:400], y[:400], x[400:], y[400:], "binary", 2), TrainConfig(max_epochs=300)
    )
    assert result.metrics["early_stopped"] and result.metrics["epochs_run"] < 300
    assert result.metrics["batch_size"] == 32 and result.metrics["restored_epoch"] is not None

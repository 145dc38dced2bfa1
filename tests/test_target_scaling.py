"""Standardised regression targets (engine/target_scaling.py): folded into the head, MAE in original units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from workbench import params as P
from workbench.engine.target_scaling import TargetScaling
from workbench.events import CollectingReporter, MetricsLogged
from workbench.execution.context import NodeContext, RunContext
from workbench.nodes.train import NodeReporter, SupervisedTrain
from workbench.tabular.split import split_table


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


class WithHead(nn.Module):
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


def test_folding_the_scaling_into_the_head_predicts_in_original_units():
    torch.manual_seed(0)
    y = torch.tensor([[2400.0, 1.0], [2600.0, 3.0], [2500.0, 5.0], [2700.0, 7.0]])
    scale = TargetScaling.fit(y)
    z = scale.forward(y)
    assert torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(2), atol=1e-5)
    model = WithHead(3, 2)
    x = torch.randn(6, 3)
    standard = model(x).detach()
    scale.fold_into(model)
    assert torch.allclose(model(x).detach(), standard * scale.std + scale.mean, atol=1e-3)
    assert scale.mae_factor == 1.0  # two targets: their MAE mixes spreads, so it is not converted


def test_one_target_converts_mae_figures_and_says_so():
    scale = TargetScaling.fit(torch.tensor([[10.0], [20.0], [30.0], [40.0]]))
    assert scale.mae_factor == pytest.approx(float(np.std([10, 20, 30, 40])))
    metrics = {"final_val_loss": 0.5, "val_mae": 0.1}
    history = [{"epoch": 1, "val_mae": 0.2, "val_loss": 0.3}]
    scale.to_original_units(metrics, history)
    assert metrics["val_mae"] == pytest.approx(0.1 * scale.mae_factor) and metrics["target_scaled"] is True
    assert history[0]["val_mae"] == pytest.approx(0.2 * scale.mae_factor) and history[0]["val_loss"] == 0.3


def test_a_model_without_a_linear_head_is_refused():
    with pytest.raises(RuntimeError, match="no linear output layer 'head'"):
        TargetScaling.fit(torch.ones(3, 1)).fold_into(nn.Sequential(nn.Linear(2, 1)))


def test_the_reporter_takes_the_factor_as_data():
    run = RunContext(reporter=CollectingReporter())
    assert NodeReporter(NodeContext(run, "n"), mae_factor=250.0).mae_factor == 250.0
    assert NodeReporter(NodeContext(run, "n")).mae_factor == 1.0


def test_train_node_reports_live_mae_in_the_units_of_the_final_history():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["price"] = 2500 + 300 * x[:, 0] - 200 * x[:, 1] + rng.normal(0, 20, 400)
    dataset = split_table(frame, "price", task="regression", seed=2)
    run = RunContext(reporter=CollectingReporter())
    params = P.resolve(SupervisedTrain.spec.params, {"epochs": 30, "seed": 0})
    out = SupervisedTrain().run(NodeContext(run, "train"), {"dataset": dataset}, params)
    history = out["model"].history
    live = [e.values for e in run.reporter.events if isinstance(e, MetricsLogged) and "val_mae" in e.values]
    assert len(live) == len(history) == 30
    for shown, kept in zip(live, history, strict=True):
        assert shown["val_mae"] == pytest.approx(kept["val_mae"], rel=1e-6)
    assert 5 < history[-1]["val_mae"] < 100  # original units (the target's std is ~360), well trained
    assert out["model"].metrics["target_scaled"] is True
    predicted = out["model"].module(torch.tensor(x[:50], dtype=torch.float32)).detach().numpy().ravel()
    assert abs(float(predicted.mean()) - 2500) < 150  # the head predicts prices, not standard units

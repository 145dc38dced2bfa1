"""Real trained models for the evaluation/export/predict tests (imported by them), plus a check of the helpers.

Everything goes through the real tabular Dataset, the real train.supervised node and the real TrainedModel,
on small synthetic tables so each model trains in about a second on one thread.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench import params as P
from workbench.execution.context import NodeContext, RunContext

REGIONS = ("north", "south", "east")


def mixed_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Numbers (with gaps), a category, a true/false column and a noise column; two targets.

    ``label`` ("yes"/"no") depends on income and region; ``amount`` is a number driven by income and age.
    """
    rng = np.random.default_rng(seed)
    income = rng.normal(3.0, 1.0, n)
    age = rng.integers(18, 70, n).astype(float)
    region = rng.choice(REGIONS, n)
    member = rng.random(n) < 0.4
    noise = rng.normal(0, 1, n)
    score = 2.0 * (income - 3.0) + np.where(region == "south", 1.5, -0.5) + rng.normal(0, 0.3, n)
    frame = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "region": region,
            "member": member,
            "noise": noise,
            "label": np.where(score > 0, "yes", "no"),
            "amount": 10.0 * income + 0.2 * age + rng.normal(0, 0.5, n),
        }
    )
    frame.loc[rng.choice(n, n // 20, replace=False), "age"] = np.nan
    return frame


def series_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A smooth time series with one exogenous column; ``value`` is predicted from the past."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    driver = np.sin(t / 7.0) + rng.normal(0, 0.05, n)
    value = np.cumsum(0.5 * driver) + rng.normal(0, 0.1, n)
    return pd.DataFrame({"step": t, "driver": driver, "value": value})


def ctx(node_id: str = "n1") -> NodeContext:
    return NodeContext(RunContext(), node_id)


def run_node(node_type: Any, inputs: dict[str, Any], values: dict[str, Any] | None = None) -> dict[str, Any]:
    params = P.resolve(node_type.spec.params, values or {})
    return node_type().run(ctx(), inputs, params)


def split(frame: pd.DataFrame, target: str, **kwargs: Any) -> Any:
    from workbench.tabular.split import split_table

    drop = [c for c in ("label", "amount") if c in frame.columns and c != target]
    return split_table(frame.drop(columns=drop), target, seed=0, **kwargs)


def train(dataset: Any, epochs: int = 30, spec: Any = None, lr: float = 0.01) -> Any:
    """A TrainedModel from the real train.supervised node."""
    from workbench.nodes.train import SupervisedTrain

    inputs = {"dataset": dataset} | ({"model": spec} if spec is not None else {})
    values = {"epochs": epochs, "device": "cpu", "threads": 1, "lr": lr, "batch_size": 64}
    return run_node(SupervisedTrain, inputs, values)["model"]


def classifier(n: int = 600) -> tuple[Any, Any, pd.DataFrame]:
    frame = mixed_frame(n)
    dataset = split(frame, "label")
    return train(dataset), dataset, frame


def multiclass() -> tuple[Any, Any, pd.DataFrame]:
    frame = mixed_frame(600)
    frame["label"] = np.select([frame["income"] < 2.5, frame["income"] < 3.5], ["low", "mid"], "high")
    dataset = split(frame, "label")
    return train(dataset), dataset, frame


def regressor() -> tuple[Any, Any, pd.DataFrame]:
    frame = mixed_frame(600)
    dataset = split(frame, "amount", task="regression")
    return train(dataset), dataset, frame


def sequence_model(cell: str = "gru") -> tuple[Any, Any, pd.DataFrame]:
    from workbench.engine.models import ModelSpec
    from workbench.nodes.transform import PrepWindow

    frame = series_frame()
    dataset = split(frame, "value", task="regression", shuffle=False, features=["driver"])
    windowed = run_node(PrepWindow, {"dataset": dataset}, {"lookback": 8, "horizon": 1})["dataset"]
    model = train(windowed, epochs=5, spec=ModelSpec("sequence", {"cell": cell, "hidden": 8}))
    return model, windowed, frame


def test_helpers_train_real_models() -> None:
    from workbench.engine.trained import TrainedModel

    model, dataset, _ = classifier(300)
    assert isinstance(model, TrainedModel)
    assert model.head == "binary" and model.classes == ["no", "yes"]
    assert "region=south" in model.feature_names  # the auto chain one-hot encoded the category
    seq, windowed, _ = sequence_model()
    assert seq.architecture["kind"] == "sequence" and seq.window["lookback"] == 8
    assert windowed.window is not None

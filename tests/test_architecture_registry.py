"""The architecture registry: one registration adds a model kind, its node, its builder and its rebuilder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from workbench import params as P
from workbench.engine import architectures
from workbench.engine.models import (
    ModelSpec,
    architecture_header,
    build_model,
    build_model_from_architecture,
    default_spec,
)
from workbench.errors import UserError
from workbench.execution.executor import Executor
from workbench.graph import Pipeline
from workbench.registry import builtin_registry


class ToyNet(nn.Module):
    """One tanh layer of ``width`` units, then the head (every model has a linear ``head``)."""

    def __init__(self, arch: dict) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(int(arch["input_shape"][0]), int(arch["width"])), nn.Tanh())
        self.head = nn.Linear(int(arch["width"]), int(arch["n_outputs"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build_toy(config: dict, shape: list[int], n_outputs: int, head: str) -> tuple[nn.Module, dict]:
    arch = architecture_header("toy", shape, n_outputs, head)
    arch["width"] = int(config["width"])
    return ToyNet(arch), arch


TOY = architectures.Architecture(
    "toy",
    "Toy network",
    build=build_toy,
    rebuild=ToyNet,
    params=(P.Int("width", 12, minimum=1, maximum=64, help="Units of the one hidden layer."),),
    help="A test architecture.",
    summary=("width",),
)


@pytest.fixture
def toy():
    architectures.register(TOY)
    try:
        yield TOY
    finally:
        architectures.unregister("toy")


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def blobs_csv(path, n: int = 360, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[0.0, 0.0, 3.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    frame = pd.DataFrame(centers[y] + rng.normal(0, 0.7, (n, 3)), columns=["a", "b", "c"])
    frame["kind"] = np.array(["x", "y", "z"])[y]
    frame.to_csv(path, index=False)
    return path


def test_a_registered_architecture_gets_its_node_and_trains_through_the_train_node(tmp_path, toy):
    registry = builtin_registry(plugins=False)
    assert "model.toy" in registry
    node_type = registry.get("model.toy")
    assert node_type.spec.params == TOY.params and node_type.spec.category == "model"

    pipeline = Pipeline(registry)
    pipeline.add("data.file", "file", path=str(blobs_csv(tmp_path / "blobs.csv")))
    pipeline.add("data.split", "split", target="kind", seed=3)
    pipeline.add("model.toy", "toy", width=9)
    pipeline.add("train.supervised", "train", epochs=25, seed=1)
    pipeline.connect("file", "table", "split", "table")
    pipeline.connect("split", "dataset", "train", "dataset")
    pipeline.connect("toy", "model", "train", "model")
    result = Executor().run(pipeline, device="cpu", write_run_folder=False)
    assert result.status == "ok", result.failures

    trained = result.output("train", "model")
    assert trained.architecture["kind"] == "toy" and trained.architecture["width"] == 9
    assert isinstance(trained.module, ToyNet) and trained.module.head.in_features == 9
    assert trained.history[-1]["val_accuracy"] > 0.9
    rebuilt = build_model_from_architecture(trained.architecture)  # what a checkpoint or bundle does
    rebuilt.load_state_dict(trained.module.state_dict())
    x = torch.randn(5, 3)
    assert torch.equal(rebuilt.eval()(x), trained.module(x))


def test_unregistering_removes_the_kind_and_its_node():
    architectures.register(TOY)
    architectures.unregister("toy")
    assert "model.toy" not in builtin_registry(plugins=False)
    with pytest.raises(UserError, match="unknown kind 'toy'; use mlp, linear, sequence"):
        build_model(ModelSpec("toy", {"width": 3}), (3,), 2, "binary")


def test_a_kind_registered_twice_is_refused(toy):
    with pytest.raises(ValueError, match="registered twice"):
        architectures.register(TOY)


def test_model_nodes_read_their_choices_and_defaults_from_the_registry():
    registry = builtin_registry(plugins=False)
    for kind in ("mlp", "linear", "sequence", "cnn", "resnet"):
        assert registry.get(f"model.{kind}").spec.params == architectures.get(kind).params
    cells = registry.get("model.sequence").spec.param("cell")
    assert cells.choices == ("gru", "lstm", "cnn1d")
    # what trains when no model node is wired in is each data kind's node with its defaults
    for shape, kind in (((4,), "mlp"), ((10, 4), "sequence"), ((32, 32, 1), "cnn")):
        spec = default_spec(shape)
        assert spec.kind == kind
        assert spec.config == P.resolve(registry.get(f"model.{kind}").spec.params, {})

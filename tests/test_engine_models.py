"""Model specs → modules, heads, and the architecture JSON round trip."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from workbench.engine.models import (
    ModelSpec,
    build_model,
    build_model_from_architecture,
    default_spec,
    head_for,
)
from workbench.engine.trained import TrainedModel
from workbench.errors import UserError


def test_default_spec_is_dense_128_relu_then_softmax_head():
    model, arch = build_model(default_spec(), (4,), 3, "multiclass")
    assert arch["layers"] == [{"units": 128, "activation": "relu", "dropout": 0.0, "batch_norm": False}]
    block = model.body[0]
    assert [type(m) for m in block] == [nn.Linear, nn.ReLU]
    assert (block[0].in_features, block[0].out_features) == (4, 128)
    assert (model.head.in_features, model.head.out_features) == (128, 3)


@pytest.mark.parametrize(
    ("task", "n_classes", "expected"),
    [
        ("classification", 2, ("binary", 1)),
        ("classification", 5, ("multiclass", 5)),
        ("regression", 0, ("regression", 1)),
    ],
)
def test_head_follows_the_task(task, n_classes, expected):
    assert head_for(task, n_classes) == expected


def test_head_for_one_class_is_a_user_error():
    with pytest.raises(UserError, match="at least 2 classes"):
        head_for("classification", 1)


SPECS = [
    (
        ModelSpec(
            "mlp",
            {
                "layers": [
                    {"units": 8, "activation": a, "dropout": 0.1, "batch_norm": True}
                    for a in ("gelu", "tanh", "sigmoid", "leaky_relu", "silu")
                ]
            },
        ),
        (5,),
    ),
    (ModelSpec("linear", {}), (5,)),
    (ModelSpec("mlp", {"layers": [{"units": 8}]}), (6, 5)),  # an MLP flattens windows
    (ModelSpec("sequence", {"cell": "gru", "hidden": 8, "num_layers": 2, "dropout": 0.1}), (6, 5)),
    (ModelSpec("sequence", {"cell": "lstm", "hidden": 8, "bidirectional": True}), (6, 5)),
    (ModelSpec("sequence", {"cell": "cnn1d", "hidden": 8, "num_layers": 2, "kernel_size": 3}), (6, 5)),
]


@pytest.mark.parametrize(("spec", "shape"), SPECS)
def test_architecture_json_round_trip_rebuilds_the_same_module(spec, shape):
    torch.manual_seed(0)
    model, arch = build_model(spec, shape, 2, "regression")
    text = json.dumps(arch)  # JSON-serialisable, no objects
    rebuilt = build_model_from_architecture(json.loads(text))
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = torch.randn(7, *shape)
    assert torch.equal(model(x), rebuilt(x))
    assert model(x).shape == (7, 2)
    assert ModelSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_linear_has_no_hidden_layers():
    model, arch = build_model(ModelSpec("linear"), (5,), 3, "multiclass")
    assert len(model.body) == 0 and arch["variant"] == "linear"
    assert sum(p.numel() for p in model.parameters()) == 5 * 3 + 3


def test_sequence_needs_windows():
    with pytest.raises(UserError, match="prep.window"):
        build_model(ModelSpec("sequence", {"cell": "gru"}), (5,), 1, "regression")


def test_unknown_kind_and_bad_layer_are_user_errors():
    with pytest.raises(UserError, match="unknown kind"):
        build_model(ModelSpec("transformer"), (5,), 1, "regression")
    with pytest.raises(UserError, match="units must be at least 1"):
        build_model(ModelSpec("mlp", {"layers": [{"units": 0}]}), (5,), 1, "regression")
    with pytest.raises(UserError, match="activation"):
        build_model(
            ModelSpec("mlp", {"layers": [{"units": 3, "activation": "swish2"}]}), (5,), 1, "regression"
        )


def test_trained_model_predicts_raw_outputs_on_cpu():
    model, arch = build_model(default_spec(), (4,), 1, "binary")
    trained = TrainedModel(module=model, architecture=arch, task="classification", classes=["no", "yes"])
    x = torch.randn(10, 4)
    out = trained.predict_tensor(x)
    assert out.shape == (10, 1) and trained.head == "binary"
    assert torch.equal(trained.predict_labels(x), (out[:, 0] > 0).long())
    state = trained.state_dict()
    assert set(state) == set(model.state_dict()) and all(t.device.type == "cpu" for t in state.values())

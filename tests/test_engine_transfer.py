"""Transfer learning: load from a bundle or a checkpoint, freeze, replace the head, fine-tune."""

from __future__ import annotations

import pytest
import torch

from workbench.engine.callbacks import Checkpointer
from workbench.engine.device import seed_everything
from workbench.engine.models import ModelSpec, build_model
from workbench.engine.trained import TrainedModel
from workbench.engine.trainer import TrainConfig, TrainData, fit
from workbench.engine.transfer import layer_names, load_pretrained
from workbench.errors import UserError
from workbench.export.bundle import write_bundle

SOURCE = ModelSpec("mlp", {"layers": [{"units": 32, "batch_norm": True, "dropout": 0.1}, {"units": 16}]})


def task_data(classes: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(600, 5, generator=g)
    score = x[:, 0] * 2 + x[:, 1] - x[:, 2]
    if classes == 2:
        y = (score > 0).long()
        head = "binary"
    else:
        y = torch.bucketize(score, torch.tensor([-1.5, 0.0, 1.5]))
        head = "multiclass"
    return TrainData(x[:450], y[:450], x[450:], y[450:], head, classes)


@pytest.fixture(scope="module")
def source_model(tmp_path_factory):
    """A 4-class model trained here, exported as a real bundle (manifest, checksums) and as checkpoints."""
    tmp_path = tmp_path_factory.mktemp("source")
    seed_everything(0)
    model, arch = build_model(SOURCE, (5,), 4, "multiclass")
    result = fit(
        model,
        task_data(4, 0),
        TrainConfig(epochs=4, lr=5e-3),
        [Checkpointer(tmp_path / "ckpt")],
        architecture=arch,
    )
    trained = TrainedModel(
        module=result.model.cpu(),
        architecture=arch,
        task="classification",
        classes=["a", "b", "c", "d"],
        feature_names=[f"x{i}" for i in range(5)],
    )
    bundle = write_bundle(trained, tmp_path / "bundle").path
    return trained, bundle, tmp_path / "ckpt" / "last.pt"


def test_bundle_and_checkpoint_load_the_same_weights(source_model):
    trained, bundle, checkpoint = source_model
    x = torch.randn(9, 5)
    for source in (bundle, bundle / "weights.safetensors", checkpoint):
        module, arch = load_pretrained(source)
        module.eval()
        assert torch.equal(module(x), trained.predict_tensor(x))
        assert arch["n_outputs"] == 4


def test_frozen_layers_stay_bit_identical_while_the_new_head_learns(source_model):
    trained, bundle, _ = source_model
    spec = ModelSpec("pretrained", {"source": str(bundle), "freeze": "all_but_head"})
    seed_everything(1)
    model, arch = build_model(spec, (5,), 1, "binary")
    assert (
        arch["head_replaced"]
        and arch["frozen_layers"] == ["body.0", "body.1"]
        and model.head.out_features == 1
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = task_data(2, 5)
    result = fit(model, data, TrainConfig(epochs=15, lr=1e-2))
    after = model.state_dict()
    body = [k for k in before if k.startswith("body.")]
    assert any("running_mean" in k for k in body)  # batch-norm statistics are covered too
    for key in body:
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["val_accuracy"] >= 0.85
    assert result.metrics["trainable_parameters"] == 16 + 1


def test_freeze_chosen_layers_from_a_checkpoint(source_model):
    _, _, checkpoint = source_model
    spec = ModelSpec("pretrained", {"source": str(checkpoint), "freeze": "layers", "layers": ["body.0"]})
    model, arch = build_model(spec, (5,), 4, "multiclass")
    assert not arch.get("head_replaced")  # same number of outputs: the head is kept
    assert layer_names(model) == ["body.0", "body.1", "head"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit(model, task_data(4, 3), TrainConfig(epochs=2))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("body.0."))
    assert not torch.equal(before["body.1.0.weight"], after["body.1.0.weight"])


def test_transfer_problems_are_user_errors(source_model, tmp_path):
    _, bundle, _ = source_model
    with pytest.raises(UserError, match="expects inputs of shape"):
        build_model(ModelSpec("pretrained", {"source": str(bundle)}), (7,), 2, "multiclass")
    with pytest.raises(UserError, match="not found; this model has body.0, body.1, head"):
        build_model(
            ModelSpec("pretrained", {"source": str(bundle), "freeze": "layers", "layers": ["x"]}),
            (5,),
            4,
            "multiclass",
        )
    with pytest.raises(UserError, match="does not exist"):
        build_model(ModelSpec("pretrained", {"source": str(tmp_path / "nope")}), (5,), 4, "multiclass")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is not a bundle"):
        build_model(ModelSpec("pretrained", {"source": str(tmp_path / "empty")}), (5,), 4, "multiclass")
    model, _ = build_model(
        ModelSpec(
            "pretrained", {"source": str(bundle), "freeze": "layers", "layers": ["body.0", "body.1", "head"]}
        ),
        (5,),
        4,
        "multiclass",
    )
    with pytest.raises(UserError, match="every layer is frozen"):
        fit(model, task_data(4, 1), TrainConfig(epochs=1))

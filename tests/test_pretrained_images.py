"""model.pretrained for pictures: start from one of our image bundles (its weights.safetensors +
architecture.json) or from a torchvision-named ResNet-18 state dict; freeze the backbone, new head for the new
classes, unfreeze after N epochs. Through the real pipeline and executor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

pytest.importorskip("PIL")
from safetensors.torch import load_file, save_file  # noqa: E402

from workbench.engine.models import ModelSpec, build_model  # noqa: E402
from workbench.errors import UserError  # noqa: E402
from workbench.execution.executor import Executor  # noqa: E402
from workbench.graph import Pipeline  # noqa: E402
from workbench.paths import resource  # noqa: E402

DIGITS = resource("datasets", "digits_images")


def digits(folder: Path, labels: tuple[str, ...], per_class: int) -> Path:
    """A small copy of the shipped digits pictures (the first ``per_class`` files of each class)."""
    for label in labels:
        (folder / label).mkdir(parents=True, exist_ok=True)
        for picture in sorted((DIGITS / label).glob("*.png"))[:per_class]:
            shutil.copy(picture, folder / label / picture.name)
    return folder


def write_pipeline(path: Path, images: Path, model: dict, epochs: int, export: str | None = None) -> Path:
    nodes = [
        {"id": "images", "type": "data.images", "params": {"path": str(images), "size": 12}, "position": [0, 0]},
        {"id": "split", "type": "data.split", "params": {"target": "label", "seed": 1}, "position": [200, 0]},
        {"id": "model", "type": model["type"], "params": model["params"], "position": [200, 100]},
        {"id": "train", "type": "train.supervised", "params": {"epochs": epochs, "batch_size": 16, "lr": 0.01},
         "position": [400, 0]},
    ]  # fmt: skip
    links = [
        {"from": ["images", "table"], "to": ["split", "table"]},
        {"from": ["split", "dataset"], "to": ["train", "dataset"]},
        {"from": ["model", "model"], "to": ["train", "model"]},
    ]
    if export:
        nodes.append({"id": "export", "type": "deploy.export", "params": {"path": export, "zip": False},
                      "position": [600, 0]})  # fmt: skip
        links += [{"from": ["train", "model"], "to": ["export", "model"]},
                  {"from": ["split", "dataset"], "to": ["export", "dataset"]}]  # fmt: skip
    doc = {"format_version": 1, "app": "model-workbench 0.1.0", "meta": {}, "nodes": nodes, "links": links}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run(path: Path) -> object:
    """The trained model of the pipeline's train node (a TrainedModel), after a real executor run."""
    result = Executor().run(Pipeline.load(path), write_run_folder=False, use_cache=False)
    assert result.status == "ok", result.failures
    return result.output("train", "model")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny 4-digit CNN (1 epoch) exported as a bundle, once for this module."""
    root = tmp_path_factory.mktemp("source")
    pics = digits(root / "pics", ("0", "1", "2", "3"), 12)
    cnn = {"type": "model.cnn", "params": {"blocks": 2, "width": 8, "dropout": 0.0}}
    path = write_pipeline(root / "source.pipeline.json", pics, cnn, epochs=1, export="bundle")
    run(path)
    assert (root / "bundle" / "weights.safetensors").is_file()
    return root / "bundle"


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The new task: three other digits."""
    return digits(tmp_path_factory.mktemp("three") / "pics", ("5", "7", "9"), 10)


def pretrained(tmp_path: Path, pics: Path, source: Path, epochs: int, **params: object) -> object:
    spec = {"type": "model.pretrained", "params": {"source": str(source), **params}}
    return run(write_pipeline(tmp_path / "fine.pipeline.json", pics, spec, epochs))


def test_frozen_backbone_keeps_the_bundles_weights_and_the_head_is_new(
    bundle: Path, three: Path, tmp_path: Path
) -> None:
    saved = load_file(str(bundle / "weights.safetensors"))
    # at the start: every backbone tensor is the bundle's, the head is new for three classes
    spec = ModelSpec("pretrained", {"source": str(bundle), "freeze": "all_but_head"})
    module, arch = build_model(spec, (12, 12, 1), 3, "multiclass")
    start = module.state_dict()
    assert all(torch.equal(start[k], saved[k]) for k in saved if not k.startswith("head."))
    assert tuple(module.head.weight.shape) == (3, 16) and saved["head.weight"].shape[0] == 4
    assert arch["head_replaced"] and arch["frozen_layers"][:2] == ["body.0", "body.1"]
    # after two epochs through the real pipeline: frozen tensors (and batch-norm statistics) unchanged
    trained = pretrained(tmp_path, three, bundle, epochs=2, freeze="all_but_head")
    after = trained.module.state_dict()
    backbone = [k for k in saved if not k.startswith("head.")]
    assert len(backbone) > 10 and all(torch.equal(after[k], saved[k]) for k in backbone)
    assert tuple(after["head.weight"].shape) == (3, 16)
    assert not torch.equal(after["head.weight"], module.state_dict()["head.weight"])  # the head learned
    assert trained.classes == ["5", "7", "9"] and trained.architecture["input_shape"] == [12, 12, 1]


def test_unfreeze_after_one_epoch_lets_the_backbone_learn(bundle: Path, three: Path, tmp_path: Path) -> None:
    saved = load_file(str(bundle / "weights.safetensors"))
    trained = pretrained(tmp_path, three, bundle, epochs=2, freeze="all_but_head", unfreeze_after=1)
    after = trained.module.state_dict()
    convs = [k for k in saved if k.startswith("body.") and k.endswith(".weight")]
    assert convs and all(not torch.equal(after[k], saved[k]) for k in convs)
    assert trained.architecture["unfreeze_after"] == 1
    # one epoch only: the unfreezing never came, the backbone is the bundle's
    once = pretrained(tmp_path, three, bundle, epochs=1, freeze="all_but_head", unfreeze_after=1)
    assert all(torch.equal(once.module.state_dict()[k], saved[k]) for k in convs)


def test_a_bigger_picture_size_reuses_the_weights_and_wrong_channels_are_one_line(bundle: Path) -> None:
    saved = load_file(str(bundle / "weights.safetensors"))
    module, arch = build_model(ModelSpec("pretrained", {"source": str(bundle)}), (20, 20, 1), 4, "multiclass")
    assert arch["input_shape"] == [20, 20, 1] and arch["pretrained_input_shape"] == [12, 12, 1]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())
    assert module(torch.zeros(2, 20, 20, 1, dtype=torch.uint8)).shape == (2, 4)
    with pytest.raises(UserError, match="reads grey pictures but this data gives colour ones"):
        build_model(ModelSpec("pretrained", {"source": str(bundle)}), (12, 12, 3), 4, "multiclass")
    with pytest.raises(UserError, match="is an image model; connect data.images"):
        build_model(ModelSpec("pretrained", {"source": str(bundle)}), (5,), 4, "multiclass")


def torchvision_resnet18() -> dict[str, torch.Tensor]:
    """A ResNet-18 state dict with torchvision's names and shapes (random weights; torchvision itself is not
    importable with the CPU torch build), written out by hand so the names do not come from our own module."""
    state: dict[str, torch.Tensor] = {}
    g = torch.Generator().manual_seed(0)

    def conv(name: str, c_out: int, c_in: int, k: int) -> None:
        state[f"{name}.weight"] = torch.randn(c_out, c_in, k, k, generator=g) * 0.05

    def bn(name: str, c: int) -> None:
        state[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.bias"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_mean"] = torch.randn(c, generator=g) * 0.1
        state[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(100)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    c_in = 64
    for index, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            at = f"layer{index}.{block}"
            conv(f"{at}.conv1", width, c_in if block == 0 else width, 3)
            bn(f"{at}.bn1", width)
            conv(f"{at}.conv2", width, width, 3)
            bn(f"{at}.bn2", width)
            if block == 0 and index > 1:
                conv(f"{at}.downsample.0", width, c_in, 1)
                bn(f"{at}.downsample.1", width)
        c_in = width
    state["fc.weight"] = torch.randn(1000, 512, generator=g) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    return state


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_torchvision_resnet18_state_dict_loads(tmp_path: Path, suffix: str) -> None:
    state = torchvision_resnet18()
    path = tmp_path / f"resnet18{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save({f"module.{k}": v for k, v in state.items()}, path)  # DataParallel names, plain tensors
    spec = ModelSpec("pretrained", {"source": str(path), "freeze": "all_but_head"})
    module, arch = build_model(spec, (96, 96, 3), 3, "multiclass")  # 96 px: the ImageNet stem, conv1 loads
    own = module.state_dict()
    assert arch["kind"] == "resnet" and arch["depth"] == 18 and arch["stem"] == "imagenet"
    assert all(torch.equal(own[k], v) for k, v in state.items() if not k.startswith("fc."))
    assert tuple(module.fc.weight.shape) == (3, 512) and arch["head_replaced"]
    assert arch["mean"] == [0.485, 0.456, 0.406]  # what ImageNet weights were trained with
    assert arch["frozen_layers"] == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    assert [n for n, p in module.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    # grey pictures of 32 px: conv1 starts afresh (the small stem) and keeps learning with bn1
    module, arch = build_model(spec, (32, 32, 1), 2, "binary")
    assert arch["stem"] == "small" and arch["frozen_layers"] == ["layer1", "layer2", "layer3", "layer4"]
    assert torch.equal(module.state_dict()["layer4.1.bn2.running_var"], state["layer4.1.bn2.running_var"])


def test_bad_weight_files_are_one_line_naming_the_file_and_the_first_keys(tmp_path: Path) -> None:
    state = torchvision_resnet18()
    renamed = tmp_path / "renamed.safetensors"
    save_file({k.replace("layer1.0.", "stage1.0."): v for k, v in state.items()}, str(renamed))
    shape = (64, 64, 3)
    with pytest.raises(UserError) as caught:
        build_model(ModelSpec("pretrained", {"source": str(renamed)}), shape, 2, "binary")
    message = str(caught.value)
    assert "renamed.safetensors" in message and "\n" not in message
    assert "(missing layer1.0.conv1.weight, " in message and "; unexpected stage1.0." in message
    other = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(other))
    with pytest.raises(UserError, match=r"other\.safetensors does not hold a torchvision/timm ResNet-18/34 .*"
                       r"its first names: encoder\.weight"):  # fmt: skip
        build_model(ModelSpec("pretrained", {"source": str(other)}), shape, 2, "binary")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(UserError, match=r"junk\.safetensors cannot be read as safetensors"):
        build_model(ModelSpec("pretrained", {"source": str(junk)}), shape, 2, "binary")
    wrong = tmp_path / "wrong.pt"
    torch.save({k: (v[:, :, :1] if k == "layer2.0.conv1.weight" else v) for k, v in state.items()}, wrong)
    with pytest.raises(UserError, match=r"wrong\.pt: layer2\.0\.conv1\.weight has shape \[128, 64, 1, 3\]"):
        build_model(ModelSpec("pretrained", {"source": str(wrong)}), shape, 2, "binary")
    with pytest.raises(UserError, match="holds ResNet weights, for pictures"):
        build_model(ModelSpec("pretrained", {"source": str(wrong)}), (8,), 2, "binary")


def test_an_unfreezing_run_resumes_from_its_checkpoint(bundle: Path, tmp_path: Path) -> None:
    from workbench.engine.callbacks import Checkpointer
    from workbench.engine.device import seed_everything
    from workbench.engine.trainer import TrainConfig, TrainData, fit

    g = torch.Generator().manual_seed(3)
    x, y = (
        torch.randint(0, 256, (48, 12, 12, 1), generator=g).float(),
        torch.randint(0, 3, (48,), generator=g),
    )
    data = TrainData(x[:40], y[:40], x[40:], y[40:], "multiclass", 3)
    spec = ModelSpec("pretrained", {"source": str(bundle), "unfreeze_after": 1})
    saved = load_file(str(bundle / "weights.safetensors"))
    seed_everything(0)
    module, arch = build_model(spec, (12, 12, 1), 3, "multiclass")
    fit(
        module,
        data,
        TrainConfig(epochs=1, batch_size=8),
        [Checkpointer(tmp_path / "ckpt")],
        architecture=arch,
    )
    assert torch.equal(module.state_dict()["body.0.weight"], saved["body.0.weight"])  # still frozen
    seed_everything(0)
    module, arch = build_model(spec, (12, 12, 1), 3, "multiclass")
    config = TrainConfig(epochs=2, batch_size=8, resume_from=str(tmp_path / "ckpt" / "last.pt"))
    result = fit(module, data, config, architecture=arch)
    assert [r["epoch"] for r in result.history] == [1, 2] and result.metrics["trainable_parameters"] == sum(
        p.numel() for p in module.parameters()
    )
    assert not torch.equal(module.state_dict()["body.0.weight"], saved["body.0.weight"])  # learned in epoch 2
    assert module.frozen_layers == [] and all(p.requires_grad for p in module.parameters())

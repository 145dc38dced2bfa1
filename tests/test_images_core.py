"""Images through the ordinary pipeline: data.images, decoding policies, streaming batches, augmentation,
model.cnn / model.resnet, training and evaluation through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from workbench.cli import main as cli_main  # noqa: E402


def bars(folder: Path, per_class: int = 24, size: int = 12, seed: int = 0) -> Path:
    """An easy two-class picture set: horizontal vs vertical bars with noise, grey PNG files."""
    rng = np.random.default_rng(seed)
    for label in ("horizontal", "vertical"):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = rng.integers(0, 60, (size, size)).astype(np.uint8)
            line = rng.integers(2, size - 2)
            if label == "horizontal":
                image[line - 1 : line + 1, :] = 255
            else:
                image[:, line - 1 : line + 1] = 255
            Image.fromarray(image, mode="L").save(folder / label / f"{i:03d}.png")
    return folder


def pipeline(path: Path, images: str, epochs: int = 3, extra_nodes=(), extra_links=()) -> Path:
    nodes = [
        {"id": "images", "type": "data.images", "params": {"path": images, "size": 12}, "position": [0, 0]},
        {"id": "split", "type": "data.split", "params": {"target": "label", "seed": 1}, "position": [200, 0]},
        {"id": "cnn", "type": "model.cnn", "params": {"blocks": 2, "width": 8, "dropout": 0.0}, "position": [200, 100]},
        {"id": "train", "type": "train.supervised", "params": {"epochs": epochs, "batch_size": 16, "lr": 0.01},
         "position": [400, 0]},
        {"id": "evaluate", "type": "evaluate.metrics", "params": {}, "position": [600, 0]},
        *extra_nodes,
    ]  # fmt: skip
    links = [
        {"from": ["images", "table"], "to": ["split", "table"]},
        {"from": ["split", "dataset"], "to": ["train", "dataset"]},
        {"from": ["cnn", "model"], "to": ["train", "model"]},
        {"from": ["train", "model"], "to": ["evaluate", "model"]},
        {"from": ["split", "dataset"], "to": ["evaluate", "dataset"]},
        *extra_links,
    ]
    doc = {"format_version": 1, "app": "model-workbench 0.1.0", "meta": {}, "nodes": nodes, "links": links}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def exported_bundle(root: Path, per_class: int, zip_too: bool = False) -> Path:
    """Bars pictures → a tiny CNN (2 epochs) → an image bundle, through the real CLI; the bundle's folder."""
    bars(root / "pics", per_class=per_class)
    export = {"id": "export", "type": "deploy.export", "params": {"path": "bundle", "zip": zip_too},
              "position": [800, 0]}  # fmt: skip
    links = [{"from": ["train", "model"], "to": ["export", "model"]},
             {"from": ["split", "dataset"], "to": ["export", "dataset"]}]  # fmt: skip
    path = pipeline(root / "p.pipeline.json", "pics", epochs=2, extra_nodes=[export], extra_links=links)
    assert cli_main(["run", str(path)]) == 0
    return root / "bundle"


class Ctx:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def resolve_path(self, value, must_exist=True):
        return Path(value)

    def log(self, message, level="info"):
        self.lines.append(message)

    def warn(self, message):
        self.warnings.append(message)

    def check_cancelled(self):
        return None


def run_node(node_type, params, inputs=None):
    from workbench.registry import builtin_registry

    registry = builtin_registry(plugins=False)
    cls = registry.get(node_type)
    spec_params = {p.name: p.coerce(p.default) for p in cls.spec.params}
    spec_params.update(params)
    ctx = Ctx()
    return cls().run(ctx, inputs or {}, spec_params), ctx


def test_data_images_lists_classes_and_skips_broken_files(tmp_path: Path) -> None:
    root = bars(tmp_path / "pics", per_class=5)
    (root / "vertical" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (root / "vertical" / "notes.txt").write_text("not an image")
    good = (root / "horizontal" / "000.png").read_bytes()
    (root / "horizontal" / "cut.png").write_bytes(good[: len(good) // 2])  # truncated: fails verify
    out, ctx = run_node("data.images", {"path": str(root), "size": 12})
    table = out["table"]
    assert list(table.columns) == ["path", "label"]
    assert table["label"].value_counts().to_dict() == {"horizontal": 5, "vertical": 5}
    assert all(Path(p).is_absolute() and Path(p).exists() for p in table["path"])
    settings = table.attrs["workbench.images"]
    assert settings["skipped"] == 2 and settings["channels"] == 1 and settings["size"] == 12
    assert {Path(p).name for p, _ in settings["skipped_files"]} == {"broken.png", "cut.png"}
    assert ctx.warnings == ["2 file(s) could not be read as images and were skipped"]
    assert any(
        "10 images in 2 classes" in line and "1 non-image file(s) ignored" in line for line in ctx.lines
    )


def test_data_images_from_a_table_with_relative_paths(tmp_path: Path) -> None:
    root = bars(tmp_path / "pics", per_class=3)
    rows = ["file,kind"] + [
        f"pics/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(root.glob("*/*.png"))
    ]
    rows.append("pics/missing.png,vertical")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    out, ctx = run_node(
        "data.images", {"path": str(tmp_path / "list.csv"), "path_column": "file", "label_column": "kind"}
    )
    assert len(out["table"]) == 6 and out["table"].attrs["workbench.images"]["skipped"] == 1
    with pytest.raises(Exception, match="no column 'path'"):
        run_node("data.images", {"path": str(tmp_path / "list.csv")})


def test_data_images_refuses_a_folder_without_class_folders(tmp_path: Path) -> None:
    from workbench.errors import UserError

    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(UserError, match="no sub-folders"):
        run_node("data.images", {"path": str(tmp_path)})


def test_resize_policies(tmp_path: Path) -> None:
    from workbench.images.decode import load_pixels

    wide = np.zeros((10, 40, 3), dtype=np.uint8)
    wide[:, 15:25] = (255, 0, 0)  # a red centre band
    Image.fromarray(wide).save(tmp_path / "wide.png")
    squash = load_pixels(tmp_path / "wide.png", 8, "squash", 3)
    crop = load_pixels(tmp_path / "wide.png", 8, "crop", 3)
    pad = load_pixels(tmp_path / "wide.png", 8, "pad", 3)
    grey = load_pixels(tmp_path / "wide.png", 8, "squash", 1)
    assert squash.shape == crop.shape == pad.shape == (8, 8, 3) and grey.shape == (8, 8, 1)
    assert crop[:, 2:6, 0].min() > 200  # the centre square is the red band
    assert squash[:, 0, 0].max() == 0 and squash[:, 3:5, 0].min() > 200
    assert pad[0].max() == 0 and pad[-1].max() == 0  # black bars above and below
    assert grey.max() > 0 and grey.dtype == np.uint8


def test_split_keeps_the_image_column_and_its_kind(tmp_path: Path) -> None:
    from workbench.images.data import dataset_settings
    from workbench.tabular.split import split_table

    out, _ = run_node("data.images", {"path": str(bars(tmp_path / "p", per_class=10))})
    dataset = split_table(out["table"], "label", seed=0)
    assert dataset.features == ["path"] and dataset.input_schema == {"path": "image"}
    assert dataset_settings(dataset)["size"] == 32


def test_streamed_batches_prefetch_in_order_and_cache(tmp_path: Path) -> None:
    import torch

    from workbench.images.source import ImageBatches

    paths = sorted(str(p) for p in bars(tmp_path / "p", per_class=8).glob("*/*.png"))
    source = ImageBatches(paths, {"size": 12, "policy": "squash", "channels": 1}).to("cpu")
    try:
        for epoch in range(2):
            perm = torch.randperm(len(paths), generator=torch.Generator().manual_seed(epoch))
            source.start_epoch(perm, 5)
            for i in range(0, len(paths), 5):
                batch = source[perm[i : i + 5]]
                expected = np.stack([np.asarray(Image.open(paths[j]).resize((12, 12), Image.BILINEAR))
                                     for j in perm[i : i + 5].tolist()])  # fmt: skip
                assert batch.dtype == torch.float32 and batch.shape == (len(expected), 12, 12, 1)
                assert torch.equal(batch[..., 0], torch.from_numpy(expected).float())
        assert source.decoded == len(paths)  # the second epoch came from memory
        assert source[2:4].shape == (2, 12, 12, 1)  # plain slices (validation) work too
    finally:
        source.close()


def test_augmentation_is_seeded_and_keeps_shape_and_range() -> None:
    import torch

    from workbench.images.augment import Augmenter, preview

    image = np.zeros((16, 16, 1), dtype=np.uint8)
    image[4:12, 7:9] = 255
    draws = preview(image, {"rotation": 30, "translate": 0.1}, n=8, seed=3)
    again = preview(image, {"rotation": 30, "translate": 0.1}, n=8, seed=3)
    assert len(draws) == 8 and all(d.shape == (16, 16, 1) and d.dtype == np.uint8 for d in draws)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again, strict=True))
    assert len({d.tobytes() for d in draws}) > 4  # the draws differ from each other
    colour = Augmenter({"saturation": 0.5, "hue": 0.1, "hflip": 1.0}, 16, 3)
    out = colour(torch.full((2, 16, 16, 3), 128.0))
    assert out.shape == (2, 16, 16, 3) and float(out.min()) >= 0 and float(out.max()) <= 255


def test_resnet_has_torchvision_names_and_sizes() -> None:
    from workbench.engine.vision import build_vision, vision_architecture

    arch = vision_architecture("resnet", {"depth": 18, "stem": "imagenet"}, [224, 224, 3], 1000, "multiclass")
    model = build_vision(arch)
    keys = list(model.state_dict())
    # torchvision.models.resnet18(): 11,689,512 parameters, 122 state-dict entries
    assert sum(p.numel() for p in model.parameters()) == 11_689_512 and len(keys) == 122
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias", "fc.weight", "fc.bias"):  # fmt: skip
        assert key in keys
    assert model.head is model.fc
    arch34 = vision_architecture(
        "resnet", {"depth": 34, "stem": "imagenet"}, [224, 224, 3], 1000, "multiclass"
    )
    assert sum(p.numel() for p in build_vision(arch34).parameters()) == 21_797_672  # torchvision resnet34


def test_resnet_weights_load_by_name_grey_and_new_head(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from workbench.engine.vision import build_vision, build_vision_model, vision_architecture

    source = build_vision(
        vision_architecture("resnet", {"stem": "imagenet"}, [64, 64, 3], 1000, "multiclass")
    )
    state = {f"module.{k}": v.contiguous() for k, v in source.state_dict().items()}  # DDP-style prefix
    save_file(state, tmp_path / "r18.safetensors")
    config = {
        "depth": 18,
        "stem": "imagenet",
        "weights": str(tmp_path / "r18.safetensors"),
        "freeze": "backbone",
    }
    model, arch = build_vision_model("resnet", config, [64, 64, 1], 3, "multiclass")
    assert torch.equal(model.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    assert torch.allclose(model.conv1.weight, source.conv1.weight.sum(dim=1, keepdim=True))
    assert model.fc.weight.shape == (3, 512)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    assert any("colour weights summed" in n for n in arch["weights_notes"])
    # Small pictures take the 3×3 stem: conv1 and bn1 start afresh and, frozen backbone or not, keep learning.
    small, arch = build_vision_model("resnet", dict(config, stem="small"), [32, 32, 3], 3, "multiclass")
    assert torch.equal(small.layer3[1].conv2.weight, source.layer3[1].conv2.weight)
    learning = [n for n, p in small.named_parameters() if p.requires_grad]
    assert learning == ["conv1.weight", "bn1.weight", "bn1.bias", "fc.weight", "fc.bias"]
    save_file({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "bad.safetensors")
    with pytest.raises(Exception, match="does not fit this ResNet"):
        build_vision_model(
            "resnet", {"weights": str(tmp_path / "bad.safetensors")}, [64, 64, 3], 3, "multiclass"
        )
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(Exception, match="not a .safetensors file"):
        build_vision_model("resnet", {"weights": str(tmp_path / "w.pt")}, [64, 64, 3], 3, "multiclass")


def test_cnn_takes_uint8_and_float_pixels_alike() -> None:
    import torch

    from workbench.engine.vision import build_vision, vision_architecture

    model = build_vision(vision_architecture("cnn", {}, [16, 16, 3], 4, "multiclass")).eval()
    pixels = torch.randint(0, 256, (2, 16, 16, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(pixels), model(pixels.float()))


def test_images_train_and_evaluate_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bars(tmp_path / "pics", per_class=24)
    augment = {"id": "aug", "type": "prep.image_augment", "params": {"rotation": 0, "hflip": 0.5, "vflip": 0.5,
               "scale_min": 1.0, "translate": 0.0, "brightness": 0.1, "contrast": 0.0}, "position": [300, 0]}  # fmt: skip
    path = pipeline(tmp_path / "p.pipeline.json", "pics", epochs=4, extra_nodes=[augment])
    doc = json.loads(path.read_text())
    doc["links"][1] = {"from": ["split", "dataset"], "to": ["aug", "dataset"]}
    doc["links"].append({"from": ["aug", "dataset"], "to": ["train", "dataset"]})
    path.write_text(json.dumps(doc))
    code = cli_main(["run", str(path)])
    captured = capsys.readouterr()
    err = captured.err + captured.out
    assert code == 0, err
    assert "48 images in 2 classes" in err and "augmenting training images on the fly" in err
    assert "fit started" in err and "12×12 px, grey" in err
    accuracy = float(err.split("evaluate: accuracy=")[1].split()[0])
    assert accuracy >= 0.85  # bars are easy; chance is 0.5


DATASETS = Path(__file__).resolve().parent.parent / "resources" / "datasets"


def test_generator_reproduces_the_committed_digit_pictures(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_datasets", DATASETS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.digits_images(tmp_path / "d") == 1797
    made = sorted(p.relative_to(tmp_path / "d") for p in (tmp_path / "d").glob("*/*.png"))
    committed = sorted(
        p.relative_to(DATASETS / "digits_images") for p in (DATASETS / "digits_images").glob("*/*.png")
    )
    assert made == committed
    assert all(
        (tmp_path / "d" / p).read_bytes() == (DATASETS / "digits_images" / p).read_bytes() for p in made
    )


def test_lfw_faces_are_200_small_grey_pictures() -> None:
    files = sorted((DATASETS / "lfw_faces").glob("*/*.png"))
    assert len(files) == 200 and {p.parent.name for p in files} == {"face", "other"}
    assert sum(p.parent.name == "face" for p in files) == 100
    with Image.open(files[0]) as image:
        assert image.size == (25, 25) and image.mode == "L"
    assert sum(p.stat().st_size for p in files) < 200_000


def test_integrated_gradients_is_exact_for_a_linear_model_and_complete_for_a_cnn() -> None:
    import torch

    from workbench.engine.vision import build_vision, vision_architecture
    from workbench.images.explain import completeness_gap, integrated_gradients, overlay

    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 3)
    x = np.array([0.5, -1.0, 2.0, 0.0, 3.0], dtype=np.float32)
    attributions = integrated_gradients(linear, x, target=2, steps=8)
    expected = (x * linear.weight[2].detach().numpy()).astype(np.float64)  # (x - 0) · w, exactly
    assert np.allclose(attributions, expected, atol=1e-6)
    model = build_vision(
        vision_architecture("cnn", {"blocks": 2, "width": 8}, [12, 12, 1], 2, "binary")
    ).eval()
    pixels = np.random.default_rng(0).integers(0, 256, (12, 12, 1)).astype(np.float32)
    for target in (0, 1):
        attributions = integrated_gradients(model, pixels, target, "binary", steps=128)
        assert attributions.shape == (12, 12, 1)
        with torch.no_grad():
            logit = float(
                model(torch.from_numpy(pixels)[None])[0, 0] - model(torch.zeros(1, 12, 12, 1))[0, 0]
            )
        delta = logit if target == 1 else -logit
        gap = completeness_gap(model, pixels, attributions, target, "binary")
        assert gap <= 0.02 * max(1.0, abs(delta)), (gap, delta)  # attributions add up to f(x) - f(black)
    picture = overlay(pixels.astype(np.uint8), attributions)
    assert picture.shape == (12, 12, 3) and picture.dtype == np.uint8

"""Write the example pipelines in resources/examples/ through the public Python API.

Run ``.venv/bin/python scripts/make_examples.py`` after changing a node's params; the files are committed.
Each example reads its data through ``data.file`` with a path relative to resources/, so a user points it at
their own table by changing one parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.graph import Pipeline

OUT = Path(__file__).resolve().parent.parent / "resources" / "examples"
STEP_X, STEP_Y = 250.0, 150.0
# The documented figures (docs/examples.md) were measured with batch 64 and a constant lr; pinned so that
# regenerating the files keeps them now that train.supervised picks both automatically by default.
PINNED = {"batch_size": 64, "scheduler": "none"}


def chain(pipeline: Pipeline, steps: list[tuple[str, str, dict[str, Any]]], row: int = 0) -> list[str]:
    """Add nodes left to right and wire each to the previous one through the first matching ports."""
    ids = []
    for column, (node_id, type_id, params) in enumerate(steps):
        pipeline.add(type_id, node_id, position=(column * STEP_X, row * STEP_Y), **params)
        ids.append(node_id)
    for left, right in zip(ids, ids[1:], strict=False):
        out_port = pipeline.spec(left).outputs[0]
        in_port = next(p for p in pipeline.spec(right).inputs if p.type == out_port.type)
        pipeline.connect(left, out_port.name, right, in_port.name)
    return ids


def place(pipeline: Pipeline, node_id: str, type_id: str, column: float, row: float, **params: Any) -> str:
    pipeline.add(type_id, node_id, position=(column * STEP_X, row * STEP_Y), **params)
    return node_id


def finish(pipeline: Pipeline, name: str, description: str) -> None:
    pipeline.meta = {"title": name.replace("_", " ").capitalize(), "description": description}
    OUT.mkdir(parents=True, exist_ok=True)
    pipeline.save(OUT / f"{name}.pipeline.json")


def with_evaluation(
    p: Pipeline, data_node: str, train_node: str, column: float, extra: tuple[str, ...] = ()
) -> None:
    """Evaluate on the test split, optional explanations, and export a bundle into the run folder."""
    registry = p.registry
    if "evaluate.metrics" not in registry:
        return
    place(p, "evaluate", "evaluate.metrics", column, 0)
    p.connect(train_node, "model", "evaluate", "model")
    p.connect(data_node, "dataset", "evaluate", "dataset")
    for index, type_id in enumerate(extra, start=1):
        node_id = type_id.split(".")[-1]
        place(p, node_id, type_id, column, index)
        p.connect(train_node, "model", node_id, "model")
        p.connect(data_node, "dataset", node_id, "dataset")
    if "deploy.export" in registry:
        place(p, "export", "deploy.export", column + 1, 0)  # empty path: the bundle goes to the run folder
        p.connect(train_node, "model", "export", "model")
        if p.spec("export").input("dataset"):
            p.connect(data_node, "dataset", "export", "dataset")


def quickstart() -> None:
    p = Pipeline()
    p.meta["name"] = "quickstart"
    chain(
        p,
        [
            ("file", "data.file", {"path": "datasets/digits.csv"}),
            ("split", "data.split", {"target": "digit"}),
        ],
    )
    place(p, "mlp", "model.mlp", 1, 1)
    place(p, "train", "train.supervised", 2, 0, epochs=10, **PINNED)
    p.connect("split", "dataset", "train", "dataset")
    p.connect("mlp", "model", "train", "model")
    with_evaluation(p, "split", "train", 3)
    finish(
        p,
        "quickstart",
        "The classic first network: Dense(128, relu) → softmax, Adam, cross-entropy, batch 64, "
        "10 epochs with validation data, on 8x8 handwritten digits. Change `file.path` to use your own table.",
    )


def credit_risk() -> None:
    p = Pipeline()
    p.meta["name"] = "credit_risk"
    chain(
        p,
        [
            ("file", "data.file", {"path": "datasets/credit_risk.csv"}),
            ("columns", "clean.columns", {"drop": ["applicant_id"]}),
            ("split", "data.split", {"target": "default", "stratify": True, "seed": 7}),
            ("impute", "prep.impute", {"strategy": "median", "indicators": True}),
            ("encode", "prep.encode", {}),
            ("scale", "prep.scale", {}),
            ("augment", "prep.augment", {"method": "oversample"}),
        ],
    )
    place(
        p,
        "mlp",
        "model.mlp",
        6,
        1,
        layers=[
            {"units": 64, "activation": "relu", "dropout": 0.2, "batch_norm": False},
            {"units": 32, "activation": "relu", "dropout": 0.1, "batch_norm": False},
        ],
    )
    place(p, "train", "train.supervised", 7, 0, epochs=40, early_stopping=True, patience=6, **PINNED)
    p.connect("augment", "dataset", "train", "dataset")
    p.connect("mlp", "model", "train", "model")
    with_evaluation(p, "scale", "train", 8, ("evaluate.importance",))
    finish(
        p,
        "credit_risk",
        "Finance: will a loan default? Imbalanced classes (17 % defaults): missing values "
        "filled with indicators, categories one-hot encoded, the minority class oversampled on the training "
        "split only, early stopping on validation loss.",
    )


def disease() -> None:
    p = Pipeline()
    p.meta["name"] = "disease"
    chain(
        p,
        [
            ("file", "data.file", {"path": "datasets/breast_cancer.csv"}),
            ("split", "data.split", {"target": "diagnosis", "seed": 3}),
            ("scale", "prep.scale", {}),
        ],
    )
    place(
        p,
        "mlp",
        "model.mlp",
        2,
        1,
        layers=[
            {"units": 32, "activation": "relu", "dropout": 0.1, "batch_norm": False},
        ],
    )
    place(p, "train", "train.supervised", 3, 0, epochs=60, early_stopping=True, patience=8, **PINNED)
    p.connect("scale", "dataset", "train", "dataset")
    p.connect("mlp", "model", "train", "model")
    with_evaluation(p, "scale", "train", 4, ("evaluate.surrogate",))
    finish(
        p,
        "disease",
        "Healthcare: malignant or benign, from 30 measurements of cell nuclei (the Wisconsin "
        "breast cancer data). A small network with early stopping, and a decision-tree surrogate that "
        "explains its decisions in readable rules.",
    )


def student_grades() -> None:
    p = Pipeline()
    p.meta["name"] = "student_grades"
    chain(
        p,
        [
            ("file", "data.file", {"path": "datasets/student_performance.csv"}),
            ("columns", "clean.columns", {"drop": ["student_id", "passed"]}),
            ("split", "data.split", {"target": "final_grade", "task": "regression", "seed": 1}),
            ("impute", "prep.impute", {"strategy": "median"}),
            ("encode", "prep.encode", {}),
            ("scale", "prep.scale", {}),
        ],
    )
    place(
        p,
        "mlp",
        "model.mlp",
        5,
        1,
        layers=[
            {"units": 32, "activation": "relu", "dropout": 0.0, "batch_norm": False},
        ],
    )
    place(
        p, "train", "train.supervised", 6, 0, epochs=80, lr=0.003, early_stopping=True, patience=10, **PINNED
    )
    p.connect("scale", "dataset", "train", "dataset")
    p.connect("mlp", "model", "train", "model")
    with_evaluation(p, "scale", "train", 7, ("evaluate.importance",))
    finish(
        p,
        "student_grades",
        "Education: predict a student's final grade (0-100) from study habits, "
        "attendance and background; permutation importance shows which inputs matter.",
    )


def price_trend() -> None:
    p = Pipeline()
    p.meta["name"] = "price_trend"
    chain(
        p,
        [
            ("file", "data.file", {"path": "datasets/stock_prices.csv"}),
            ("columns", "clean.columns", {"keep": ["date", "close", "volume", "return_1d"]}),
            (
                "split",
                "data.split",
                {"target": "close", "task": "regression", "time_column": "date", "shuffle": False},
            ),
            ("scale", "prep.scale", {}),
            ("window", "prep.window", {"lookback": 20, "horizon": 1}),
        ],
    )
    place(p, "gru", "model.sequence", 4, 1, cell="gru", hidden=32)
    place(
        p, "train", "train.supervised", 5, 0, epochs=30, lr=0.003, early_stopping=True, patience=6, **PINNED
    )
    p.connect("window", "dataset", "train", "dataset")
    p.connect("gru", "model", "train", "model")
    with_evaluation(p, "window", "train", 6)
    finish(
        p,
        "price_trend",
        "Finance: tomorrow's closing price from the last 20 trading days (a GRU over "
        "sliding windows). The split keeps time order, so the test split is the most recent period.",
    )


def image_example(name: str, folder: str, size: int, augment: dict[str, Any], train: dict[str, Any],
                  description: str) -> None:  # fmt: skip
    """Pictures: data.images → split → augment → model.cnn → train → evaluate → export."""
    p = Pipeline()
    p.meta["name"] = name
    chain(
        p,
        [
            ("images", "data.images", {"path": folder, "size": size}),
            ("split", "data.split", {"target": "label"}),
            ("augment", "prep.image_augment", augment),
        ],
    )
    place(p, "cnn", "model.cnn", 2, 1)
    place(p, "train", "train.supervised", 3, 0, **train)
    p.connect("augment", "dataset", "train", "dataset")
    p.connect("cnn", "model", "train", "model")
    with_evaluation(p, "split", "train", 4)
    finish(p, name, description)


def digits_images() -> None:
    image_example(
        "digits_images",
        "datasets/digits_images",
        16,
        {
            "rotation": 10.0,
            "scale_min": 0.9,
            "translate": 0.05,
            "hflip": 0.0,
            "brightness": 0.0,
            "contrast": 0.0,
        },
        {"epochs": 12, "batch_size": 32, "scheduler": "cosine"},
        "Pictures: the 1,797 handwritten digits as 8x8 PNG files in one folder per digit, upscaled to 16 px, "
        "small rotations and shifts (no flips: a mirrored digit is not a digit), the default image CNN. Point "
        "`images.path` at your own folder of class folders.",
    )


def lfw_faces() -> None:
    image_example(
        "lfw_faces",
        "datasets/lfw_faces",
        32,
        {
            "rotation": 10.0,
            "scale_min": 0.85,
            "translate": 0.05,
            "hflip": 0.5,
            "brightness": 0.1,
            "contrast": 0.1,
        },
        {"epochs": 20, "batch_size": 16, "scheduler": "cosine"},
        "Pictures: face or not, 200 grey 25x25 crops from Labeled Faces in the Wild (scikit-image's "
        "lfw_subset), with mirror images, rotations and brightness changes, the default image CNN.",
    )


if __name__ == "__main__":
    for build in (quickstart, credit_risk, disease, student_grades, price_trend, digits_images, lfw_faces):
        build()
    print(f"wrote {len(list(OUT.glob('*.pipeline.json')))} examples to {OUT}")

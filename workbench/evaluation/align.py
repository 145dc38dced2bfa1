"""Bringing a Dataset to the exact inputs a TrainedModel was trained on.

Training adds the automatic steps (``tabular.auto``) inside the train node, so the dataset on the wire may
lack the last steps of the model's chain. Those fitted steps are applied here as recorded — never refitted —
so evaluation sees the same numbers the model saw in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import UserError


def _same(a: dict, b: dict) -> bool:
    import json

    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def align_dataset(model: Any, dataset: Any) -> Any:
    """The dataset with the rest of the model's fitted chain applied; UserError if it was prepared differently."""
    from workbench.tabular.fit import apply_to_dataset

    model_chain = list(model.chain or [])
    have = list(dataset.chain or [])
    if len(have) > len(model_chain) or not all(_same(a, b) for a, b in zip(have, model_chain, strict=False)):
        raise UserError(
            "dataset: its preprocessing differs from the model's; connect the dataset the model was trained on"
        )
    if dataset.target != model.target:
        raise UserError(f"dataset: its target is {dataset.target!r} but the model predicts {model.target!r}")
    for step in model_chain[len(have) :]:
        missing = [c for c in step.get("features_in", []) if c not in dataset.features]
        if missing:
            raise UserError(f"dataset: column(s) {', '.join(missing)} the model needs are not features here")
        dataset = apply_to_dataset(dataset, step)
    if model.task == "classification" and list(dataset.classes) != list(model.classes or []):
        raise UserError(
            f"dataset: classes {list(dataset.classes)} differ from the model's {list(model.classes or [])}"
        )
    return dataset


def split_arrays(model: Any, dataset: Any) -> dict[str, np.ndarray]:
    """x/y numpy arrays of every split as the model reads them (x float32, y class ids or (n, 1) floats)."""
    from workbench.tabular.tensors import to_arrays

    if getattr(model, "images", None):  # an image model reads uint8 pixels decoded from the path column
        from workbench.images.data import split_pixels

        return split_pixels(model, dataset)
    aligned = align_dataset(model, dataset)
    arrays = to_arrays(aligned)
    if arrays["x_train"].shape[1:] != tuple(int(s) for s in model.architecture["input_shape"]):
        raise UserError(
            f"dataset: rows have shape {list(arrays['x_train'].shape[1:])} but the model expects "
            f"{list(model.architecture['input_shape'])}; use the dataset the model was trained on"
        )
    return arrays


def raw_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's raw outputs (logits or values) as float64 numpy."""
    import torch

    if len(x) == 0:
        return np.zeros((0, int(model.architecture.get("n_outputs", 1))))
    return (
        model.predict_tensor(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        .numpy()
        .astype(np.float64)
    )


def to_predictions(raw: np.ndarray, head: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(class ids or values, probabilities or None) from raw outputs, by head kind."""
    if head == "binary":
        p1 = 1.0 / (1.0 + np.exp(-raw[:, 0]))
        return (raw[:, 0] > 0).astype(np.int64), np.stack([1.0 - p1, p1], axis=1)
    if head == "multiclass":
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return raw.argmax(axis=1).astype(np.int64), shifted / shifted.sum(axis=1, keepdims=True)
    return raw[:, 0], None

"""Integrated gradients: our short implementation against captum (a dev-only dependency), and one table row
explained per original column from the training mean row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluation_importance import synthetic
from test_export_models import regressor, sequence_model, split, train

from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.evaluation.attribution import RowExplainer, completeness_gap, integrated_gradients
from workbench.evaluation.importance import feature_groups

ROOT = Path(__file__).resolve().parents[1]


def _captum(
    module: torch.nn.Module, x: np.ndarray, baseline: np.ndarray, target: int, steps: int
) -> np.ndarray:
    captum_attr = pytest.importorskip("captum.attr")
    ig = captum_attr.IntegratedGradients(module)
    out = ig.attribute(torch.from_numpy(x[None]), baselines=torch.from_numpy(baseline[None]), target=target,
                       n_steps=steps, method="riemann_middle")  # fmt: skip
    return out[0].detach().double().numpy()


def test_matches_captum_on_a_small_mlp() -> None:
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)).eval()
    rng = np.random.default_rng(1)
    x = rng.normal(size=6).astype(np.float32)
    mean_row = rng.normal(scale=0.3, size=6).astype(np.float32)
    for target in range(3):
        ours = integrated_gradients(mlp, x, target, "multiclass", mean_row, steps=32)
        theirs = _captum(mlp, x, mean_row, target, 32)
        assert np.abs(theirs).max() > 1e-2  # not a trivially zero comparison
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_matches_captum_on_a_small_cnn() -> None:
    from workbench.engine.vision import build_vision, vision_architecture

    torch.manual_seed(0)
    cnn = build_vision(vision_architecture("cnn", {"blocks": 2, "width": 8}, [12, 12, 1], 3, "multiclass"))
    cnn.eval()
    pixels = np.random.default_rng(0).integers(0, 256, (12, 12, 1)).astype(np.float32)
    black = np.zeros_like(pixels)
    ours = integrated_gradients(cnn, pixels, 2, "multiclass", black, steps=16, batch=8)  # two batches
    theirs = _captum(cnn, pixels, black, 2, 16)
    scale = np.abs(theirs).max()
    assert scale > 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5 * scale)


def test_binary_head_explains_either_class_as_plus_or_minus_the_logit() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)).eval()
    x = np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32)
    yes = integrated_gradients(net, x, 1, "binary", steps=32)
    no = integrated_gradients(net, x, 0, "binary", steps=32)
    np.testing.assert_allclose(yes, _captum(net, x, np.zeros_like(x), 0, 32), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(no, -yes)


def test_a_row_is_explained_per_original_column_from_the_training_mean_row() -> None:
    dataset = split(synthetic("shape", 600), "label")
    model = train(dataset, epochs=20)
    explainer = RowExplainer(model, dataset)
    arrays = split_arrays(model, dataset)
    np.testing.assert_allclose(explainer.baseline, arrays["x_train"].mean(axis=0), rtol=1e-5, atol=1e-6)
    assert explainer.n_rows == len(dataset.test)
    tops = []
    for row in range(6):
        e = explainer.explain(row)
        assert e.columns == ["signal", "noise_a", "noise_b", "color", "shape"]  # one-hot summed back
        assert e.prediction.split(" (")[0] in ("a", "b") and e.actual in ("a", "b")
        assert abs(sum(e.attributions) - e.delta) <= e.gap + 1e-9
        assert e.gap <= 0.02 * max(1.0, abs(e.delta)), (e.gap, e.delta)  # completeness, 32 steps
        assert e.values[4] == str(
            dataset.raw_splits()["test"].iloc[row]["shape"]
        )  # the row as the user wrote it
        tops.append(e.columns[int(np.argmax(np.abs(e.attributions)))])
    assert tops.count("shape") >= 5, tops  # the only column that decides the label
    with pytest.raises(UserError, match="row 0 is not in the test split"):
        explainer.explain(-1)


def test_a_linear_model_is_explained_exactly() -> None:
    """f linear: each column's attribution is sum over its features of (x − training mean) · w, exactly."""
    model, dataset, _ = regressor()
    n = len(model.feature_names)
    linear = torch.nn.Linear(n, 1)
    torch.nn.init.normal_(linear.weight)
    model = dataclasses.replace(model, module=linear)
    explainer = RowExplainer(model, dataset)
    e = explainer.explain(3, steps=4)
    x = explainer.x[3].astype(np.float64)
    per_feature = (x - explainer.baseline.astype(np.float64)) * linear.weight.detach().double().numpy()[0]
    groups = feature_groups(model.chain, model.feature_names)
    expected = [per_feature[groups[c]].sum() for c in e.columns]
    assert sorted(e.columns) == ["age", "income", "member", "noise", "region"]
    np.testing.assert_allclose(e.attributions, expected, rtol=1e-4, atol=1e-5)
    assert e.gap < 1e-4
    assert "the predicted 'amount'" in e.completeness_line() and "training mean row" in e.completeness_line()


def test_a_windowed_row_sums_every_time_step_into_its_column() -> None:
    model, windowed, _ = sequence_model()
    explainer = RowExplainer(model, windowed)
    e = explainer.explain(0)
    assert len(e.columns) == len(feature_groups(model.chain, model.feature_names))
    assert e.values == [""] * len(e.columns)  # a window is many rows: no single value to show
    raw = integrated_gradients(model.module, explainer.x[0], 0, model.head, explainer.baseline, 32, 32)
    assert sum(e.attributions) == pytest.approx(raw.sum(), abs=1e-9)
    assert completeness_gap(model.module, explainer.x[0], raw, 0, model.head, explainer.baseline) == (
        pytest.approx(e.gap, abs=1e-6)
    )


def test_image_models_are_sent_to_their_own_explanation() -> None:
    model, dataset, _ = regressor()
    with pytest.raises(UserError, match="reads pictures"):
        RowExplainer(dataclasses.replace(model, images={"size": [8, 8]}), dataset)


def test_the_app_never_imports_captum() -> None:
    sources = [*ROOT.joinpath("workbench").rglob("*.py"), *ROOT.joinpath("ui").rglob("*.py")]
    assert len(sources) > 50
    users = [p for p in sources if "import captum" in p.read_text() or "from captum" in p.read_text()]
    assert users == []

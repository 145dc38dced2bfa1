"""Parity at export is judged against the output's scale and covers the whole path: a good price model exports,
a slightly wrong exported model is refused (naming which pair disagreed), and the bundle's own predict.py is
run on raw held-out rows against the app."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_export_models import mixed_frame, split, train

from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.export import bundle as B
from workbench.export.bundle import FILES
from workbench.export.raw_parity import held_out_rows
from workbench.export.service import export_model


def price_model(scale: float) -> tuple:
    frame = mixed_frame(600)
    frame["amount"] = frame["amount"] * scale  # prices in the hundreds of thousands at scale 3000
    dataset = split(frame, "amount", task="regression")
    return train(dataset, epochs=8), dataset


@pytest.fixture(scope="module")
def small() -> tuple:
    return price_model(1.0)


@pytest.fixture(scope="module")
def large() -> tuple:
    return price_model(3000.0)


def test_a_price_model_in_the_hundreds_of_thousands_exports(large: tuple, tmp_path: Path) -> None:
    model, dataset = large
    outputs = model.predict_tensor(torch.from_numpy(split_arrays(model, dataset)["x_test"])).numpy()
    assert np.abs(outputs).max() > 1e5  # the scale where one float32 step is > 1e-4
    bundle = export_model(model, dataset, tmp_path / "b", False, lambda _m: None)
    assert sorted(p.name for p in bundle.path.iterdir()) == sorted(
        [*FILES, "manifest.json"]
    )  # no __pycache__
    parity = json.loads((bundle.path / "manifest.json").read_text())["parity"]
    pairs = {c["pair"]: c for c in parity["comparisons"]}
    assert set(pairs) == {"app vs .pt2", "app vs ONNX", "app vs predict.py"}
    assert all(c["max_rel_diff"] <= 1e-5 for c in pairs.values())
    assert parity["rows"] > 0 and parity["rtol"] == 1e-5


@pytest.mark.parametrize("which", ["small", "large"])
def test_a_slightly_wrong_exported_model_is_refused(
    which: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, dataset = request.getfixturevalue(which)
    real = B._export_programs
    scale = float(np.abs(dataset.test["amount"]).mean())

    def export_a_changed_copy(module, example, folder):  # noqa: ANN001, ANN202
        changed = copy.deepcopy(module)
        last = [p for p in changed.parameters() if p.dim() == 1][-1]  # the output layer's bias
        with torch.no_grad():
            last += 2e-4 * max(scale, 1.0)  # 0.02 % of the output's scale
        return real(changed, example, folder)

    monkeypatch.setattr(B, "_export_programs", export_a_changed_copy)
    with pytest.raises(UserError) as info:
        export_model(model, dataset, tmp_path / "b", False, lambda _m: None)
    message = str(info.value)
    assert message.startswith("export refused: app vs ") and "differ by" in message
    assert "architecture" not in message and not (tmp_path / "b").exists()


def test_a_float32_category_is_written_the_same_by_the_app_and_predict_py(tmp_path: Path) -> None:
    """The app once wrote '0.10000000149011612' where predict.py, reading the user's CSV, wrote '0.1'."""
    frame = mixed_frame(600).drop(columns=["amount"])
    rng = np.random.default_rng(3)
    rates = rng.choice(np.array([0.1, 0.2, 0.3], dtype=np.float32), len(frame))
    frame["rate"] = pd.Categorical(rates)
    frame["label"] = np.where((rates > 0.15) ^ (frame["income"] > 3), "yes", "no")
    dataset = split(frame, "label")
    model = train(dataset, epochs=10)
    assert held_out_rows(dataset)["rate"].dtype == "category"
    bundle = export_model(model, dataset, tmp_path / "b", False, lambda _m: None)
    pairs = json.loads((bundle.path / "manifest.json").read_text())["parity"]["comparisons"]
    assert [c for c in pairs if c["pair"] == "app vs predict.py"][0]["max_abs_diff"] <= 1e-4
    prep = json.loads((bundle.path / "preprocessing.json").read_text())
    encodings = [e for s in prep["steps"] if s["op"] == "onehot" for e in s["encodings"]]
    assert sorted(next(e for e in encodings if e["column"] == "rate")["categories"]) == ["0.1", "0.2", "0.3"]
    csv = tmp_path / "new.csv"
    rows = held_out_rows(dataset).drop(columns=["label"])
    rows.assign(rate=rows["rate"].astype(np.float32)).to_csv(
        csv, index=False
    )  # '0.1', as a user's file has it
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-W",
            "error",
            str(bundle.path / "predict.py"),
            str(csv),
            "-o",
            str(tmp_path / "p.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "not seen in training" not in done.stderr


def test_the_raw_check_names_predict_py_when_only_the_script_differs(
    small: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.export import raw_parity

    model, dataset = small
    real = raw_parity.script_outputs

    def drifting(folder, frame):  # noqa: ANN001, ANN202
        table = real(folder, frame)
        table["prediction"] = table["prediction"] * 1.001
        return table

    monkeypatch.setattr(raw_parity, "script_outputs", drifting)
    with pytest.raises(UserError, match="app vs predict.py differ by"):
        export_model(model, dataset, tmp_path / "b", False, lambda _m: None)

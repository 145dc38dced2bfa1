"""Image bundles: ONNX takes uint8 pixels and normalises inside, preprocessing.json holds the image settings,
parity covers the bundle's own predict.py on held-out pictures, and predict.py classifies files and folders
with Pillow + numpy + onnxruntime only."""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402
from test_images_core import bars, exported_bundle  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train a tiny CNN on bars (2 epochs) and export it through the real CLI, once for this module."""
    return exported_bundle(tmp_path_factory.mktemp("images_export"), per_class=16)


def test_onnx_takes_uint8_pixels_and_preprocessing_names_the_settings(bundle: Path) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    (entry,) = session.get_inputs()
    assert entry.type == "tensor(uint8)" and entry.shape[1:] == [12, 12, 1]
    prep = json.loads((bundle / "preprocessing.json").read_text())
    image = prep["image"]
    assert (image["size"], image["policy"], image["channels"], image["layout"]) == (
        12,
        "squash",
        1,
        "NHWC uint8",
    )
    assert len(image["mean"]) == len(image["std"]) == 1 and 0 < image["std"][0] < 1
    assert prep["labels"]["classes"] == ["horizontal", "vertical"] and prep["input_schema"] == {
        "path": "image"
    }
    pixels = np.random.default_rng(0).integers(0, 256, (5, 12, 12, 1), dtype=np.uint8)
    assert session.run(None, {entry.name: pixels})[0].shape == (5, 1)  # two classes: one logit


def test_parity_covered_predict_py_on_held_out_pictures(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    pairs = {c["pair"]: c["max_abs_diff"] for c in manifest["parity"]["comparisons"]}
    assert set(pairs) == {"app vs .pt2", "app vs ONNX", "app vs predict.py"}
    assert max(pairs.values()) <= 1e-4 and manifest["parity"]["rows"] >= 2
    assert manifest["input_schema"] == {"path": "image"}


def test_predict_py_classifies_a_folder_with_top_k(bundle: Path, tmp_path: Path) -> None:
    pics = bars(tmp_path / "new", per_class=4, seed=5)
    (pics / "horizontal" / "broken.png").write_bytes(b"not a picture")
    out = tmp_path / "out.csv"
    done = subprocess.run(
        [sys.executable, str(bundle / "predict.py"), str(pics), "-o", str(out), "--top-k", "2", "--proba"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (
        "skipped" in done.stderr
        and "broken.png" in done.stderr
        and "8 picture(s) classified, 1 skipped" in done.stderr
    )
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8
    assert list(rows[0]) == ["path", "prediction", "probability", "prediction_2", "probability_2",
                             "proba_horizontal", "proba_vertical"]  # fmt: skip
    for row in rows:
        assert abs(float(row["probability"]) + float(row["probability_2"]) - 1) < 1e-6
        assert float(row["probability"]) >= float(row["probability_2"])
        assert row["prediction"] != row["prediction_2"]


def test_predict_py_needs_no_pandas_nor_torch(bundle: Path, tmp_path: Path) -> None:
    picture = tmp_path / "one.png"
    Image.fromarray(np.full((30, 20), 200, dtype=np.uint8)).save(picture)
    text = (bundle / "predict.py").read_text(encoding="utf-8")
    assert "from workbench" not in text and "import workbench" not in text
    assert "def check_manifest(" in text and "def verify_files(" in text  # the table script's, copied in
    code = (
        "import sys, runpy\n"
        "sys.modules['pandas'] = None; sys.modules['torch'] = None; sys.modules['workbench'] = None\n"
        f"sys.argv = ['predict.py', {str(picture)!r}]\n"
        f"runpy.run_path({str(bundle / 'predict.py')!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("path,prediction,probability")
    assert len(done.stdout.splitlines()) == 2


def test_predict_py_refuses_bad_input_and_a_changed_model(bundle: Path, tmp_path: Path) -> None:
    script = str(bundle / "predict.py")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run([sys.executable, script, str(empty)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().startswith("error: no pictures found")
    copy = tmp_path / "copy"
    copy.mkdir()
    for item in bundle.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    (copy / "model.onnx").write_bytes((copy / "model.onnx").read_bytes() + b"\0")
    picture = next((bundle.parent / "pics" / "vertical").glob("*.png"))
    done = subprocess.run([sys.executable, str(copy / "predict.py"), str(picture)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1 and "model.onnx was changed after export" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_predict_py_decodes_exactly_like_the_app() -> None:
    from workbench.export import predict_images_template as template
    from workbench.images import decode

    assert inspect.getsource(template.load_pixels) == inspect.getsource(decode.load_pixels)
    assert template.EXTENSIONS == decode.EXTENSIONS and template.POLICIES == decode.POLICIES

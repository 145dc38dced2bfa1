"""`workbench predict` and the app's Predictor with image bundles: picture files, several files or a folder →
the same CSV (top-k classes and probabilities) the bundle's own predict.py writes; a table of picture paths
through Predictor.predict; the app's self-test predicts pictures with an image bundle."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("PIL")
from test_images_core import bars, exported_bundle, pipeline  # noqa: E402

from workbench.cli import main as cli_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CNN on bars (2 epochs), exported with its zip through the real CLI, once for this module."""
    return exported_bundle(tmp_path_factory.mktemp("predict_images"), per_class=12, zip_too=True)


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    pics = bars(tmp_path / "new", per_class=3, seed=7)
    (pics / "vertical" / "broken.png").write_bytes(b"not a picture")
    return pics


def script(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(bundle / "predict.py"), *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("extra", [[], ["--proba", "--top-k", "1"]])
def test_workbench_predict_writes_what_the_bundles_predict_py_writes(
    bundle: Path, pictures: Path, tmp_path: Path, capsys: pytest.CaptureFixture, extra: list[str]
) -> None:
    single = pictures / "horizontal" / "000.png"
    for name, inputs in {
        "folder": [str(pictures)],
        "files": [str(single), str(pictures / "vertical")],
    }.items():
        ours, theirs = tmp_path / f"{name}-app.csv", tmp_path / f"{name}-script.csv"
        assert cli_main(["predict", str(bundle), *inputs, "-o", str(ours), *extra]) == 0
        err = capsys.readouterr().err
        done = script(bundle, *inputs, "-o", str(theirs), *extra)
        assert done.returncode == 0, done.stderr
        assert ours.read_bytes() == theirs.read_bytes()
        assert "broken.png" in err and "broken.png" in done.stderr  # skipped and named by both
    rows = list(csv.DictReader((tmp_path / "folder-app.csv").open()))
    assert len(rows) == 6 and {Path(r["path"]).parent.name for r in rows} == {"horizontal", "vertical"}
    header = list(rows[0])
    if extra:
        assert header == ["path", "prediction", "probability", "proba_horizontal", "proba_vertical"]
    else:
        assert header == ["path", "prediction", "probability", "prediction_2", "probability_2"]
    for row in rows:
        assert 0.5 <= float(row["probability"]) <= 1.0


def test_the_zip_a_parquet_output_and_a_subprocess(bundle: Path, pictures: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "predict", str(bundle.parent / "bundle.zip"), str(pictures),
         "-o", str(out), "--top-k", "2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "6 picture(s) classified, 1 skipped" in done.stdout
    table = pd.read_parquet(out)
    assert list(table.columns) == ["path", "prediction", "probability", "prediction_2", "probability_2"]
    assert np.allclose(table["probability"] + table["probability_2"], 1.0)


def test_image_bundle_problems_are_one_line(
    bundle: Path, pictures: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = str(tmp_path / "o.csv")
    cases = {
        "no pictures found in": [str(empty)],
        "no such file or folder": [str(tmp_path / "missing.png")],
        "none of the pictures could be read": [str(pictures / "vertical" / "broken.png")],
        "--keep-columns/--row-id: only for a table input": [str(pictures), "--row-id"],
        "--top-k must be at least 1": [str(pictures), "--top-k", "0"],
    }
    for message, args in cases.items():
        assert cli_main(["predict", str(bundle), *args, "-o", out]) == 1, message
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) <= 2, err  # a skip line at most, then the error
        assert not Path(out).exists()


def test_a_table_naming_pictures_gets_one_prediction_per_row(
    bundle: Path, pictures: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    names = sorted(p.relative_to(pictures).as_posix() for p in pictures.glob("*/0*.png"))
    pd.DataFrame({"id": range(len(names)), "path": names}).to_csv(pictures / "list.csv", index=False)
    out, script_out = tmp_path / "table.csv", tmp_path / "script.csv"
    args = ["predict", str(bundle), str(pictures / "list.csv"), "-o", str(out), "--proba"]
    assert cli_main([*args, "--keep-columns", "id", "--row-id"]) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == ["row_id", "id", "prediction", "probability", "proba_horizontal",
                                   "proba_vertical"]  # fmt: skip
    assert table["id"].tolist() == list(range(6)) and table["row_id"].tolist() == list(range(6))
    done = script(
        bundle, *[str(pictures / n) for n in names], "-o", str(script_out), "--proba", "--top-k", "1"
    )
    assert done.returncode == 0, done.stderr
    theirs = pd.read_csv(script_out)
    assert table["prediction"].tolist() == theirs["prediction"].tolist()
    assert table["proba_vertical"].tolist() == theirs["proba_vertical"].tolist()
    assert cli_main([*args, "--top-k", "2"]) == 1
    assert "--top-k: only for picture files and folders" in capsys.readouterr().err


def test_predictor_reads_a_table_of_picture_paths_like_the_script(bundle: Path, pictures: Path) -> None:
    from workbench.export.predictor import ImagePredictor, Predictor
    from workbench.export.reader import load_trained_model

    predictor = Predictor.from_bundle(bundle)
    assert isinstance(predictor, ImagePredictor)
    paths = sorted(str(p) for p in pictures.glob("*/0*.png"))
    frame = pd.DataFrame({"path": paths, "note": range(len(paths))})
    result = predictor.predict(frame, proba=True, keep=["note"])
    assert list(result.table.columns) == ["note", "prediction", "probability", "proba_horizontal",
                                          "proba_vertical"]  # fmt: skip
    files = predictor.predict_files(paths, top_k=1, proba=True).table
    assert files["path"].tolist() == paths
    assert np.array_equal(result.table["proba_vertical"].to_numpy(), files["proba_vertical"].to_numpy())
    # the in-memory model (torch) agrees with the bundle (onnxruntime)
    in_memory = Predictor.from_model(load_trained_model(bundle)).predict(frame, proba=True)
    assert in_memory.table["prediction"].tolist() == result.table["prediction"].tolist()
    assert np.allclose(in_memory.table["proba_vertical"], result.table["proba_vertical"], atol=1e-5)
    from workbench.errors import UserError

    with pytest.raises(UserError, match="input lacks column 'path'"):
        predictor.predict(frame.rename(columns={"path": "file"}))
    with pytest.raises(UserError, match="1 picture\\(s\\) could not be read; skipped .*broken.png"):
        predictor.predict(pd.DataFrame({"path": [*paths, str(pictures / "vertical" / "broken.png")]}))


def test_a_table_bundle_still_takes_one_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from workbench.engine.models import ModelSpec, build_model
    from workbench.engine.trained import TrainedModel
    from workbench.export.bundle import write_bundle

    module, arch = build_model(ModelSpec("mlp", {"layers": [{"units": 4}]}), (2,), 2, "multiclass")
    model = TrainedModel(module=module.eval(), architecture=arch, task="classification", classes=["a", "b"],
                         feature_names=["x", "y"], input_schema={"x": "numeric", "y": "numeric"}, chain=[])  # fmt: skip
    table = write_bundle(model, tmp_path / "table").path
    (tmp_path / "in.csv").write_text("x,y\n1,2\n3,4\n")
    out = str(tmp_path / "o.csv")
    inputs = [str(tmp_path / "in.csv")]
    assert cli_main(["predict", str(table), *inputs, *inputs, "-o", out]) == 1
    assert "input: this bundle predicts one table, not 2 files" in capsys.readouterr().err
    assert cli_main(["predict", str(table), *inputs, "-o", out, "--top-k", "2"]) == 1
    assert "--top-k: only for image bundles" in capsys.readouterr().err
    assert cli_main(["predict", str(table), *inputs, "-o", out, "--proba"]) == 0
    assert pd.read_csv(out).columns.tolist() == ["prediction", "proba_a", "proba_b"]


def test_the_app_self_test_predicts_pictures_with_an_image_bundle(tmp_path: Path) -> None:
    pics = bars(tmp_path / "pics", per_class=10)
    path = pipeline(tmp_path / "images.pipeline.json", str(pics), epochs=2)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", WORKBENCH_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from ui.launcher import main; sys.exit(main(sys.argv[1:]))",
         "--self-test", str(path), "--out", str(tmp_path / "out")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, done.stderr[-2000:]
    report = json.loads(lines[-1])
    assert done.returncode == 0 and report["ok"], report
    assert report["steps"]["predict"]["ok"] and report["predictions"]["rows"] == 20
    table = pd.read_csv(report["predictions"]["path"])
    assert list(table.columns)[:3] == ["prediction", "probability", "proba_horizontal"]
    assert set(table["prediction"]) <= {"horizontal", "vertical"} and table["path"].str.endswith(".png").all()


def test_a_changed_image_bundle_is_refused_naming_the_field(bundle: Path, tmp_path: Path) -> None:
    import shutil

    from test_bundle_hostile import edit

    from workbench.engine.transfer import load_pretrained
    from workbench.errors import UserError
    from workbench.export.predictor import Predictor

    cases = {
        ("architecture.json", "depth must be 18 or 34"): lambda a: a.update(
            kind="resnet", depth=50, stem="small"
        ),
        ("architecture.json", "blocks must be a whole number from 1 to 6"): lambda a: a.update(blocks=7),
        ("architecture.json", "std must be 1 number"): lambda a: a.update(std=[0.2, 0.2, 0.2]),
        ("architecture.json", "input_shape must be 4 to 1024"): lambda a: a.update(input_shape=[12, 12, 2]),
        ("preprocessing.json", "unknown resize policy 'stretch'"): lambda p: p["image"].update(
            policy="stretch"
        ),
        ("preprocessing.json", "input_shape must be [16, 16, 1]"): lambda p: p["image"].update(size=16),
        ("preprocessing.json", "the labels are not classes"): lambda p: p["labels"].update(classes=["a"]),
    }
    for index, ((name, message), change) in enumerate(cases.items()):
        folder = tmp_path / f"c{index}"
        shutil.copytree(bundle, folder)
        edit(folder, name, change)  # and re-signed: the checks behind the checksums are what is tested
        for load in (Predictor.from_bundle, load_pretrained):
            with pytest.raises(UserError) as caught:
                load(folder)
            assert message in str(caught.value) and name in str(caught.value), str(caught.value)

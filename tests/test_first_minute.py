"""The first minute without the window: the target guess, ``workbench new`` and the launcher's typo check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ui import launcher
from workbench import cli
from workbench.errors import UserError
from workbench.graph import Pipeline
from workbench.tabular.guess import guess
from workbench.templates import standard_pipeline, suggested_name

ROOT = Path(__file__).resolve().parents[1]


def _frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "width": rng.normal(10, 2, n).round(6),
            "colour": rng.choice(["red", "green", "blue"], n),
            "height": rng.normal(5, 1, n).round(6),
        }
    )


# --------------------------------------------------------------------------- the guess


@pytest.mark.parametrize(
    ("name", "why"),
    [("target", "named 'target'"), ("Label", "named 'Label'"), ("Outcome", "named 'Outcome'"),
     ("y", "named 'y'"), ("SalePrice", "word 'price'"), ("class_name", "word 'class'")],
)  # fmt: skip
def test_a_column_named_like_a_target_is_guessed_wherever_it_is(name: str, why: str) -> None:
    frame = _frame()
    frame.insert(1, name, np.arange(len(frame)) % 3)
    found = guess(frame)
    assert found.target == name
    assert why in found.reason
    assert found.task == "classification"
    assert "3 different whole numbers" in found.task_reason


def test_the_whole_name_beats_a_word_and_a_lone_y_is_not_a_word() -> None:
    frame = _frame()
    frame["label_source"] = "a"
    frame["label_source"] = np.where(np.arange(len(frame)) % 2, "a", "b")
    frame["pos_y"] = np.linspace(0, 1, len(frame))
    frame["label"] = np.arange(len(frame)) % 2
    assert guess(frame).target == "label"
    assert guess(frame.drop(columns="label")).target == "label_source"  # the word, not pos_y's lone y
    assert guess(frame.drop(columns=["label", "label_source"])).target == "pos_y"  # the last column


def test_otherwise_the_last_column_with_the_task_from_its_values() -> None:
    frame = _frame()
    found = guess(frame)
    assert (found.target, found.task, found.reason) == ("height", "regression", "it is the last column")
    assert "numbers with 120 different values" in found.task_reason
    found = guess(frame[["width", "height", "colour"]])
    assert (found.target, found.task) == ("colour", "classification")
    assert found.task_reason == "it holds text: 3 classes"


def test_id_like_free_text_and_constant_columns_are_never_the_target_and_are_left_out() -> None:
    frame = _frame()
    n = len(frame)
    frame["customer_id"] = [f"C{i:05d}" for i in range(n)]  # text, unique per row
    frame["note"] = [f"call back about order {i % 90}" for i in range(n)]  # free text
    frame["source"] = "web"  # constant
    frame["empty"] = np.nan
    frame["row"] = np.arange(1, n + 1)  # row numbers, last
    found = guess(frame)
    assert found.target == "height"  # the last usable column, every later one refused
    for name in ("customer_id", "note", "source", "empty", "row"):
        assert f"{name!r} is" in found.reason
    notes = {c.name: c.note for c in found.columns}
    assert notes["customer_id"].startswith("ID-like: 120 different values")
    assert notes["note"].startswith("free text: 90 different values")
    assert notes["source"] == "constant: every row holds 'web'"
    assert notes["row"].startswith("ID-like: a different whole number")
    assert notes["width"] == notes["colour"] == ""  # measurements with unique values are not IDs
    assert found.drop == ["customer_id", "note", "source", "empty", "row"]
    for bad in ("customer_id", "source", "row"):
        with pytest.raises(UserError, match=f"target column '{bad}' cannot be predicted"):
            guess(frame, bad)
    with pytest.raises(UserError, match="'heigth' not found; did you mean 'height'"):
        guess(frame, "heigth")


def test_a_time_or_mostly_empty_last_column_is_passed_over() -> None:
    frame = _frame()
    frame["comment"] = np.where(
        np.arange(len(frame)) < 100, None, np.where(np.arange(len(frame)) % 2, "late", "ok")
    )
    frame["year"] = 2007 + np.arange(len(frame)) % 3
    found = guess(frame)
    assert found.target == "height"
    assert "'year' is a time column" in found.reason
    assert "'comment' is mostly empty (100 of 120 rows)" in found.reason


def test_no_usable_column_means_no_guess_and_a_clear_refusal(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": np.arange(50), "const": 1.0})
    found = guess(frame)
    assert found.target is None and "no column can be a target" in found.reason
    data = tmp_path / "ids.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(UserError, match="ids.csv: no column can be a target.*--target"):
        standard_pipeline(data)


# --------------------------------------------------------------------------- the pipeline


def _unshipped_csv(folder: Path, n: int = 240) -> Path:
    """A table unlike the bundled examples: an ID, a constant, a date, text with gaps, a label in the middle."""
    rng = np.random.default_rng(3)
    temp = rng.normal(20, 6, n).round(1)
    humid = rng.uniform(20, 90, n).round(0)
    site = rng.choice(["north", "south", "harbour"], n)
    signal = temp / 6 + (humid > 55) + (site == "harbour") * 1.5 + rng.normal(0, 0.4, n)
    frame = pd.DataFrame(
        {
            "reading_id": [f"R-{i:04d}" for i in range(n)],
            "site": np.where(rng.random(n) < 0.05, None, site),
            "label": np.where(signal > np.median(signal), "alert", "calm"),
            "temp_c": temp,
            "humidity": np.where(rng.random(n) < 0.05, np.nan, humid),
            "station": "ST-9",
            "taken": pd.date_range("2024-01-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M"),
        }
    )
    path = folder / "readings.csv"
    frame.to_csv(path, index=False, sep=";")
    return path


def test_the_standard_pipeline_is_laid_out_left_to_right(tmp_path: Path) -> None:
    data = _unshipped_csv(tmp_path)
    pipeline, found = standard_pipeline(data, pipeline_dir=tmp_path)
    ids = [node.id for node in pipeline.nodes]
    assert ids == ["file", "columns", "split", "encode", "impute", "mlp", "train", "evaluate", "export"]
    assert pipeline.node("file").params["path"] == "readings.csv"  # beside the pipeline: relative
    assert pipeline.node("columns").params["drop"] == ["reading_id", "station"]
    assert pipeline.node("split").params["target"] == "label" == found.target
    main_line = [pipeline.node(i).position for i in ids if i not in ("mlp", "export")]
    assert [y for _, y in main_line] == [0.0] * len(main_line)
    xs = [x for x, _ in main_line]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    train_x = pipeline.node("train").position[0]
    assert pipeline.node("mlp").position[0] < train_x and pipeline.node("mlp").position[1] > 0
    assert pipeline.node("export").position == (xs[-1], pipeline.node("mlp").position[1])  # under evaluate
    for link in pipeline.links:  # every wire runs left to right
        assert pipeline.node(link.source).position[0] < pipeline.node(link.target).position[0]
    assert not pipeline.problems()
    # a table with dates leaves scaling to training's automatic step (dates become numbers there first)
    assert "scale" not in pipeline
    plain, _ = standard_pipeline(data, frame=pd.read_csv(data, sep=";").drop(columns="taken"))
    assert [n.id for n in plain.nodes][-5:] == ["scale", "mlp", "train", "evaluate", "export"]
    elsewhere, _ = standard_pipeline(data, pipeline_dir=tmp_path / "sub")
    assert elsewhere.node("file").params["path"] == str(data.absolute())


def test_suggested_save_name_follows_the_examples() -> None:
    assert suggested_name("readings") == "readings.pipeline.json"
    assert suggested_name("my data.csv") == "my_data.pipeline.json"
    assert suggested_name("x.pipeline.json") == "x.pipeline.json"
    assert suggested_name("") == "pipeline.pipeline.json"


def test_workbench_new_writes_a_pipeline_that_runs_to_an_exported_bundle(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _unshipped_csv(tmp_path)
    target = tmp_path / "readings.pipeline.json"
    assert cli.main(["new", str(data)]) == 0  # default name: beside the data
    out, err = capsys.readouterr()
    assert f"pipeline written to {target}" in out
    assert "target: label (it is named 'label'" in err
    assert "task: classification (it holds text: 2 classes)" in err
    assert "left out: reading_id (ID-like" in err and "station (constant" in err
    assert cli.main(["validate", str(target)]) == 0
    report = tmp_path / "report.json"
    assert cli.main(["run", str(target), "--quiet", "--report", str(report)]) == 0
    result = json.loads(report.read_text())
    assert result["status"] == "ok"
    assert result["metrics"]["evaluate"]["accuracy"] > 0.75  # a real signal was learned
    bundle = Path(result["artifacts"]["export.bundle"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["kind"] == "model-workbench-bundle"
    # predictions can carry the input columns and a row id, in the app's CLI and the bundle's predict.py
    predictions = tmp_path / "predictions.csv"
    code = cli.main(["predict", str(bundle), str(data), "-o", str(predictions), "--keep-columns",
                     "reading_id,site", "--row-id"])  # fmt: skip
    assert code == 0
    table = pd.read_csv(predictions)
    assert list(table.columns) == ["row_id", "reading_id", "site", "prediction"]
    assert table["reading_id"].tolist() == [f"R-{i:04d}" for i in range(240)]
    assert table["row_id"].tolist() == list(range(240))
    standalone = subprocess.run(
        [sys.executable, str(bundle / "predict.py"), str(data), "--keep-columns"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert standalone.returncode == 0, standalone.stderr
    header = standalone.stdout.splitlines()[0].split(",")
    assert header == ["reading_id", "site", "label", "temp_c", "humidity", "station", "taken", "prediction"]
    # the file is never overwritten; a wrong target is one line
    assert cli.main(["new", str(data)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["new", str(data), "--target", "lable", "-o", str(tmp_path / "b.json")]) == 1
    assert "did you mean 'label'" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_workbench_new_on_a_missing_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["new", str(tmp_path / "nope.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.csv: no such data file" in err and "Traceback" not in err


# --------------------------------------------------------------------------- the launcher


def test_a_typo_is_a_usage_error_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert launcher.main(["rnu", "x.pipeline.json"]) == 2
    err = capsys.readouterr().err
    assert "'rnu' is neither a command nor an existing file; did you mean 'workbench run'?" in err
    assert launcher.main(["frobnicate"]) == 2
    assert "commands: run, validate, nodes, predict, export, new" in capsys.readouterr().err


def test_existing_files_and_options_still_open_the_app(tmp_path: Path) -> None:
    pipeline = tmp_path / "p.pipeline.json"
    pipeline.write_text("{}")
    assert launcher.unknown_word([str(pipeline)]) is None
    assert launcher.unknown_word(["--self-test"]) is None
    assert launcher.unknown_word([]) is None
    assert launcher.unknown_word([str(tmp_path / "missing.json")]) is not None


def test_every_cli_subcommand_is_routed_by_the_launcher() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(launcher.SUBCOMMANDS)


def test_a_typo_never_opens_a_window_even_without_a_display() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run(
        [sys.executable, "-m", "ui.launcher", "valdiate", "p.json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "did you mean 'workbench validate'?" in done.stderr
    assert "PySide6" not in done.stderr


def test_pipeline_written_by_new_loads_with_the_default_catalog(tmp_path: Path) -> None:
    data = _unshipped_csv(tmp_path)
    out = tmp_path / "x.pipeline.json"
    assert cli.main(["new", str(data), "-o", str(out), "--target", "temp_c"]) == 0
    loaded = Pipeline.load(out)
    assert loaded.node("split").params["target"] == "temp_c"
    assert loaded.meta["title"] == "readings"

"""validate tells what it can know before a run: unknown parameters (with a 'did you mean'), data files that
do not exist, and column names the file does not have — reading only the header or schema."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from workbench.checks import input_problems
from workbench.cli import main
from workbench.graph import Pipeline

ROOT = Path(__file__).resolve().parent.parent


def pipeline_with(folder: Path, data: str = "people.csv", **split: object) -> Path:
    pipeline = Pipeline()
    pipeline.add("data.file", "file", path=data)
    pipeline.add("clean.columns", "columns", drop=["id"])
    pipeline.add("data.split", "split", target=split.pop("target", "label"), **split)
    pipeline.connect("file.table", "columns.table")
    pipeline.connect("columns.table", "split.table")
    path = folder / "p.pipeline.json"
    pipeline.save(path)
    return path


def write_people(folder: Path) -> None:
    frame = pd.DataFrame(
        {"id": range(6), "age": [30, 40, 50, 60, 35, 45], "when": [f"2024-01-0{i + 1}" for i in range(6)]}
    )
    frame["label"] = ["a", "b"] * 3
    frame.to_csv(folder / "people.csv", index=False)


def test_unknown_parameter_is_a_problem_with_did_you_mean(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    write_people(tmp_path)
    path = pipeline_with(tmp_path)
    doc = json.loads(path.read_text())
    doc["nodes"].append({"id": "impute", "type": "prep.impute", "params": {"add_indicator": True}})
    doc["links"].append({"from": ["split", "dataset"], "to": ["impute", "dataset"]})
    path.write_text(json.dumps(doc))
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "impute: add_indicator: prep.impute has no parameter 'add_indicator'" in out
    assert "did you mean 'indicators'?" in out
    pipeline = Pipeline.load(path)
    assert pipeline.problems() == {}  # a run is not stopped by it…
    assert "add_indicator" in pipeline.problems(warnings=True)["impute"][0]  # …but the canvas shows it


def test_run_warns_about_an_unknown_parameter(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_people(tmp_path)
    path = pipeline_with(tmp_path)
    doc = json.loads(path.read_text())
    doc["nodes"][0]["params"]["delimeter"] = ";"
    path.write_text(json.dumps(doc))
    assert main(["run", str(path), "--quiet"]) == 0
    assert (
        "warning: node 'file': delimeter: data.file has no parameter 'delimeter'" in capsys.readouterr().err
    )


def test_every_shipped_example_validates_clean(capsys: pytest.CaptureFixture) -> None:
    for path in sorted((ROOT / "resources" / "examples").glob("*.pipeline.json")):
        assert main(["validate", str(path)]) == 0, capsys.readouterr().out


def test_a_missing_data_file_is_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = pipeline_with(tmp_path, data="nowhere.csv")
    assert main(["validate", str(path)]) == 1
    assert "file: path: file not found: nowhere.csv" in capsys.readouterr().out


def test_columns_that_are_not_in_the_file_are_problems(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_people(tmp_path)
    path = pipeline_with(tmp_path, target="lable", features=["age", "when_year", "height"])
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "split: target: no column 'lable' (did you mean 'label'?) in people.csv" in out
    assert "'height'" in out and "when_year" not in out  # a date part the pipeline makes is fine
    problems = input_problems(Pipeline.load(pipeline_with(tmp_path)))
    assert problems == {}


def test_only_the_head_of_a_large_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_people(tmp_path)
    big = tmp_path / "people.csv"
    with big.open("a") as handle:
        for i in range(200_000):
            handle.write(f"{i},{i % 90},2024-01-01,a\n")
    assert big.stat().st_size > 4 * 256 * 1024
    from workbench.tabular import io

    seen = []
    real = io.read_table
    monkeypatch.setattr(
        io, "read_table", lambda p, **kw: seen.append(Path(p).stat().st_size) or real(p, **kw)
    )
    assert input_problems(Pipeline.load(pipeline_with(tmp_path))) == {}
    assert seen and max(seen) <= 256 * 1024


def test_parquet_columns_come_from_the_schema(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2], "age": [3, 4], "label": ["x", "y"]})
    frame.to_parquet(tmp_path / "t.parquet")
    problems = input_problems(Pipeline.load(pipeline_with(tmp_path, data="t.parquet", target="labl")))
    assert problems == {"split": ["target: no column 'labl' (did you mean 'label'?) in t.parquet"]}

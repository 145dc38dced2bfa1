"""predict.py runs in a separate, clean process (no workbench, PySide6, torch or sklearn importable) and its
numbers equal the app's ``workbench predict`` on the same CSV."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_export_models import classifier, multiclass, regressor, sequence_model

from workbench.cli_model import add_commands
from workbench.evaluation.align import split_arrays
from workbench.export import predict_template as tpl
from workbench.export.bundle import write_bundle
from workbench.export.predictor import Predictor
from workbench.tabular.chain import transform

# Runs predict.py with an import blocker in front of every finder; fails if a blocked package got imported.
RUNNER = r"""
import os, runpy, sys
BLOCKED = {"workbench", "PySide6", "torch", "sklearn", "ui", "pyqtgraph"}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, Blocker())
sys.argv = sys.argv[1:]
code = 0
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    code = exc.code or 0
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
if leaked:
    print("LEAKED", leaked, file=sys.stderr)
    os._exit(3)
sys.exit(code)
"""


def run_standalone(bundle: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -I`` (no PYTHONPATH, no user site, no script folder), cwd in the bundle, imports blocked."""
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, "predict.py", *args],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def app_predict(bundle: Path, source: Path, output: Path, proba: bool) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["predict", str(bundle), str(source), "-o", str(output), *(["--proba"] if proba else [])]
    )
    assert args.handler(args) == 0


def _export(model, dataset, folder: Path) -> Path:
    return write_bundle(model, folder, check_rows=split_arrays(model, dataset)["x_test"]).path


def _compare(bundle: Path, source: Path, tmp_path: Path, proba: bool = True) -> pd.DataFrame:
    result = run_standalone(
        bundle, str(source), "-o", str(tmp_path / "standalone.csv"), *(["--proba"] if proba else [])
    )
    assert result.returncode == 0, result.stderr
    app_predict(bundle, source, tmp_path / "app.csv", proba)
    standalone = pd.read_csv(tmp_path / "standalone.csv")
    app = pd.read_csv(tmp_path / "app.csv")
    assert list(standalone.columns) == list(app.columns)
    assert len(standalone) == len(app) > 0
    assert (standalone["prediction"].astype(str) == app["prediction"].astype(str)).all()
    numeric = [
        c for c in app.columns if c.startswith("proba_") or (c == "prediction" and app[c].dtype.kind == "f")
    ]
    for column in numeric:
        assert np.abs(standalone[column].to_numpy() - app[column].to_numpy()).max() <= 1e-6, column
    return app


@pytest.fixture(scope="module")
def clf_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    model, dataset, frame = classifier()
    return _export(model, dataset, tmp_path_factory.mktemp("clf") / "bundle"), model, frame


def test_classification_matches_app(clf_bundle: tuple, tmp_path: Path) -> None:
    bundle, model, frame = clf_bundle
    rows = frame.drop(columns=["label"]).iloc[:200].copy()  # keeps 'amount' as an extra column
    rows.loc[3, "region"] = "west"  # unseen category
    source = tmp_path / "input.csv"
    rows.to_csv(source, index=False)
    app = _compare(bundle, source, tmp_path)
    assert set(app.columns) == {"prediction", "proba_no", "proba_yes"}
    assert np.allclose(app["proba_no"] + app["proba_yes"], 1.0)
    # The numbers are the trained model's too, not only the bundle's.
    in_memory = Predictor.from_model(model).predict(pd.read_csv(source), proba=True).table
    assert np.abs(in_memory["proba_yes"].to_numpy() - app["proba_yes"].to_numpy()).max() <= 1e-5


def test_multiclass_and_regression_match_app(tmp_path: Path) -> None:
    for name, (model, dataset, frame), drop in (
        ("multi", multiclass(), ["label", "amount"]),
        ("reg", regressor(), ["label", "amount"]),
    ):
        bundle = _export(model, dataset, tmp_path / name / "bundle")
        source = tmp_path / name / "input.csv"
        frame.drop(columns=drop).iloc[:150].to_csv(source, index=False)
        app = _compare(bundle, source, tmp_path / name)
        if name == "reg":
            assert app["prediction"].dtype.kind == "f"


def test_sequence_model_matches_app(tmp_path: Path) -> None:
    model, dataset, frame = sequence_model("lstm")
    bundle = _export(model, dataset, tmp_path / "bundle")
    source = tmp_path / "series.csv"
    frame.iloc[:60].to_csv(source, index=False)
    app = _compare(bundle, source, tmp_path, proba=False)
    assert len(app) == 60 - 8 + 1
    assert app["row"].tolist() == list(range(8, 61))  # each window's last row, 1-based


def test_template_preprocessing_equals_the_chain(clf_bundle: tuple) -> None:
    """predict.py's own preprocessing gives bit-identical model inputs to workbench.tabular.chain."""
    bundle, model, frame = clf_bundle
    prep = Predictor.from_bundle(bundle).prep
    rows = frame.drop(columns=["label", "amount"]).copy()
    rows.loc[0, "region"] = None
    rows.loc[1, "income"] = np.nan
    checked, _ = tpl.check_input(rows, prep)
    ours = tpl.transform(prep, checked, {})
    theirs = transform(model.chain, checked, model.feature_names, {})
    assert ours.dtype == theirs.dtype == np.float32
    assert np.array_equal(ours, theirs, equal_nan=True)


@pytest.mark.parametrize(
    ("sep", "decimal", "encoding", "suffix"),
    [(";", ",", "cp1252", ".csv"), ("\t", ".", "utf-8-sig", ".tsv"), (",", ".", "utf-16", ".csv")],
)
def test_european_tab_and_utf16_files_match_app(
    clf_bundle: tuple, tmp_path: Path, sep: str, decimal: str, encoding: str, suffix: str
) -> None:
    """predict.py finds the separator, the decimal comma and the encoding as the app's reader does."""
    bundle, _, frame = clf_bundle
    rows = frame.drop(columns=["label"]).iloc[:60].copy()
    rows["note"] = "café über"  # an extra column that needs the right encoding
    source = tmp_path / f"input{suffix}"
    rows.to_csv(source, index=False, sep=sep, decimal=decimal, encoding=encoding)
    app = _compare(bundle, source, tmp_path)
    assert len(app) == 60


def test_standalone_reports_bad_input_and_tampering(clf_bundle: tuple, tmp_path: Path) -> None:
    bundle, _, frame = clf_bundle
    source = tmp_path / "bad.csv"
    frame.drop(columns=["label", "income"]).head(5).to_csv(source, index=False)
    result = run_standalone(bundle, str(source))
    assert result.returncode == 1
    assert "input lacks column(s) 'income'" in result.stderr
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    with open(copy / "model.onnx", "ab") as handle:
        handle.write(b"\0")
    frame.drop(columns=["label"]).head(5).to_csv(source, index=False)
    result = run_standalone(copy, str(source))
    assert result.returncode == 1 and "model.onnx was changed after export" in result.stderr
    sheet = tmp_path / "rows.xlsx"
    sheet.write_bytes(b"PK")
    result = run_standalone(bundle, str(sheet))
    assert result.returncode == 1 and "save the sheet as CSV" in result.stderr


def test_dates_and_missing_values_match_app(tmp_path: Path) -> None:
    from test_export_models import split, train

    rng = np.random.default_rng(4)
    n = 300
    frame = pd.DataFrame(
        {
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
            "qty": rng.integers(1, 20, n).astype(float),
            "shop": rng.choice(["a", "b", "c"], n),
        }
    )
    frame["sales"] = frame["qty"] * 3 + (frame["day"].dt.month > 6) * 5 + rng.normal(0, 1, n)
    model = train(split(frame, "sales", task="regression"), epochs=3)
    assert any(step["op"] == "datetime" for step in model.chain)
    bundle = _export(model, split(frame, "sales", task="regression"), tmp_path / "bundle")
    rows = frame.drop(columns=["sales"]).head(40).copy()
    rows.loc[[1, 2], "qty"] = np.nan
    rows.loc[3, "shop"] = None
    source = tmp_path / "dated.csv"
    rows.to_csv(source, index=False)
    app = _compare(bundle, source, tmp_path, proba=False)
    assert np.isfinite(app["prediction"]).all() and len(app) == 40

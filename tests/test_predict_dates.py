"""Dates at prediction time: an empty or unreadable date is a missing value (as in training), not a reason to
refuse the file; predict.py uses only the date attributes pandas supports (it runs with warnings as errors);
the app and predict.py give the same numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_export_models import split, train

from workbench import cli
from workbench.evaluation.align import split_arrays
from workbench.export.bundle import write_bundle
from workbench.export.predictor import Predictor


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A regression bundle whose chain turns a date into year/month/day/weekday (then imputes and scales)."""
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
    dataset = split(frame, "sales", task="regression")
    model = train(dataset, epochs=3)
    assert any(step["op"] == "datetime" and "dayofweek" in step["parts"] for step in model.chain)
    folder = tmp_path_factory.mktemp("dated") / "bundle"
    write_bundle(model, folder, check_rows=split_arrays(model, dataset)["x_test"])
    rows = frame.drop(columns=["sales"]).head(40).copy()
    rows["day"] = rows["day"].dt.strftime("%Y-%m-%d")
    return folder, rows


def standalone(bundle: Path, source: Path, output: Path) -> subprocess.CompletedProcess:
    """predict.py as a user runs it, with every warning (pandas deprecations included) an error."""
    env = {"PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-I", "-W", "error", str(bundle / "predict.py"), str(source), "-o", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreadable_and_empty_dates_are_missing_values_in_app_and_predict_py(
    dated: tuple, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bundle, rows = dated
    rows = rows.copy()
    rows.loc[3, "day"] = "not a date"
    rows.loc[5, "day"] = ""
    rows.loc[6, "day"] = "2024-02-30"
    rows.loc[[3, 6], ["qty", "shop"]] = rows.loc[[5, 5], ["qty", "shop"]].to_numpy()  # all but the date alike
    source = tmp_path / "dated.csv"
    rows.to_csv(source, index=False)
    result = standalone(bundle, source, tmp_path / "standalone.csv")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert (
        "column 'day': row(s) 4, 7 hold 'not a date', '2024-02-30', not dates; treated as missing"
        in result.stderr
    )
    script = pd.read_csv(tmp_path / "standalone.csv")["prediction"].to_numpy()
    assert len(script) == 40 and np.isfinite(script).all()
    # treated as missing: the same prediction as for the row with no date at all
    assert script[3] == pytest.approx(script[5], abs=1e-6) and script[6] == pytest.approx(script[5], abs=1e-6)
    # the app: the terminal command (its own reader) and the in-memory predictor on the raw text
    assert cli.main(["predict", str(bundle), str(source), "-o", str(tmp_path / "app.csv")]) == 0
    capsys.readouterr()
    app = pd.read_csv(tmp_path / "app.csv")["prediction"].to_numpy()
    in_memory = Predictor.from_bundle(bundle).predict(pd.read_csv(source, dtype={"day": str}))
    assert any("not dates; treated as missing" in note for note in in_memory.notes)
    for other in (app, in_memory.table["prediction"].to_numpy()):
        assert np.abs(other - script).max() <= 1e-5


def test_mixed_utc_offsets_do_not_stop_predict_py(dated: tuple, tmp_path: Path) -> None:
    bundle, rows = dated
    rows = rows.copy()
    rows.loc[0, "day"] = "2024-03-01T10:00:00+05:00"
    rows.loc[1, "day"] = "2024-03-01T10:00:00-03:00"
    source = tmp_path / "zoned.csv"
    rows.to_csv(source, index=False)
    result = standalone(bundle, source, tmp_path / "out.csv")
    assert result.returncode == 0, result.stderr
    assert np.isfinite(pd.read_csv(tmp_path / "out.csv")["prediction"]).all()

"""``workbench --self-test``: the real app offscreen, end to end, in a subprocess (as the installer runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _self_test(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", WORKBENCH_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from ui.launcher import main; sys.exit(main(sys.argv[1:]))",
         "--self-test", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, proc.stderr[-2000:]
    return proc.returncode, json.loads(lines[-1]), proc.stdout


def test_self_test_runs_trains_exports_and_predicts(tmp_path):
    code, report, stdout = _self_test(tmp_path, "--out", str(tmp_path / "out"), "--set", "train.epochs=20")
    assert code == 0, report
    assert report["ok"] is True
    assert set(report["steps"]) == {"window", "load", "run", "export", "predict"}
    # Figures are reported, not judged here (a loaded machine is no regression): benchmarks/bench_ui.py.
    assert report["window_shown_s"] > 0
    assert report["run_s"] > 0 and report["samples_per_second"] > 0 and report["epochs_run"] == 20
    assert report["stall_samples"] > 0 and report["stall_max_ms"] >= report["stall_p99_ms"] > 0
    assert report["metrics"]["accuracy"] > 0.85
    assert report["parity_max_abs_diff"] < 1e-4
    bundle = Path(report["bundle"]["path"])
    assert (bundle / "model.onnx").is_file() and "predict.py" in report["bundle"]["files"]
    predictions = Path(report["predictions"]["path"])
    assert report["predictions"]["rows"] == 1797 and predictions.is_file()
    assert predictions.read_text().splitlines()[0].startswith("prediction")
    assert report["plot_points"] == 20
    assert "self-test: run ok" in stdout


def test_self_test_fails_with_a_clear_report(tmp_path):
    code, report, _ = _self_test(tmp_path, str(tmp_path / "missing.pipeline.json"))
    assert code == 1 and report["ok"] is False
    assert report["steps"]["load"]["ok"] is False and "export" not in report["steps"]
    code, report, _ = _self_test(tmp_path, "--set", "train.nope=1")
    assert code == 1 and "no parameter 'nope'" in report["error"]

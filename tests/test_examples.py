"""Every example pipeline runs headless and reaches the quality figure documented in docs/examples.md."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.execution.executor import Executor
from workbench.graph import Pipeline

EXAMPLES = Path(__file__).resolve().parent.parent / "resources" / "examples"

# example -> (node, metric, minimum); keep in step with docs/examples.md
EXPECTED = {
    "quickstart": ("evaluate", "accuracy", 0.95),
    "credit_risk": ("evaluate", "roc_auc", 0.80),
    "disease": ("evaluate", "accuracy", 0.95),
    "student_grades": ("evaluate", "r2", 0.60),
    "price_trend": ("evaluate", "r2", 0.85),
    "digits_images": ("evaluate", "accuracy", 0.98),
    "lfw_faces": ("evaluate", "accuracy", 0.9),
}


def test_every_example_is_covered():
    assert {p.name.split(".")[0] for p in EXAMPLES.glob("*.pipeline.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_reaches_its_figure(name, data_dir):
    pipeline = Pipeline.load(EXAMPLES / f"{name}.pipeline.json")
    assert pipeline.problems() == {}
    result = Executor().run(pipeline, device="cpu")
    assert result.status == "ok", result.failures
    node, metric, minimum = EXPECTED[name]
    assert result.nodes[node].metrics[metric] >= minimum
    bundle = Path(result.artifacts["export.bundle"])
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["parity"]["max_abs_diff"] <= 1e-4 and manifest["parity"]["rows"] > 0
    assert result.nodes["export"].metrics["parity_max_abs_diff"] <= 1e-4


def test_quickstart_through_the_cli_and_predict_with_its_bundle(tmp_path, data_dir):
    report = tmp_path / "report.json"
    cmd = [
        sys.executable,
        "-m",
        "workbench",
        "run",
        str(EXAMPLES / "quickstart.pipeline.json"),
        "--quiet",
        "--device",
        "cpu",
        "--report",
        str(report),
        "--set",
        "train.epochs=3",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["status"] == "ok" and data["metrics"]["train"]["epochs_run"] == 3
    bundle = data["artifacts"]["export.bundle"]
    rows = tmp_path / "rows.csv"
    digits = (EXAMPLES.parent / "datasets" / "digits.csv").read_text().splitlines()
    rows.write_text("\n".join(digits[:21]) + "\n")
    out = tmp_path / "pred.csv"
    cmd = [sys.executable, "-m", "workbench", "predict", bundle, str(rows), "-o", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 21 and "prediction" in lines[0]


ROOT = EXAMPLES.parent.parent


def test_files_named_in_the_docs_exist():
    """The quick start once pointed at a file that did not exist; every resources/ path in the docs must."""
    missing = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in re.finditer(r"resources/[\w./-]*[\w/]", doc.read_text(encoding="utf-8")):
            if not (ROOT / match.group(0)).exists():
                missing.append(f"{doc.name}: {match.group(0)}")
    assert not missing


def test_the_readme_script_example_runs(monkeypatch, capsys, data_dir):  # noqa: ANN001
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Pipeline.load" in b]
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    exec(compile(blocks[0], "README.md", "exec"), {})  # noqa: S102 - our own README, not user text
    status, metrics = capsys.readouterr().out.split(" ", 1)
    assert status == "ok" and "accuracy" in metrics

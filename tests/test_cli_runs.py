"""``workbench runs …`` and ``workbench sweep …`` through the real CLI, on a tiny real pipeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from workbench import cli
from workbench.execution.context import CancelToken
from workbench.experiments.store import ExperimentStore
from workbench.experiments.sweep import JOURNAL, Sweep
from workbench.graph import Pipeline

ROOT = Path(__file__).resolve().parents[1]


def tiny_pipeline(folder: Path, epochs: int = 3, baseline: bool = False, rows: int = 150) -> Path:
    """Three classes from four numbers: trains in well under a second per run."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    label = np.where(x[:, 0] + x[:, 1] > 0.5, "a", np.where(x[:, 2] > 0, "b", "c"))
    lines = ["f1,f2,f3,f4,label"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{c}" for row, c in zip(x, label, strict=True)
    ]
    (folder / "tiny.csv").write_text("\n".join(lines) + "\n")
    p = Pipeline()
    p.add("data.file", "file", path="tiny.csv")
    p.add("data.split", "split", target="label", seed=0)
    p.add("train.supervised", "train", epochs=epochs, batch_size=32, threads=1)
    p.add("evaluate.metrics", "evaluate", baseline=baseline)
    p.connect("file.table", "split.table")
    p.connect("split.dataset", "train.dataset")
    p.connect("train.model", "evaluate.model")
    p.connect("split.dataset", "evaluate.dataset")
    path = folder / "tiny.pipeline.json"
    p.save(path)
    return path


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert cli.main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_runs_list_show_compare_delete(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_pipeline(tmp_path, baseline=True)
    for lr in ("0.01", "0.05"):
        assert cli.main(["run", str(path), "--set", f"train.lr={lr}", "--quiet"]) == 0
    listed = run_json(capsys, "runs", "list", "--json")
    assert len(listed) == 2 and all(r["status"] == "ok" for r in listed)
    newer, older = listed
    assert newer["params"]["train.lr"] == 0.05 and older["params"]["train.lr"] == 0.01
    assert "baseline_val_accuracy" in newer["metrics"] and "val_accuracy" in newer["metrics"]

    shown = run_json(capsys, "runs", "show", older["run_id"], "--json")
    assert shown["pipeline_name"] == "tiny" and [c["epoch"] for c in shown["curves"]["train"]] == [1, 2, 3]

    compared = run_json(capsys, "runs", "compare", older["run_id"], newer["run_id"], "--json")
    assert compared["changed"] == ["train.lr"] and compared["params"]["train.lr"] == [0.01, 0.05]
    assert cli.main(["runs", "compare", older["run_id"], newer["run_id"]]) == 0
    table = capsys.readouterr().out
    assert "train.lr *" in table and "val_accuracy" in table

    best = run_json(capsys, "runs", "list", "--sort", "val_accuracy", "--json")
    assert best[0]["metrics"]["val_accuracy"] >= best[1]["metrics"]["val_accuracy"]
    assert cli.main(["runs", "list", "--pipeline", "tiny"]) == 0
    assert "train.lr" in capsys.readouterr().out  # the parameter that differs gets a column

    assert cli.main(["runs", "delete", older["run_id"]]) == 0
    assert not Path(older["run_dir"]).exists() and Path(newer["run_dir"]).exists()
    assert [r["run_id"] for r in run_json(capsys, "runs", "list", "--json")] == [newer["run_id"]]

    assert cli.main(["runs", "show", "no-such-run"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no run 'no-such-run' in the run history; 'workbench runs list' shows the runs"]


def test_export_mlflow_without_mlflow_says_how_to_install(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError, as when not installed
    assert cli.main(["runs", "export-mlflow", "./mlruns"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install mlflow" in err[0]


class FakeMlflow:
    """Records what the export asks of MLflow."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.runs: list[dict[str, Any]] = []

    def set_tracking_uri(self, uri: str) -> None:
        self.calls.append(("uri", uri))

    def set_experiment(self, name: str) -> None:
        self.calls.append(("experiment", name))

    def start_run(self, run_name: str, tags: dict[str, str]) -> Any:
        run = {"name": run_name, "tags": tags, "params": {}, "metrics": [], "artifacts": {}}
        self.runs.append(run)
        fake = self

        class Context:
            def __enter__(self) -> Any:
                return SimpleNamespace(info=SimpleNamespace(run_id=f"mlf-{len(fake.runs)}"))

            def __exit__(self, *exc: object) -> None:
                return None

        return Context()

    def log_params(self, params: dict[str, str]) -> None:
        self.runs[-1]["params"].update(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.runs[-1]["metrics"].append((step, metrics))

    def log_dict(self, data: dict[str, Any], name: str) -> None:
        self.runs[-1]["artifacts"][name] = data


def test_export_mlflow_converts_runs(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    path = tiny_pipeline(tmp_path, epochs=2)
    assert cli.main(["run", str(path), "--quiet"]) == 0
    with ExperimentStore() as store:
        (record,) = store.list()
        store.update(record.run_id, name="first", note="baseline try", tags=["demo"])
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    assert cli.main(["runs", "export-mlflow", "file:./mlruns", "--experiment", "tiny"]) == 0
    assert "1 run(s) exported" in capsys.readouterr().out
    assert fake.calls == [("uri", "file:./mlruns"), ("experiment", "tiny")]
    (run,) = fake.runs
    assert run["name"] == "first" and run["tags"]["workbench.run_id"] == record.run_id
    assert run["tags"]["mlflow.note.content"] == "baseline try" and run["tags"]["tag.demo"] == "true"
    assert run["params"]["train.epochs"] == "2" and run["params"]["split.target"] == "label"
    finals = [m for step, m in run["metrics"] if step is None]
    assert finals and "val_accuracy" in finals[0]
    steps = [step for step, m in run["metrics"] if step is not None]
    assert steps == [1, 2] and "train.val_loss" in run["metrics"][-1][1]
    assert run["artifacts"]["pipeline.json"]["nodes"][0]["id"] == "file"


def test_sweep_searches_ranges_and_records_every_trial(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_pipeline(tmp_path)
    report = tmp_path / "sweep.json"
    args = ["sweep", str(path), "--param", "train.lr=1e-3:1e-1:log", "--param", "train.batch_size=16,32"]
    summary = run_json(
        capsys, *args, "--trials", "4", "--metric", "val_accuracy", "--report", str(report), "--json"
    )
    assert summary["status"] == "done" and summary["direction"] == "maximize"
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 4
    for trial in summary["trials"]:
        assert 1e-3 <= trial["params"]["train.lr"] <= 1e-1 and trial["params"]["train.batch_size"] in (16, 32)
    best = summary["best"]
    assert best["value"] == max(t["value"] for t in summary["trials"])
    assert json.loads(report.read_text())["sweep_id"] == summary["sweep_id"]
    trials = run_json(capsys, "runs", "list", "--sweep", summary["sweep_id"], "--json")
    assert sorted(r["trial"] for r in trials) == [0, 1, 2, 3]
    assert {r["trial_state"] for r in trials} == {"complete"}
    by_run = {r["run_id"]: r for r in trials}
    assert by_run[best["run_id"]]["params"]["train.lr"] == pytest.approx(best["params"]["train.lr"])


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("train.nope=1:2", "train.supervised has no parameter 'nope'"),
        ("train.lr=0.1:0.01", "LOW must be below HIGH"),
        ("train.weight_decay=0:0.1:log", "a log range needs LOW above 0"),
        ("ghost.lr=1:2", "no node 'ghost'"),
        ("train.epochs=5", "at least two different values"),
    ],
)
def test_sweep_refuses_bad_params_with_one_line(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str], param: str, message: str
) -> None:
    path = tiny_pipeline(tmp_path)
    assert cli.main(["sweep", str(path), "--param", param, "--trials", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("error: ")
    assert not list((data_dir / "runs").glob("*")) if (data_dir / "runs").exists() else True


def test_a_stopped_sweep_continues_from_its_journal(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.experiments.space import parse_param

    pipeline = Pipeline.load(tiny_pipeline(tmp_path, epochs=2))
    sweep = Sweep.create(pipeline, [parse_param("train.lr=1e-3:1e-1:log", pipeline)], trials=4, prune=False)
    token = CancelToken()
    stopped = sweep.run(token=token, on_trial=lambda info: token.cancel())  # the user stops after trial 0
    assert stopped.status == "stopped" and [t.state for t in stopped.trials] == ["complete"]
    summary = run_json(capsys, "sweep", "--continue", sweep.sweep_id[:15], "--json")
    assert summary["status"] == "done"
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2, 3]
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 4
    assert len({t["params"]["train.lr"] for t in summary["trials"]}) == 4  # continuing did not replay draws


def test_kill_9_during_a_sweep_then_it_continues(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tiny_pipeline(tmp_path, epochs=60, rows=400)
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "workbench", "sweep", str(path), "--param", "train.lr=1e-3:1e-1:log",
               "--trials", "4", "--no-prune"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        sweep = None
        while time.monotonic() < deadline and process.poll() is None:
            folders = list((data_dir / "sweeps").glob("*")) if (data_dir / "sweeps").exists() else []
            if folders and (folders[0] / JOURNAL).exists():
                sweep = Sweep(folders[0])
                states = [t.state for t in sweep.trials()]
                if "complete" in states and states[-1] == "running":
                    break  # a trial is being trained right now
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        assert sweep is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
    assert process.returncode == -signal.SIGKILL
    with ExperimentStore() as store:  # the history opens and has the trials that finished
        done = store.list(sweep=sweep.sweep_id)
        assert done and all(r.status == "ok" for r in done)
    summary = run_json(capsys, "sweep", "--continue", sweep.sweep_id, "--json")
    states = [t["state"] for t in summary["trials"]]
    assert summary["status"] == "done" and states.count("complete") == 4
    assert states.count("interrupted") == 1  # the trial the kill cut short, marked and not counted
    assert not Path(str(sweep.folder / JOURNAL) + ".lock").exists()
    with ExperimentStore() as store:
        assert len(store.list(sweep=sweep.sweep_id)) >= 4

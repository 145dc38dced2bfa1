"""Several processes, one pipeline: real gloo jobs through the CLI, and the DDP training path in-process.

The CLI tests start real processes (``workbench run --nproc 2``: the launcher and two ranks, each importing
torch), so they take tens of seconds on a loaded 2-core machine; the in-process tests run the same training
code with a process group of one.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import cli

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# --------------------------------------------------------------------------- helpers


def write_table(path: Path, rows: int = 320, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    frame["color"] = rng.choice(["red", "green", "blue"], rows)
    frame["target"] = np.where(x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + (frame["color"] == "red") > 0, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def write_pipeline(folder: Path, data: str, epochs: int = 6, export: bool = False, **train) -> Path:
    nodes = [
        {"id": "file", "type": "data.file", "params": {"path": data}},
        {"id": "split", "type": "data.split", "params": {"target": "target", "seed": 0}},
        {"id": "encode", "type": "prep.encode", "params": {}},
        {"id": "scale", "type": "prep.scale", "params": {}},
        {
            "id": "train",
            "type": "train.supervised",
            "params": {"epochs": epochs, "batch_size": 32, "seed": 0, "threads": 1, **train},
        },
    ]
    links = [
        {"from": ["file", "table"], "to": ["split", "table"]},
        {"from": ["split", "dataset"], "to": ["encode", "dataset"]},
        {"from": ["encode", "dataset"], "to": ["scale", "dataset"]},
        {"from": ["scale", "dataset"], "to": ["train", "dataset"]},
    ]
    if export:
        nodes.append({"id": "export", "type": "deploy.export", "params": {"path": "bundle"}})
        links += [
            {"from": ["train", "model"], "to": ["export", "model"]},
            {"from": ["scale", "dataset"], "to": ["export", "dataset"]},
        ]
    for i, node in enumerate(nodes):
        node["position"] = [i * 200.0, 0.0]
    doc = {"format_version": 1, "app": "model-workbench 0.1.0", "meta": {}, "nodes": nodes, "links": links}
    path = folder / "p.pipeline.json"
    path.write_text(json.dumps(doc))
    return path


def run_folders(data: Path) -> list[Path]:
    runs = data / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


class Process:
    """A CLI subprocess whose stderr is read line by line in a thread (so waiting can time out)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            self.err.append(line)
            if text in line:
                return
        self.kill_all()
        pytest.fail(f"never saw {text!r}; stderr so far:\n{''.join(self.err)}")

    def ranks(self) -> dict[int, int]:
        """Rank -> pid of the launcher's children (read from their environment)."""
        from workbench.cli_launch import _children

        found = {}
        for pid in _children(self.proc.pid):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for item in env:
                if item.startswith(b"RANK="):
                    found[int(item[5:])] = pid
        return found

    def kill_all(self) -> None:
        for pid in self.ranks().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.proc.kill()

    def finish(self, timeout: float = 300.0) -> tuple[int, str, str]:
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.err.append(line)
        return code, out, "".join(self.err)


def workbench(*args: str) -> list[str]:
    return [PYTHON, "-m", "workbench", *args]


# --------------------------------------------------------------------------- real processes through the CLI


def test_two_processes_reach_the_single_process_figures(tmp_path: Path, data_dir: Path) -> None:
    write_table(tmp_path / "t.csv")
    pipeline = write_pipeline(tmp_path, "t.csv", epochs=6)
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert cli.main(["run", str(pipeline), "--device", "cpu", "--report", str(one), "--quiet"]) == 0
    before = run_folders(data_dir)
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    done = subprocess.run(
        workbench("run", str(pipeline), "--nproc", "2", "--device", "cpu", "--report", str(two)),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "distributed: 2 processes (gloo, CPU); batch 32 = 2 × 16 rows per process per step" in done.stderr
    single, multi = (json.loads(p.read_text())["metrics"]["train"] for p in (one, two))
    assert multi["processes"] == 2 and multi["backend"] == "gloo"
    assert multi["epochs_run"] == single["epochs_run"] == 6
    assert multi["batch_size"] == single["batch_size"] == 32
    # Same seed, same initial weights, the same rows per step: the figures agree within noise.
    assert abs(multi["final_val_loss"] - single["final_val_loss"]) < 0.05, (single, multi)
    assert abs(multi["final_train_loss"] - single["final_train_loss"]) < 0.05, (single, multi)
    # Rank 0 alone owns the run folder: exactly one more, recording the processes.
    (folder,) = [f for f in run_folders(data_dir) if f not in before]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["labels"] == {"processes": 2, "backend": "gloo", "nodes": 1}
    assert json.loads((folder / "report.json").read_text())["status"] == "ok"


def _long_run(tmp_path: Path, data_dir: Path, **train) -> tuple[Process, Path]:
    write_table(tmp_path / "t.csv")
    pipeline = write_pipeline(tmp_path, "t.csv", epochs=100000, **train)
    report = tmp_path / "R.json"
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    run = Process(
        workbench("run", str(pipeline), "--nproc", "2", "--device", "cpu", "--report", str(report)), env
    )
    run.wait_for("train epoch 3:")  # both ranks are training
    return run, report


@pytest.mark.slow
def test_a_killed_process_stops_every_process_with_one_line(tmp_path: Path, data_dir: Path) -> None:
    run, report = _long_run(tmp_path, data_dir)
    ranks = run.ranks()
    assert set(ranks) == {0, 1}, ranks
    os.kill(ranks[1], signal.SIGKILL)
    code, _out, err = run.finish()
    assert code == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == "error: process 1 failed (killed by SIGKILL); every process was stopped", err
    assert err.count("process 1 failed") == 1
    # Rank 0 still wrote its report and run folder; nothing is left running.
    assert json.loads(report.read_text())["status"] in ("failed", "stopped")
    assert all(not Path(f"/proc/{pid}").exists() for pid in ranks.values())


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_the_run_resumes_exactly(tmp_path: Path, data_dir: Path) -> None:
    run, report = _long_run(tmp_path, data_dir, checkpoint_every=100000)
    ranks = run.ranks()
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert "Traceback" not in err and "error:" not in err
    assert "stopping after the current batch" in err
    assert json.loads(report.read_text())["status"] == "stopped"
    assert all(not Path(f"/proc/{pid}").exists() for pid in ranks.values())
    (folder,) = run_folders(data_dir)
    checkpoint = folder / "nodes" / "train" / "checkpoints" / "last.pt"
    from workbench.engine.checkpoint import load_checkpoint

    done_epochs = load_checkpoint(checkpoint)["epoch"]
    assert done_epochs >= 2
    # Resume on two processes for two more epochs: the history continues from the checkpoint.
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    report2 = tmp_path / "R2.json"
    done = subprocess.run(
        workbench(
            "run", str(tmp_path / "p.pipeline.json"), "--nproc", "2", "--device", "cpu", "--report", str(report2),
            "--set", f"train.epochs={done_epochs + 2}", "--set", f"train.resume_from={checkpoint}", "--quiet",
        ),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = json.loads(report2.read_text())["metrics"]["train"]
    assert metrics["epochs_run"] == done_epochs + 2


def test_nproc_refuses_a_broken_pipeline_before_starting_anything(tmp_path: Path, capsys) -> None:
    assert cli.main(["run", str(tmp_path / "missing.pipeline.json"), "--nproc", "2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.pipeline.json" in err
    pipeline = write_pipeline(tmp_path, "t.csv")
    assert cli.main(["run", str(pipeline), "--nproc", "2", "--set", "train.nope=1"]) == 2
    assert "train.supervised has no parameter 'nope'" in capsys.readouterr().err


def test_launcher_names_the_process_that_failed_and_stays_quiet_for_rank_0(capsys) -> None:
    from types import SimpleNamespace as F

    from workbench.cli_launch import explain_failure
    from workbench.distributed import PEER_EXIT

    killed = {1: F(exitcode=-9, timestamp=10), 0: F(exitcode=130, timestamp=12)}
    assert explain_failure(killed) == 1
    assert (
        capsys.readouterr().err == "error: process 1 failed (killed by SIGKILL); every process was stopped\n"
    )
    # Rank 0's own failure (a node failed: exit 1) was reported by rank 0; the rank it left behind is quiet.
    assert explain_failure({0: F(exitcode=1, timestamp=5), 1: F(exitcode=PEER_EXIT, timestamp=4)}) == 1
    assert explain_failure({0: F(exitcode=130, timestamp=5)}) == 130
    assert capsys.readouterr().err == ""
    assert explain_failure({0: F(exitcode=1, timestamp=9), 1: F(exitcode=1, timestamp=8)}) == 1
    assert "process 1 failed (exit code 1)" in capsys.readouterr().err
    # Failure times have whole seconds: in a tie, a rank the agent stopped (SIGTERM) is never the one named.
    assert explain_failure({0: F(exitcode=-15, timestamp=7), 1: F(exitcode=-9, timestamp=7)}) == 1
    assert (
        capsys.readouterr().err == "error: process 1 failed (killed by SIGKILL); every process was stopped\n"
    )


# --------------------------------------------------------------------------- the training path, in-process


@pytest.fixture
def world(tmp_path: Path):
    """A real gloo process group of one, in this process: the DDP code path without starting processes."""
    import torch
    import torch.distributed as dist

    from workbench.distributed.world import World

    store = dist.HashStore()
    dist.init_process_group("gloo", store=dist.PrefixStore("pg", store), rank=0, world_size=1)
    w = World(0, 1, 0, 1, "gloo", torch.device("cpu"), dist.PrefixStore("workbench/0", store))
    yield w
    w.close()


def test_shards_are_distributed_sampler_shards() -> None:
    import torch
    from torch.utils.data import DistributedSampler

    from workbench.engine.ranks import shard_indices

    for n, size, epoch in ((10, 3, 0), (101, 4, 5), (2, 3, 1)):
        for rank in range(size):
            sampler = DistributedSampler(range(n), num_replicas=size, rank=rank, shuffle=True, seed=7)
            sampler.set_epoch(epoch)
            assert shard_indices(n, size, rank, 7, epoch).tolist() == list(sampler)
        union = torch.cat([shard_indices(n, size, r, 7, epoch) for r in range(size)])
        assert set(union.tolist()) == set(range(n))


def _fit_with_world(world, tmp_path: Path, epochs: int, resume: Path | None = None, **extra):
    import torch

    from workbench.engine import device as dev
    from workbench.engine.callbacks import Checkpointer
    from workbench.engine.models import ModelSpec, build_model
    from workbench.engine.trainer import TrainConfig, TrainData, fit

    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 4, generator=g)
    y = (x[:, 0] - x[:, 1] > 0).long()
    data = TrainData(x[:240], y[:240], x[240:], y[240:], "multiclass", 2)
    dev.seed_everything(0)
    spec = ModelSpec("mlp", {"layers": [{"units": 16, "activation": "relu", "dropout": 0.3}]})
    module, arch = build_model(spec, (4,), 2, "multiclass")
    config = TrainConfig(
        epochs=epochs, batch_size=32, seed=0, threads=1, resume_from=str(resume) if resume else None
    )
    callbacks = [Checkpointer(tmp_path / "ck", every=1), *extra.get("callbacks", [])]
    return fit(module, data, config, callbacks, architecture=arch, world=world)


def test_distributed_training_resumes_exactly(world, tmp_path: Path) -> None:
    whole = _fit_with_world(world, tmp_path / "a", epochs=4)
    resumed = _fit_with_world(world, tmp_path / "b", epochs=4, resume=tmp_path / "a" / "ck" / "epoch_0002.pt")
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[-1]["val_loss"] == whole.history[-1]["val_loss"]
    for (name, a), (_, b) in zip(
        whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True
    ):
        assert (a == b).all(), name
    assert whole.metrics["epochs_run"] == 4 and not whole.stopped


def test_a_stop_asked_for_inside_an_epoch_is_agreed_and_keeps_the_weights(world, tmp_path: Path) -> None:
    from workbench.engine.callbacks import StopAfter

    result = _fit_with_world(world, tmp_path, epochs=50, callbacks=[StopAfter(20)])
    assert result.stopped and result.stop_reason == "user"
    assert len(result.history) == 2  # 8 steps an epoch: asked in the third, agreed at its end, not recorded
    assert (tmp_path / "ck" / "last.pt").is_file()


# --------------------------------------------------------------------------- tables larger than memory


def write_parts(folder: Path, rows: int = 3000, files: int = 3, seed: int = 0) -> tuple[Path, pd.DataFrame]:
    """A folder of Parquet files (several row groups each) and the whole table for comparison."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(4)])
    frame["f3"] = frame["f3"] * 40 + 1000
    frame["color"] = rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2])
    frame.loc[7, "color"] = "violet"  # one rare value: the sample must still know it
    frame.loc[rng.choice(rows, 150, replace=False), "f1"] = np.nan
    frame["target"] = np.where(x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + (frame["color"] == "red") > 0, "yes", "no")
    folder.mkdir(parents=True, exist_ok=True)
    per = rows // files
    for i in range(files):
        part = frame.iloc[i * per : rows if i == files - 1 else (i + 1) * per]
        part.to_parquet(folder / f"part-{i}.parquet", row_group_size=250, index=False)
    return folder, frame


SPLIT = {"target": "target", "task": "auto", "val_fraction": 0.15, "test_fraction": 0.15, "shuffle": True,
         "features": [], "seed": 3, "time_column": "", "stratify": True}  # fmt: skip


def test_streamed_steps_are_fitted_over_every_training_row(tmp_path: Path) -> None:
    from workbench.tabular import fit
    from workbench.tabular.stream import open_stream, split_streamed

    folder, whole = write_parts(tmp_path / "parts")
    table = open_stream(folder, sample_rows=300, holdout_rows=10_000)
    assert table.n_rows == 3000 and len(table.sample) < 400
    assert "violet" in set(table.sample["color"])  # written into the sample: the fit must know it
    lines: list[str] = []
    streamed = split_streamed(table, SPLIT, lines.append)
    # The same rows in memory: every row's split comes from its number, so the reference is exact.
    split = streamed.stream.rule.assign(np.arange(len(whole)))
    train = whole[(split == 0) & whole["target"].notna()].reset_index(drop=True)
    assert streamed.stream.train_rows == len(train)
    assert len(streamed.val) == int((split == 1).sum()) and len(streamed.test) == int((split == 2).sum())
    memory = dataclasses_replace(streamed, train=train, stream=None)

    def both(make):
        return fit.apply_to_dataset(streamed_ds[0], make(streamed_ds[0])), fit.apply_to_dataset(
            memory_ds[0], make(memory_ds[0])
        )

    streamed_ds, memory_ds = [streamed], [memory]
    steps = [
        lambda d: fit.fit_onehot(d.train, d.features, ["color"], 20),
        lambda d: fit.fit_impute(d.train, d.features, ["f1"], "mean"),
        lambda d: fit.fit_scale(d.train, d.features, ["f0", "f1", "f2", "f3"], "standard"),
        lambda d: fit.fit_scale(d.train, d.features, ["f0", "f3"], "minmax"),
    ]
    for make in steps:
        streamed_ds[0], memory_ds[0] = both(make)
    got, want = streamed_ds[0].chain, memory_ds[0].chain
    assert got[0] == want[0]  # one-hot: the same categories, in the same order (exact counts)
    assert got[1]["fill"]["f1"] == pytest.approx(want[1]["fill"]["f1"], rel=1e-12)
    for a, b in zip(got[2:], want[2:], strict=True):
        assert a["center"] == pytest.approx(b["center"], rel=1e-10, abs=1e-12)
        assert a["scale"] == pytest.approx(b["scale"], rel=1e-10)
    # A median comes from the sample (documented as approximate): close, not equal.
    median = fit.fit_impute(streamed.train, streamed.features, ["f3"], "median")["fill"]["f3"]
    assert median == pytest.approx(train["f3"].median(), abs=0.25 * train["f3"].std())


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_a_stream_epoch_reads_every_training_row_once_and_shards_without_overlap(tmp_path: Path) -> None:
    import torch

    from workbench.tabular.stream import open_stream, split_streamed

    folder, _ = write_parts(tmp_path / "parts", rows=2000, files=2)
    dataset = split_streamed(open_stream(folder, sample_rows=500), SPLIT, lambda _m: None)
    stream = dataset.stream.tensor_splits(
        dataclasses_replace(dataset, features=["f0", "f2"]), "cpu"
    ).x_train  # fmt: skip
    n = len(stream)
    stream.buffer_rows = 300
    ordinals = torch.arange(n)  # as targets: each batch says which training rows it holds
    steps, batches = stream.epoch_batches(ordinals, epoch=1, rank=0, size=1, rows_per_step=64, seed=0)
    seen = torch.cat([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(n)) and steps == -(-n // 64)
    assert seen.tolist() != sorted(seen.tolist())  # shuffled across units and batches
    # Two processes: the same number of full batches each, from different row groups.
    per_rank = []
    for rank in (0, 1):
        steps, batches = stream.epoch_batches(ordinals, epoch=1, rank=rank, size=2, rows_per_step=32, seed=0)
        got = [yb for _, yb in batches]
        assert len(got) == steps == -(-n // 64) and all(len(b) == 32 for b in got)
        per_rank.append(set(torch.cat(got).tolist()))
    assert not per_rank[0] & per_rank[1]
    assert len(per_rank[0] | per_rank[1]) > 0.9 * n


def write_stream_pipeline(folder: Path, data: str, export: bool = True) -> Path:
    path = write_pipeline(folder, data, epochs=3, export=export)
    doc = json.loads(path.read_text())
    doc["nodes"][0]["params"].update(stream=True, sample_rows=400, holdout_rows=300)
    doc["nodes"].insert(
        3, {"id": "impute", "type": "prep.impute", "params": {"strategy": "mean"}, "position": [0, 1]}
    )
    for link in doc["links"]:
        if link["from"][0] == "encode":
            link["from"] = ["impute", "dataset"]
    doc["links"].append({"from": ["encode", "dataset"], "to": ["impute", "dataset"]})
    path.write_text(json.dumps(doc))
    return path


def test_streaming_a_parquet_folder_trains_and_exports_an_ordinary_bundle(
    tmp_path: Path, data_dir: Path, capsys
) -> None:
    write_parts(tmp_path / "parts")
    pipeline = write_stream_pipeline(tmp_path, "parts")
    report = tmp_path / "R.json"
    assert cli.main(["run", str(pipeline), "--device", "cpu", "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert "streamed: 3,000 rows (from the Parquet metadata) x 6 columns in 3 files" in err
    assert "stream: scale fitted over all" in err and "stream: onehot fitted over all" in err
    written = json.loads(report.read_text())
    train = written["metrics"]["train"]
    assert train["epochs_run"] == 3 and train["final_val_loss"] < 0.69
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["kind"] == "model-workbench-bundle"
    assert written["metrics"]["export"]["parity_max_abs_diff"] < 1e-4
    # The bundle predicts raw rows like any other (its own predict.py ran in the export's parity check).
    from workbench.export.predictor import Predictor

    rows = pd.read_parquet(tmp_path / "parts" / "part-0.parquet").drop(columns=["target"]).head(20)
    assert len(Predictor.from_bundle(tmp_path / "bundle").predict(rows).table) == 20


def test_validate_takes_a_streamed_folder_and_checks_columns_against_its_schema(
    tmp_path: Path, capsys
) -> None:
    write_parts(tmp_path / "parts")
    pipeline = write_stream_pipeline(tmp_path, "parts")
    assert cli.main(["validate", str(pipeline)]) == 0
    doc = json.loads(pipeline.read_text())
    doc["nodes"][1]["params"]["target"] = "targt"
    pipeline.write_text(json.dumps(doc))
    assert cli.main(["validate", str(pipeline)]) == 1
    assert "split: target: no column 'targt' (did you mean 'target'?)" in capsys.readouterr().out
    doc["nodes"][0]["params"]["stream"] = False  # a folder is only a source when it streams
    pipeline.write_text(json.dumps(doc))
    assert cli.main(["validate", str(pipeline)]) == 1
    assert "is a folder; choose a data file" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_stream_their_own_row_groups(tmp_path: Path, data_dir: Path) -> None:
    write_parts(tmp_path / "parts")
    pipeline = write_stream_pipeline(tmp_path, "parts", export=False)
    report = tmp_path / "R.json"
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir))
    done = subprocess.run(
        workbench("run", str(pipeline), "--nproc", "2", "--device", "cpu", "--report", str(report), "--quiet"),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    train = json.loads(report.read_text())["metrics"]["train"]
    assert train["processes"] == 2 and train["epochs_run"] == 3 and train["final_val_loss"] < 0.69


# --------------------------------------------------------------------------- Export run script…


def test_run_script_folder_has_the_pipeline_pinned_requirements_and_the_torchrun_line(tmp_path: Path) -> None:
    from importlib import metadata

    from workbench.distributed.script import write_run_script
    from workbench.errors import UserError
    from workbench.graph import Pipeline

    (tmp_path / "project").mkdir()
    write_table(tmp_path / "project" / "t.csv")
    pipeline = Pipeline.load(write_pipeline(tmp_path / "project", "t.csv", export=True))
    out = tmp_path / "to-cluster"
    result = write_run_script(pipeline, out, nproc=4)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "pipeline.json",
        "requirements.txt",
        "run.sh",
    ]
    doc = json.loads((out / "pipeline.json").read_text())
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["file"]["params"]["path"] == str((tmp_path / "project" / "t.csv").resolve())
    assert nodes["export"]["params"]["path"] == "bundle"  # outputs stay relative: beside the script
    requirements = (out / "requirements.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in requirements if line and not line.startswith("#"))
    assert pins["torch"] == metadata.version("torch").split("+")[0]
    assert pins["pandas"] == metadata.version("pandas") and pins["pyarrow"] == metadata.version("pyarrow")
    assert not any(name.lower().startswith(("pyside6", "pyqtgraph")) for name in pins)
    script = (out / "run.sh").read_text()
    assert 'NPROC="${NPROC:-4}"' in script
    assert "torchrun --standalone --nproc-per-node" in script and "-m workbench run pipeline.json" in script
    assert '--rdzv-backend c10d --rdzv-endpoint "$RDZV" --rdzv-id "$RUN_ID"' in script
    assert os.access(out / "run.sh", os.X_OK)
    assert subprocess.run(["bash", "-n", str(out / "run.sh")]).returncode == 0
    assert result["missing"] == []
    with pytest.raises(UserError, match="new or empty folder"):
        write_run_script(pipeline, out)


@pytest.mark.slow
def test_the_run_script_runs_the_pipeline_with_torchrun(tmp_path: Path, data_dir: Path) -> None:
    from workbench.distributed.script import write_run_script
    from workbench.graph import Pipeline

    write_table(tmp_path / "t.csv")
    pipeline = Pipeline.load(write_pipeline(tmp_path, "t.csv", epochs=2))
    out = tmp_path / "to-cluster"
    write_run_script(pipeline, out, nproc=2, device="cpu")
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", str(out / "run.sh"), "--quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "ok" and report["metrics"]["train"]["processes"] == 2


def test_export_run_script_from_the_app_menu(qtbot, tmp_path: Path, data_dir: Path) -> None:
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow
    from ui.run_script import export_run_script
    from workbench.registry import builtin_registry

    write_table(tmp_path / "t.csv")
    pipeline = write_pipeline(tmp_path, "t.csv")
    win = MainWindow(builtin_registry(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    assert win.files.open(pipeline, ask=False)
    action = win.actions_by_name["export_run_script"]
    assert action.text() == "Export run &script…"
    result = export_run_script(win, folder=str(tmp_path / "out"), nproc=3)
    assert result is not None and (tmp_path / "out" / "run.sh").is_file()
    assert 'NPROC="${NPROC:-3}"' in (tmp_path / "out" / "run.sh").read_text()
    win.runner.shutdown()

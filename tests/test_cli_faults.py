"""Faults in the terminal commands end in one clear line and the run's record survives: Ctrl-C (a real
SIGINT to a real process), folders that cannot be written, a full disk under the run folder or the report."""

from __future__ import annotations

import errno
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes import FAKE_TYPES, fake_registry

from workbench import cli, graph
from workbench.graph import Pipeline
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import TABLE
from workbench.registry import NodeRegistry

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
QUICKSTART = ROOT / "resources" / "examples" / "quickstart.pipeline.json"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def fake_default(monkeypatch):
    registry = fake_registry()
    monkeypatch.setattr(graph, "_default_registry", registry)
    return registry


@pytest.fixture
def pipeline_file(tmp_path, fake_default):
    p = Pipeline(fake_default)
    p.add("fake.source", value=2)
    p.add("fake.add", k=1)
    p.add("fake.sink")
    p.connect("source.table", "add.table")
    p.connect("add.table", "sink.data")
    path = tmp_path / "p.json"
    p.save(path)
    return path


def run_folders(data_dir: Path) -> list[Path]:
    runs = data_dir / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


# --------------------------------------------------------------------------- Ctrl-C, for real


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

    def wait_for(self, text: str, timeout: float = 240.0) -> None:
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
        self.proc.kill()
        pytest.fail(f"never saw {text!r}; stderr so far:\n{''.join(self.err)}")

    def finish(self, timeout: float = 240.0) -> tuple[int, str, str]:
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.err.append(line)
        return code, out, "".join(self.err)


def test_ctrl_c_stops_training_with_report_and_checkpoint(tmp_path: Path) -> None:
    data, report = tmp_path / "data", tmp_path / "R.json"
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(data))
    run = Process(
        [PYTHON, "-m", "workbench", "run", str(QUICKSTART), "--report", str(report),
         "--set", "train.epochs=5000", "--set", "train.threads=1", "--set", "train.checkpoint_every=100000"],
        env,
    )  # fmt: skip
    run.wait_for("train epoch 2:")  # training is under way
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert "Traceback" not in err and "KeyError" not in err
    assert "stopping after the current batch" in err
    written = json.loads(report.read_text())
    assert written["status"] == "stopped"
    assert written["nodes"]["train"]["state"] == "stopped"
    assert written["nodes"]["evaluate"]["state"] == "skipped"
    (folder,) = run_folders(data)
    assert json.loads((folder / "report.json").read_text())["status"] == "stopped"
    assert "stopped by the user" in (folder / "run.log").read_text()
    # No periodic checkpoint was due: the stop itself wrote the resume point, and the report lists it.
    checkpoint = folder / "nodes" / "train" / "checkpoints" / "last.pt"
    assert written["artifacts"]["train.checkpoint"] == str(checkpoint)
    from workbench.engine.checkpoint import load_checkpoint

    assert load_checkpoint(checkpoint)["epoch"] >= 2
    assert "stopped in" in out


STUBBORN = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from fakes import FAKE_TYPES
from workbench import graph
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import TABLE
from workbench.registry import NodeRegistry

class Stubborn(NodeType):
    spec = NodeSpec("fake.stubborn", "Stubborn", "train", inputs=(PortSpec("table", TABLE),), outputs=())

    def run(self, ctx, inputs, params):
        ctx.log("stubborn node started")
        time.sleep(120)  # never looks at the cancel token
        return {{}}

graph._default_registry = NodeRegistry((*FAKE_TYPES, Stubborn))
from workbench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_second_ctrl_c_aborts_at_once_with_one_line(tmp_path: Path) -> None:
    registry = NodeRegistry((*FAKE_TYPES, type("S", (NodeType,), {"spec": NodeSpec(
        "fake.stubborn", "Stubborn", "train", inputs=(PortSpec("table", TABLE),), outputs=())})))  # fmt: skip
    p = Pipeline(registry)
    p.add("fake.source", value=1)
    p.add("fake.stubborn")
    p.connect("source.table", "stubborn.table")
    p.save(tmp_path / "p.json")
    script = tmp_path / "cli.py"
    script.write_text(STUBBORN.format(root=str(ROOT), tests=str(ROOT / "tests")))
    env = dict(os.environ, WORKBENCH_DATA_DIR=str(tmp_path / "data"))
    run = Process([PYTHON, str(script), "run", str(tmp_path / "p.json")], env)
    run.wait_for("stubborn node started", timeout=60)
    run.proc.send_signal(signal.SIGINT)
    run.wait_for("Ctrl-C again to abort", timeout=60)
    run.proc.send_signal(signal.SIGINT)
    code, _, err = run.finish(timeout=60)  # far less than the node's 120 s sleep
    assert code == 130
    assert "Traceback" not in err
    assert err.rstrip().splitlines()[-1] == "aborted: the run did not finish and wrote no report"


# --------------------------------------------------------------------------- folders that cannot be written


@pytest.mark.parametrize("where", ["file.txt/sub", "file.txt"])
def test_data_folder_that_cannot_be_a_folder_is_one_line(
    pipeline_file, tmp_path, monkeypatch, capsys, where
) -> None:
    (tmp_path / "file.txt").write_text("in the way")
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / where))
    assert cli.main(["run", str(pipeline_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: cannot create the run folder at {tmp_path / where}")
    assert "set WORKBENCH_DATA_DIR to a folder you can write to" in err


@pytest.mark.parametrize(
    "target, message",
    [
        ("existing_folder", "is a folder; give a file name"),
        ("file.txt/R.json", "file.txt is a file, not a folder; choose another path"),
    ],
)
def test_report_that_cannot_be_written_is_refused_before_running(
    pipeline_file, tmp_path, data_dir, capsys, target, message
) -> None:
    (tmp_path / "existing_folder").mkdir()
    (tmp_path / "file.txt").write_text("in the way")
    report = tmp_path / target
    assert cli.main(["run", str(pipeline_file), "--quiet", "--report", str(report)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --report {report}: ") and message in err and err.count("\n") == 1
    assert run_folders(data_dir) == []  # refused before any work was done


def test_report_on_a_full_disk_names_it_and_points_to_the_run_folder(
    pipeline_file, tmp_path, data_dir, monkeypatch, capsys
) -> None:
    from workbench import project

    report = tmp_path / "R.json"
    real = project.atomic_write_text

    def full_disk(path, text):
        if Path(path) == report:
            raise ENOSPC
        return real(path, text)

    monkeypatch.setattr(project, "atomic_write_text", full_disk)
    assert cli.main(["run", str(pipeline_file), "--quiet", "--report", str(report)]) == 1
    err = capsys.readouterr().err
    (folder,) = run_folders(data_dir)
    assert err == (
        f"error: --report: cannot write {report}: No space left on device (the disk is full; free some space "
        f"or choose another location); the run folder keeps its own copy: {folder}\n"
    )
    assert json.loads((folder / "report.json").read_text())["status"] == "ok"


def test_run_folder_on_a_full_disk_still_reports_which_file_is_missing(
    pipeline_file, tmp_path, data_dir, monkeypatch, capsys
) -> None:
    from workbench.execution import rundir

    real = rundir.atomic_write_text

    def full_for_the_log(path, text):
        if Path(path).name == "run.log":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(path).parent / ".run.log.x.tmp"))
        return real(path, text)

    monkeypatch.setattr(rundir, "atomic_write_text", full_for_the_log)
    report = tmp_path / "R.json"
    assert cli.main(["run", str(pipeline_file), "--quiet", "--report", str(report)]) == 1
    err = capsys.readouterr().err
    (folder,) = run_folders(data_dir)
    line = f"run folder: cannot write {folder / 'run.log'}: No space left on device"
    assert err.startswith(f"error: {line}") and err.count("\n") == 1  # the file the user knows, not the temp
    for written in (folder / "report.json", report):
        data = json.loads(written.read_text())
        assert data["status"] == "ok" and data["record_errors"][0].startswith(line)
    assert (folder / "manifest.json").is_file()


def test_a_really_full_disk_under_the_run_folder(pipeline_file, tmp_path, monkeypatch, capsys) -> None:
    from test_engine_faults import tiny_tmpfs

    with tiny_tmpfs(tmp_path / "small") as disk:
        (disk / "runs").mkdir()
        with open(disk / "filler", "wb", buffering=0) as filler:  # take every byte there is
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        monkeypatch.setenv("WORKBENCH_DATA_DIR", str(disk))
        report = tmp_path / "R.json"
        assert cli.main(["run", str(pipeline_file), "--quiet", "--report", str(report)]) == 1
        err = capsys.readouterr().err
        (folder,) = run_folders(disk)
        assert sorted(p.name for p in folder.iterdir()) == []  # nothing torn, no temp files left
    assert "Traceback" not in err
    lines = err.splitlines()
    assert [line.split(": cannot write ")[1].split(":")[0] for line in lines] == [
        str(folder / name) for name in ("run.log", "manifest.json", "report.json")
    ]
    assert all("No space left on device" in line for line in lines)
    assert json.loads(report.read_text())["record_errors"] == [line.removeprefix("error: ") for line in lines]


def test_node_failing_on_a_file_is_named_not_an_internal_error(
    tmp_path, data_dir, monkeypatch, capsys
) -> None:
    class Writer(NodeType):
        spec = NodeSpec("fake.writer", "Writer", "deploy", inputs=(PortSpec("table", TABLE),), outputs=())

        def run(self, ctx, inputs, params):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), "/srv/out/predictions.csv")

    registry = NodeRegistry((*FAKE_TYPES, Writer))
    monkeypatch.setattr(graph, "_default_registry", registry)
    p = Pipeline(registry)
    p.add("fake.source")
    p.add("fake.writer")
    p.connect("source.table", "writer.table")
    p.save(tmp_path / "p.json")
    assert cli.main(["run", str(tmp_path / "p.json"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: node 'writer' (fake.writer): cannot access /srv/out/predictions.csv: Permission denied "
        "(choose a location you can write to, or change its permissions)\n"
    )


def test_any_os_error_in_a_command_is_one_line(monkeypatch, capsys) -> None:
    def unreadable(args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/etc/shadow")

    monkeypatch.setattr(cli, "cmd_validate", unreadable)
    assert cli.main(["validate", "p.json"]) == 1
    assert capsys.readouterr().err == (
        "error: cannot use /etc/shadow: Permission denied "
        "(choose a location you can write to, or change its permissions)\n"
    )


# --------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def bundle_and_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from test_export_models import classifier

    from workbench.evaluation.align import split_arrays
    from workbench.export.bundle import write_bundle

    model, dataset, frame = classifier()
    folder = tmp_path_factory.mktemp("predict")
    bundle = write_bundle(model, folder / "bundle", check_rows=split_arrays(model, dataset)["x_test"])
    rows = folder / "in.csv"
    frame.drop(columns=["label", "amount"]).head(20).to_csv(rows, index=False)
    return bundle.path, rows


@pytest.mark.parametrize(
    "target, message",
    [
        ("file.txt/out.csv", "file.txt is a file, not a folder; choose another path"),
        ("existing_folder", "is a folder; give a file name"),
    ],
)
def test_predict_into_a_place_that_cannot_take_the_file(bundle_and_rows, tmp_path, capsys, target, message):
    (tmp_path / "existing_folder").mkdir()
    (tmp_path / "file.txt").write_text("in the way")
    bundle, rows = bundle_and_rows
    output = tmp_path / target
    assert cli.main(["predict", str(bundle), str(rows), "-o", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: -o {output}: ") and message in err and err.count("\n") == 1


def test_predict_on_a_full_disk_names_the_output(bundle_and_rows, tmp_path, monkeypatch, capsys) -> None:
    import pandas as pd

    def full_disk(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    bundle, rows = bundle_and_rows
    output = tmp_path / "out.csv"
    assert cli.main(["predict", str(bundle), str(rows), "-o", str(output)]) == 1
    assert capsys.readouterr().err == (
        f"error: -o: cannot write {output}: No space left on device "
        "(the disk is full; free some space or choose another location)\n"
    )

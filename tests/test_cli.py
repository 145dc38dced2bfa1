import json
import subprocess
import sys

import pytest
from fakes import fake_registry

from workbench import cli, graph
from workbench.graph import Pipeline


@pytest.fixture
def fake_default(monkeypatch):
    """The CLI loads files with the default registry; point it at the fake catalog for these tests."""
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


def test_run_writes_report_and_exits_zero(pipeline_file, tmp_path, data_dir, capsys):
    report = tmp_path / "report.json"
    code = cli.main(["run", str(pipeline_file), "--set", "add.k=5", "--report", str(report), "--quiet"])
    assert code == 0
    data = json.loads(report.read_text())
    assert data["status"] == "ok"
    assert data["nodes"]["add"] == {
        "type": "fake.add",
        "state": "done",
        "seconds": data["nodes"]["add"]["seconds"],
        "message": "",
    }
    assert data["metrics"]["sink"] == {"seen": 1.0}
    assert "ok in" in capsys.readouterr().out
    assert json.loads(pipeline_file.read_text())["nodes"][1]["params"]["k"] == 1  # --set never edits the file


def test_failing_pipeline_exits_one_with_one_line_per_failure(pipeline_file, fake_default, data_dir, capsys):
    p = Pipeline.load(pipeline_file, fake_default)
    p.add("fake.fail")
    p.connect("source.table", "fail.table")
    p.save(pipeline_file)
    assert cli.main(["run", str(pipeline_file), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "error: node 'fail' (fake.fail): column 'age' has text values" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "add.k"], "expected NODE_ID.PARAM=VALUE"),
        (["--set", "ghost.k=1"], "no node 'ghost'"),
        (["--set", "add.colour=1"], "has no parameter 'colour'"),
        (["--set", "add.k=lots"], "expected a whole number"),
        (["--target", "ghost"], "no such node"),
    ],
)
def test_usage_errors_exit_two(pipeline_file, data_dir, capsys, args, message):
    assert cli.main(["run", str(pipeline_file), *args]) == 2
    assert message in capsys.readouterr().err


def test_broken_file_exits_one_without_traceback(tmp_path, capsys, fake_default):
    path = tmp_path / "bad.json"
    path.write_text('{"format_version": 1, "nodes": [}')
    assert cli.main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "line 1" in err and "Traceback" not in err


def test_validate(pipeline_file, fake_default, capsys):
    assert cli.main(["validate", str(pipeline_file)]) == 0
    p = Pipeline.load(pipeline_file, fake_default)
    p.add("fake.model")
    p.set_param("source", "value", 99999)
    p.save(pipeline_file)
    assert cli.main(["validate", str(pipeline_file)]) == 1
    out = capsys.readouterr().out
    assert "model: input 'table' is not connected" in out and "source: value: 99999 is above" in out


def test_nodes_catalog_json_and_markdown(fake_default, capsys):
    assert cli.main(["nodes", "--json"]) == 0
    catalog = json.loads(capsys.readouterr().out)
    assert {entry["type"] for entry in catalog} >= {"fake.source", "fake.add"}
    assert cli.main(["nodes", "--markdown"]) == 0
    assert "### `fake.add` — Add" in capsys.readouterr().out


def test_version_and_usage_exit_codes(capsys):
    assert cli.main(["--version"]) == 0
    assert "model-workbench" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2


def test_console_entry_point_runs_headless_commands_without_qt(tmp_path):
    code = (
        "import sys; from ui.launcher import main; rc = main(['--version']);"
        "assert 'PySide6' not in sys.modules, 'launcher imported Qt for a CLI command'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "model-workbench" in done.stdout


def test_docs_node_reference_is_current(capsys):
    from pathlib import Path

    assert cli.main(["nodes", "--markdown"]) == 0
    current = capsys.readouterr().out
    committed = (Path(__file__).resolve().parent.parent / "docs" / "nodes.md").read_text(encoding="utf-8")
    assert committed == current, "regenerate: python -m workbench nodes --markdown > docs/nodes.md"

"""An export never deletes or changes what it did not write: refused targets stay byte-identical, an old
bundle is replaced atomically with the user's own files kept, and a full disk is one clear line."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_export_models import classifier

from workbench.cli import main
from workbench.errors import UserError
from workbench.evaluation.align import split_arrays
from workbench.export import bundle as B
from workbench.export.bundle import FILES, write_bundle
from workbench.export.reader import open_bundle
from workbench.export.target import target_problem
from workbench.graph import Pipeline

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "resources" / "datasets" / "student_performance.csv"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) with its sha256 and mode: 'byte-identical' made testable."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f":{path.stat().st_mode:o}"
        else:
            out[rel] = "dir"
    return out


@pytest.fixture(scope="module")
def clf() -> tuple:
    model, dataset, _ = classifier(300)
    return model, split_arrays(model, dataset)["x_test"]


def export(clf: tuple, folder: Path, **kwargs) -> B.Bundle:
    model, rows = clf
    return write_bundle(model, folder, check_rows=rows, **kwargs)


def tiny_pipeline(folder: Path, export_path: str = "bundle", epochs: int = 1) -> Path:
    """data.file → split → train → export, saved in ``folder`` with its CSV beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "grades.csv").write_bytes(CSV.read_bytes())
    pipeline = Pipeline()
    pipeline.add("data.file", "file", path="grades.csv")
    pipeline.add("clean.columns", "columns", drop=["student_id", "passed"])
    pipeline.add("data.split", "split", target="final_grade", task="regression")
    pipeline.add("train.supervised", "train", epochs=epochs)
    pipeline.add("deploy.export", "export", path=export_path)
    pipeline.connect("file.table", "columns.table")
    pipeline.connect("columns.table", "split.table")
    pipeline.connect("split.dataset", "train.dataset")
    pipeline.connect("train.model", "export.model")
    pipeline.connect("split.dataset", "export.dataset")
    path = folder / "grades.pipeline.json"
    pipeline.save(path)
    return path


# --------------------------------------------------------------------------- the repro, via the CLI


def test_cli_refuses_a_folder_with_a_foreign_manifest_and_touches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe = tiny_pipeline(tmp_path / "project")
    target = tmp_path / "p"
    target.mkdir()
    (target / "manifest.json").write_text("{}\n")
    (target / "keep.txt").write_text("x\n")
    before = snapshot(tmp_path)
    code = main(["export", str(pipe), "--node", "train", "-o", str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "is not a model bundle" in err[0] and "keep.txt" in err[0]
    assert snapshot(tmp_path) == before


def test_cli_refuses_the_pipelines_own_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = tiny_pipeline(tmp_path / "project")
    before = snapshot(tmp_path)
    assert main(["export", str(pipe), "--node", "train", "-o", str(pipe.parent)]) == 1
    assert "the pipeline's own folder" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- protected folders


def test_home_root_and_current_folder_are_refused(
    clf: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("secret")
    (home / "manifest.json").write_text(json.dumps({"kind": "model-workbench-bundle", "files": {}}))
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    for target, words in (("~", "home folder"), (".", "current folder"), (str(tmp_path), "holds your home")):
        with pytest.raises(UserError, match=words):
            export(clf, Path(target).expanduser())
    assert "filesystem root" in (target_problem("/") or "")
    assert snapshot(tmp_path) == before


def test_an_earlier_run_folder_is_not_a_bundle(clf: tuple, tmp_path: Path) -> None:
    run = tmp_path / "runs" / "20261201-quickstart"
    (run / "nodes" / "train").mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({"run_id": "20261201-quickstart", "seeds": {}}))
    (run / "run.log").write_text("epoch 1\n")
    (run / "nodes" / "train" / "checkpoint.pt").write_bytes(b"\0" * 64)
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="not a model bundle"):
        export(clf, run)
    assert snapshot(tmp_path) == before


def test_a_file_is_refused(clf: tuple, tmp_path: Path) -> None:
    (tmp_path / "model").write_text("not a folder")
    with pytest.raises(UserError, match="is a file"):
        export(clf, tmp_path / "model")
    assert (tmp_path / "model").read_text() == "not a folder"


# --------------------------------------------------------------------------- replacing an old bundle


def test_reexport_keeps_the_users_files_and_replaces_ours(clf: tuple, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    export(clf, folder)
    (folder / "my_predictions.csv").write_text("id,prediction\n1,yes\n")
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.md").write_text("ask Ana")
    beside = tmp_path / ".bundle.partial"  # a user folder with the name the old code used for staging
    beside.mkdir()
    (beside / "keep.txt").write_text("mine")
    export(clf, folder, metrics={"accuracy": 0.5})
    assert (folder / "my_predictions.csv").read_text() == "id,prediction\n1,yes\n"
    assert (folder / "notes" / "todo.md").read_text() == "ask Ana"
    assert (beside / "keep.txt").read_text() == "mine"
    assert json.loads((folder / "manifest.json").read_text())["metrics"] == {"accuracy": 0.5}
    open_bundle(folder)  # checksums of the new files hold; the user's extra files are ignored
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert leftovers == [".bundle.partial"]


def test_a_bundle_file_the_user_changed_stops_the_export(clf: tuple, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    export(clf, folder)
    (folder / "predict.py").write_text((folder / "predict.py").read_text() + "\n# my change\n")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="predict.py .* changed since the last export"):
        export(clf, folder)
    assert snapshot(tmp_path) == before


def test_a_users_zip_beside_the_bundle_is_not_overwritten(clf: tuple, tmp_path: Path) -> None:
    (tmp_path / "bundle.zip").write_bytes(b"my holiday photos")
    with pytest.raises(UserError, match="not this bundle's zip"):
        export(clf, tmp_path / "bundle", make_zip=True)
    assert (tmp_path / "bundle.zip").read_bytes() == b"my holiday photos"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]
    export(clf, tmp_path / "b2", make_zip=True)
    export(clf, tmp_path / "b2", make_zip=True)  # our own zip is replaced
    assert (tmp_path / "b2.zip").is_file()


# --------------------------------------------------------------------------- faults: a full disk


@pytest.mark.parametrize("failing_write", range(len(FILES) + 1))
def test_disk_full_at_every_stage_leaves_the_old_bundle_intact(
    clf: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    folder = tmp_path / "bundle"
    export(clf, folder)
    (folder / "mine.txt").write_text("keep")
    before = snapshot(tmp_path)
    calls = {"n": 0}
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        if "w" in mode:
            calls["n"] += 1
            if calls["n"] > failing_write:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(B, "open", full_disk_open, raising=False)
    with pytest.raises(UserError, match="No space left on device") as info:
        export(clf, folder)
    assert "\n" not in str(info.value) and "free some space" in str(info.value)
    assert snapshot(tmp_path) == before  # no staging folder left, old bundle and the user's file untouched


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return done.returncode == 0


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="needs root to mount a tmpfs")
def test_a_really_full_disk_is_one_line_not_an_abort(tmp_path: Path) -> None:
    """The bug: torch's own writer called std::terminate on ENOSPC (exit 134, no message)."""
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "24k"):
        pytest.skip("tmpfs cannot be mounted here")
    try:
        pipe = tiny_pipeline(tmp_path / "project", export_path=str(disk / "bundle"))
        env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
        done = subprocess.run(
            [sys.executable, "-m", "workbench", "run", str(pipe), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "No space left on device" in done.stderr and "free some space" in done.stderr
        assert list(disk.iterdir()) == []  # no torn staging folder on the full disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


# --------------------------------------------------------------------------- validate and the node


def test_validate_flags_unsafe_export_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = tiny_pipeline(tmp_path / "project", export_path=".")
    assert main(["validate", str(pipe)]) == 1
    out = capsys.readouterr().out
    assert "export: path:" in out and "the pipeline's own folder" in out
    pipeline = Pipeline.load(pipe)
    for value, words in (("~", "home folder"), ("/", "filesystem root"), ("..", "holds the pipeline's own")):
        pipeline.set_param("export", "path", value)
        assert words in pipeline.param_problems("export")["path"]
    (tmp_path / "project" / "other").mkdir()
    (tmp_path / "project" / "other" / "a.csv").write_text("a\n1\n")
    pipeline.set_param("export", "path", "other")
    assert "not a model bundle" in pipeline.param_problems("export")["path"]
    pipeline.set_param("export", "path", "bundle")
    assert pipeline.param_problems("export") == {}


def test_run_with_an_unsafe_export_path_fails_that_node_and_keeps_the_files(tmp_path: Path) -> None:
    from workbench import run

    pipe = tiny_pipeline(tmp_path / "project", export_path=".")
    before = snapshot(tmp_path / "project")
    result = run(Pipeline.load(pipe))
    assert result.status == "failed"
    assert "the pipeline's own folder" in result.failures["export"]
    assert snapshot(tmp_path / "project") == before

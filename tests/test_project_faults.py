"""Saving never loses a file: disk-full faults, symlinks, permissions, folders; broken files load as one line."""

from __future__ import annotations

import errno
import json
import os
import stat
import sys
from pathlib import Path

import pytest
from fakes import fake_registry

from workbench import project
from workbench.errors import PipelineFileError
from workbench.graph import Pipeline

REGISTRY = fake_registry()
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def sample(nodes: int = 2) -> Pipeline:
    p = Pipeline(REGISTRY)
    p.add("fake.source", value=7, note="收入 > 3.2")
    for i in range(nodes - 1):
        p.add("fake.add", f"add{i}", k=i)
    return p


def full_disk(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else 0


class FullDiskFile:
    """A file object whose writes fail as on a full disk; everything else is the real file."""

    def __init__(self, real: object) -> None:
        self.real = real

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def __enter__(self) -> FullDiskFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.close()  # type: ignore[attr-defined]


def saved_file(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "p.json"
    sample().save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize("fault", ["fsync", "write", "replace"])
def test_disk_full_during_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, fault):
    path, before = saved_file(tmp_path)
    fds = open_fds()
    if fault == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda *a, **k: FullDiskFile(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, fault, full_disk)
    with pytest.raises(OSError) as caught:
        sample(40).save(path)
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]
    assert open_fds() == fds  # the temp file's descriptor is closed too


def test_an_exception_in_the_callers_serialisation_leaves_nothing(tmp_path):
    path, before = saved_file(tmp_path)

    class Unserialisable:
        pass

    with pytest.raises(TypeError), project.atomic_writer(path) as handle:
        handle.write('{"half": ')
        json.dump({"x": Unserialisable()}, handle)
    with pytest.raises(KeyboardInterrupt), project.atomic_writer(path) as handle:
        handle.write("x" * 100_000)
        raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


def test_a_parameter_json_cannot_hold_is_one_clear_error_and_nothing_written(tmp_path):
    path, before = saved_file(tmp_path)
    bad = sample()
    bad.node("source").params["note"] = object()
    with pytest.raises(PipelineFileError, match="p.json: cannot save"):
        bad.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


def test_saving_through_a_symlink_keeps_the_link(tmp_path):
    real_dir, link_dir = tmp_path / "shared", tmp_path / "project"
    real_dir.mkdir()
    link_dir.mkdir()
    target = real_dir / "pipeline.json"
    sample().save(target)
    link = link_dir / "pipeline.json"
    link.symlink_to(Path("..") / "shared" / "pipeline.json")
    sample(5).save(link)
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "shared" / "pipeline.json")
    assert len(Pipeline.load(target, REGISTRY).nodes) == 5
    assert len(Pipeline.load(link, REGISTRY).nodes) == 5
    assert [p.name for p in link_dir.iterdir()] == ["pipeline.json"]
    assert [p.name for p in real_dir.iterdir()] == ["pipeline.json"]


def test_a_dangling_link_gets_its_target_and_a_link_loop_is_refused(tmp_path):
    link = tmp_path / "new.json"
    link.symlink_to("made-on-save.json")
    sample().save(link)
    assert link.is_symlink() and len(Pipeline.load(tmp_path / "made-on-save.json", REGISTRY).nodes) == 2
    (tmp_path / "a.json").symlink_to("b.json")
    (tmp_path / "b.json").symlink_to("a.json")
    with pytest.raises(OSError) as caught:
        sample().save(tmp_path / "a.json")
    assert caught.value.errno == errno.ELOOP
    assert (tmp_path / "a.json").is_symlink() and (tmp_path / "b.json").is_symlink()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_saving_keeps_the_files_permission_bits(tmp_path, mode):
    path, _ = saved_file(tmp_path)
    path.chmod(mode)
    sample(3).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == mode
    project.atomic_write_text(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        sample().save(tmp_path / "new.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640


def test_a_private_recovery_file_stays_private(tmp_path):
    target = project.recovery_file("private", tmp_path)
    project.write_recovery(sample(), target)
    target.chmod(0o600)
    project.write_recovery(sample(3), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(json.loads(target.read_text())["pipeline"]["nodes"]) == 3


def test_saving_onto_a_folder_is_refused_and_the_folder_kept(tmp_path):
    folder = tmp_path / "pipeline.json"
    folder.mkdir()
    (folder / "inside.txt").write_text("keep")
    with pytest.raises(IsADirectoryError):
        sample().save(folder)
    assert (folder / "inside.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.json"]


@pytest.mark.skipif(AS_ROOT, reason="root may write anywhere")
def test_read_only_file_and_folder_are_not_replaced(tmp_path):
    path, before = saved_file(tmp_path)
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        sample(3).save(path)
    assert path.read_bytes() == before
    path.chmod(0o644)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError):
            sample(3).save(path)
    finally:
        tmp_path.chmod(0o755)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


DEEP = b"[" * 5000 + b"]" * 5000
NESTED_PARAMS = (
    b'{"format_version": 1, "nodes": [{"id": "s", "type": "fake.source", "params": {"note": '
    + b"[" * 200
    + b"]" * 200
    + b"}}]}"
)
BROKEN_FILES = {
    "a JSON list": (b"[1, 2, 3]", "expected a JSON object"),
    "deep nesting": (DEEP, "nested"),
    "nesting inside params": (NESTED_PARAMS, "nested more than"),
    "not UTF-8": (b'{"nodes": "\xff\xfe"}', "not UTF-8"),
    "truncated": (b'{"format_version": 1, "nodes": [{"id": "s", "ty', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
}


@pytest.mark.parametrize("name", list(BROKEN_FILES))
def test_a_broken_pipeline_file_is_one_clear_line_and_untouched(tmp_path, name):
    blob, expected = BROKEN_FILES[name]
    path = tmp_path / "broken.json"
    path.write_bytes(blob)
    with pytest.raises(PipelineFileError) as caught:
        Pipeline.load(path, REGISTRY)
    message = str(caught.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message
    assert path.read_bytes() == blob


def _recovery(folder: Path, name: str, pipeline: Pipeline | None = None, **fields: object) -> Path:
    target = project.recovery_file(name, folder)
    project.write_recovery(pipeline or sample(), target, original=folder / f"{name}.json")
    doc = json.loads(target.read_text())
    doc.update({"pid": 2**22 + 12345, **fields})  # a process that does not exist
    target.write_text(json.dumps(doc))
    return target


def test_broken_recovery_files_are_reported_and_never_hide_a_good_one(tmp_path):
    good = _recovery(tmp_path, "good")
    bad = {
        "list": b"[1, 2]",
        "deep": b'{"pipeline": ' + DEEP + b"}",
        "latin1": '{"pid": 1, "original": "café"}'.encode("latin-1"),
        "truncated": good.read_bytes()[:40],
        "empty": b"",
        "no-pipeline": b'{"pid": 1, "saved_at": 1}',
    }
    for name, blob in bad.items():
        project.recovery_file(name, tmp_path).write_bytes(blob)
    odd_fields = {
        "huge-pid": {"pid": 10**30},
        "text-pid": {"pid": "x"},
        "far-time": {"saved_at": 1e308},
        "number-original": {"original": 5},
    }
    for name, fields in odd_fields.items():
        _recovery(tmp_path, name, **fields)
    scan = project.scan_recoveries(tmp_path)
    assert [r.path for r in scan.found] == [good]
    assert len(scan.problems) == len(bad) + len(odd_fields)
    for name in [*bad, *odd_fields]:
        (line,) = [p for p in scan.problems if p.startswith(str(project.recovery_file(name, tmp_path)))]
        assert "\n" not in line
    assert project.list_recoveries(tmp_path) == [scan.found[0]]
    assert project.dumps(scan.found[0].load(REGISTRY)) == project.dumps(sample())
    for name in bad:
        assert project.recovery_file(name, tmp_path).read_bytes() == bad[name]  # reported, never removed


def test_loading_a_recovery_with_a_broken_pipeline_is_one_clear_line(tmp_path):
    target = _recovery(tmp_path, "r")
    doc = json.loads(target.read_text())
    doc["pipeline"]["nodes"] = [[1]] * 3
    target.write_text(json.dumps(doc))
    (found,) = project.list_recoveries(tmp_path)
    with pytest.raises(PipelineFileError, match=r"r.recovery.json: nodes\[0\]"):
        found.load(REGISTRY)
    target.write_bytes(b"\xff")
    with pytest.raises(PipelineFileError, match="not UTF-8"):
        found.load(REGISTRY)


def test_a_crashed_session_with_our_pid_is_still_offered(tmp_path):
    """Containers and reboots reuse pids: the file of a crashed session with this pid is not ours."""
    crashed = _recovery(tmp_path, "crashed", pid=os.getpid(), session="an-earlier-session")
    legacy = _recovery(tmp_path, "legacy", pid=os.getpid())
    doc = json.loads(legacy.read_text())
    del doc["session"]
    legacy.write_text(json.dumps(doc))
    ours = project.recovery_file("ours", tmp_path)
    project.write_recovery(sample(), ours)
    assert sorted(r.path.name for r in project.list_recoveries(tmp_path)) == sorted(
        [crashed.name, legacy.name]
    )
    assert ours in [r.path for r in project.list_recoveries(tmp_path, include_live=True)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX descriptors")
def test_the_old_file_survives_when_the_folder_cannot_take_a_temp_file(tmp_path, monkeypatch):
    """A read-only folder, simulated at the system call so that it also holds when tests run as root."""
    path, before = saved_file(tmp_path)
    real_open = os.open

    def refuse_temp(name: object, *args: object, **kwargs: object) -> int:
        if str(name).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse_temp)
    with pytest.raises(PermissionError):
        sample(3).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX pipes")
def test_a_pipe_named_like_a_pipeline_or_recovery_file_is_refused_not_read(tmp_path):
    """Reading a named pipe would block the app (start-up included) until something writes to it."""
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(PipelineFileError, match="pipe.json: not a regular file"):
        Pipeline.load(tmp_path / "pipe.json", REGISTRY)
    os.mkfifo(project.recovery_file("pipe", tmp_path))
    good = _recovery(tmp_path, "good")
    scan = project.scan_recoveries(tmp_path)
    assert [r.path for r in scan.found] == [good]
    assert scan.problems == [f"{project.recovery_file('pipe', tmp_path)}: not a regular file"]

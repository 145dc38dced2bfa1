"""The cache never serves stale results: files are stamped where the node reads them (also through the
resources/ fallback), by content for small files, and what a saved pipeline reads does not depend on the
current folder."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from workbench import events as E
from workbench import params as P
from workbench import paths
from workbench.errors import UserError
from workbench.execution.context import RunContext
from workbench.execution.executor import Executor
from workbench.graph import Pipeline
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import ANY
from workbench.registry import NodeRegistry, builtin_registry

CSV = "x,y\n1,10\n2,20\n3,30\n"


@pytest.fixture
def resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake bundled resources/ folder holding datasets/x.csv."""
    folder = tmp_path / "resources"
    (folder / "datasets").mkdir(parents=True)
    (folder / "datasets" / "x.csv").write_text(CSV)
    monkeypatch.setenv("WORKBENCH_RESOURCES", str(folder))
    return folder


def saved_pipeline(folder: Path, data_path: str = "datasets/x.csv") -> Pipeline:
    """A pipeline saved in ``folder`` (which holds no datasets/) reading ``data_path``."""
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(builtin_registry())
    pipeline.add("data.file", "file", path=data_path)
    pipeline.save(folder / "p.pipeline.json")
    return Pipeline.load(folder / "p.pipeline.json")


def rewrite_keeping_stat(path: Path, text: str) -> None:
    """Same size, same mtime (to the nanosecond): only the bytes differ."""
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_a_file_reached_through_resources_is_read_again_after_a_same_size_same_mtime_edit(
    tmp_path, resources, data_dir
):
    pipeline = saved_pipeline(tmp_path / "project")
    executor = Executor()
    first = executor.run(pipeline, write_run_folder=False)
    assert first.status == "ok", first.failures
    assert first.output("file", "table")["y"].tolist() == [10, 20, 30]
    assert executor.run(pipeline, write_run_folder=False).nodes["file"].state == E.CACHED

    rewrite_keeping_stat(resources / "datasets" / "x.csv", CSV.replace("20", "99"))
    second = executor.run(pipeline, write_run_folder=False)
    assert second.nodes["file"].state == E.DONE  # a cache miss: the key saw the new bytes
    assert second.output("file", "table")["y"].tolist() == [10, 99, 30]


def test_a_saved_pipeline_reads_the_same_file_whatever_the_current_folder(
    tmp_path, resources, data_dir, monkeypatch
):
    decoy = tmp_path / "started_here"
    (decoy / "datasets").mkdir(parents=True)
    (decoy / "datasets" / "x.csv").write_text("x,y\n7,70\n")  # a same-named file in the current folder
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pipeline = saved_pipeline(tmp_path / "project")
    executor = Executor()

    monkeypatch.chdir(decoy)
    first = executor.run(pipeline, write_run_folder=False)
    monkeypatch.chdir(elsewhere)
    second = executor.run(pipeline, write_run_folder=False)
    fresh = Executor().run(pipeline, write_run_folder=False)

    for result in (first, second, fresh):
        assert result.status == "ok", result.failures
        assert result.output("file", "table")["y"].tolist() == [10, 20, 30]
    assert second.nodes["file"].state == E.CACHED  # the same file, so the same key


def test_unsaved_pipelines_use_the_current_folder_and_outputs_never_fall_back(
    tmp_path, resources, monkeypatch
):
    here = tmp_path / "here"
    (here / "datasets").mkdir(parents=True)
    (here / "datasets" / "x.csv").write_text("x\n1\n")
    monkeypatch.chdir(here)
    assert RunContext().resolve_path("datasets/x.csv") == here / "datasets" / "x.csv"
    project = tmp_path / "project"
    ctx = RunContext(base_dir=project)
    assert ctx.resolve_path("datasets/x.csv") == resources / "datasets" / "x.csv"  # not the current folder's
    assert ctx.resolve_path("datasets/x.csv", must_exist=False) == project / "datasets" / "x.csv"
    assert RunContext().resolve_path("out.csv", must_exist=False) == here / "out.csv"
    with pytest.raises(UserError) as caught:
        ctx.resolve_path("datasets/nowhere.csv")
    message = str(caught.value)
    assert "\n" not in message
    assert str(project / "datasets" / "nowhere.csv") in message
    assert str(resources / "datasets" / "nowhere.csv") in message


@pytest.mark.parametrize(
    ("type_id", "param"), [("train.supervised", "resume_from"), ("model.pretrained", "source")]
)
def test_every_file_a_node_reads_is_in_its_key(tmp_path, resources, type_id, param):
    checkpoint = resources / "checkpoints" / "last.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"A" * 1000)
    pipeline = Pipeline(builtin_registry())
    pipeline.add(type_id, "node", **{param: "checkpoints/last.pt"})
    pipeline.save(tmp_path / "project" / "p.pipeline.json")
    pipeline = Pipeline.load(tmp_path / "project" / "p.pipeline.json")
    before = Executor().fingerprints(pipeline)["node"]
    assert Executor().fingerprints(pipeline)["node"] == before  # stable while nothing changes
    stat = checkpoint.stat()
    checkpoint.write_bytes(b"B" * 1000)
    os.utime(checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert Executor().fingerprints(pipeline)["node"] != before


# -- other ways an entry could outlive what made it


class ReadText(NodeType):
    """Reads a text file; ``before_read`` lets a test change the file between the key and the read."""

    spec = NodeSpec(
        "test.read",
        "Read",
        "collect",
        outputs=(PortSpec("text", ANY),),
        params=(P.Path("path", "", mode="open"),),
    )
    before_read: Any = None

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        path = ctx.resolve_path(params["path"])
        if ReadText.before_read is not None:
            ReadText.before_read(path)
        return {"text": path.read_text()}


_TICKS = itertools.count()


class Ticket(NodeType):
    """Different output every run, so it opts out of the cache."""

    spec = NodeSpec("test.ticket", "Ticket", "collect", outputs=(PortSpec("n", ANY),), cacheable=False)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"n": next(_TICKS)}


class Echo(NodeType):
    spec = NodeSpec(
        "test.echo", "Echo", "transform", inputs=(PortSpec("value", ANY),), outputs=(PortSpec("value", ANY),)
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"value": inputs["value"]}


class WriteFile(NodeType):
    spec = NodeSpec("test.write", "Write", "deploy", outputs=(PortSpec("path", ANY),))

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        target = ctx.node_dir / "out.txt"
        target.write_text("written")
        ctx.artifact("out", target)
        return {"path": str(target)}


REGISTRY = NodeRegistry((ReadText, Ticket, Echo, WriteFile))


def test_a_file_edited_while_its_node_reads_it_is_not_cached(tmp_path, data_dir):
    source = tmp_path / "notes.txt"
    source.write_text("old")
    pipeline = Pipeline(REGISTRY)
    pipeline.add("test.read", "read", path=str(source))
    executor = Executor()
    try:
        ReadText.before_read = lambda path: path.write_text("new")  # after the key was taken
        first = executor.run(pipeline, write_run_folder=False)
    finally:
        ReadText.before_read = None
    assert first.output("read", "text") == "new"
    assert any("changed during the run" in line for line in first.log)
    source.write_text("old")  # back to what the first key described
    second = executor.run(pipeline, write_run_folder=False)
    assert second.nodes["read"].state == E.DONE and second.output("read", "text") == "old"


def test_nodes_fed_by_a_node_that_opts_out_are_not_served_from_the_cache(data_dir):
    pipeline = Pipeline(REGISTRY)
    pipeline.add("test.ticket", "ticket")
    pipeline.add("test.echo", "echo")
    pipeline.connect("ticket.n", "echo.value")
    executor = Executor()
    first = executor.run(pipeline, write_run_folder=False)
    second = executor.run(pipeline, write_run_folder=False)
    assert second.output("ticket") != first.output("ticket")
    assert second.output("echo") == second.output("ticket")  # not the first run's value
    assert second.nodes["echo"].state == E.DONE


def test_a_cached_node_whose_written_file_is_gone_runs_again(data_dir):
    pipeline = Pipeline(REGISTRY)
    pipeline.add("test.write", "write")
    executor = Executor()
    first = executor.run(pipeline, write_run_folder=False)
    written = Path(first.artifacts["write.out"])
    assert executor.run(pipeline, write_run_folder=False).nodes["write"].state == E.CACHED
    written.unlink()
    third = executor.run(pipeline, write_run_folder=False)
    assert third.nodes["write"].state == E.DONE
    assert Path(third.artifacts["write.out"]).read_text() == "written"


def test_file_stamp_hashes_small_files_only(tmp_path, monkeypatch):
    small = tmp_path / "small.bin"
    small.write_bytes(b"a" * 100)
    stamp = paths.file_stamp(small)
    rewrite = small.stat()
    small.write_bytes(b"b" * 100)
    os.utime(small, ns=(rewrite.st_atime_ns, rewrite.st_mtime_ns))
    assert paths.file_stamp(small) != stamp
    monkeypatch.setattr(paths, "HASH_LIMIT_BYTES", 10)  # above the limit: the stat only, no read
    assert paths.file_stamp(small).count(":") == stamp.count(":") - 1

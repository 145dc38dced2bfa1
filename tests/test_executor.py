import json
import threading
import time

import pytest
from fakes import RUNS, fake_registry

from workbench import events as E
from workbench.commands import CommandStack, SetParam
from workbench.execution.context import CancelToken
from workbench.execution.executor import Executor
from workbench.graph import Pipeline

REGISTRY = fake_registry()


@pytest.fixture(autouse=True)
def _reset_counts():
    RUNS.clear()


def chain() -> Pipeline:
    p = Pipeline(REGISTRY)
    p.add("fake.source", value=3)
    p.add("fake.add", k=1)
    p.add("fake.add", "other", k=10)
    p.connect("source.table", "add.table")
    p.connect("source.table", "other.table")
    return p


def test_runs_in_order_and_outputs_flow(data_dir):
    result = Executor().run(chain())
    assert result.status == "ok"
    assert result.output("add", "table") == 4 and result.output("other") == 13


def test_unchanged_rerun_is_cached_and_param_edit_reruns_only_downstream(data_dir):
    p, executor = chain(), Executor()
    executor.run(p)
    again = executor.run(p)
    assert {r.state for r in again.nodes.values()} == {E.CACHED}
    assert RUNS == {"source": 1, "add": 1, "other": 1}
    CommandStack(p).push(SetParam("add", "k", 5))
    third = executor.run(p)
    assert third.nodes["add"].state == E.DONE and third.nodes["other"].state == E.CACHED
    assert third.output("add") == 8
    assert executor.cached_nodes(p) == {"source", "add", "other"}
    p.set_param("source", "value", 4)
    assert executor.cached_nodes(p) == set()  # everything downstream of the edit is stale


def test_target_runs_only_what_it_needs(data_dir):
    result = Executor().run(chain(), targets=["add"])
    assert set(result.nodes) == {"source", "add"}


def test_failure_is_isolated_and_has_one_line_message(data_dir):
    p = chain()
    p.add("fake.fail")
    p.add("fake.add", "after")
    p.connect("source.table", "fail.table")
    p.connect("fail.table", "after.table")
    result = Executor().run(p)
    assert result.status == "failed"
    assert result.nodes["fail"].state == E.FAILED
    assert result.nodes["fail"].message == "column 'age' has text values; add a Types node to convert it"
    assert result.nodes["after"].state == E.SKIPPED
    assert result.nodes["other"].state == E.DONE  # independent branch still ran


def test_internal_error_is_distinguished_and_traceback_goes_to_log(data_dir):
    p = chain()
    p.add("fake.fail", internal=True)
    p.connect("source.table", "fail.table")
    result = Executor().run(p)
    message = result.nodes["fail"].message
    assert message.startswith("internal error: ZeroDivisionError") and "\n" not in message
    log = (result.run_dir / "run.log").read_text()
    assert "Traceback" in log and "ZeroDivisionError" in log


def test_invalid_params_and_missing_inputs_fail_before_running(data_dir):
    p = chain()
    p.set_param("add", "k", "many")
    p.add("fake.model")
    result = Executor().run(p)
    assert "k: expected a whole number" in result.nodes["add"].message
    assert result.nodes["model"].message == "input 'table' is not connected"
    assert RUNS["add"] == 0


def test_cancel_stops_a_long_node_and_skips_the_rest(data_dir):
    p = chain()
    p.add("fake.slow", steps=500)
    p.add("fake.add", "after")
    p.connect("source.table", "slow.table")
    p.connect("slow.table", "after.table")
    token = CancelToken()
    seen = E.CollectingReporter()

    def reporter(event):
        seen(event)
        if isinstance(event, E.Progress) and event.fraction > 0.05:
            token.cancel()

    result = Executor().run(p, reporter=reporter, token=token)
    assert result.status == "stopped"
    assert result.nodes["slow"].state == E.STOPPED
    assert result.nodes["after"].state == E.SKIPPED
    assert RUNS["slow"] == 1 and seen.of_type(E.RunFinished)[0].status == "stopped"


def test_pause_blocks_between_steps_then_resumes(data_dir):
    p = Pipeline(REGISTRY)
    p.add("fake.source")
    p.add("fake.slow", steps=30)
    p.connect("source.table", "slow.table")
    token = CancelToken()
    progress = []

    def reporter(event):
        if isinstance(event, E.Progress):
            progress.append(time.monotonic())
            if len(progress) == 3:
                token.pause()
                threading.Timer(0.3, token.resume).start()

    result = Executor().run(p, reporter=reporter, token=token)
    assert result.status == "ok"
    gaps = [b - a for a, b in zip(progress, progress[1:], strict=False)]
    assert max(gaps) >= 0.25  # the pause really held the node


def test_events_and_run_folder(data_dir):
    p = chain()
    p.add("fake.sink")
    p.connect("add.table", "sink.data")
    seen = E.CollectingReporter()
    result = Executor().run(p, reporter=seen)
    states = [(e.node_id, e.state) for e in seen.of_type(E.NodeStateChanged)]
    assert states[:4] == [("source", "queued"), ("add", "queued"), ("other", "queued"), ("sink", "queued")]
    assert ("sink", "done") in states
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["status"] == "ok" and report["metrics"]["sink"] == {"seen": 1.0}
    assert report["nodes"]["add"]["type"] == "fake.add"
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["versions"]["model-workbench"] and manifest["pipeline_fingerprint"]
    assert str(result.run_dir).startswith(str(data_dir))

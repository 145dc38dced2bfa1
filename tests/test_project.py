import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import fake_registry
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench import project
from workbench.errors import PipelineFileError
from workbench.graph import Pipeline

REGISTRY = fake_registry()


def sample() -> Pipeline:
    p = Pipeline(REGISTRY)
    p.add("fake.source", value=7, note="收入 > 3.2")
    p.add("fake.add", k=2, title="Plus two")
    p.connect("source.table", "add.table")
    return p


def test_round_trip_is_identical_and_human_readable(tmp_path):
    path = tmp_path / "p.json"
    sample().save(path)
    text = path.read_text(encoding="utf-8")
    assert '"format_version": 1' in text and "收入" in text
    again = Pipeline.load(path, REGISTRY)
    assert project.dumps(again) == text
    assert again.path == path.resolve()


def test_unknown_node_type_is_kept_and_reported(tmp_path):
    doc = json.loads(project.dumps(sample()))
    doc["nodes"].append(
        {"id": "mystery", "type": "plugin.magic", "version": 3, "params": {"x": [1, 2]}, "position": [1, 2]}
    )
    doc["links"].append({"from": ["add", "table"], "to": ["mystery", "in"]})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    loaded = Pipeline.load(path, REGISTRY)
    assert any("plugin.magic" in w for w in loaded.load_warnings)
    assert "unknown node type" in loaded.problems()["mystery"][0]
    out = json.loads(project.dumps(loaded))
    assert out["nodes"][-1] == doc["nodes"][-1]
    assert out["links"][-1] == doc["links"][-1]


def test_old_type_id_maps_to_replacement():
    doc = json.loads(project.dumps(sample()))
    doc["nodes"][0]["type"] = "old.source"
    loaded = project.pipeline_from_json(doc, REGISTRY)
    assert loaded.node("source").type == "fake.source"


def test_migrations_run_in_order(monkeypatch):
    doc = json.loads(project.dumps(sample()))
    old = {"format_version": 0, "blocks": doc["nodes"], "wires": doc["links"]}

    def v0_to_v1(data):
        return {"format_version": 1, "nodes": data["blocks"], "links": data["wires"]}

    monkeypatch.setitem(project.MIGRATIONS, 0, v0_to_v1)
    assert [n.id for n in project.pipeline_from_json(old, REGISTRY).nodes] == ["source", "add"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "line 1, column 1: not valid JSON"),
        ('{"format_version": 1, "nodes": [', "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"nodes": []}', "format_version: missing"),
        ('{"format_version": 99, "nodes": []}', "newer Model Workbench"),
        ('{"format_version": 1, "nodes": {}}', "top level.nodes: expected a list"),
        ('{"format_version": 1, "nodes": [{"id": "a"}]}', "nodes[0]: missing field 'type'"),
        (
            '{"format_version": 1, "nodes": [{"id": "a", "type": "fake.source", "position": [1]}]}',
            "nodes[0].position: expected [x, y]",
        ),
        (
            '{"format_version": 1, "nodes": [], "links": [{"from": ["a", "x"], "to": ["b", "y"]}]}',
            "links[0]: refers to node 'a'",
        ),
        (
            '{"format_version": 1, "nodes": [{"id": "a", "type": "fake.source"}, {"id": "a", "type": "fake.add"}]}',
            "nodes[1]: a node with id 'a' already exists",
        ),
    ],
)
def test_broken_files_give_one_clear_message_and_stay_untouched(tmp_path, text, expected):
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime_ns
    with pytest.raises(PipelineFileError) as info:
        Pipeline.load(path, REGISTRY)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message
    assert path.read_text(encoding="utf-8") == text and path.stat().st_mtime_ns == stamp


def test_binary_and_missing_files(tmp_path):
    path = tmp_path / "garbage.json"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(PipelineFileError, match="not UTF-8"):
        Pipeline.load(path, REGISTRY)
    with pytest.raises(PipelineFileError, match="no such file"):
        Pipeline.load(tmp_path / "nope.json", REGISTRY)
    with pytest.raises(PipelineFileError, match="is a folder"):
        Pipeline.load(tmp_path, REGISTRY)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_fuzzed_bytes_never_raise_anything_but_file_error(blob):
    text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob
    try:
        project.loads(text, REGISTRY, "fuzz.json")
    except PipelineFileError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzzed_documents_never_raise_anything_but_file_error(data):
    doc = json.loads(project.dumps(sample()))
    # Replace one random field somewhere in a valid document with a random JSON value.
    paths = [
        ("nodes", 0, "id"),
        ("nodes", 0, "params"),
        ("nodes", 1, "type"),
        ("nodes", 1, "position"),
        ("links", 0, "from"),
        ("links", 0),
        ("nodes", 0),
        ("links",),
        ("format_version",),
    ]
    target = data.draw(st.sampled_from(paths))
    holder = doc
    for key in target[:-1]:
        holder = holder[key]
    holder[target[-1]] = data.draw(json_values)
    try:
        project.pipeline_from_json(doc, REGISTRY, "fuzz.json")
    except PipelineFileError:
        pass


def test_failed_save_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    sample().save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    bigger = sample()
    bigger.add("fake.sink")
    with pytest.raises(OSError):
        bigger.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temp file left behind


SAVER = r"""
import sys
sys.path.insert(0, {tests!r})
from fakes import fake_registry
from workbench.graph import Pipeline
p = Pipeline(fake_registry())
for i in range(400):
    p.add("fake.source", value=i % 1000, note="x" * 200)
i = 0
print("ready", flush=True)
while True:
    i += 1
    p.node("source").params["value"] = i % 1000
    p.save({path!r})
"""


def test_killing_a_process_mid_save_never_leaves_a_torn_file(tmp_path):
    path = tmp_path / "p.json"
    sample().save(path)
    script = SAVER.format(tests=str(Path(__file__).parent), path=str(path))
    rng = random.Random(1)
    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = Pipeline.load(path, REGISTRY)  # must always parse: old or new, never torn
        assert len(loaded.nodes) in (2, 400)


def test_recovery_files_survive_a_dead_process_only(tmp_path):
    p = sample()
    target = project.recovery_file("untitled-1", tmp_path)
    project.write_recovery(p, target, original=tmp_path / "p.json")
    assert project.list_recoveries(tmp_path) == []  # our own live session is not a crash
    doc = json.loads(target.read_text())
    doc["pid"] = 999_999_999  # a process that cannot exist
    target.write_text(json.dumps(doc))
    (found,) = project.list_recoveries(tmp_path)
    assert found.original == tmp_path / "p.json"
    assert project.dumps(found.load(REGISTRY)) == project.dumps(p)

import json

import pytest
from fakes import fake_registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.commands import (
    AddNode,
    CommandStack,
    Connect,
    Disconnect,
    Macro,
    MoveNodes,
    PasteGroup,
    RemoveNodes,
    RenameNode,
    SetParam,
    copy_group,
)
from workbench.graph import GraphError, InputOccupiedError, Pipeline
from workbench.project import dumps

REGISTRY = fake_registry()


def base_pipeline() -> Pipeline:
    p = Pipeline(REGISTRY)
    p.add("fake.source", value=1)
    p.add("fake.add")
    p.add("fake.sink")
    p.connect("source.table", "add.table")
    p.connect("add.table", "sink.data")
    return p


def test_remove_is_one_step_with_links_and_restores_order():
    p = base_pipeline()
    before = dumps(p)
    stack = CommandStack(p)
    stack.push(RemoveNodes(["add"]))
    assert [n.id for n in p.nodes] == ["source", "sink"] and p.links == []
    stack.undo()
    assert dumps(p) == before
    stack.redo()
    assert "add" not in p


def test_set_param_merges_consecutive_edits_of_one_param():
    p = base_pipeline()
    stack = CommandStack(p)
    for value in (2, 3, 4):
        stack.push(SetParam("source", "value", value))
    stack.push(SetParam("add", "k", 9))
    assert p.node("source").params["value"] == 4
    stack.undo()
    stack.undo()
    assert p.node("source").params["value"] == 1
    assert not stack.can_undo


def test_moves_merge_until_break():
    p = base_pipeline()
    stack = CommandStack(p)
    start = p.node("add").position
    stack.push(MoveNodes({"add": (10, 10)}))
    stack.push(MoveNodes({"add": (20, 20)}))
    stack.break_merge()
    stack.push(MoveNodes({"add": (30, 30)}))
    stack.undo()
    assert p.node("add").position == (20.0, 20.0)
    stack.undo()
    assert p.node("add").position == start


def test_connect_replace_and_refusal_leaves_stack_unchanged():
    p = base_pipeline()
    stack = CommandStack(p)
    stack.push(AddNode("fake.source", (0, 100)))
    with pytest.raises(InputOccupiedError):
        stack.push(Connect("source_2", "table", "add", "table"))
    assert stack.undo_text == "add fake.source"
    stack.push(Connect("source_2", "table", "add", "table", replace=True))
    assert p.input_links("add")["table"].source == "source_2"
    stack.undo()
    assert p.input_links("add")["table"].source == "source"


def test_clean_mark_and_dirty_after_undo_past_it():
    p = base_pipeline()
    stack = CommandStack(p)
    assert stack.is_clean
    stack.push(RenameNode("add", "Plus one"))
    assert not stack.is_clean
    stack.set_clean()
    stack.push(SetParam("add", "k", 3))
    stack.undo()
    assert stack.is_clean
    stack.undo()
    assert not stack.is_clean
    stack.push(SetParam("add", "k", 5))  # the clean state is now unreachable
    assert not stack.is_clean


def test_paste_group_gets_fresh_ids_and_internal_links():
    p = base_pipeline()
    stack = CommandStack(p)
    group = json.loads(json.dumps(copy_group(p, ["source", "add"])))
    cmd = stack.push(PasteGroup(group))
    assert set(cmd.new_ids.values()) == {"source_2", "add_2"}
    assert any(k.source == "source_2" and k.target == "add_2" for k in p.links)
    stack.undo()
    assert len(p.nodes) == 3
    stack.redo()
    assert "add_2" in p


def test_macro_rolls_back_when_a_part_fails():
    p = base_pipeline()
    before = dumps(p)
    stack = CommandStack(p)
    bad = Macro("two", [SetParam("add", "k", 2), Connect("sink", "nope", "add", "extra")])
    with pytest.raises(GraphError):
        stack.push(bad)
    assert dumps(p) == before and not stack.can_undo


# -- property: any sequence of accepted commands, undone completely, gives the identical file.

TYPES = ["fake.source", "fake.add", "fake.model", "fake.sink", "fake.slow"]
actions = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 50), st.integers(0, 50), st.integers(-5, 5)),
    min_size=1,
    max_size=25,
)


def make_command(p: Pipeline, kind: int, a: int, b: int, value: int):
    nodes = p.nodes
    if kind == 0 or not nodes:
        return AddNode(TYPES[a % len(TYPES)], (a * 10.0, b * 10.0))
    node = nodes[a % len(nodes)]
    other = nodes[b % len(nodes)]
    if kind == 1:
        return RemoveNodes([node.id])
    if kind == 2:
        spec = p.spec(node.id)
        outs = spec.outputs if spec else ()
        ins = p.spec(other.id).inputs if p.spec(other.id) else ()
        if not outs or not ins:
            return None
        return Connect(node.id, outs[0].name, other.id, ins[b % len(ins)].name, replace=bool(value % 2))
    if kind == 3:
        return Disconnect(p.links[a % len(p.links)]) if p.links else None
    if kind == 4:
        spec = p.spec(node.id)
        return SetParam(node.id, spec.params[0].name, value) if spec and spec.params else None
    if kind == 5:
        return MoveNodes({node.id: (value * 7.0, a * 1.0)})
    if kind == 6:
        return RenameNode(node.id, f"n{value}")
    return PasteGroup(copy_group(p, [node.id, other.id]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_undo_all_returns_identical_file(steps):
    p = base_pipeline()
    original = dumps(p)
    stack = CommandStack(p)
    snapshots = [original]
    for kind, a, b, value in steps:
        command = make_command(p, kind, a, b, value)
        if command is None:
            continue
        try:
            stack.push(command, merge=False)
        except GraphError:
            assert dumps(p) == snapshots[-1]  # a refused edit changes nothing
            continue
        snapshots.append(dumps(p))
    while stack.can_undo:
        stack.undo()
        snapshots.pop()
        assert dumps(p) == snapshots[-1]
    assert dumps(p) == original
    while stack.can_redo:
        stack.redo()

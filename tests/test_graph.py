import pytest
from fakes import fake_registry

from workbench.graph import (
    CycleError,
    GraphError,
    InputOccupiedError,
    NodeAdded,
    Pipeline,
    PortTypeError,
    UnknownNodeError,
    UnknownPortError,
)


@pytest.fixture
def pipe():
    p = Pipeline(fake_registry())
    p.add("fake.source", value=2)
    p.add("fake.add", k=1)
    p.add("fake.model")
    p.connect("source.table", "add.table")
    return p


def test_readable_unique_ids(pipe):
    assert [n.id for n in pipe.nodes] == ["source", "add", "model"]
    assert pipe.add("fake.source").id == "source_2"


def test_type_error_names_both_types(pipe):
    with pytest.raises(PortTypeError, match="gives a Trained model but 'add'.*needs a Table"):
        pipe.connect("model", "model", "add", "extra")


def test_occupied_input_cycle_unknown_port_and_node(pipe):
    pipe.add("fake.source")
    with pytest.raises(InputOccupiedError) as info:
        pipe.connect("source_2.table", "add.table")
    assert info.value.existing.source == "source"
    with pytest.raises(CycleError):
        pipe.connect("add.table", "add.extra")
    pipe.connect("add.table", "model.table")
    pipe.add("fake.add")
    pipe.connect("add.table", "add_2.table")
    with pytest.raises(CycleError):
        pipe.connect("add_2.table", "add.extra")
    with pytest.raises(UnknownPortError, match="has no output 'nope'"):
        pipe.connect("source.nope", "add_2.extra")
    with pytest.raises(UnknownNodeError):
        pipe.connect("ghost.table", "add_2.extra")


def test_topological_order_and_queries(pipe):
    pipe.connect("add.table", "model.table")
    pipe.add("fake.source")
    assert pipe.topological_order() == ["source", "add", "model", "source_2"]
    assert pipe.topological_order(["add"]) == ["source", "add"]
    assert pipe.upstream("model") == {"source", "add"}
    assert pipe.downstream("source") == {"add", "model"}


def test_problems_collect_without_raising(pipe):
    pipe.set_param("source", "value", 5000)
    found = pipe.problems()
    assert found["source"] == ["value: 5000 is above the maximum 1000"]
    assert found["model"] == ["input 'table' is not connected"]
    assert "add" not in found


def test_observers_see_every_change(pipe):
    seen = []
    pipe.subscribe(seen.append)
    node = pipe.add("fake.sink")
    pipe.move_node(node.id, (5, 6))
    assert isinstance(seen[0], NodeAdded)
    assert seen[-1].position == (5.0, 6.0)


def test_remove_node_with_links_refused(pipe):
    with pytest.raises(GraphError, match="still has links"):
        pipe.remove_node("add")

"""Port values are typed: each class that travels on a wire is registered once in workbench.ports, the
executor checks every output against its port's type, and the views dispatch on that registration."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from ui.views.data_view import DataView, tables_in
from ui.views.results_view import find_outputs
from workbench import ports
from workbench.errors import UserError
from workbench.execution.executor import Executor
from workbench.graph import Pipeline
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.registry import NodeRegistry

GRID = "toy.grid"


class Grid:
    """A toy value no view has ever heard of: a few cells and a score."""

    def __init__(self, cells: pd.DataFrame, score: float) -> None:
        self.cells, self.score = cells, score


class GridSource(NodeType):
    spec = NodeSpec("toy.grid_source", "Grid", "collect", outputs=(PortSpec("grid", GRID),))

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"grid": Grid(pd.DataFrame({"x": [1, 2, 3], "y": [4, 5, 6]}), 0.75)}


class GridSink(NodeType):
    spec = NodeSpec("toy.grid_sink", "Use grid", "deploy", inputs=(PortSpec("grid", GRID),), cacheable=False)

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        ctx.log(f"{len(inputs['grid'].cells)} cells")
        return {}


@pytest.fixture
def toy_port_type():
    """The toy type exists only inside the test: ports.scoped() undoes its registration."""
    with ports.scoped():
        ports.register_port_type(ports.PortType(GRID, "Grid", "Cells on a grid."))
        ports.register_value(
            Grid,
            GRID,
            kind="grid",
            tables=lambda grid: {"cells": grid.cells},
            columns=lambda grid: list(grid.cells.columns),
            metrics=lambda grid: {"grid_score": grid.score},
        )
        yield
    assert GRID not in ports.PORT_TYPES


def test_a_new_port_type_reaches_the_views_through_its_registration_only(qtbot, toy_port_type) -> None:
    p = Pipeline(NodeRegistry((GridSource, GridSink)))
    p.add("toy.grid_source", "src")
    p.add("toy.grid_sink", "use")
    p.connect("src.grid", "use.grid")
    result = Executor().run(p, write_run_folder=False)
    assert result.status == "ok", result.failures
    grid = result.output("src", "grid")
    assert isinstance(grid, Grid) and ports.type_of(grid) == GRID

    assert find_outputs(result) == {"grid": grid}  # the results finder files it under its kind
    tables = tables_in(grid, "grid")  # what the data panel shows for the node
    assert list(tables) == ["grid · cells"] and tables["grid · cells"] is grid.cells
    view = DataView()
    qtbot.addWidget(view)
    view.show_tables("src", tables)
    assert "3 rows × 2 columns" in view.title.text()
    assert ports.columns_of(grid) == ["x", "y"]  # the inspector's column choices
    assert result.nodes["src"].metrics == {"grid_score": 0.75}  # the run report's figures


def test_after_the_scope_the_toy_type_is_unknown_again() -> None:
    grid = Grid(pd.DataFrame({"x": [1]}), 0.5)
    with ports.scoped():
        ports.register_port_type(ports.PortType(GRID, "Grid", "Cells on a grid."))
        ports.register_value(Grid, GRID, tables=lambda g: {"cells": g.cells})
        assert ports.kind_of(grid) == GRID and list(ports.tables_of(grid)) == ["cells"]
    assert ports.kind_of(grid) is None and ports.tables_of(grid) == {} and ports.columns_of(grid) is None
    assert GRID not in ports.PORT_TYPES


class WrongDataset(NodeType):
    """Declares a dataset but hands on the raw table (a plugin bug)."""

    spec = NodeSpec(
        "toy.wrong",
        "Wrong",
        "transform",
        inputs=(PortSpec("table", ports.TABLE),),
        outputs=(PortSpec("dataset", ports.DATASET),),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"dataset": inputs["table"]}


class FrameSource(NodeType):
    spec = NodeSpec("toy.frame", "Frame", "collect", outputs=(PortSpec("table", ports.TABLE),))

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"table": pd.DataFrame({"a": [1.0, 2.0]})}


class Anything(NodeType):
    spec = NodeSpec(
        "toy.anything",
        "Anything",
        "transform",
        inputs=(PortSpec("table", ports.TABLE),),
        outputs=(PortSpec("out", ports.ANY), PortSpec("maybe", ports.DATASET, optional=True)),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"out": object(), "maybe": None}


class Downstream(NodeType):
    spec = NodeSpec("toy.down", "Down", "deploy", inputs=(PortSpec("dataset", ports.DATASET),))

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {}


def test_a_node_returning_the_wrong_type_fails_with_one_clear_line() -> None:
    p = Pipeline(NodeRegistry((FrameSource, WrongDataset, Anything, Downstream)))
    p.add("toy.frame", "data")
    p.add("toy.wrong", "split")
    p.add("toy.down", "use")
    p.add("toy.anything", "any")
    p.connect("data.table", "split.table")
    p.connect("split.dataset", "use.dataset")
    p.connect("data.table", "any.table")
    result = Executor().run(p, write_run_folder=False)
    assert result.nodes["split"].state == "failed"
    assert result.nodes["split"].message == (
        "node 'split': output 'dataset' must be a Dataset (dataset) but the node returned a DataFrame (table)"
    )
    assert result.nodes["split"].outputs == {}  # nothing of the wrong type flows on
    assert result.nodes["use"].state == "skipped"
    assert result.nodes["data"].state == "done"
    assert result.nodes["any"].state == "done"  # `any` accepts anything; an optional output may be None


def test_a_look_alike_is_no_model() -> None:
    """Attributes do not make a value a model: the MODEL readers refuse it in one line."""
    from workbench.export.predictor import Predictor
    from workbench.nodes.evaluate import trained_model

    fake = SimpleNamespace(module=None, architecture={}, path=None)
    with pytest.raises(UserError, match="^model: expected a trained model or an exported bundle, got Simple"):
        trained_model(fake)
    with pytest.raises(UserError, match="^model: expected a trained model or an exported bundle, got Simple"):
        Predictor.from_any(fake)


def test_every_builtin_output_is_of_its_declared_type(tmp_path: Path) -> None:
    """sample → split → linear → train → evaluate/importance/surrogate → predict, through the real executor:
    each output is a registered value of its port's type, and the finder files each under its kind."""
    from workbench.engine.trained import TrainedModel
    from workbench.registry import builtin_registry

    p = Pipeline(builtin_registry())
    p.add("data.sample", "data", name="iris")
    p.add("data.split", "split", target="species")
    p.add("model.linear", "linear")
    p.add("train.supervised", "train", epochs=2, device="cpu", threads=1)
    p.add("evaluate.metrics", "eval", baseline=False)
    p.add("evaluate.importance", "imp", repeats=1)
    p.add("evaluate.surrogate", "why", max_depth=2)
    p.add("deploy.predict", "predict", output=str(tmp_path / "preds.csv"))
    p.connect("data.table", "split.table")
    p.connect("split.dataset", "train.dataset")
    p.connect("linear.model", "train.model")
    for node in ("eval", "imp", "why"):
        p.connect("train.model", f"{node}.model")
        p.connect("split.dataset", f"{node}.dataset")
    p.connect("train.model", "predict.model")
    p.connect("data.table", "predict.table")
    result = Executor().run(p, write_run_folder=False)
    assert result.status == "ok", result.failures
    for node in p.nodes:
        for port in p.spec(node.id).outputs:
            value = result.output(node.id, port.name)
            assert ports.type_of(value) == port.type, (node.id, port.name, type(value))
    found = find_outputs(result)
    assert {"model", "dataset", "evaluation", "importance", "surrogate", "model_spec"} <= set(found)
    assert isinstance(found["model"], TrainedModel)
    assert result.nodes["why"].metrics["surrogate_leaves"] >= 1  # metrics_of reached the run report
    assert len(pd.read_csv(tmp_path / "preds.csv")) == 150  # Predictor.from_any took the trained model

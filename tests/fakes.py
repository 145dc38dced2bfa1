"""A small registry of fake node types, so core tests need no data, pandas or torch."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from workbench import params as P
from workbench import ports
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import ANY, MODEL, TABLE
from workbench.registry import NodeRegistry

RUNS: Counter[str] = Counter()

# The fakes carry numbers on table wires and tuples on model wires: registered as such, the executor's port
# check accepts them (workbench/ports.py).
ports.register_value(int, TABLE)
ports.register_value(float, TABLE)
ports.register_value(tuple, MODEL)


class Source(NodeType):
    spec = NodeSpec(
        "fake.source",
        "Number",
        "collect",
        help="Emits a number.",
        outputs=(PortSpec("table", TABLE),),
        params=(P.Int("value", 1, minimum=-1000, maximum=1000, help="the number"), P.Str("note", "")),
        replaces=("old.source",),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        return {"table": params["value"]}


class Add(NodeType):
    spec = NodeSpec(
        "fake.add",
        "Add",
        "transform",
        inputs=(PortSpec("table", TABLE), PortSpec("extra", TABLE, optional=True)),
        outputs=(PortSpec("table", TABLE),),
        params=(P.Int("k", 0), P.Choice("mode", "plus", choices=("plus", "minus"))),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        value = inputs["table"] + inputs.get("extra", 0)
        return {"table": value + params["k"] if params["mode"] == "plus" else value - params["k"]}


class ToModel(NodeType):
    spec = NodeSpec(
        "fake.model",
        "Model",
        "train",
        inputs=(PortSpec("table", TABLE),),
        outputs=(PortSpec("model", MODEL),),
        params=(P.Float("lr", 0.1, minimum=0.0, log_scale=True),),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        return {"model": ("model", inputs["table"])}


class Sink(NodeType):
    spec = NodeSpec(
        "fake.sink", "Sink", "deploy", inputs=(PortSpec("data", ANY),), outputs=(), cacheable=False
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        ctx.metrics(0, {"seen": 1.0}, kind="final")
        return {}


class Fail(NodeType):
    spec = NodeSpec(
        "fake.fail",
        "Fail",
        "clean",
        inputs=(PortSpec("table", TABLE),),
        outputs=(PortSpec("table", TABLE),),
        params=(P.Bool("internal", False),),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        if params["internal"]:
            raise ZeroDivisionError("division by zero")
        raise UserError("column 'age' has text values; add a Types node to convert it")


class Slow(NodeType):
    """Loops in small steps, checking the cancel token, like a training node."""

    spec = NodeSpec(
        "fake.slow",
        "Slow",
        "train",
        inputs=(PortSpec("table", TABLE),),
        outputs=(PortSpec("table", TABLE),),
        params=(P.Int("steps", 50, minimum=1),),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        RUNS[ctx.node_id] += 1
        for step in range(params["steps"]):
            ctx.check_cancelled()
            ctx.progress((step + 1) / params["steps"], f"step {step + 1}")
            time.sleep(0.01)
        return {"table": inputs["table"]}


FAKE_TYPES = (Source, Add, ToModel, Sink, Fail, Slow)


def fake_registry() -> NodeRegistry:
    return NodeRegistry(FAKE_TYPES)


def native_spy(real: Any, calls: list) -> type:
    """A stand-in for the C prediction pass that records the rows of each ``fill`` call and then runs it."""

    class Spy:
        hash = staticmethod(real.hash)

        @staticmethod
        def fill(*args: Any) -> Any:
            calls.append(len(args[0]))
            return real.fill(*args)

    return Spy

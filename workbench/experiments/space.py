"""What a sweep searches: ranges and lists of node parameters, read from the node specs.

``train.lr=1e-4:1e-1:log`` is a float range on a log scale, ``train.epochs=5:40`` an int range,
``train.optimizer=adam,sgd`` and ``mlp.units=32,64,128`` lists. A field of a list parameter (the MLP's layers)
is named by the field alone (``mlp.units``: every layer), or ``mlp.layers.2.units`` for one item (1-based).
Values are coerced and bounds checked with the parameter's own spec, so a sweep never proposes a value the
node would refuse.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workbench import params as P
from workbench.errors import UserError
from workbench.params import ParamError

MAX_GRID = 10_000


@dataclass
class SearchParam:
    """One searched parameter. ``kind``: float | int | choice; ``item``: 1-based list item, 0 = all items."""

    key: str
    node_id: str
    name: str  # the node's parameter
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] = field(default_factory=list)
    list_field: str = ""  # a field of a list parameter (``units`` of ``layers``)
    item: int = 0

    def bounds(self) -> tuple[float, float]:
        """(low, high) of a range parameter (a choice has none)."""
        if self.low is None or self.high is None:
            raise UserError(f"--param {self.key}: a {self.kind} range needs LOW:HIGH")
        return self.low, self.high

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            low, high = self.bounds()
            return trial.suggest_float(self.key, float(low), float(high), log=self.log)
        if self.kind == "int":
            low, high = self.bounds()
            return trial.suggest_int(self.key, int(low), int(high), log=self.log)
        encoded = [_encode(c) for c in self.choices]
        return _decode(trial.suggest_categorical(self.key, encoded))

    def grid_values(self) -> list[Any]:
        """Every value, for the grid sampler (a float range has none: give a list instead)."""
        if self.kind == "choice":
            return [_encode(c) for c in self.choices]
        if self.kind == "int" and int(self.bounds()[1]) - int(self.bounds()[0]) < MAX_GRID:
            return list(range(int(self.bounds()[0]), int(self.bounds()[1]) + 1))
        raise UserError(
            f"--param {self.key}: the grid sampler needs a list of values (e.g. {self.key}=0.001,0.01,0.1), "
            "not a range"
        )

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.key}=" + ",".join(str(c) for c in self.choices)
        return f"{self.key}={self.low:g}:{self.high:g}" + (":log" if self.log else "")

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchParam:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _encode(value: Any) -> Any:
    """Optuna stores only scalars as choices; anything else travels as JSON text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return "json:" + json.dumps(value, sort_keys=True)


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("json:"):
        return json.loads(value[5:])
    return value


def decode_params(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in values.items()}


def _target(pipeline: Any, key: str) -> tuple[str, str, P.Param, str, int]:
    """(node, parameter, the Param spec that types the value, list field, item) for a ``--param`` key."""
    node_id, _, rest = key.partition(".")
    if not rest:
        raise UserError(f"--param {key}: expected NODE.PARAM (e.g. train.lr)")
    if node_id not in pipeline:
        raise UserError(
            f"--param {key}: no node {node_id!r} (nodes: {', '.join(n.id for n in pipeline.nodes)})"
        )
    spec = pipeline.spec(node_id)
    if spec is None:
        raise UserError(f"--param {key}: node {node_id!r} has an unknown type; it cannot be swept")
    parts = rest.split(".")
    param = spec.param(parts[0])
    if param is not None and len(parts) == 1:
        if isinstance(param, P.ListOf):
            raise UserError(
                f"--param {key}: name one of its fields ({', '.join(f.name for f in param.fields)})"
            )
        return node_id, param.name, param, "", 0
    lists = [p for p in spec.params if isinstance(p, P.ListOf)]
    if param is not None and isinstance(param, P.ListOf):
        lists, parts = [param], parts[1:]
    item = 0
    if len(parts) == 2 and parts[0].isdigit():
        item, parts = int(parts[0]), parts[1:]
    for candidate in lists:
        fields = {f.name: f for f in candidate.fields}
        if len(parts) == 1 and parts[0] in fields:
            have = len(pipeline.node(node_id).params.get(candidate.name) or [])
            if have == 0 or item > have:
                where = f"item {item}" if item else "any item"
                raise UserError(f"--param {key}: {node_id}.{candidate.name} has {have} item(s), not {where}")
            return node_id, candidate.name, fields[parts[0]], parts[0], item
    names = ", ".join(p.name for p in spec.params) or "none"
    raise UserError(f"--param {key}: {spec.type_id} has no parameter {rest!r} (parameters: {names})")


def _coerce(param: P.Param, text: Any, key: str) -> Any:
    try:
        value = param.coerce(text)
        param.check(value)
    except ParamError as exc:
        raise UserError(f"--param {key}: {exc}") from None
    return value


def parse_param(text: str, pipeline: Any) -> SearchParam:
    """``NODE.PARAM=LOW:HIGH[:log]`` or ``NODE.PARAM=A,B,C``, checked against the node's spec."""
    key, eq, values = text.partition("=")
    key, values = key.strip(), values.strip()
    if not eq or not values:
        raise UserError(f"--param {text!r}: expected NODE.PARAM=LOW:HIGH[:log] or NODE.PARAM=A,B,C")
    node_id, name, param, list_field, item = _target(pipeline, key)
    base: dict[str, Any] = dict(node_id=node_id, name=name, list_field=list_field, item=item, key=key)
    if ":" in values and "," not in values and isinstance(param, P.Int | P.Float):
        parts = values.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise UserError(f"--param {text!r}: a range is LOW:HIGH or LOW:HIGH:log")
        low, high = (_coerce(param, v.strip(), key) for v in parts[:2])
        if not low < high:
            raise UserError(f"--param {text!r}: LOW must be below HIGH")
        if log and low <= 0:
            raise UserError(f"--param {text!r}: a log range needs LOW above 0")
        kind = "int" if isinstance(param, P.Int) else "float"
        return SearchParam(kind=kind, low=low, high=high, log=log, **base)
    choices = [_coerce(param, v.strip(), key) for v in values.split(",") if v.strip()]
    if isinstance(param, P.Float | P.Int) and len(choices) == 1 and ":" in values:
        raise UserError(f"--param {text!r}: a range is LOW:HIGH or LOW:HIGH:log")
    unique = list(dict.fromkeys(_encode(c) for c in choices))
    if len(unique) < 2:
        raise UserError(f"--param {text!r}: give at least two different values, or a LOW:HIGH range")
    return SearchParam(kind="choice", choices=[_decode(c) for c in unique], **base)


def default_range(pipeline: Any, node_id: str, name: str, list_field: str = "") -> SearchParam | None:
    """A sensible first range for a parameter the user ticks in the sweep dialog (None: not searchable)."""
    spec = pipeline.spec(node_id)
    param = spec.param(name) if spec else None
    current = pipeline.node(node_id).params.get(name, getattr(param, "default", None))
    if list_field and isinstance(param, P.ListOf):
        param = next((f for f in param.fields if f.name == list_field), None)
        current = (current or [{}])[0].get(list_field, getattr(param, "default", None))
    key = f"{node_id}.{list_field or name}"
    base: dict[str, Any] = dict(key=key, node_id=node_id, name=name, list_field=list_field)
    if isinstance(param, P.Choice):
        return SearchParam(kind="choice", choices=list(param.choices), **base)
    if isinstance(param, P.Bool):
        return SearchParam(kind="choice", choices=[False, True], **base)
    if isinstance(param, P.Float | P.Int):
        value = float(current if isinstance(current, int | float) and current else param.default or 1)
        lo_bound = param.minimum if param.minimum is not None else -math.inf
        hi_bound = param.maximum if param.maximum is not None else math.inf
        log = bool(getattr(param, "log_scale", False)) and value > 0
        low, high = (value / 10, value * 10) if log else (value / 2, value * 2) if value > 0 else (0.0, 1.0)
        low, high = max(low, lo_bound), min(high, hi_bound)
        if isinstance(param, P.Int):
            low, high = int(math.floor(low)), int(math.ceil(high))
            if high <= low:
                high = low + 1
        if not low < high:
            return None
        return SearchParam(
            kind="int" if isinstance(param, P.Int) else "float", low=low, high=high, log=log, **base
        )
    return None


def searchable(pipeline: Any) -> list[tuple[str, str, str, P.Param]]:
    """(node, parameter, list field, spec) of every parameter a sweep can search, in pipeline order."""
    found: list[tuple[str, str, str, P.Param]] = []
    for node in pipeline.nodes:
        spec = pipeline.spec(node.id)
        for param in spec.params if spec else ():
            if isinstance(param, P.Float | P.Int | P.Choice | P.Bool):
                found.append((node.id, param.name, "", param))
            elif isinstance(param, P.ListOf) and node.params.get(param.name):
                for sub in param.fields:
                    if isinstance(sub, P.Float | P.Int | P.Choice | P.Bool):
                        found.append((node.id, param.name, sub.name, sub))
    return found


def changes(
    pipeline: Any, space: Iterable[SearchParam], values: Mapping[str, Any]
) -> dict[tuple[str, str], Any]:
    """(node, parameter) → its new value when ``values`` (by key) are applied; list fields edit a copy."""
    out: dict[tuple[str, str], Any] = {}
    for param in space:
        if param.key not in values:
            continue
        value = _decode(values[param.key])
        target = (param.node_id, param.name)
        if not param.list_field:
            out[target] = value
            continue
        items = out.get(target)
        if items is None:
            items = copy.deepcopy(pipeline.node(param.node_id).params.get(param.name) or [])
        for index, record in enumerate(items, start=1):
            if param.item in (0, index):
                record[param.list_field] = value
        out[target] = items
    return out

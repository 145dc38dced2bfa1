"""The data types that flow on wires, which output may feed which input, and what each value is.

Port types are names (a file, the catalog and the GUI talk about them without importing torch or pandas).
Each Python class that travels on a port is registered once here, with its port type, its *kind* (the slot a
view files it under: ``model``, ``dataset``, ``evaluation`` …) and what generic views may ask of it (its
tables, its columns, its figures). Classes are named lazily as ``"module:Class"``: a value of a class can only
exist once its module is imported, so a name is resolved when its module is in ``sys.modules`` and this module
never imports one. The executor checks every node output against its declared port type (``check_output``);
views ask ``kind_of`` / ``tables_of`` / ``columns_of`` / ``metrics_of`` and never probe attributes. A new
port type is one ``register_port_type`` plus one ``register_value`` per class, and no view changes.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError


@dataclass(frozen=True)
class PortType:
    name: str
    title: str
    help: str


TABLE = "table"
DATASET = "dataset"
MODEL_SPEC = "model_spec"
MODEL = "model"
HISTORY = "history"
REPORT = "report"
BUNDLE = "bundle"
ANY = "any"

PORT_TYPES: dict[str, PortType] = {
    t.name: t
    for t in (
        PortType(TABLE, "Table", "A pandas DataFrame: rows and named columns."),
        PortType(DATASET, "Dataset", "Train/validation/test splits with column roles and fitted steps."),
        PortType(MODEL_SPEC, "Model spec", "An untrained architecture; sizes are inferred at training."),
        PortType(MODEL, "Trained model", "Weights plus the preprocessing chain and label mapping."),
        PortType(HISTORY, "History", "Per-epoch losses and metrics of a training run."),
        PortType(REPORT, "Report", "Evaluation figures and plots data."),
        PortType(BUNDLE, "Bundle", "An exported model folder usable without this app."),
        PortType(ANY, "Anything", "Accepts any data."),
    )
}

# (output type, input type) pairs that are accepted although the names differ.
_WIDENING: frozenset[tuple[str, str]] = frozenset({(BUNDLE, MODEL)})


def is_compatible(output_type: str, input_type: str) -> bool:
    """True when data of ``output_type`` may be connected to an input declared as ``input_type``."""
    return output_type == input_type or input_type == ANY or (output_type, input_type) in _WIDENING


def title(port_type: str) -> str:
    found = PORT_TYPES.get(port_type)
    return found.title if found else port_type


def register_port_type(port_type: PortType) -> PortType:
    """Adds a port type (a plugin's, or the next built-in one); its values are registered with ``register_value``."""
    PORT_TYPES[port_type.name] = port_type
    return port_type


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ValueType:
    """What the core knows of one Python class that travels on a port. A capability left None answers
    'nothing' (no tables, no columns, no figures)."""

    port_type: str
    kind: str
    tables: Callable[[Any], Mapping[str, Any]] | None = None  # name -> DataFrame ("" when there is one)
    columns: Callable[[Any], list[str]] | None = None
    metrics: Callable[[Any], Mapping[str, Any]] | None = None


class PortValueError(UserError):
    """A node returned a value of another type than its output port declares (a node or plugin bug)."""


_VALUES: dict[type, ValueType] = {}  # classes already resolved
_LAZY: dict[str, ValueType] = {}  # "module:Class" whose module is not imported yet
_LOCK = threading.Lock()  # the executor's thread and the GUI's both resolve


def register_value(
    cls: type | str,
    port_type: str,
    *,
    kind: str | None = None,
    tables: Callable[[Any], Mapping[str, Any]] | None = None,
    columns: Callable[[Any], list[str]] | None = None,
    metrics: Callable[[Any], Mapping[str, Any]] | None = None,
) -> None:
    """Declares ``cls`` (a class, or ``"module:Class"`` to name it without importing it) a value of
    ``port_type``; ``kind`` (default: the port type) is the slot the results view files it under."""
    if port_type not in PORT_TYPES:
        raise ValueError(f"unknown port type {port_type!r}; register_port_type it first")
    value = ValueType(port_type, kind or port_type, tables, columns, metrics)
    with _LOCK:
        if isinstance(cls, str):
            _LAZY[cls] = value
        else:
            _VALUES[cls] = value


def _resolve_lazy() -> None:
    """Moves every lazily named class whose module is imported by now into the class table."""
    for path in list(_LAZY):
        module_name, _, qualname = path.partition(":")
        module = sys.modules.get(module_name)
        if module is None:
            continue
        found: Any = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if isinstance(found, type):  # None while the module is still importing: try again next time
            _VALUES[found] = _LAZY.pop(path)


def value_type(value: Any) -> ValueType | None:
    """The registration of ``value``'s class (or of its nearest registered base class), None if unknown."""
    with _LOCK:
        if _LAZY:
            _resolve_lazy()
        for cls in type(value).__mro__:
            found = _VALUES.get(cls)
            if found is not None:
                return found
    return None


def type_of(value: Any) -> str | None:
    """The port type ``value`` belongs to, None for a value of no registered class."""
    found = value_type(value)
    return found.port_type if found else None


def kind_of(value: Any) -> str | None:
    """The slot a view files ``value`` under (``model``, ``dataset``, ``evaluation``, ``bundle`` …)."""
    found = value_type(value)
    return found.kind if found else None


def tables_of(value: Any) -> dict[str, Any]:
    """The tables ``value`` carries, by name ("" for the value's one table); empty when it has none."""
    found = value_type(value)
    return dict(found.tables(value)) if found and found.tables else {}


def columns_of(value: Any) -> list[str] | None:
    """Column names a node fed by ``value`` can choose from; None when it is not table-shaped."""
    found = value_type(value)
    return [str(c) for c in found.columns(value)] if found and found.columns else None


def metrics_of(value: Any) -> dict[str, Any]:
    """Figures ``value`` carries itself (a trained model's, a report's, a bundle's) for the run report."""
    found = value_type(value)
    return dict(found.metrics(value)) if found and found.metrics else {}


def check_output(node_id: str, port: str, port_type: str, value: Any, optional: bool = False) -> None:
    """Raises PortValueError, one line naming node, port, expected and got type, when ``value`` is not of
    ``port_type``. ``any``, and a port type nobody registered values for (nothing to check against), accept
    anything; an optional output may be None."""
    if port_type == ANY or (optional and value is None):
        return
    with _LOCK:
        checked = any(v.port_type == port_type for v in (*_VALUES.values(), *_LAZY.values()))
    if not checked:
        return
    got = type_of(value)
    if got == port_type:
        return
    got_text = f"{type(value).__name__} ({got})" if got else type(value).__name__
    raise PortValueError(
        f"node {node_id!r}: output {port!r} must be a {title(port_type)} ({port_type}) but the node returned "
        f"a {got_text}"
    )


@contextmanager
def scoped() -> Iterator[None]:
    """Registrations made inside the block are undone after it (tests that add a toy port type)."""
    with _LOCK:
        port_types, values, lazy = dict(PORT_TYPES), dict(_VALUES), dict(_LAZY)
    try:
        yield
    finally:
        with _LOCK:
            PORT_TYPES.clear()
            PORT_TYPES.update(port_types)
            _VALUES.clear()
            _VALUES.update(values)
            _LAZY.clear()
            _LAZY.update(lazy)


# --------------------------------------------------------------------------- the built-in values


def _frame_columns(frame: Any) -> list[str]:
    return [str(c) for c in frame.columns]


register_value("pandas:DataFrame", TABLE, tables=lambda frame: {"": frame}, columns=_frame_columns)
register_value(  # data.file's streamed Parquet source: the sample stands for the rows
    "workbench.tabular.stream:StreamedTable",
    TABLE,
    tables=lambda table: {"sample": table.sample},
    columns=lambda table: _frame_columns(table.sample),
)
register_value(
    "workbench.tabular.dataset:Dataset",
    DATASET,
    tables=lambda dataset: dataset.splits(),
    columns=lambda dataset: _frame_columns(dataset.train),
)
register_value("workbench.engine.models:ModelSpec", MODEL_SPEC)
register_value("workbench.engine.trained:TrainedModel", MODEL, metrics=lambda model: model.metrics)
register_value("builtins:dict", HISTORY)  # train.supervised's {"records": [...], "metrics": {...}}
register_value(
    "workbench.evaluation.metrics:EvaluationReport", REPORT, kind="evaluation", metrics=lambda r: r.metrics
)
register_value(
    "workbench.evaluation.importance:ImportanceReport", REPORT, kind="importance", metrics=lambda r: r.metrics
)
register_value(
    "workbench.evaluation.surrogate:SurrogateReport", REPORT, kind="surrogate", metrics=lambda r: r.metrics
)
register_value("workbench.export.bundle:Bundle", BUNDLE, metrics=lambda bundle: bundle.metrics)

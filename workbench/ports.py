"""The data types that flow on wires, and which output may feed which input.

Port types are names, not classes, so a file, the catalog and the GUI can talk about them without importing
torch or pandas. Each name documents the Python object that travels on it.
"""

from __future__ import annotations

from dataclasses import dataclass


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

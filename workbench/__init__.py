"""Model Workbench: the headless core (pipeline model, nodes, executor, training engine, export, CLI).

This package never imports PySide6, pyqtgraph or ``ui``; torch and pandas are imported only where a node
or library needs them, so the catalog and the file format load fast.
"""

from __future__ import annotations

from typing import Any

from workbench._version import __version__

__all__ = ["Pipeline", "__version__", "run"]


def __getattr__(name: str) -> Any:
    if name == "Pipeline":
        from workbench.graph import Pipeline

        return Pipeline
    if name == "run":
        from workbench.execution.executor import run

        return run
    raise AttributeError(name)

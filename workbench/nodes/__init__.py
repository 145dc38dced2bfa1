"""The built-in node catalog, one module per pipeline stage."""

from __future__ import annotations

from workbench.nodes.base import CATEGORIES, NodeSpec, NodeType, PortSpec

# Modules that define built-in node types; each exposes NODE_TYPES (a tuple of NodeType subclasses).
BUILTIN_MODULES: tuple[str, ...] = (
    "workbench.nodes.collect",
    "workbench.nodes.clean",
    "workbench.nodes.transform",
    "workbench.nodes.model",
    "workbench.nodes.train",
    "workbench.nodes.evaluate",
    "workbench.nodes.deploy",
    "workbench.nodes.images",
)

__all__ = ["BUILTIN_MODULES", "CATEGORIES", "NodeSpec", "NodeType", "PortSpec"]

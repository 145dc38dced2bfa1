"""The node inspector: a parameter form generated from the node's specs."""

from ui.inspector.form import Inspector

__all__ = ["Inspector"]

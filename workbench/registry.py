"""A registry of node types: the built-in catalog plus plugins from the ``workbench.nodes`` entry points.

It is an instance, not a module global, so tests build small registries of fake nodes and the app can
hold one per process without monkey-patching.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from importlib import metadata

from workbench.nodes.base import CATEGORIES, NodeType

ENTRY_POINT_GROUP = "workbench.nodes"


class UnknownNodeType(KeyError):
    def __str__(self) -> str:
        return f"unknown node type {self.args[0]!r}"


class NodeRegistry:
    def __init__(self, node_types: Iterable[type[NodeType]] = ()) -> None:
        self._types: dict[str, type[NodeType]] = {}
        self._aliases: dict[str, str] = {}
        self.plugin_errors: list[str] = []
        for node_type in node_types:
            self.register(node_type)

    def register(self, node_type: type[NodeType]) -> None:
        spec = node_type.spec
        if spec.type_id in self._types:
            raise ValueError(f"node type {spec.type_id!r} is registered twice")
        self._types[spec.type_id] = node_type
        for old in spec.replaces:
            self._aliases[old] = spec.type_id

    def canonical(self, type_id: str) -> str:
        """The current id for ``type_id`` (following 'replaces' migrations); unchanged if unknown."""
        seen = set()
        while type_id not in self._types and type_id in self._aliases and type_id not in seen:
            seen.add(type_id)
            type_id = self._aliases[type_id]
        return type_id

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and self.canonical(type_id) in self._types

    def get(self, type_id: str) -> type[NodeType]:
        try:
            return self._types[self.canonical(type_id)]
        except KeyError:
            raise UnknownNodeType(type_id) from None

    def __iter__(self) -> Iterator[type[NodeType]]:
        order = {name: index for index, (name, _) in enumerate(CATEGORIES)}
        return iter(
            sorted(self._types.values(), key=lambda t: (order.get(t.spec.category, 99), t.spec.type_id))
        )

    def __len__(self) -> int:
        return len(self._types)

    def load_module(self, module_name: str) -> None:
        module = importlib.import_module(module_name)
        for node_type in getattr(module, "NODE_TYPES", ()):
            self.register(node_type)

    def load_plugins(self) -> None:
        """Register node types from installed plugins; a broken plugin is recorded, never fatal."""
        for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                loaded = entry.load()
                types = (
                    loaded if isinstance(loaded, list | tuple) else getattr(loaded, "NODE_TYPES", [loaded])
                )
                for node_type in types:
                    self.register(node_type)
            except Exception as exc:  # noqa: BLE001 - a plugin must not break the app
                self.plugin_errors.append(f"plugin {entry.name!r}: {type(exc).__name__}: {exc}")


def builtin_registry(plugins: bool = True) -> NodeRegistry:
    """The registry with every built-in node type (and plugins unless ``plugins`` is False)."""
    from workbench.nodes import BUILTIN_MODULES

    registry = NodeRegistry()
    for module_name in BUILTIN_MODULES:
        try:
            registry.load_module(module_name)
        except Exception as exc:  # noqa: BLE001 - one broken stage must not take the whole app down
            registry.plugin_errors.append(f"built-in nodes {module_name!r}: {type(exc).__name__}: {exc}")
    if plugins:
        registry.load_plugins()
    return registry

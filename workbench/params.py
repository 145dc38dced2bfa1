"""Parameter specs: what a node setting means (type, default, range, help), never which widget shows it.

Each spec validates and coerces values (from JSON files and from ``--set NODE.PARAM=VALUE`` strings) and
describes itself as JSON for the node catalog. The GUI maps spec kinds to editors in one table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ParamError(ValueError):
    """A parameter value that cannot be used; the message is shown to the user as is."""


@dataclass(frozen=True)
class Param:
    """Base of all parameter specs.

    ``visible_if`` maps another parameter's name to the value (or list of values) for which this one
    matters; hidden parameters are kept in files but not validated strictly.
    """

    name: str
    default: Any = None
    help: str = ""
    label: str = ""
    visible_if: Mapping[str, Any] | None = None
    optional: bool = False

    kind: ClassVar[str] = "any"

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def coerce(self, value: Any) -> Any:
        """Convert ``value`` (JSON value or CLI string) to this parameter's type; raise ParamError."""
        return value

    def check(self, value: Any) -> None:
        """Raise ParamError when an already-coerced value is out of range."""

    def validate(self, value: Any) -> str | None:
        """Return a problem message for ``value`` or None when it is fine."""
        try:
            self.check(self.coerce(value))
        except ParamError as exc:
            return str(exc)
        return None

    def is_visible(self, values: Mapping[str, Any]) -> bool:
        if not self.visible_if:
            return True
        for other, wanted in self.visible_if.items():
            current = values.get(other)
            allowed = wanted if isinstance(wanted, list | tuple | set | frozenset) else [wanted]
            if current not in allowed:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default}
        if self.label:
            out["label"] = self.label
        if self.help:
            out["help"] = self.help
        if self.visible_if:
            out["visible_if"] = dict(self.visible_if)
        if self.optional:
            out["optional"] = True
        out.update(self._extra_json())
        return out

    def _extra_json(self) -> dict[str, Any]:
        return {}

    def _empty(self, value: Any) -> bool:
        return value is None or (isinstance(value, str) and value.strip() == "")


def _parse_json_text(name: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ParamError(f"{name}: expected JSON, got {value!r} ({exc.msg})") from None


@dataclass(frozen=True)
class Int(Param):
    minimum: int | None = None
    maximum: int | None = None
    kind: ClassVar[str] = "int"

    def coerce(self, value: Any) -> Any:
        if self.optional and self._empty(value):
            return None
        if isinstance(value, bool):
            raise ParamError(f"{self.name}: expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                pass
        raise ParamError(f"{self.name}: expected a whole number, got {value!r}")

    def check(self, value: Any) -> None:
        if value is None:
            return
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{self.name}: {value} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"{self.name}: {value} is above the maximum {self.maximum}")

    def _extra_json(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum}


@dataclass(frozen=True)
class Float(Param):
    minimum: float | None = None
    maximum: float | None = None
    log_scale: bool = False
    kind: ClassVar[str] = "float"

    def coerce(self, value: Any) -> Any:
        if self.optional and self._empty(value):
            return None
        if isinstance(value, bool):
            raise ParamError(f"{self.name}: expected a number, got {value!r}")
        if isinstance(value, int | float):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise ParamError(f"{self.name}: expected a number, got {value!r}") from None
        else:
            raise ParamError(f"{self.name}: expected a number, got {value!r}")
        if not math.isfinite(out):
            raise ParamError(f"{self.name}: expected a finite number, got {value!r}")
        return out

    def check(self, value: Any) -> None:
        if value is None:
            return
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{self.name}: {value:g} is below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"{self.name}: {value:g} is above the maximum {self.maximum:g}")

    def _extra_json(self) -> dict[str, Any]:
        return {"minimum": self.minimum, "maximum": self.maximum, "log_scale": self.log_scale}


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


@dataclass(frozen=True)
class Bool(Param):
    kind: ClassVar[str] = "bool"

    def coerce(self, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ParamError(f"{self.name}: expected true or false, got {value!r}")


@dataclass(frozen=True)
class Choice(Param):
    choices: tuple[str, ...] = ()
    labels: Mapping[str, str] | None = None
    kind: ClassVar[str] = "choice"

    def coerce(self, value: Any) -> Any:
        if self.optional and self._empty(value):
            return None
        if isinstance(value, str):
            return value.strip()
        raise ParamError(f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}")

    def check(self, value: Any) -> None:
        if value is not None and value not in self.choices:
            raise ParamError(f"{self.name}: {value!r} is not one of {', '.join(self.choices)}")

    def _extra_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"choices": list(self.choices)}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class Str(Param):
    multiline: bool = False
    placeholder: str = ""
    kind: ClassVar[str] = "str"

    def coerce(self, value: Any) -> Any:
        if value is None:
            return "" if not self.optional else None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ParamError(f"{self.name}: expected text, got {value!r}")

    def _extra_json(self) -> dict[str, Any]:
        return {"multiline": self.multiline, "placeholder": self.placeholder}


@dataclass(frozen=True)
class Path(Param):
    """A file or folder path. Relative paths resolve against the pipeline file's folder, then resources/."""

    filters: tuple[str, ...] = ()
    mode: str = "open"  # open | save | dir
    kind: ClassVar[str] = "path"

    def coerce(self, value: Any) -> Any:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            return value.strip()
        raise ParamError(f"{self.name}: expected a file path, got {value!r}")

    def check(self, value: Any) -> None:
        if not value and not self.optional:
            raise ParamError(f"{self.name}: choose a {'folder' if self.mode == 'dir' else 'file'}")

    def _extra_json(self) -> dict[str, Any]:
        return {"filters": list(self.filters), "mode": self.mode}


@dataclass(frozen=True)
class Column(Param):
    """One column of the upstream table, picked from its schema (``source`` names the input port)."""

    source: str = "table"
    numeric_only: bool = False
    kind: ClassVar[str] = "column"

    def coerce(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise ParamError(f"{self.name}: expected a column name, got {value!r}")

    def check(self, value: Any) -> None:
        if not value and not self.optional:
            raise ParamError(f"{self.name}: choose a column")

    def _extra_json(self) -> dict[str, Any]:
        return {"source": self.source, "numeric_only": self.numeric_only}


@dataclass(frozen=True)
class Columns(Param):
    """Several columns of the upstream table; an empty list usually means 'all' (the node's help says)."""

    source: str = "table"
    numeric_only: bool = False
    default: Any = field(default_factory=tuple)
    kind: ClassVar[str] = "columns"

    def coerce(self, value: Any) -> Any:
        if value is None or value == "":
            return []
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                value = _parse_json_text(self.name, text)
            else:
                return [part.strip() for part in text.split(",") if part.strip()]
        if isinstance(value, Sequence) and not isinstance(value, str):
            out = []
            for item in value:
                if not isinstance(item, str | int) or isinstance(item, bool):
                    raise ParamError(f"{self.name}: expected column names, got {item!r}")
                out.append(str(item))
            return out
        raise ParamError(f"{self.name}: expected a list of column names, got {value!r}")

    def _extra_json(self) -> dict[str, Any]:
        return {"source": self.source, "numeric_only": self.numeric_only, "default": list(self.default)}


@dataclass(frozen=True)
class ListOf(Param):
    """A list of records with typed fields, e.g. a layer stack: ``[{"units": 128, "activation": "relu"}]``."""

    fields: tuple[Param, ...] = ()
    min_items: int = 0
    max_items: int | None = None
    default: Any = field(default_factory=tuple)
    kind: ClassVar[str] = "list"

    def coerce(self, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            value = _parse_json_text(self.name, value.strip() or "[]")
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ParamError(f"{self.name}: expected a list, got {value!r}")
        out = []
        for index, item in enumerate(value, start=1):
            if not isinstance(item, Mapping):
                raise ParamError(f"{self.name} item {index}: expected an object with fields, got {item!r}")
            record = {}
            for spec in self.fields:
                raw = item.get(spec.name, spec.default)
                try:
                    record[spec.name] = spec.coerce(raw)
                except ParamError as exc:
                    raise ParamError(f"{self.name} item {index}: {exc}") from None
            unknown = set(item) - {spec.name for spec in self.fields}
            if unknown:
                raise ParamError(f"{self.name} item {index}: unknown field(s) {', '.join(sorted(unknown))}")
            out.append(record)
        return out

    def check(self, value: Any) -> None:
        if len(value) < self.min_items:
            raise ParamError(f"{self.name}: needs at least {self.min_items} item(s)")
        if self.max_items is not None and len(value) > self.max_items:
            raise ParamError(f"{self.name}: at most {self.max_items} item(s)")
        for index, record in enumerate(value, start=1):
            for spec in self.fields:
                try:
                    spec.check(record[spec.name])
                except ParamError as exc:
                    raise ParamError(f"{self.name} item {index}: {exc}") from None

    def _extra_json(self) -> dict[str, Any]:
        return {
            "fields": [spec.to_json() for spec in self.fields],
            "min_items": self.min_items,
            "max_items": self.max_items,
            "default": [dict(item) for item in self.default],
        }


def default_values(specs: Sequence[Param]) -> dict[str, Any]:
    """Fresh default values (lists and dicts copied, so editing one node never touches another)."""
    return {spec.name: json.loads(json.dumps(_plain(spec.default))) for spec in specs}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


def resolve(specs: Sequence[Param], values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each coerced and checked; raises ParamError on the first problem.

    Unknown keys are kept (a newer file version, a plugin param) but not passed to checks.
    """
    out = default_values(specs)
    for spec in specs:
        if spec.name in values:
            out[spec.name] = spec.coerce(values[spec.name])
        if spec.is_visible({**out, **values}):
            spec.check(out[spec.name])
    return out


def problems(specs: Sequence[Param], values: Mapping[str, Any]) -> dict[str, str]:
    """Per-parameter problem messages (only for visible parameters); empty when everything is fine."""
    merged = {**default_values(specs), **values}
    found: dict[str, str] = {}
    for spec in specs:
        if not spec.is_visible(merged):
            continue
        message = spec.validate(merged[spec.name])
        if message:
            found[spec.name] = message
    return found

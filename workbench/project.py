"""The pipeline file format: versioned JSON, migrations, atomic save, autosave/recovery files.

Never pickle. Loading a broken file raises one PipelineFileError naming the file and the field or line, and
never touches the file. Unknown node types load as placeholders and are written back unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.errors import PipelineFileError
from workbench.graph import GraphError, Link, Node, Pipeline, default_registry
from workbench.registry import NodeRegistry

FORMAT_VERSION = 1
MAX_FILE_BYTES = 50 * 1024 * 1024

# format_version N -> function turning a version-N document into version N+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def pipeline_to_json(pipeline: Pipeline) -> dict[str, Any]:
    nodes = []
    for node in pipeline.nodes:
        entry: dict[str, Any] = {"id": node.id, "type": node.type}
        if node.version != 1 or node.unknown:
            entry["version"] = node.version
        if node.title:
            entry["title"] = node.title
        entry["params"] = node.params
        entry["position"] = [float(round(node.position[0], 2)), float(round(node.position[1], 2))]
        nodes.append(entry)
    links = [{"from": [k.source, k.source_port], "to": [k.target, k.target_port]} for k in pipeline.links]
    out: dict[str, Any] = {"format_version": FORMAT_VERSION, "app": f"model-workbench {__version__}"}
    if pipeline.meta:
        out["meta"] = pipeline.meta
    out["nodes"] = nodes
    out["links"] = links
    return out


def dumps(pipeline: Pipeline) -> str:
    return json.dumps(pipeline_to_json(pipeline), indent=2, ensure_ascii=False) + "\n"


class _Reader:
    """Walks a decoded document with precise field paths in its error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> PipelineFileError:
        return PipelineFileError(f"{self.source}: {where}: {what}")

    def get(
        self, obj: Mapping[str, Any], key: str, where: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in obj:
            if default is ...:
                raise self.fail(where, f"missing field {key!r}")
            return default
        value = obj[key]
        if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {_json_name(names)}, got {json.dumps(value)[:60]}")
        return value


def _json_name(python_names: str) -> str:
    return (
        python_names.replace("dict", "an object")
        .replace("list", "a list")
        .replace("str", "text")
        .replace("int", "a number")
        .replace("float", "a number")
    )


def migrate(data: dict[str, Any], source: str) -> dict[str, Any]:
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PipelineFileError(
            f"{source}: format_version: missing or not a number — is this a pipeline file?"
        )
    if version > FORMAT_VERSION:
        raise PipelineFileError(
            f"{source}: saved by a newer Model Workbench (format {version}); this version reads up to "
            f"{FORMAT_VERSION} — update the app"
        )
    while version < FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise PipelineFileError(f"{source}: format {version} is too old to read (no migration)")
        data = step(data)
        version = data["format_version"]
    return data


def pipeline_from_json(data: Any, registry: NodeRegistry | None = None, source: str = "<data>") -> Pipeline:
    """Build a Pipeline from a decoded document; raise PipelineFileError with the field path."""
    reader = _Reader(source)
    if not isinstance(data, dict):
        raise reader.fail("top level", "expected a JSON object with 'nodes' and 'links'")
    data = migrate(dict(data), source)
    registry = registry if registry is not None else default_registry()
    pipeline = Pipeline(registry)
    meta = reader.get(data, "meta", "top level", dict, {})
    pipeline.meta = dict(meta)
    for index, raw in enumerate(reader.get(data, "nodes", "top level", list)):
        where = f"nodes[{index}]"
        if not isinstance(raw, dict):
            raise reader.fail(where, "expected an object")
        node_id = reader.get(raw, "id", where, str)
        type_id = reader.get(raw, "type", where, str)
        params = dict(reader.get(raw, "params", where, dict, {}))
        position = reader.get(raw, "position", where, list, [0, 0])
        if len(position) != 2 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in position
        ):
            raise reader.fail(f"{where}.position", "expected [x, y] numbers")
        version = reader.get(raw, "version", where, int, 1)
        title = reader.get(raw, "title", where, str, "")
        if type_id in registry:
            node_type = registry.get(type_id)
            canonical = node_type.spec.type_id
            if canonical != type_id:
                pipeline.load_warnings.append(f"node {node_id!r}: type {type_id!r} is now {canonical!r}")
            if version < node_type.spec.version:
                params = node_type().migrate_params(version, params)
                version = node_type.spec.version
            node = Node(node_id, canonical, params, (float(position[0]), float(position[1])), title, version)
        else:
            node = Node(
                node_id,
                type_id,
                params,
                (float(position[0]), float(position[1])),
                title,
                version,
                unknown=True,
            )
            pipeline.load_warnings.append(
                f"node {node_id!r} has unknown type {type_id!r}; it is kept unchanged but cannot run"
            )
        try:
            pipeline.add_node(node)
        except GraphError as exc:
            raise reader.fail(where, str(exc)) from None
    for index, raw in enumerate(reader.get(data, "links", "top level", list, [])):
        where = f"links[{index}]"
        if not isinstance(raw, dict):
            raise reader.fail(where, "expected an object with 'from' and 'to'")
        ends = []
        for key in ("from", "to"):
            end = reader.get(raw, key, where, list)
            if len(end) != 2 or not all(isinstance(v, str) for v in end):
                raise reader.fail(f"{where}.{key}", "expected [node_id, port]")
            ends.append(end)
        link = Link(ends[0][0], ends[0][1], ends[1][0], ends[1][1])
        for node_id in (link.source, link.target):
            if node_id not in pipeline:
                raise reader.fail(where, f"refers to node {node_id!r}, which is not in 'nodes'")
        # Links touching unknown placeholders are kept without type checks.
        unchecked = pipeline.node(link.source).unknown or pipeline.node(link.target).unknown
        try:
            pipeline.add_link(link, check=not unchecked)
        except GraphError as exc:
            raise reader.fail(where, str(exc)) from None
    return pipeline


def loads(text: str, registry: NodeRegistry | None = None, source: str = "<text>") -> Pipeline:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineFileError(
            f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise PipelineFileError(f"{source}: nested too deeply to be a pipeline file") from None
    return pipeline_from_json(data, registry, source)


def load_pipeline(path: str | Path, registry: NodeRegistry | None = None) -> Pipeline:
    """Read a pipeline file. The file is only read, never modified, whatever happens."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PipelineFileError(f"{path}: {size / 1e6:.0f} MB is too large for a pipeline file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PipelineFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PipelineFileError(f"{path}: is a folder, not a pipeline file") from None
    except OSError as exc:
        raise PipelineFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PipelineFileError(
            f"{path}: byte {exc.start}: not UTF-8 text — is this a pipeline file?"
        ) from None
    pipeline = loads(text, registry, str(path))
    pipeline.path = path.resolve()
    return pipeline


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write via a temp file in the same folder, flush+fsync, then os.replace; the old file survives failures."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def save_pipeline(pipeline: Pipeline, path: str | Path) -> None:
    atomic_write_text(path, dumps(pipeline))
    pipeline.path = Path(path).resolve()


# --------------------------------------------------------------------------- recovery (autosave)


@dataclass(frozen=True)
class Recovery:
    """An autosaved copy of a pipeline that was open when the app last stopped without closing it."""

    path: Path  # the recovery file
    original: Path | None  # the pipeline file it belongs to, if it had one
    saved_at: float
    pid: int

    def load(self, registry: NodeRegistry | None = None) -> Pipeline:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        pipeline = pipeline_from_json(data.get("pipeline"), registry, str(self.path))
        return pipeline


def recovery_file(session_key: str, folder: Path | None = None) -> Path:
    from workbench import paths

    folder = folder if folder is not None else paths.recovery_dir()
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in session_key)[:80]
    return folder / f"{safe}.recovery.json"


def write_recovery(pipeline: Pipeline, target: Path, original: Path | None = None) -> None:
    """Autosave ``pipeline`` to ``target`` (atomically) with where it came from and who wrote it."""
    doc = {
        "recovery_format": 1,
        "original": str(original) if original else None,
        "saved_at": time.time(),
        "pid": os.getpid(),
        "pipeline": pipeline_to_json(pipeline),
    }
    atomic_write_text(target, json.dumps(doc, ensure_ascii=False))


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def list_recoveries(folder: Path | None = None, include_live: bool = False) -> list[Recovery]:
    """Recovery files left by sessions that are no longer running (i.e. crashed), newest first."""
    from workbench import paths

    folder = folder if folder is not None else paths.recovery_dir()
    found = []
    for candidate in sorted(folder.glob("*.recovery.json")):
        try:
            doc = json.loads(candidate.read_text(encoding="utf-8"))
            pid = int(doc.get("pid", 0))
            original = Path(doc["original"]) if doc.get("original") else None
            item = Recovery(candidate, original, float(doc.get("saved_at", 0.0)), pid)
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if include_live or not _pid_alive(item.pid):
            found.append(item)
    return sorted(found, key=lambda r: r.saved_at, reverse=True)

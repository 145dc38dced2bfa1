"""The pipeline file format: versioned JSON, migrations, atomic save, autosave/recovery files.

Never pickle. Loading a broken file raises one PipelineFileError naming the file and the field or line, and
never touches the file. Unknown node types load as placeholders and are written back unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from workbench import __version__
from workbench.errors import PipelineFileError
from workbench.graph import GraphError, Link, Node, Pipeline, default_registry
from workbench.registry import NodeRegistry

FORMAT_VERSION = 1
MAX_FILE_BYTES = 50 * 1024 * 1024
# Real pipelines nest under 10 levels; a cap keeps a hostile file from reaching Python's recursion limit
# later (deepcopy for undo, json.dumps on save, cache fingerprints) where it would be a crash, not a message.
MAX_NESTING = 64

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


def _nesting_depth_over(data: Any, limit: int) -> bool:
    """True when ``data`` nests lists/objects deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_json(text: str, source: str) -> Any:
    """Decode JSON text; every failure (syntax, nesting) is one PipelineFileError naming ``source``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PipelineFileError(
            f"{source}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise PipelineFileError(f"{source}: nested too deeply to be a pipeline file") from None
    if _nesting_depth_over(data, MAX_NESTING):
        raise PipelineFileError(
            f"{source}: nested more than {MAX_NESTING} levels deep; this is not a pipeline file"
        )
    return data


def loads(text: str, registry: NodeRegistry | None = None, source: str = "<text>") -> Pipeline:
    return pipeline_from_json(parse_json(text, source), registry, source)


def read_json_file(path: Path) -> Any:
    """Read a small JSON file (size cap, UTF-8, nesting cap) without modifying it; PipelineFileError on failure."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):  # a pipe or device would block or never end
            raise PipelineFileError(f"{path}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise PipelineFileError(f"{path}: {info.st_size / 1e6:.0f} MB is too large for a pipeline file")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PipelineFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PipelineFileError(f"{path}: is a folder, not a pipeline file") from None
    except OSError as exc:
        raise PipelineFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PipelineFileError(
            f"{path}: byte {exc.start}: not UTF-8 text — is this a pipeline file?"
        ) from None
    return parse_json(text, str(path))


def load_pipeline(path: str | Path, registry: NodeRegistry | None = None) -> Pipeline:
    """Read a pipeline file. The file is only read, never modified, whatever happens."""
    path = Path(path)
    pipeline = pipeline_from_json(read_json_file(path), registry, str(path))
    pipeline.path = path.resolve()
    return pipeline


def _write_target(path: Path) -> Path:
    """The file a save replaces: a symlink's final target, so that the link stays a link."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():
        raise OSError(errno.ELOOP, "symbolic link loop", str(path))
    return target


def _open_temp(target: Path, mode: int) -> tuple[int, str]:
    """A new temp file beside ``target``; created with ``mode`` so that the umask applies as for any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = str(target.parent / f".{target.name[:200]}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(name, flags, mode), name
        except FileExistsError:
            continue
        except OSError as exc:  # name the folder that refused, not a temp name the user never chose
            raise type(exc)(exc.errno, exc.strerror, str(target.parent)) from None
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(target.parent))


def _copy_owner_and_mode(fd: int, existing: os.stat_result) -> None:
    """Give the new file the replaced file's owner (where allowed) and permission bits."""
    if hasattr(os, "fchown"):
        now = os.fstat(fd)
        if (now.st_uid, now.st_gid) != (existing.st_uid, existing.st_gid):
            with contextlib.suppress(OSError):  # only root may give a file away; the group may still work
                os.fchown(fd, existing.st_uid, existing.st_gid)
            with contextlib.suppress(OSError):
                os.fchown(fd, -1, existing.st_gid)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def _fsync_folder(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(folder, os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[TextIO]:
    """Write a text file all-or-nothing: the caller writes into a temp file beside the target, which replaces
    the target only when the ``with`` block and the fsync succeed. On any failure (a full disk, an exception in
    the caller's serialisation, Ctrl-C) the temp file is removed, the old file is untouched and the error
    propagates. A symlink is written through (it stays a link); an existing file keeps its permission bits
    and, where allowed, its owner; a new file gets the usual umask mode.
    """
    path = Path(path)
    target = _write_target(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        existing: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        existing = None
    if existing is not None and not os.access(target, os.W_OK):
        # Replacing would succeed (the folder is writable), but the user marked the file as not to be changed.
        raise PermissionError(errno.EACCES, "the file is read-only", str(path))
    # An existing file's content may be private: its temp copy starts 0600 and gets its mode below.
    fd, tmp_name = _open_temp(target, 0o600 if existing is not None else 0o666)
    handle: TextIO | None = None
    try:
        if existing is not None:
            _copy_owner_and_mode(fd, existing)
        handle = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp_name, target)
    except BaseException:
        if handle is None:
            with contextlib.suppress(OSError):
                os.close(fd)
        else:
            with contextlib.suppress(Exception):  # closing flushes again, which fails again on a full disk
                handle.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_folder(target.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` all-or-nothing (see ``atomic_writer``); the old file survives failures."""
    with atomic_writer(path) as handle:
        handle.write(text)


def save_pipeline(pipeline: Pipeline, path: str | Path) -> None:
    """Save atomically. A value that JSON cannot hold is a PipelineFileError and nothing is written."""
    try:
        text = dumps(pipeline)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PipelineFileError(f"{path}: cannot save: a parameter value is not plain data ({exc})") from None
    atomic_write_text(path, text)
    pipeline.path = Path(path).resolve()


# --------------------------------------------------------------------------- recovery (autosave)

# Written into every recovery file. A process id alone is not enough: in a container or after a reboot a new
# session often gets the pid of the one that crashed, and would then take the crashed session's file for its
# own live one (never offered, and deleted on a clean close).
SESSION_ID = secrets.token_hex(8)
_LATEST_TIME = 32503680000.0  # year 3000: anything later is not a time this file was saved at


@dataclass(frozen=True)
class Recovery:
    """An autosaved copy of a pipeline that was open when the app last stopped without closing it."""

    path: Path  # the recovery file
    original: Path | None  # the pipeline file it belongs to, if it had one
    saved_at: float
    pid: int
    session: str = field(default="", compare=False)

    def load(self, registry: NodeRegistry | None = None) -> Pipeline:
        """The autosaved pipeline; any problem with the file is one PipelineFileError naming it."""
        data = _recovery_document(self.path)
        return pipeline_from_json(data["pipeline"], registry, str(self.path))


@dataclass(frozen=True)
class RecoveryScan:
    """What a look into the recovery folder found: copies to offer, and one line per unreadable file."""

    found: list[Recovery]
    problems: list[str]


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
        "session": SESSION_ID,
        "pipeline": pipeline_to_json(pipeline),
    }
    try:
        text = json.dumps(doc, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PipelineFileError(
            f"{target}: cannot autosave: a parameter value is not plain data ({exc})"
        ) from None
    atomic_write_text(target, text)


def _recovery_document(path: Path) -> dict[str, Any]:
    data = read_json_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("pipeline"), dict):
        raise PipelineFileError(f"{path}: not a recovery file (expected an object with a 'pipeline' object)")
    return data


def read_recovery(path: Path) -> Recovery:
    """The header of one recovery file, checked field by field; PipelineFileError names what is wrong."""
    data = _recovery_document(path)
    pid = data.get("pid", 0)
    if not isinstance(pid, int) or isinstance(pid, bool) or not 0 <= pid < 2**31:
        raise PipelineFileError(f"{path}: pid: expected a process number, got {json.dumps(pid)[:40]}")
    saved_at = data.get("saved_at", 0.0)
    if (
        not isinstance(saved_at, int | float)
        or isinstance(saved_at, bool)
        or not math.isfinite(saved_at)
        or not 0 <= saved_at <= _LATEST_TIME
    ):
        raise PipelineFileError(f"{path}: saved_at: expected a time, got {json.dumps(saved_at)[:40]}")
    original = data.get("original")
    if original is not None and (not isinstance(original, str) or not original or "\0" in original):
        raise PipelineFileError(f"{path}: original: expected a file path, got {json.dumps(original)[:60]}")
    session = data.get("session", "")
    session = session if isinstance(session, str) else ""
    return Recovery(path, Path(original) if original else None, float(saved_at), pid, session)


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _live(recovery: Recovery) -> bool:
    """Its writer still runs: this session itself, or another process with that pid."""
    if recovery.pid == os.getpid():
        return recovery.session == SESSION_ID
    return _pid_alive(recovery.pid)


def scan_recoveries(folder: Path | None = None, include_live: bool = False) -> RecoveryScan:
    """Recovery files left by sessions that are no longer running (crashed), newest first.

    A file that cannot be read is skipped with one line naming it (and left in place), so one damaged file
    never hides the good ones beside it.
    """
    from workbench import paths

    folder = folder if folder is not None else paths.recovery_dir()
    found: list[Recovery] = []
    problems: list[str] = []
    try:
        candidates = sorted(folder.glob("*.recovery.json"))
    except OSError as exc:
        return RecoveryScan([], [f"{folder}: cannot list the recovery folder ({exc.strerror or exc})"])
    for candidate in candidates:
        try:
            item = read_recovery(candidate)
        except PipelineFileError as exc:
            problems.append(str(exc))
            continue
        if include_live or not _live(item):
            found.append(item)
    return RecoveryScan(sorted(found, key=lambda r: r.saved_at, reverse=True), problems)


def list_recoveries(folder: Path | None = None, include_live: bool = False) -> list[Recovery]:
    """Recovery files left by sessions that are no longer running (i.e. crashed), newest first."""
    return scan_recoveries(folder, include_live).found

"""Pipeline files as the app and the CLI use them: autosave/recovery files, and conveniences over the format.

The format itself (fields, migrations, checks) is ``workbench.fileformat``, which the model
(``Pipeline.to_json/from_json/save/load``) calls; the atomic writer and the capped JSON reader are
``workbench.files``. Both are re-exported here for the callers that name them through this module. Never
pickle; a broken file is one PipelineFileError naming the file and the field or line, and is never touched.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import fileformat
from workbench.errors import PipelineFileError
from workbench.fileformat import FORMAT_VERSION, MIGRATIONS, migrate  # noqa: F401 - re-exported
from workbench.files import (  # noqa: F401 - re-exported
    MAX_FILE_BYTES,
    MAX_NESTING,
    atomic_write_text,
    atomic_writer,
    parse_json,
    read_json_file,
)
from workbench.graph import Pipeline
from workbench.registry import NodeRegistry


def pipeline_to_json(pipeline: Pipeline) -> dict[str, Any]:
    return pipeline.to_json()


def dumps(pipeline: Pipeline) -> str:
    """The text ``Pipeline.save`` writes."""
    return fileformat.dumps(pipeline.to_json())


def pipeline_from_json(data: Any, registry: NodeRegistry | None = None, source: str = "<data>") -> Pipeline:
    return Pipeline.from_json(data, registry, source)


def loads(text: str, registry: NodeRegistry | None = None, source: str = "<text>") -> Pipeline:
    return Pipeline.from_json(parse_json(text, source), registry, source)


def load_pipeline(path: str | Path, registry: NodeRegistry | None = None) -> Pipeline:
    return Pipeline.load(path, registry)


def save_pipeline(pipeline: Pipeline, path: str | Path) -> None:
    pipeline.save(path)


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
        return Pipeline.from_json(data["pipeline"], registry, str(self.path))


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
        "pipeline": pipeline.to_json(),
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

"""Small files read with limits and written all-or-nothing: the pipeline file, recovery files, reports.

A primitive: it knows JSON and the filesystem, nothing of pipelines, so every layer can write a file the same
safe way. Loading never writes; a failed write leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from workbench.errors import PipelineFileError

MAX_FILE_BYTES = 50 * 1024 * 1024
# Real pipelines nest under 10 levels; a cap keeps a hostile file from reaching Python's recursion limit
# later (deepcopy for undo, json.dumps on save, cache fingerprints) where it would be a crash, not a message.
MAX_NESTING = 64


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

"""Where things live: bundled resources (source tree or frozen app) and per-user data folders."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

from workbench.errors import UserError

APP_NAME = "ModelWorkbench"


def resources_dir() -> Path:
    """The bundled resources/ folder, from a source checkout, an installed package or a frozen build."""
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        return Path(frozen) / "resources"
    override = os.environ.get("WORKBENCH_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def user_data_dir() -> Path:
    """Per-user data (runs, recovery files). ``WORKBENCH_DATA_DIR`` overrides it (tests, portable use)."""
    override = os.environ.get("WORKBENCH_DATA_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_data_path

        path = user_data_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    path = user_data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def recovery_dir() -> Path:
    path = user_data_dir() / "recovery"
    path.mkdir(parents=True, exist_ok=True)
    return path


_ADVICE = {
    errno.ENOSPC: "the disk is full; free some space or choose another location",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another location",
    errno.EACCES: "choose a location you can write to, or change its permissions",
    errno.EPERM: "choose a location you can write to, or change its permissions",
    errno.EROFS: "the file system is read-only; choose another location",
    errno.EISDIR: "it is a folder; give a file name",
    errno.ENOTDIR: "part of the path is a file, not a folder; choose another path",
    errno.ENOENT: "no such file or folder; check the path",
    errno.EEXIST: "a file is in the way; choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
}


def describe_os_error(exc: OSError, path: str | Path | None = None, action: str = "write") -> str:
    """One line for a failed file operation: the path, the system's reason and what to do.

    ``path`` names the file the user knows (an atomic write fails on its hidden temp file, which
    ``exc.filename`` would name instead).
    """
    where = path if path is not None else (exc.filename if exc.filename is not None else exc.filename2)
    reason = exc.strerror or str(exc) or type(exc).__name__
    advice = _ADVICE.get(exc.errno or 0, "check the path and try again")
    if where is None:
        return f"{reason} ({advice})"
    return f"cannot {action} {where}: {reason} ({advice})"


def check_output_file(value: str | Path, what: str) -> Path:
    """Refuse an output path that cannot become a file, before any work is done for it.

    Catches a folder given as the file and a file standing where a folder has to be; for users other than
    root also a folder without write permission. The write itself can still fail (a full disk): callers
    handle OSError too.
    """
    path = Path(value).expanduser()
    if path.is_dir():
        raise UserError(f"{what} {value}: is a folder; give a file name (a path inside it will do)")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise UserError(f"{what} {value}: {ancestor} is a file, not a folder; choose another path")
    if ancestor.is_dir() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{what} {value}: {ancestor} is not writable; choose a folder you can write to")
    return path

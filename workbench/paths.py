"""Where things live: bundled resources (source tree or frozen app) and per-user data folders."""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_module
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


# -- the one place that turns a path in a parameter into a file ------------------------------------------
# Relative paths in parameters: inputs are looked for in the pipeline file's folder, then in the bundled
# resources/ (the examples name ``datasets/…``). An unsaved pipeline has no folder, so the current folder
# stands in for it (the CLI's natural meaning). A saved pipeline never looks in the current folder: what it
# reads must not depend on where the app was started. Outputs never fall back: they go where the user said,
# relative to the pipeline's folder (or the current folder when unsaved). The executor's cache key resolves
# through the same function as the node, so it stamps the file the node will read.


def input_candidates(value: str | Path, base_dir: Path | None) -> list[Path]:
    """Where an input path may be, in the order looked at."""
    raw = Path(str(value)).expanduser()
    if raw.is_absolute():
        return [raw]
    first = base_dir if base_dir is not None else Path.cwd()
    return [first / raw, resources_dir() / raw]


def resolve_input(value: str | Path, base_dir: Path | None) -> Path:
    """The file (or folder) an input parameter names: the first candidate that exists.

    Raises UserError naming every place it looked.
    """
    candidates = input_candidates(value, base_dir)
    for candidate in candidates:
        if candidate.exists():
            return candidate
    looked = " or ".join(str(c) for c in candidates)
    raise UserError(f"file not found: {value} (looked for {looked}); check the path")


def resolve_output(value: str | Path, base_dir: Path | None) -> Path:
    """Where an output parameter writes: absolute as is, else in the pipeline's folder (current if unsaved)."""
    raw = Path(str(value)).expanduser()
    if raw.is_absolute():
        return raw
    return (base_dir if base_dir is not None else Path.cwd()) / raw


HASH_LIMIT_BYTES = 4 << 20  # sha256 of 4 MiB: ~7 ms on a loaded 2-core machine


def file_stamp(path: str | Path) -> str:
    """Cache-key material for a file: size, mtime_ns, inode, and a sha256 of its bytes up to 4 MiB.

    mtime alone is not enough: some filesystems keep whole or even two seconds, and copy tools preserve it,
    so a same-size edit can keep it. Larger files rely on size + mtime_ns + inode (hashing them on every
    canvas refresh would cost more than it catches). A folder is stamped by its own stat only.
    Raises OSError when the file cannot be read.
    """
    path = Path(path)
    info = path.stat()
    stamp = f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"
    if stat_module.S_ISREG(info.st_mode) and info.st_size <= HASH_LIMIT_BYTES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        stamp += ":" + digest.hexdigest()[:32]
    return stamp


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

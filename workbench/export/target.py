"""Where a bundle may be written, and how an old bundle is replaced without losing anyone's files.

The rule (docs/architecture.md): an export writes into a new folder, an empty folder, or a folder that is
provably one of our bundles (its manifest says so). It never writes into the home folder, a filesystem root,
the pipeline's own folder, the current folder, or any folder that holds one of those. Files a user added to an
old bundle are carried over into the new one; a bundle file the user changed since the export stops the
export instead of being overwritten. Nothing is ever removed with ``rmtree`` except a staging folder this
export made itself with ``mkdtemp``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from workbench.errors import UserError

KIND = "model-workbench-bundle"
MANIFEST = "manifest.json"
FILES = (
    "model.onnx",
    "model.pt2",
    "weights.safetensors",
    "architecture.json",
    "preprocessing.json",
    "predict.py",
    "README.md",
)
BUNDLE_FILES = frozenset((*FILES, MANIFEST))
_MANIFEST_LIMIT = 16 << 20  # a manifest is a few KB; anything huge is not ours


def _absolute(path: str | Path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _names(names: Iterable[str], limit: int = 4) -> str:
    items = sorted(names)
    shown = ", ".join(items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest when it is one of ours (right kind, a file list), else None."""
    path = folder / MANIFEST
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _MANIFEST_LIMIT:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind") != KIND or not isinstance(data.get("files"), dict):
        return None
    return data


def is_bundle(folder: str | Path) -> bool:
    """True when ``folder`` is a bundle this app wrote (the user may have added files beside ours)."""
    folder = Path(folder)
    return folder.is_dir() and read_manifest(folder) is not None


def protected_folders(pipeline_dir: str | Path | None = None) -> list[tuple[Path, str]]:
    """Folders an export must never replace or write into, with how to name them to the user."""
    found: list[tuple[Path, str]] = []
    with contextlib.suppress(RuntimeError, KeyError, OSError):
        found.append((_absolute(Path.home()), "your home folder"))
    with contextlib.suppress(OSError):
        found.append((_absolute(Path.cwd()), "the current folder"))
    if pipeline_dir is not None:
        found.append((_absolute(pipeline_dir), "the pipeline's own folder"))
    return found


def target_problem(folder: str | Path, pipeline_dir: str | Path | None = None) -> str | None:
    """Why ``folder`` cannot take a bundle (one line), or None when it can. Cheap: stat calls only."""
    folder = _absolute(folder)
    if folder.parent == folder:
        return f"{folder} is a filesystem root; choose a new folder for the bundle"
    for protected, label in protected_folders(pipeline_dir):
        if folder == protected:
            return f"{folder} is {label}; choose a new folder for the bundle, e.g. {folder / 'model-bundle'}"
        if protected.is_relative_to(folder):
            return f"{folder} holds {label}; choose a new folder for the bundle"
    try:
        if folder.is_symlink() and not folder.exists():
            return f"{folder} is a broken link; choose a new folder for the bundle"
        if not folder.exists():
            return None
        if not folder.is_dir():
            return f"{folder} is a file; choose a folder for the bundle"
        entries = [entry.name for entry in folder.iterdir()]
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror or exc}); choose another folder"
    if not entries:
        return None
    if read_manifest(folder) is None:
        return (
            f"{folder} is not a model bundle and holds {len(entries)} item(s) ({_names(entries)}); "
            "choose an empty or new folder"
        )
    return None


def changed_files(folder: Path) -> list[str]:
    """Bundle files the user changed since the export (checksum differs from the manifest)."""
    manifest = read_manifest(folder) or {}
    files = manifest.get("files", {})
    changed = []
    for name in FILES:
        path = folder / name
        if not path.exists() and not path.is_symlink():
            continue
        expected = files.get(name, {}).get("sha256") if isinstance(files.get(name), dict) else None
        if path.is_symlink() or not path.is_file() or expected != file_sha256(path):
            changed.append(name)
    return changed


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_target(folder: str | Path, pipeline_dir: str | Path | None = None) -> None:
    """Raise UserError when an export into ``folder`` would touch files that are not ours."""
    problem = target_problem(folder, pipeline_dir)
    if problem:
        raise UserError(f"export: {problem}")
    folder = _absolute(folder)
    if folder.is_dir() and read_manifest(folder) is not None:
        changed = changed_files(folder)
        if changed:
            raise UserError(
                f"export: {_names(changed)} in {folder} changed since the last export; move your copy out "
                "of the bundle or choose another folder"
            )


def make_staging(folder: Path) -> Path:
    """A fresh folder beside ``folder`` (same filesystem, so the final rename is atomic)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".export", dir=folder.parent))


def remove_staging(staging: Path) -> None:
    """Remove a staging folder this export made (``mkdtemp``: nobody else's files can be inside)."""
    shutil.rmtree(staging, ignore_errors=True)


def install(staging: Path, folder: Path, log: Callable[[str], None] | None = None) -> None:
    """Put the finished ``staging`` folder at ``folder``: the old bundle is moved aside, the new one renamed
    into place, the user's own files carried over, and only then are the old bundle's files deleted."""
    say = log or (lambda _message: None)
    if not folder.exists():
        os.rename(staging, folder)
        return
    if not any(folder.iterdir()):
        os.rmdir(folder)
        os.rename(staging, folder)
        return
    aside_root = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=folder.parent))
    aside = aside_root / "bundle"
    os.rename(folder, aside)
    try:
        os.rename(staging, folder)
    except OSError:
        os.rename(aside, folder)
        os.rmdir(aside_root)
        raise
    kept = []
    for entry in sorted(aside.iterdir()):
        if entry.name in BUNDLE_FILES:
            continue
        try:
            os.rename(entry, folder / entry.name)
            kept.append(entry.name)
        except OSError as exc:
            say(
                f"could not move your file {entry.name} into the new bundle ({exc.strerror}); it is in {aside}"
            )
    if kept:
        say(f"kept your file(s) in the bundle: {_names(kept)}")
    for name in BUNDLE_FILES:
        with contextlib.suppress(FileNotFoundError):
            (aside / name).unlink()
    try:
        os.rmdir(aside)
        os.rmdir(aside_root)
    except OSError:
        say(f"the old bundle's leftovers are in {aside}; nothing there was deleted")


def is_our_zip(path: Path, folder_name: str) -> bool:
    """A zip this app wrote for a bundle called ``folder_name`` (only bundle files, under that folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
    allowed = {f"{folder_name}/{name}" for name in BUNDLE_FILES}
    return bool(names) and set(names) <= allowed


def check_zip_target(folder: str | Path) -> None:
    """Refuse before exporting when ``<folder>.zip`` exists and is not a zip of this bundle."""
    folder = _absolute(folder)
    target = folder.parent / f"{folder.name}.zip"
    if (target.exists() or target.is_symlink()) and (
        target.is_symlink() or not is_our_zip(target, folder.name)
    ):
        raise UserError(
            f"export: {target} already exists and is not this bundle's zip; move it or turn 'zip' off"
        )

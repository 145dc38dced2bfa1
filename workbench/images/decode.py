"""Decoding image files to fixed-size uint8 pixels, and listing a folder (or table) of labelled images.

``load_pixels`` is the one definition of "what the model sees". It lives in the module every image bundle
ships as predict.py (``export/predict_images_template.py``, which cannot import the app) and is imported
from there, so training and the standalone script decode with the same code. Resize policies:

* ``squash`` — resize to size × size, ignoring the aspect ratio (nothing lost, shapes distorted);
* ``crop`` — scale the shorter side to ``size`` and cut the centre (no distortion, edges lost);
* ``pad`` — scale the longer side to ``size`` and pad with black (no distortion, nothing lost).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.export.predict_images_template import EXTENSIONS, POLICIES, load_pixels  # noqa: F401 (shipped copy)

MAX_SIZE = 1024  # pixels per side the models are fed; larger is a mistake on this kind of machine
COLOUR_MODES = ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA", "RGBX", "RGBa")


def decode_threads() -> int:
    """Threads for decoding: Pillow releases the GIL while it decodes and resizes, so threads scale."""
    return max(1, min(8, (os.cpu_count() or 2)))


def settings_check(size: int, policy: str, channels: int) -> None:
    if not 4 <= int(size) <= MAX_SIZE:
        raise UserError(f"data.images: size must be between 4 and {MAX_SIZE} pixels, not {size}")
    if policy not in POLICIES:
        raise UserError(f"data.images: resize policy {policy!r} is not one of {', '.join(POLICIES)}")
    if channels not in (1, 3):
        raise UserError(f"data.images: channels must be 1 (grey) or 3 (colour), not {channels}")


def decode_many(
    paths: Sequence[str],
    settings: dict[str, Any],
    pool: ThreadPoolExecutor | None = None,
) -> np.ndarray:
    """Pixels of many files as one uint8 array (n, size, size, channels), decoded in threads.

    A file that cannot be decoded any more (changed since data.images listed it) is one UserError naming it.
    """
    size, policy, channels = int(settings["size"]), str(settings["policy"]), int(settings["channels"])
    out = np.empty((len(paths), size, size, channels), dtype=np.uint8)

    def one(index: int) -> None:
        out[index] = load_file(paths[index], size, policy, channels)

    if pool is None or len(paths) < 4:
        for index in range(len(paths)):
            one(index)
    else:
        for _ in pool.map(one, range(len(paths))):
            pass
    return out


def load_file(path: str, size: int, policy: str, channels: int) -> np.ndarray:
    try:
        return load_pixels(path, size, policy, channels)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow raises all three for broken files
        raise UserError(
            f"image {path} cannot be read any more ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            "remove it or run data.images again"
        ) from None


@dataclass
class Listing:
    """What data.images found: readable files with labels, and what it skipped."""

    paths: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    colour: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    ignored: int = 0  # files that are not images by their extension

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label in self.labels:
            out[label] = out.get(label, 0) + 1
        return dict(sorted(out.items()))

    def size_summary(self) -> dict[str, Any]:
        if not self.sizes:
            return {}
        widths = np.array([s[0] for s in self.sizes])
        heights = np.array([s[1] for s in self.sizes])
        return {
            "min": [int(widths.min()), int(heights.min())],
            "median": [int(np.median(widths)), int(np.median(heights))],
            "max": [int(widths.max()), int(heights.max())],
        }


def probe(path: str) -> tuple[int, int, str]:
    """(width, height, mode) of a file that Pillow can read to the end; raises for a broken one.

    ``verify`` checks the whole file (PNG checksums, truncation) without decoding pixels; a second open
    reads the header, since a verified image cannot be used further.
    """
    from PIL import Image

    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        mode = image.mode
        if image.format in ("JPEG", "WEBP", "GIF") or width * height <= 4096 * 4096:
            image.load()  # truncated JPEGs pass verify(); decoding is what finds them
    return int(width), int(height), mode


def _probe_all(candidates: list[tuple[str, str]], check: Callable[[], None] | None) -> Listing:
    listing = Listing()
    results: list[Any] = [None] * len(candidates)

    def one(index: int) -> None:
        try:
            results[index] = probe(candidates[index][0])
        except Exception as exc:  # noqa: BLE001 - any failure means "not readable": listed and skipped
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            results[index] = f"{type(exc).__name__}: {text}"[:200]

    with ThreadPoolExecutor(decode_threads()) as pool:
        step = 256
        for start in range(0, len(candidates), step):
            if check is not None:
                check()
            list(pool.map(one, range(start, min(start + step, len(candidates)))))
    for (path, label), result in zip(candidates, results, strict=True):
        if isinstance(result, str):
            listing.skipped.append((path, result))
            continue
        width, height, mode = result
        listing.paths.append(path)
        listing.labels.append(label)
        listing.sizes.append((width, height))
        listing.colour = listing.colour or mode in COLOUR_MODES
    return listing


def is_image_name(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and not name.startswith(".")


def list_folder(root: Path, check: Callable[[], None] | None = None) -> Listing:
    """Images in ``root/<class>/…`` (sub-folders of a class folder count for that class), sorted by path."""
    if not root.is_dir():
        raise UserError(f"data.images: {root} is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(
            f"data.images: {root} has no sub-folders; put each class's images in a folder named after the "
            "class (cats/, dogs/ …), or give a table with a path and a label column"
        )
    candidates: list[tuple[str, str]] = []
    ignored = 0
    for folder in classes:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if is_image_name(name):
                    candidates.append((os.path.join(dirpath, name), folder.name))
                elif not name.startswith("."):
                    ignored += 1
    listing = _probe_all(candidates, check)
    listing.ignored = ignored
    return listing


def list_table(
    table: Any, base: Path, path_column: str, label_column: str, check: Callable[[], None] | None = None
) -> Listing:
    """Images named in a table's path column (relative to the table's folder) with labels from another."""
    for column in (path_column, label_column):
        if column not in table.columns:
            shown = ", ".join(map(str, list(table.columns)[:20]))
            raise UserError(f"data.images: the table has no column {column!r}; its columns are {shown}")
    candidates: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    for raw, label in zip(table[path_column].tolist(), table[label_column].tolist(), strict=True):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
            skipped.append(("(empty path)", "no file named in this row"))
            continue
        if label is None or (isinstance(label, float) and np.isnan(label)):
            skipped.append((str(raw), "no label"))
            continue
        path = Path(str(raw).strip()).expanduser()
        path = path if path.is_absolute() else base / path
        candidates.append((str(path), _label_text(label)))
    listing = _probe_all(candidates, check)
    listing.skipped[:0] = skipped
    return listing


def _label_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def channels_for(choice: str, listing: Listing) -> int:
    if choice == "grey":
        return 1
    if choice == "colour":
        return 3
    return 3 if listing.colour else 1


def paths_of(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]

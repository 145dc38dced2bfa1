"""Standalone predictor for a Model Workbench image bundle: pictures in, a CSV of the top classes out.

Needs only Pillow, numpy and onnxruntime. Each picture is decoded and resized exactly as in training (the
resize policy and size in preprocessing.json); model.onnx takes the uint8 pixels and normalises inside.
This file is copied into every image bundle as predict.py; ``workbench predict BUNDLE PICTURES…`` runs these same
functions (finding, decoding, ``classify``, ``rows``, ``write_csv``), so both write the same CSV.

    python predict.py PICTURE_OR_FOLDER [...] -o predictions.csv [--top-k 3] [--proba]

A folder is searched for pictures (sub-folders too). A file that cannot be read is named on stderr and
skipped. Exit codes: 0 success, 1 bad input or a damaged bundle (one line on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import csv
import hashlib  # noqa: F401 - used by the bundle-files section
import json  # noqa: F401 - used by the bundle-files section
import os
import re  # noqa: F401 - used by the bundle-files section
import sys
from collections.abc import Callable  # noqa: F401 - used by the bundle-files section
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any  # noqa: F401 - used by the bundle-files section

import numpy as np

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
POLICIES = ("squash", "crop", "pad")
CHUNK = 256

# >>> bundle files: in a bundle's predict.py, the table predict.py's own section stands here (export/bundle.py)
from workbench.export.predict_template import (  # noqa: E402, F401
    BUNDLE_FORMAT,
    CHECKED_FILES,
    PredictError,
    check_manifest,
    open_session,
    read_json,
    sha256_file,
    verify_files,
)

# <<< bundle files


def load_bundle(folder: Path) -> dict:
    """preprocessing.json, after the manifest and the checksums of the files this script uses were checked."""
    manifest = check_manifest(read_json(folder, "manifest.json"), folder)
    verify_files(folder, manifest)
    return check_image_preprocessing(read_json(folder, "preprocessing.json"), folder)


def check_image_preprocessing(prep: dict, folder: Path) -> dict:
    """The preprocessing.json fields this script reads (the app's bundle reader runs the same checks)."""
    image = prep.get("image")
    labels = prep.get("labels")
    if not isinstance(image, dict) or not isinstance(labels, dict):
        raise PredictError(
            f"bundle {folder}: preprocessing.json has no image settings; it is not an image model"
        )
    size, channels = image.get("size"), image.get("channels")
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or not 4 <= size <= 1024
        or channels not in (1, 3)
        or isinstance(channels, bool)
    ):
        raise PredictError(f"bundle {folder}: preprocessing.json: bad image size or channels")
    if image.get("policy") not in POLICIES:
        raise PredictError(
            f"bundle {folder}: preprocessing.json: unknown resize policy {image.get('policy')!r}"
        )
    if prep.get("input_shape") != [size, size, channels]:
        raise PredictError(
            f"bundle {folder}: preprocessing.json: input_shape must be {[size, size, channels]} for these "
            "image settings"
        )
    if not isinstance(image.get("column", "path"), str):
        raise PredictError(f"bundle {folder}: preprocessing.json: image.column must be a column name")
    classes = labels.get("classes")
    head = labels.get("head")
    if (
        head not in ("binary", "multiclass")
        or not isinstance(classes, list)
        or len(classes) < 2
        or (head == "binary" and len(classes) != 2)
        or not all(isinstance(c, (str, int, float, bool)) for c in classes)
    ):
        raise PredictError(f"bundle {folder}: preprocessing.json: the labels are not classes")
    return prep


def load_pixels(path: str | Path, size: int, policy: str = "squash", channels: int = 3) -> np.ndarray:
    """One image file as uint8 pixels (size, size, channels): orientation from EXIF, transparency over
    white, then the resize policy. Raises OSError/ValueError (Pillow's) for a file that is not an image."""
    from PIL import Image, ImageOps

    mode = "L" if channels == 1 else "RGB"
    with Image.open(path) as opened:
        if opened.format == "JPEG":
            opened.draft(mode, (size, size))  # decode at a reduced scale when the file is much larger
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        image = image.convert(mode)
        box = (size, size)
        if policy == "crop":
            image = ImageOps.fit(image, box, method=Image.Resampling.BILINEAR)
        elif policy == "pad":
            image = ImageOps.pad(image, box, method=Image.Resampling.BILINEAR, color=0)
        else:
            image = image.resize(box, Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels


def find_images(inputs: list[str]) -> list[str]:
    """Files as given, and the pictures inside folders (sorted, hidden files left out)."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found += [os.path.join(dirpath, n) for n in sorted(filenames)
                          if n.lower().endswith(EXTENSIONS) and not n.startswith(".")]  # fmt: skip
        elif path.is_file():
            found.append(str(path))
        else:
            raise PredictError(f"{item}: no such file or folder")
    return found


def probabilities(outputs: np.ndarray, head: str) -> np.ndarray:
    outputs = outputs.astype(np.float64)
    if head == "binary":
        p1 = 1.0 / (1.0 + np.exp(-outputs[:, 0]))
        return np.stack([1.0 - p1, p1], axis=1)
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict_paths(folder: Path, paths: list[str], sess=None, warn=None) -> tuple[list[str], np.ndarray]:  # noqa: ANN001
    """(paths that could be read, class probabilities for them, in the order of the bundle's classes)."""
    prep = load_bundle(folder)
    sess = sess or open_session(folder)
    name = sess.get_inputs()[0].name
    return classify(prep, paths, lambda batch: sess.run(None, {name: batch})[0], warn)


def classify(prep: dict, paths: list[str], run, warn=None) -> tuple[list[str], np.ndarray]:  # noqa: ANN001
    """Decode ``paths`` (a thread pool, CHUNK at a time) and run ``run(uint8 pixels) -> raw outputs`` on them;
    pictures that cannot be read are passed to ``warn`` and left out. The app's predictor calls this too."""
    image = prep["image"]
    kept: list[str] = []
    chunks: list[np.ndarray] = []

    def one(path: str) -> np.ndarray | str:
        try:
            return load_pixels(path, image["size"], image["policy"], image["channels"])
        except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError …
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    with ThreadPoolExecutor(min(8, os.cpu_count() or 2)) as pool:
        for start in range(0, len(paths), CHUNK):
            part = paths[start : start + CHUNK]
            decoded = list(pool.map(one, part))
            good = [(p, d) for p, d in zip(part, decoded, strict=True) if not isinstance(d, str)]
            for p, d in zip(part, decoded, strict=True):
                if isinstance(d, str) and warn is not None:
                    warn(f"skipped {p}: not a readable picture ({d})")
            if good:
                kept += [p for p, _ in good]
                batch = np.stack([d for _, d in good])
                chunks.append(probabilities(np.asarray(run(batch)), prep["labels"]["head"]))
    n_classes = len(prep["labels"]["classes"])
    return kept, (np.concatenate(chunks) if chunks else np.zeros((0, n_classes)))


def predict_frame(folder: Path, frame, with_proba: bool = True):  # noqa: ANN001, ANN201 - pandas, app only
    """The app's parity check: the same table the command line writes, for a frame with the image column."""
    import pandas as pd

    prep = load_bundle(Path(folder))
    column = prep["image"].get("column", "path")
    paths = [str(p) for p in frame[column].tolist()]
    kept, proba = predict_paths(Path(folder), paths)
    if len(kept) != len(paths):
        raise PredictError(f"{len(paths) - len(kept)} picture(s) could not be read")
    return pd.DataFrame(rows(kept, proba, prep["labels"]["classes"], 1, with_proba)), []


def rows(paths: list[str], proba: np.ndarray, classes: list, top_k: int, with_proba: bool) -> dict:
    """Columns of the output: path, prediction, probability, then the next classes down to top_k."""
    order = np.argsort(-proba, axis=1, kind="stable")
    labels = np.asarray(classes, dtype=object)
    out: dict = {"path": list(paths)}
    for rank in range(min(top_k, len(classes))):
        suffix = "" if rank == 0 else f"_{rank + 1}"
        picked = order[:, rank] if len(paths) else np.zeros(0, dtype=int)
        out[f"prediction{suffix}"] = [labels[i] for i in picked]
        out[f"probability{suffix}"] = proba[np.arange(len(paths)), picked].tolist()
    if with_proba:
        for index, label in enumerate(classes):
            out[f"proba_{label}"] = proba[:, index].tolist()
    return out


def _safe(value: object) -> object:
    """Cells that a spreadsheet would run as a formula get a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def write_csv(path: str, columns: dict) -> None:
    names = list(columns)
    n = len(columns["path"])
    target = sys.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
    try:
        writer = csv.writer(target)
        writer.writerow(names)
        for i in range(n):
            writer.writerow([_safe(columns[c][i]) for c in names])
    finally:
        if target is not sys.stdout:
            target.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify pictures with this Model Workbench bundle.")
    parser.add_argument("inputs", nargs="+", help="picture files or folders of pictures")
    parser.add_argument("-o", "--output", default="-", help="CSV file to write (default: standard output)")
    parser.add_argument("--top-k", type=int, default=3, help="classes per picture, most likely first")
    parser.add_argument("--proba", action="store_true", help="also one probability column per class")
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parent), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    folder = Path(args.bundle)
    try:
        paths = find_images(args.inputs)
        if not paths:
            raise PredictError("no pictures found in " + ", ".join(args.inputs))
        prep = load_bundle(folder)
        kept, proba = predict_paths(folder, paths, warn=lambda line: print(line, file=sys.stderr))
        if not kept:
            raise PredictError("none of the pictures could be read")
        write_csv(args.output, rows(kept, proba, prep["labels"]["classes"], args.top_k, args.proba))
    except PredictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    skipped = len(paths) - len(kept)
    print(f"{len(kept)} picture(s) classified" + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

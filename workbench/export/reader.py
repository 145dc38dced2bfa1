"""Loading a bundle WITHOUT pickle: JSON, safetensors and ONNX only; every file checked against the manifest.

``model.pt2`` is never loaded here: ``torch.export.load`` falls back to unpickling when the safe load fails,
so a ``.pt2`` from elsewhere could run code. A missing, changed or unreadable file is a one-line UserError.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from workbench.errors import UserError
from workbench.export.parity import file_sha256

REQUIRED = ("manifest.json", "preprocessing.json", "architecture.json", "weights.safetensors", "model.onnx")


@dataclass
class LoadedBundle:
    """A checked bundle folder and its parsed JSON files."""

    path: Path
    manifest: dict[str, Any]
    preprocessing: dict[str, Any]
    architecture: dict[str, Any]
    _tmp: Any = field(default=None, repr=False)  # keeps an extracted zip alive

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics", {}))


def _extract_zip(path: Path) -> tuple[Path, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="workbench-bundle-")
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise UserError(f"bundle {path.name}: unsafe file name {info.filename!r} in the zip")
            archive.extractall(tmp.name)
    except zipfile.BadZipFile:
        raise UserError(f"bundle {path.name}: not a valid zip file") from None
    root = Path(tmp.name)
    if not (root / "manifest.json").is_file():
        inner = [p for p in root.iterdir() if p.is_dir() and (p / "manifest.json").is_file()]
        if len(inner) == 1:
            root = inner[0]
    return root, tmp


def _json(folder: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"bundle {folder}: {name} cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserError(
            f"bundle {folder}: {name} is not valid JSON (line {exc.lineno}); re-export the model"
        ) from None
    if not isinstance(data, dict):
        raise UserError(f"bundle {folder}: {name} does not hold a JSON object; re-export the model")
    return data


def open_bundle(path: str | Path) -> LoadedBundle:
    """Check and parse a bundle folder (or its .zip); raises UserError naming the problem file."""
    path = Path(path)
    tmp = None
    if path.is_file() and path.suffix.lower() == ".zip":
        path, tmp = _extract_zip(path)
    if not path.is_dir():
        raise UserError(f"bundle {path}: no such folder; choose a folder written by deploy.export")
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if missing:
        raise UserError(
            f"bundle {path}: {', '.join(missing)} missing; this is not a complete bundle, re-export it"
        )
    manifest = _json(path, "manifest.json")
    if manifest.get("kind") != "model-workbench-bundle":
        raise UserError(f"bundle {path}: manifest.json is not a Model Workbench bundle manifest")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise UserError(f"bundle {path}: manifest.json lists no file checksums; re-export the model")
    for name in REQUIRED[1:]:
        expected = (files.get(name) or {}).get("sha256")
        if not expected:
            raise UserError(f"bundle {path}: manifest.json has no checksum for {name}; re-export the model")
        if file_sha256(path / name) != expected:
            raise UserError(
                f"bundle {path}: {name} was changed after export (checksum mismatch); "
                "restore the file or re-export the model"
            )
    return LoadedBundle(
        path, manifest, _json(path, "preprocessing.json"), _json(path, "architecture.json"), tmp
    )


def load_trained_model(path: str | Path | LoadedBundle) -> Any:
    """Rebuild the TrainedModel from architecture.json + weights.safetensors (no pickle)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from workbench.engine.models import build_model_from_architecture
    from workbench.engine.trained import TrainedModel

    bundle = path if isinstance(path, LoadedBundle) else open_bundle(path)
    try:
        state = load_file(str(bundle.path / "weights.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"bundle {bundle.path}: weights.safetensors cannot be read ({exc})") from None
    try:
        module = build_model_from_architecture(bundle.architecture)
        module.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"bundle {bundle.path}: weights do not match architecture.json ({first})") from None
    prep, manifest = bundle.preprocessing, bundle.manifest
    labels = prep.get("labels", {})
    return TrainedModel(
        module=module.eval(),
        architecture=dict(bundle.architecture),
        task=labels.get("task", manifest.get("task")),
        classes=list(labels.get("classes") or []),
        target=labels.get("target"),
        feature_names=list(prep.get("feature_names", [])),
        input_schema=dict(prep.get("input_schema", {})),
        chain=[dict(step) for step in prep.get("steps", [])],
        window=prep.get("window"),
        metrics=dict(manifest.get("training_metrics", {})),
        seed=manifest.get("seed"),
    )

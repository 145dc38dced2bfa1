"""Writing the model bundle: a folder anyone can use offline, parity-checked before it is handed out.

Files (see docs in the README each bundle carries): ``model.onnx`` (one file, dynamic batch), ``model.pt2``
(``torch.export``), ``weights.safetensors`` + ``architecture.json`` (what this app reloads, never pickle),
``preprocessing.json`` (the fitted chain and label mapping), ``manifest.json`` (task, schema, metrics,
fingerprints, versions, checksums of every file), ``predict.py`` (standalone) and ``README.md`` (model card).

The bundle is built in a fresh staging folder beside the target and renamed into place only after the
parity check passed, so a refused or failed export never leaves a half-written bundle behind; where it may
be written and how an old bundle is replaced is ``workbench.export.target``'s job (it never deletes a file
this app did not write). Programs are serialised to memory first and written with plain file writes, so a
full disk is an ordinary, reported error (torch's own file writer aborted the process on ENOSPC).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import logging
import os
import platform
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from workbench._version import __version__
from workbench.errors import UserError
from workbench.export import model_card
from workbench.export import target as T
from workbench.export.parity import RTOL, TOLERANCE, ParityResult, check_parity
from workbench.tabular.dataset import plain

BUNDLE_FORMAT = 1
ONNX_INPUT = "features"
ONNX_OUTPUT = "output"
FILES = T.FILES
_LIBRARIES = ("torch", "numpy", "pandas", "scikit-learn", "onnx", "onnxscript", "onnxruntime", "safetensors")


@dataclass
class Bundle:
    """What flows on a BUNDLE wire: the folder (and zip) plus the manifest it was written with."""

    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    zip_path: Path | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        """Figures the executor copies into the run report."""
        out: dict[str, Any] = {}
        if "parity_max_abs_diff" in self.manifest:
            out["parity_max_abs_diff"] = self.manifest["parity_max_abs_diff"]
        out["bundle_bytes"] = sum(int(f.get("bytes", 0)) for f in self.manifest.get("files", {}).values())
        return out


def preprocessing_spec(model: Any) -> dict[str, Any]:
    """The content of preprocessing.json for a TrainedModel: input columns and kinds, the fitted steps,
    the model-input feature order, window settings and the label mapping."""
    from workbench.tabular.chain import MISSING, OTHER, UNSEEN, required_columns

    chain = [dict(step) for step in (model.chain or [])]
    window = dict(model.window) if model.window else None
    if window is None and chain and chain[-1].get("op") == "window":
        window = dict(chain[-1])
    columns = required_columns(chain, list(model.feature_names))
    schema = dict(model.input_schema or {})
    if window and window.get("target_input"):
        schema.setdefault(window["target"], "numeric")
    image = {"image": dict(model.images)} if getattr(model, "images", None) else {}  # workbench/images
    return plain(
        {
            **image,
            "format": BUNDLE_FORMAT,
            "input_columns": columns,
            "input_schema": {c: schema.get(c) for c in columns},
            "steps": chain,
            "feature_names": list(model.feature_names),
            "input_shape": list(model.architecture.get("input_shape", [])),
            "window": window,
            "labels": {
                "task": model.task,
                "target": model.target,
                "head": model.head,
                "classes": list(model.classes or []),
            },
            "buckets": {"missing": MISSING, "other": OTHER, "unseen": UNSEEN},
        }
    )


def library_versions() -> dict[str, str]:
    out = {"model-workbench": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _check_rows(model: Any, rows: np.ndarray | None) -> np.ndarray:
    """Held-out model-input rows for parity, or seeded random rows of the right shape when there are none."""
    shape = [int(s) for s in model.architecture["input_shape"]]
    if getattr(model, "images", None):  # image models take uint8 pixels (n, h, w, c): the ONNX input too
        if rows is not None and len(rows) >= 2:
            return np.ascontiguousarray(rows[:512], dtype=np.uint8)
        return np.random.default_rng(0).integers(0, 256, (16, *shape), dtype=np.uint8)
    if rows is not None and len(rows) >= 2:
        return np.ascontiguousarray(rows[:512], dtype=np.float32)
    return np.random.default_rng(0).standard_normal((64, *shape)).astype(np.float32)


@contextlib.contextmanager
def _quiet() -> Any:
    """The ONNX exporter prints progress and warns about optional packages; keep the user's log clean."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def warm_exporter() -> None:
    """Export a tiny model once, discarding the files: the first export in a process pays ~2-3 s of exporter
    imports and first-call set-up (measured: benchmarks/bench_export.py). The desktop app calls this in a
    background thread while the user is still building the pipeline, so the first real export costs ~1.5 s.
    Not called by headless runs: there it would only compete with training for the GIL."""
    import torch

    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).eval()
    with tempfile.TemporaryDirectory(prefix="workbench-warmup-") as folder:
        _export_programs(module, np.zeros((2, 2), dtype=np.float32), Path(folder))


def _export_programs(module: Any, example: np.ndarray, folder: Path) -> tuple[str, int]:
    """Write model.pt2 and model.onnx (weights inside, dynamic batch); returns (pt2 sha256, opset)."""
    import onnx
    import torch

    x = torch.from_numpy(example)
    batch = torch.export.Dim("batch", min=1, max=1 << 24)
    dynamic = ({0: batch},)
    try:
        with _quiet():
            program = torch.export.export(module, (x,), dynamic_shapes=dynamic)
            buffer = io.BytesIO()
            torch.export.save(program, buffer)
            onnx_program = torch.onnx.export(
                program,
                (x,),
                input_names=[ONNX_INPUT],
                output_names=[ONNX_OUTPUT],
                dynamic_shapes=dynamic,
                dynamo=True,
            )
            if onnx_program is None:  # only without dynamo=True; kept for the type checker
                raise RuntimeError("torch.onnx.export returned no program")
            proto = onnx_program.model_proto
            onnx_bytes = proto.SerializeToString()
    except Exception as exc:  # noqa: BLE001 - exporter failures come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"export: this model could not be exported ({first[:200]})") from exc
    pt2_bytes = buffer.getvalue()
    write_file(folder / "model.pt2", pt2_bytes)
    write_file(folder / "model.onnx", onnx_bytes)
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    del onnx
    return hashlib.sha256(pt2_bytes).hexdigest(), int(opset)


def write_file(path: Path, data: bytes | str) -> None:
    """Write one bundle file into the staging folder; a full disk or a refused write is one clear line."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(
            f"export: could not write {path.name} into {path.parent.parent} ({reason}); free some space or "
            "choose another folder"
        ) from None


def write_bundle(
    model: Any,
    folder: str | Path,
    *,
    check_rows: np.ndarray | None = None,
    make_zip: bool = False,
    metrics: Mapping[str, Any] | None = None,
    data_fingerprint: str | None = None,
    pipeline_fingerprint: str | None = None,
    device: str = "cpu",
    tolerance: float = TOLERANCE,
    rtol: float = RTOL,
    log: Callable[[str], None] | None = None,
    pipeline_dir: str | Path | None = None,
    raw_rows: Any = None,
) -> Bundle:
    """Export ``model`` (a TrainedModel) to ``folder``; refuse with UserError when the exported model and the
    trained one disagree by more than ``tolerance + rtol × the output's scale``.

    ``check_rows`` are held-out model-input rows (e.g. the test split after preprocessing) for the network's
    parity (.pt2 and ONNX); ``raw_rows`` are the same rows as read from the file (a DataFrame), run through
    the bundle's own predict.py against the app's training path. ``folder`` may be new, empty or an earlier bundle (replaced, the user's own files in it kept);
    anything else, and the home folder, a root, the current folder or ``pipeline_dir``, is refused before any
    work is done.
    """
    from safetensors.torch import save

    say = log or (lambda _message: None)
    folder = Path(os.path.abspath(Path(folder).expanduser()))
    T.check_target(folder, pipeline_dir)
    if make_zip:
        T.check_zip_target(folder)
    try:
        staging = T.make_staging(folder)
    except OSError as exc:
        raise UserError(
            f"export: cannot create {folder.parent} ({exc.strerror or exc}); choose another folder"
        ) from None
    try:
        module = model.module.to("cpu").eval()
        rows = _check_rows(model, check_rows)
        pt2_sha, opset = _export_programs(module, rows[: max(2, min(len(rows), 8))], staging)
        parity = check_parity(
            module, staging / "model.pt2", pt2_sha, staging / "model.onnx", rows, tolerance, rtol
        )
        _refuse_if_different(parity)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        write_file(staging / "weights.safetensors", save(state, metadata={"format": "model-workbench"}))
        _write_json(staging / "architecture.json", plain(model.architecture))
        prep = preprocessing_spec(model)
        _write_json(staging / "preprocessing.json", prep)
        write_file(staging / "predict.py", standalone_script(bool(getattr(model, "images", None))))
        manifest = _manifest(model, prep, parity.to_json(), opset, metrics, data_fingerprint,
                             pipeline_fingerprint, device)  # fmt: skip
        _seal(staging, manifest, prep)
        if raw_rows is not None and len(raw_rows) >= 2:
            from workbench.export.raw_parity import check_raw_parity

            parity = parity.with_comparison(check_raw_parity(model, staging, raw_rows, tolerance, rtol))
            _refuse_if_different(parity)
            manifest["parity"] = plain(parity.to_json())
            manifest["parity_max_abs_diff"] = manifest["parity"]["max_abs_diff"]
            _seal(staging, manifest, prep)
        say(
            f"parity on {parity.rows} rows: "
            + ", ".join(
                f"{c.pair} {c.max_abs_diff:.2e} ({c.max_rel_diff:.1e} rel)" for c in parity.comparisons
            )
        )
        T.check_target(folder, pipeline_dir)  # again: the folder may have changed while we trained/exported
        try:
            T.install(staging, folder, say)
        except OSError as exc:
            raise UserError(
                f"export: could not move the new bundle into {folder} ({exc.strerror or exc}); "
                "nothing there was changed"
            ) from None
    finally:
        T.remove_staging(staging)
    zip_path = _zip(folder) if make_zip else None
    say(f"bundle written to {folder}" + (f" and {zip_path.name}" if zip_path else ""))
    return Bundle(folder, manifest, zip_path)


def _refuse_if_different(parity: ParityResult) -> None:
    worst = parity.worst()
    if worst is not None:
        raise UserError(
            f"export refused: {worst.pair} differ by {worst.max_abs_diff:.3g} ({worst.max_rel_diff:.2g} of the "
            f"output's scale; allowed {parity.tolerance:g} + {parity.rtol:g}×scale) on {parity.rows} held-out "
            "rows; this is an export bug, please report it with this model's pipeline"
        )


def _seal(staging: Path, manifest: dict[str, Any], prep: dict[str, Any]) -> None:
    """Write the model card and the manifest with the checksum of every file (again after a change)."""
    write_file(staging / "README.md", model_card.render(manifest, prep))
    manifest["files"] = {
        name: {"sha256": T.file_sha256(staging / name), "bytes": (staging / name).stat().st_size}
        for name in FILES
    }
    _write_json(staging / "manifest.json", manifest)


def _manifest(model: Any, prep: dict, parity: dict, opset: int, metrics: Mapping[str, Any] | None,
              data_fp: str | None, pipeline_fp: str | None, device: str) -> dict[str, Any]:  # fmt: skip
    figures = {k: v for k, v in dict(metrics or {}).items() if isinstance(v, int | float | str | bool)}
    training = {k: v for k, v in dict(model.metrics or {}).items() if isinstance(v, int | float | str | bool)}
    return plain(
        {
            "kind": "model-workbench-bundle",
            "format": BUNDLE_FORMAT,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "task": model.task,
            "target": model.target,
            "head": model.head,
            "classes": list(model.classes or []),
            "input_columns": prep["input_columns"],
            "input_schema": prep["input_schema"],
            "feature_names": prep["feature_names"],
            "input_shape": prep["input_shape"],
            "n_outputs": int(model.architecture.get("n_outputs", 1)),
            "window": prep["window"],
            "metrics": figures,
            "training_metrics": training,
            "seed": model.seed,
            "n_parameters": int(model.n_parameters),
            "fingerprints": {"data": data_fp, "pipeline": pipeline_fp},
            "versions": library_versions(),
            "device": {
                "trained_on": (model.metrics or {}).get("device") or None,
                "exported_on": device,
                "platform": platform.platform(),
            },  # fmt: skip
            "onnx": {
                "file": "model.onnx",
                "opset": opset,
                "input": ONNX_INPUT,
                "output": ONNX_OUTPUT,
                "dynamic_batch": True,
            },  # fmt: skip
            "parity": parity,
            "parity_max_abs_diff": parity["max_abs_diff"],
        }
    )


def _write_json(path: Path, data: Any) -> None:
    write_file(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _zip(folder: Path) -> Path:
    """``<folder>.zip`` next to the folder; entries sit under ``<folder name>/`` so unzipping makes the folder.

    Written to a fresh temporary file and renamed over an earlier zip of this bundle only when complete."""
    target = folder.parent / f"{folder.name}.zip"
    T.check_zip_target(folder)
    handle, name = tempfile.mkstemp(prefix=f".{folder.name}.", suffix=".zip", dir=folder.parent)
    os.close(handle)
    partial = Path(name)
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for entry in (*FILES, "manifest.json"):
                archive.write(folder / entry, f"{folder.name}/{entry}")
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise UserError(
            f"export: the bundle was written to {folder}, but {target.name} could not be written "
            f"({exc.strerror or exc}); free some space or turn 'zip' off"
        ) from None
    return target


SHARED = ("# >>> bundle files", "# <<< bundle files")


def standalone_script(images: bool) -> str:
    """The predict.py a bundle ships. The image script imports the bundle-files section (checksums, manifest
    and JSON checks) from the table script in the app; in a bundle that import is replaced by the section's
    own text, so the file runs without the app and the checks stay written once."""
    table = Path(__file__).with_name("predict_template.py").read_text(encoding="utf-8")
    if not images:
        return table
    script = Path(__file__).with_name("predict_images_template.py").read_text(encoding="utf-8")
    section = _between(table, "predict_template.py")
    start = script.index(SHARED[0])
    end = script.index(SHARED[1], start)
    return script[:start] + section + script[end:]


def _between(text: str, name: str) -> str:
    start, end = text.find(SHARED[0]), text.find(SHARED[1])
    if start < 0 or end < start:
        raise RuntimeError(f"{name}: the bundle-files markers are missing")  # a packaging mistake, not input
    return text[start:end]

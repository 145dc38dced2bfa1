"""The per-run folder under the user data dir: run.log, report.json, manifest.json, curves.json."""

from __future__ import annotations

import errno
import json
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import paths
from workbench._version import __version__
from workbench.errors import UserError
from workbench.files import atomic_write_text

if TYPE_CHECKING:
    from workbench.execution.executor import RunResult
    from workbench.graph import Pipeline

_LIBRARIES = ("torch", "numpy", "pandas", "pyarrow", "scikit-learn", "onnx", "onnxruntime")


def library_versions() -> dict[str, str]:
    out = {"model-workbench": __version__, "python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


@dataclass
class RunFolder:
    run_id: str
    path: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    pipeline_json: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, pipeline: Pipeline) -> RunFolder:
        """A fresh folder under ``runs/``; a data folder that cannot be written is one clear UserError."""
        name = pipeline.path.name.split(".")[0] if pipeline.path else "untitled"
        name = re.sub(r"[^A-Za-z0-9_\-]+", "_", name)[:40] or "run"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            root = paths.runs_dir()
            run_id = f"{stamp}-{name}"
            path = root / run_id
            suffix = 2
            while path.exists():
                run_id = f"{stamp}-{name}-{suffix}"
                path = root / run_id
                suffix += 1
            path.mkdir(parents=True)
        except OSError as exc:
            where = exc.filename if exc.filename is not None else "the user data folder"
            reason = exc.strerror or str(exc)
            if exc.errno in (errno.EEXIST, errno.ENOTDIR):
                reason = "a file stands where a folder is needed"
            raise UserError(
                f"cannot create the run folder at {where}: {reason}; set WORKBENCH_DATA_DIR to a folder you "
                "can write to (or free disk space there)"
            ) from None
        return cls(run_id, path)

    def finish(
        self,
        run: RunResult,
        pipeline: Pipeline,
        fingerprints: dict[str, str],
        device: str,
        labels: dict[str, Any] | None = None,
    ) -> list[str]:
        """Write run.log, manifest.json (with the pipeline as it ran), curves.json (per-epoch figures, when
        a node reported any) and report.json; returns (and adds to ``run.record_errors``) a line for each file that could
        not be written, so a full disk is reported instead of crashing the run. The run history is rebuilt
        from these files (``workbench runs reindex``).

        The report goes last so it can say which of the other files are missing.
        """
        self.pipeline_json = pipeline.to_json()
        self.manifest = self._manifest(pipeline, fingerprints, device, labels)
        self.manifest["pipeline_json"] = self.pipeline_json  # "open the pipeline as it was" needs no file
        self._write(run, "run.log", lambda: "\n".join(run.log) + "\n")
        self._write(run, "manifest.json", lambda: json.dumps(self.manifest, indent=2, ensure_ascii=False))
        if run.curves:
            self._write(run, "curves.json", lambda: json.dumps(run.curves, ensure_ascii=False))
        self._write(run, "report.json", lambda: json.dumps(run.report(), indent=2, ensure_ascii=False))
        return run.record_errors

    def _write(self, run: RunResult, name: str, text: Callable[[], str]) -> None:
        target = self.path / name
        try:
            atomic_write_text(target, text())
        except OSError as exc:
            run.record_errors.append(f"run folder: {paths.describe_os_error(exc, target)}")

    def _manifest(
        self, pipeline: Pipeline, fingerprints: dict[str, str], device: str, labels: dict[str, Any] | None
    ) -> dict[str, Any]:
        seeds = {
            node.id: node.params["seed"]
            for node in pipeline.nodes
            if isinstance(node.params.get("seed"), int)
        }
        manifest: dict[str, Any] = {
            "run_id": self.run_id,
            "pipeline": str(pipeline.path) if pipeline.path else None,
            "pipeline_fingerprint": _combine(fingerprints),
            "node_fingerprints": fingerprints,
            "data_fingerprints": {n: fingerprints[n] for n in fingerprints if _is_source(pipeline, n)},
            "seeds": seeds,
            "device_requested": device,
            "devices": _devices(),
            "versions": library_versions(),
            "platform": platform.platform(),
            "executable": sys.executable,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        if labels:
            manifest["labels"] = dict(labels)  # e.g. the sweep and trial this run belongs to
        return manifest


def _combine(fingerprints: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(fingerprints, sort_keys=True).encode()).hexdigest()[:24]


def _is_source(pipeline: Pipeline, node_id: str) -> bool:
    return not pipeline.input_links(node_id)


def _devices() -> list[str]:
    """Accelerators seen, without importing torch if nothing has yet (the manifest must stay cheap)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return ["cpu"]
    found = ["cpu"]
    try:
        if torch.cuda.is_available():
            found += [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001
        pass
    return found

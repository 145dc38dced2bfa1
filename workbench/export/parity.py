"""The parity check at export: the in-app model, the reloaded ``.pt2`` and the ONNX model must agree.

Why: a bundle is only useful if it computes what the app computed. Differences beyond float noise mean an
export bug (an op exported wrongly, a weight lost), so the export is refused rather than shipped.
onnxruntime runs with intra-op spinning off: spinning ORT threads slow torch in the same process a lot
(engineering notes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOLERANCE = 1e-4


@dataclass(frozen=True)
class ParityResult:
    rows: int
    max_abs_diff: float  # the larger of the two below
    pt2_max_abs_diff: float
    onnx_max_abs_diff: float
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance

    def to_json(self) -> dict[str, float | int]:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "pt2_max_abs_diff": self.pt2_max_abs_diff,
            "onnx_max_abs_diff": self.onnx_max_abs_diff,
            "tolerance": self.tolerance,
        }


def ort_session(onnx_path: str | Path, threads: int = 0):  # noqa: ANN201 - onnxruntime type, imported lazily
    """An onnxruntime CPU session whose idle threads do not spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return float(np.nanmax(diff)) if np.isfinite(diff).any() else float("inf")


def check_parity(
    module: object, pt2_path: str | Path, pt2_sha256: str, onnx_path: str | Path, x: np.ndarray
) -> ParityResult:
    """Compare eager ``module`` with the ``.pt2`` this export just wrote and with ``model.onnx`` on rows ``x``.

    The ``.pt2`` is only loaded when its checksum equals ``pt2_sha256`` (computed right after writing it):
    ``torch.export.load`` may fall back to unpickling, so it must never read a file this app did not write.
    """
    import torch

    if file_sha256(pt2_path) != pt2_sha256:
        raise RuntimeError(f"{pt2_path} changed while exporting; refusing to load it")
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    with torch.no_grad():
        eager = module(inputs).float().numpy()  # type: ignore[operator]
        program = torch.export.load(str(pt2_path))
        reloaded = program.module()(inputs).float().numpy()
    session = ort_session(onnx_path)
    onnx_out = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    del session
    pt2_diff, onnx_diff = _max_diff(eager, reloaded), _max_diff(eager, onnx_out)
    return ParityResult(len(x), max(pt2_diff, onnx_diff), pt2_diff, onnx_diff)

"""The parity check at export: the in-app model, the reloaded ``.pt2`` and the ONNX model must agree.

Why: a bundle is only useful if it computes what the app computed. Differences beyond float noise mean an
export bug (an op exported wrongly, a weight lost), so the export is refused rather than shipped.
onnxruntime runs with intra-op spinning off: spinning ORT threads slow torch in the same process a lot
(engineering notes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.export.target import file_sha256

if TYPE_CHECKING:
    import onnxruntime

TOLERANCE = 1e-4  # absolute part, in output units (logits for classes)
RTOL = 1e-5  # relative part, against the output's own scale


@dataclass(frozen=True)
class Comparison:
    """How far one way of computing the outputs is from the trained model's (the reference)."""

    pair: str  # "app vs .pt2", "app vs ONNX", "app vs predict.py"
    max_abs_diff: float
    max_rel_diff: float  # |a - b| / scale, scale = max(|b|, the largest |b| of that output column)
    ok: bool

    def to_json(self) -> dict[str, float | str | bool]:
        return {"pair": self.pair, "max_abs_diff": self.max_abs_diff, "max_rel_diff": self.max_rel_diff}


def compare(pair: str, reference: np.ndarray, other: np.ndarray, atol: float = TOLERANCE,
            rtol: float = RTOL) -> Comparison:  # fmt: skip
    """``|a - b| <= atol + rtol * scale`` everywhere: float32 rounding grows with the output (one step at
    300,000 is 0.03), so an absolute bound alone refused every good price model, while a real export bug
    (a wrong op, a lost weight) moves outputs by far more than 1e-5 of their scale."""
    if reference.shape != other.shape:
        return Comparison(pair, float("inf"), float("inf"), False)
    if reference.size == 0:
        return Comparison(pair, 0.0, 0.0, atol >= 0)
    ref = reference.astype(np.float64).reshape(len(reference), -1)
    got = other.astype(np.float64).reshape(len(other), -1)
    diff = np.abs(ref - got)
    both_nan = np.isnan(ref) & np.isnan(got)
    diff[both_nan] = 0.0
    column_scale = np.nanmax(np.abs(np.where(np.isfinite(ref), ref, 0.0)), axis=0, keepdims=True)
    scale = np.maximum(np.abs(np.where(np.isfinite(ref), ref, 0.0)), column_scale)
    finite = np.isfinite(diff).all()
    max_abs = float(diff.max()) if finite else float("inf")
    rel = diff / np.maximum(scale, 1e-12)
    max_rel = float(rel.max()) if finite else float("inf")
    ok = bool(finite and (diff <= atol + rtol * scale).all())
    return Comparison(pair, max_abs, max_rel, ok)


@dataclass(frozen=True)
class ParityResult:
    rows: int
    comparisons: tuple[Comparison, ...]
    tolerance: float = TOLERANCE
    rtol: float = RTOL

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    def _abs(self, pair: str) -> float:
        return next((c.max_abs_diff for c in self.comparisons if c.pair == pair), 0.0)

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.comparisons), default=0.0)

    @property
    def max_rel_diff(self) -> float:
        return max((c.max_rel_diff for c in self.comparisons), default=0.0)

    @property
    def pt2_max_abs_diff(self) -> float:
        return self._abs("app vs .pt2")

    @property
    def onnx_max_abs_diff(self) -> float:
        return self._abs("app vs ONNX")

    def worst(self) -> Comparison | None:
        """The failing comparison with the largest relative difference (None when all agree)."""
        failing = [c for c in self.comparisons if not c.ok]
        return max(failing, key=lambda c: c.max_rel_diff) if failing else None

    def with_comparison(self, comparison: Comparison) -> ParityResult:
        return ParityResult(self.rows, (*self.comparisons, comparison), self.tolerance, self.rtol)

    def to_json(self) -> dict:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "pt2_max_abs_diff": self.pt2_max_abs_diff,
            "onnx_max_abs_diff": self.onnx_max_abs_diff,
            "tolerance": self.tolerance,
            "rtol": self.rtol,
            "rule": "|a - b| <= tolerance + rtol * max(|b|, max |b| of the column)",
            "comparisons": [c.to_json() for c in self.comparisons],
        }


def ort_session(onnx_path: str | Path, threads: int = 0) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session whose idle threads do not spin."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def check_parity(
    module: object,
    pt2_path: str | Path,
    pt2_sha256: str,
    onnx_path: str | Path,
    x: np.ndarray,
    atol: float = TOLERANCE,
    rtol: float = RTOL,
) -> ParityResult:
    """Compare eager ``module`` with the ``.pt2`` this export just wrote and with ``model.onnx`` on rows ``x``.

    The ``.pt2`` is only loaded when its checksum equals ``pt2_sha256`` (computed right after writing it):
    ``torch.export.load`` may fall back to unpickling, so it must never read a file this app did not write.
    """
    import torch

    if file_sha256(pt2_path) != pt2_sha256:
        raise RuntimeError(f"{pt2_path} changed while exporting; refusing to load it")
    dtype = np.uint8 if x.dtype == np.uint8 else np.float32  # image models take uint8 pixels
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=dtype))
    with torch.no_grad():
        eager = module(inputs).float().numpy()  # type: ignore[operator]
        program = torch.export.load(str(pt2_path))
        reloaded = program.module()(inputs).float().numpy()
    session = ort_session(onnx_path)
    onnx_out = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})[0]
    del session
    pairs = (
        compare("app vs .pt2", eager, reloaded, atol, rtol),
        compare("app vs ONNX", eager, onnx_out, atol, rtol),
    )
    return ParityResult(len(x), pairs, atol, rtol)

"""Resumable checkpoints: model, optimiser, scheduler, grad scaler, RNG states, epoch and history.

Only tensors and plain containers are saved, so loading uses ``torch.load(weights_only=True)`` and never
unpickles arbitrary objects. The architecture travels as JSON text, so a checkpoint can also seed
transfer learning.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import torch

from workbench.errors import UserError
from workbench.paths import describe_os_error

if TYPE_CHECKING:
    from workbench.engine.trainer import TrainState

CHECKPOINT_FORMAT = 1


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when initialised) CUDA generator states, as plain data."""
    import numpy as np

    np_state = np.random.get_state(legacy=True)
    # numpy's stub types this as dict | tuple; the global generator is always MT19937, a tuple.
    assert isinstance(np_state, tuple)
    py_version, py_internal, py_gauss = random.getstate()
    out: dict[str, Any] = {
        "python": [py_version, list(py_internal), py_gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype("int64")), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(data: dict[str, Any]) -> None:
    import numpy as np

    version, internal, gauss = data["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = data["numpy"]
    np.random.set_state((name, keys.numpy().astype("uint32"), pos, has_gauss, cached))
    torch.set_rng_state(data["torch"])
    if "cuda" in data and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(data["cuda"])


def save_checkpoint(path: str | Path, state: TrainState, epoch: int | None = None) -> Path:
    """Write a checkpoint of ``state`` at the end of ``state.epoch`` (or of ``epoch``: a stop mid-epoch
    records the last complete one, so a resume repeats the partial epoch).

    Atomic: a temp file in the same folder, fsync, ``os.replace``. A failed write (a full disk) removes the
    temp file, keeps any earlier checkpoint at ``path`` and raises UserError naming the file.
    """
    path = Path(path)
    callbacks = {}
    for cb in state.callbacks.callbacks:
        if hasattr(cb, "state_dict"):
            callbacks[type(cb).__name__] = cb.state_dict()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "epoch": state.epoch if epoch is None else epoch,
        "batch_size": state.batch_size,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "scheduler_steps": state.scheduler_steps,
        "scaler": state.scaler.state_dict() if state.scaler is not None else None,
        "rng": rng_state(),
        "history": [dict(r) for r in state.history],
        "callbacks": callbacks,
        "architecture": json.dumps(state.architecture) if state.architecture is not None else None,
        "seed": state.config.seed,
    }
    try:
        _write_atomically(path, payload)
    except OSError as exc:
        raise UserError(
            f"checkpoint: {describe_os_error(exc, path)}; or set checkpoint_every to 0 to train without them"
        ) from None
    return path


class _WriteRecorder:
    """Hands torch.save a file whose OSError is kept: torch reports a failed write (a full disk) only as
    ``RuntimeError: [enforce fail at inline_container.cc] unexpected pos``, which names no cause."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def _write_atomically(path: Path, payload: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            recorder = _WriteRecorder(handle)
            try:
                # torch.save only write()s and flush()es, but its FileLike annotation asks for IO[bytes].
                torch.save(payload, recorder)  # type: ignore[arg-type]
            except RuntimeError:
                if recorder.error is not None:
                    raise recorder.error from None
                raise
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); tensors land on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        # torch's text advises turning the safety off (weights_only=False): never repeat that advice
        if "weights_only" in text or "Weights only" in text:
            text = "it is damaged or holds objects other than tensors and plain values; it is not loaded"
        raise UserError(f"checkpoint {path.name} cannot be read safely ({text})") from None
    if not isinstance(data, dict) or "model" not in data:
        raise UserError(f"{path.name} is not a Model Workbench checkpoint (no model weights inside)")
    if isinstance(data.get("architecture"), str):
        data["architecture"] = json.loads(data["architecture"])
    return data

"""Device, precision and thread choices for training, and the GC warm-up that keeps a GUI smooth.

Auto device: CUDA, else Apple MPS, else CPU. Auto precision: bf16 autocast on CUDA where supported, fp16
autocast with a grad scaler on other CUDA devices, fp32 elsewhere (CPU and MPS).
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import threading
from collections.abc import Iterator

import torch

from workbench.errors import UserError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(request: str | torch.device | None = "auto") -> torch.device:
    """The torch device for a request such as ``auto``, ``cpu``, ``cuda``, ``cuda:1`` or ``mps``."""
    text = str(request or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UserError(f"device: {request!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"device: {request!r} asked for CUDA but no CUDA GPU is available; use auto or cpu"
            )
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise UserError(
                f"device: {request!r} does not exist; this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not _mps_available():
        raise UserError(f"device: {request!r} asked for Apple MPS but it is not available; use auto or cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"device: {request!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_name(device: torch.device) -> str:
    """A human name, e.g. ``cuda:0 (NVIDIA H200)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} thread{'' if torch.get_num_threads() == 1 else 's'})"
    return str(device)


def resolve_precision(request: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``request`` on ``device``; explicit requests are checked."""
    request = (request or "auto").lower()
    if request not in PRECISIONS:
        raise UserError(f"precision: {request!r} is not one of {', '.join(PRECISIONS)}")
    if request == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if request == "fp16" and device.type == "cpu":
        raise UserError("precision: fp16 needs a GPU; use fp32 or bf16 on the CPU")
    if request == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError("precision: this GPU does not support bf16; use fp16 or auto")
    return request


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a resolved precision, or None for plain fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def default_threads() -> int:
    """Intra-op threads that leave one core for the GUI thread (engineering notes)."""
    return max(1, (os.cpu_count() or 1) - 1)


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[int]:
    """Set torch's intra-op threads for a block and restore them after.

    ``threads`` > 0 sets that many, 0 leaves one core for the GUI, < 0 leaves torch's setting alone.
    """
    previous = torch.get_num_threads()
    wanted = previous if threads < 0 else (threads or default_threads())
    if wanted != previous:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and torch (all devices) so a run repeats exactly on the CPU."""
    if seed is None:
        return
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass


def collect_garbage() -> None:
    """A full collection, unless automatic collection is off and this is not the main thread: a desktop
    app turns it off and collects in its GUI thread only, because a collection in a worker thread can
    destroy Qt objects there (ui/gc_guard.py)."""
    if gc.isenabled() or threading.current_thread() is threading.main_thread():
        gc.collect()


def freeze_gc(collect: bool = False) -> None:
    """After a warm-up step: move every tracked object to the permanent generation.

    Python's generation-2 collections over the torch+Qt heap caused 130–160 ms GUI stalls; frozen objects
    are not scanned again. The trainer unfreezes when it ends, so garbage frozen along the way is collected
    then; skipping the up-front ``gc.collect()`` (60–130 ms on a pandas+torch heap) keeps the warm-up free.
    """
    if collect:
        collect_garbage()
    gc.freeze()


def unfreeze_gc() -> None:
    gc.unfreeze()


def empty_device_cache(device: torch.device, collect: bool = True) -> None:
    """Give cached allocator memory back (after an out-of-memory error, or when a run ends).

    ``collect=False`` skips the full garbage collection, whose pause a GUI would feel, when plain reference
    counting has already freed the tensors.
    """
    if collect:
        collect_garbage()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    kind
    for kind in {
        MemoryError,
        getattr(torch, "OutOfMemoryError", None),
        getattr(torch.cuda, "OutOfMemoryError", None),
    }
    if kind is not None
)
# How allocators other than CUDA's say it: only as RuntimeError text. The CPU one raises
# "[enforce fail at alloc_cpu.cpp:…] . DefaultCPUAllocator: can't allocate memory: you tried to allocate …".
_OOM_MARKERS = ("DefaultCPUAllocator: can't allocate memory", "alloc_cpu.cpp", "out of memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure on any device (so ``on_oom='halve'`` can act on it)."""
    if isinstance(exc, _OOM_TYPES):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc)
        return any(marker in text for marker in _OOM_MARKERS)
    return False

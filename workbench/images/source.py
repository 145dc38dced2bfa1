"""Streaming image batches into the trainer: decode in a thread pool ahead of the loop, augment on the device.

``ImageBatches`` stands where the trainer expects a feature tensor (``workbench.engine.trainer`` indexes
``x[idx]`` per batch; it calls ``start_epoch(perm, batch_size)`` so we know the order in advance). Batches
of the coming steps are decoded in threads while the current one trains; decoded pixels are kept in memory
up to ``cache_bytes`` (a second epoch then decodes nothing). On CUDA a batch is copied from pinned memory
without blocking. What the model gets: float pixels 0–255, (n, h, w, c), augmented when training.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from workbench.images.decode import decode_threads, load_file

DEFAULT_CACHE_BYTES = 1 << 30
PREFETCH = 4  # batches decoded ahead of the one being trained


class ImageBatches:
    """A labelled set of image files that the training loop indexes like a tensor."""

    def __init__(
        self,
        paths: list[str],
        settings: dict[str, Any],
        augment: Any = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        threads: int = 0,
    ) -> None:
        self.paths = list(paths)
        self.size = int(settings["size"])
        self.policy = str(settings["policy"])
        self.channels = int(settings["channels"])
        self.shape = torch.Size((len(self.paths), self.size, self.size, self.channels))
        self.nbytes = 1 << 62  # never permuted as a whole: the trainer gathers each batch through x[idx]
        self.device = torch.device("cpu")
        self.augment = augment
        per_image = self.size * self.size * self.channels
        self._cache = np.empty(self.shape, dtype=np.uint8) if per_image * len(paths) <= cache_bytes else None
        self._have = np.zeros(len(self.paths), dtype=bool)
        self._pool = ThreadPoolExecutor(threads or decode_threads(), thread_name_prefix="workbench-decode")
        self._plan: deque[tuple[bytes, Future]] = deque()
        self._order: np.ndarray | None = None
        self._next = 0
        self._batch_size = 0
        self._lock = threading.Lock()
        self.decoded = 0  # files decoded so far (a cache hit is not counted)

    def __len__(self) -> int:
        return len(self.paths)

    def to(self, device: Any, dtype: Any = None) -> ImageBatches:
        self.device = torch.device(device)
        return self

    # --- decoding -------------------------------------------------------------------------------------
    def _pixels(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((len(positions), self.size, self.size, self.channels), dtype=np.uint8)
        for k, index in enumerate(positions.tolist()):
            if self._cache is not None and self._have[index]:
                out[k] = self._cache[index]
                continue
            pixels = load_file(self.paths[index], self.size, self.policy, self.channels)
            out[k] = pixels
            with self._lock:
                self.decoded += 1
            if self._cache is not None:
                self._cache[index] = pixels
                self._have[index] = True
        return out

    def _submit(self) -> None:
        """Keep PREFETCH planned batches of this epoch in flight."""
        if self._order is None:
            return
        while len(self._plan) < PREFETCH and self._next < len(self._order):
            chunk = self._order[self._next : self._next + self._batch_size]
            self._next += self._batch_size
            self._plan.append((chunk.tobytes(), self._pool.submit(self._pixels, chunk)))

    def start_epoch(self, perm: torch.Tensor, batch_size: int) -> None:
        """The order the coming epoch will ask for, so decoding runs ahead of the loop."""
        self._drop_plan()
        self._order = perm.detach().to("cpu").numpy().astype(np.int64)
        self._batch_size = max(1, int(batch_size))
        self._next = 0
        self._submit()

    def _drop_plan(self) -> None:
        for _, future in self._plan:
            future.cancel()
        self._plan.clear()

    def _take(self, positions: np.ndarray) -> np.ndarray:
        key = positions.tobytes()
        if self._plan and self._plan[0][0] == key:
            _, future = self._plan.popleft()
            self._submit()
            return future.result()
        # Off plan (the batch size was halved after running out of memory, or plain indexing): decode now.
        self._drop_plan()
        self._order = None
        if len(positions) >= 8:
            parts = np.array_split(positions, min(len(positions) // 4, self._pool._max_workers))
            return np.concatenate(list(self._pool.map(self._pixels, parts)))
        return self._pixels(positions)

    # --- the tensor-like face the trainer uses --------------------------------------------------------
    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            positions = np.arange(len(self.paths))[index]
        elif isinstance(index, torch.Tensor):
            positions = index.detach().to("cpu").numpy().astype(np.int64).reshape(-1)
        else:
            positions = np.asarray(index, dtype=np.int64).reshape(-1)
        pixels = torch.from_numpy(self._take(positions))
        if self.device.type == "cuda":
            batch = pixels.pin_memory().to(self.device, non_blocking=True).float()
        else:
            batch = pixels.to(self.device).float()
        if self.augment is not None:
            batch = self.augment(batch)
        return batch

    def close(self) -> None:
        self._drop_plan()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __del__(self) -> None:  # a stopped run must not leave decode threads behind
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

"""The process group of a distributed run: rendezvous, control messages and broadcasts.

Why the store for messages: a rank that waits for its next job polls a key in the rendezvous store, so it
never sits in a collective with a timeout while rank 0 evaluates or exports, and it still notices signals.
Messages are JSON; tensors go by ``broadcast`` with their shape and dtype named in the message before.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist

from workbench.distributed import PEER_EXIT
from workbench.engine.ranks import AgreedError  # one class: raised here and by the agreed loop
from workbench.errors import UserError

BACKENDS = ("auto", "gloo", "nccl")
PEER_MARKERS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "connection refused",
    "timed out",
    "timeout",
    "aborted",
    "socket",
)


class PeerLost(Exception):
    """Another rank is gone (its connection closed): this rank stops too."""


def is_peer_error(exc: BaseException) -> bool:
    """A collective failed because another rank disappeared (gloo/NCCL/store errors say so in text)."""
    if isinstance(exc, PeerLost):
        return True
    if not isinstance(exc, RuntimeError):
        return False
    text = str(exc).lower()
    return isinstance(exc, getattr(dist, "DistError", ())) or any(m in text for m in PEER_MARKERS)


class World:
    """This process's place in the run: rank, size, backend, device, and the channel to the others."""

    def __init__(
        self,
        rank: int,
        size: int,
        local_rank: int,
        local_size: int,
        backend: str,
        device: torch.device,
        store: Any,
        node_rank: int = 0,
    ) -> None:
        self.rank, self.size = rank, size
        self.local_rank, self.local_size = local_rank, local_size
        self.node_rank = node_rank
        self.backend = backend
        self.device = device
        self.store = store
        self.token: Any = None  # rank 0: the run's CancelToken (a SIGTERM stops the run through it)
        self.broken = ""  # why the ranks may be out of step (a failure on one rank): no more jobs then
        self._seq = 0
        self._ddp: tuple[int, Any] | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> str:
        where = "CPU" if self.device.type == "cpu" else f"{self.device.type} (one per process)"
        return f"{self.size} processes ({self.backend}, {where})"

    def labels(self) -> dict[str, Any]:
        """What the manifest records about the run's processes."""
        return {
            "processes": self.size,
            "backend": self.backend,
            "nodes": max(1, self.size // self.local_size),
        }

    def rank_batch(self, batch_size: int) -> int:
        """Rows per process per step: ``batch_size`` stays the global batch of one optimiser step."""
        return max(1, math.ceil(int(batch_size) / self.size))

    def threads(self, requested: int) -> int:
        """CPU threads per process: the cores shared out between the processes on this machine."""
        if requested > 0 or self.device.type != "cpu":
            return requested
        return max(1, (os.cpu_count() or 1) // max(1, self.local_size))

    # -- what the trainer calls instead of its single-process steps (duck-typed: the engine imports nothing)
    def train_epoch(
        self, state: Any, x: Any, y: Any, loss_fn: Any, control: Any, autocast: Any, frozen: bool
    ) -> bool:
        from workbench.engine.ranks import train_epoch

        return train_epoch(self, state, x, y, loss_fn, control, autocast, frozen)

    def validate(
        self, state: Any, x: Any, y: Any, loss_fn: Any, head: str, autocast: Any
    ) -> dict[str, float]:
        from workbench.engine.ranks import validate

        return validate(self, state, x, y, loss_fn, head, autocast)

    def agree_stop(self, state: Any) -> None:
        from workbench.engine.ranks import agree_stop

        agree_stop(self, state)

    # -- messages (rank 0 → everyone)
    def send(self, message: dict[str, Any]) -> None:
        self._seq += 1
        self.store.set(f"msg/{self._seq}", json.dumps(message))

    def receive(
        self, poll_s: float = 0.05, keep_waiting: Callable[[], bool] = lambda: True
    ) -> dict[str, Any]:
        """The next message from rank 0; raises PeerLost when the store is gone."""
        self._seq += 1
        key = f"msg/{self._seq}"
        while True:
            try:
                if self.store.check([key]):
                    return json.loads(self.store.get(key))
            except RuntimeError as exc:  # the store's host is gone
                raise PeerLost(str(exc)) from None
            if not keep_waiting():
                raise PeerLost("stopped while waiting for rank 0")
            time.sleep(poll_s)

    # -- collectives
    def broadcast_tensor(self, tensor: torch.Tensor | None, shape: Sequence[int], dtype: str) -> torch.Tensor:
        """Rank 0's ``tensor`` on every rank (on this rank's device)."""
        if self.is_main:
            assert tensor is not None
            out = tensor.to(self.device).contiguous()
        else:
            out = torch.empty(tuple(shape), dtype=getattr(torch, dtype.split(".")[-1]), device=self.device)
        dist.broadcast(out, src=0)
        return out

    def broadcast_bytes(self, data: bytes | None) -> bytes | None:
        """Rank 0's bytes on every rank; None everywhere when rank 0 has none (it failed to read them)."""
        size = torch.tensor([len(data) if (self.is_main and data is not None) else -1], dtype=torch.int64)
        size = size.to(self.device)
        dist.broadcast(size, src=0)
        n = int(size.item())
        if n < 0:
            return None
        buf = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8)
            if self.is_main and data is not None
            else torch.empty(n, dtype=torch.uint8)
        )
        buf = buf.to(self.device)
        dist.broadcast(buf, src=0)
        return data if self.is_main else bytes(buf.cpu().numpy().tobytes())

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the ranks (float64, so counts and loss sums stay exact enough)."""
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().tolist()

    def load_checkpoint(self, path: str) -> dict[str, Any]:
        """Rank 0 reads the checkpoint (with the usual checks); every rank gets the same contents.

        The dict holds only tensors and plain values, so it travels as ``torch.save`` bytes and is read back
        with ``weights_only=True``: a rank never unpickles objects from the wire.
        """
        from workbench.engine.checkpoint import load_checkpoint

        data: bytes | None = None
        error: UserError | None = None
        if self.is_main:
            try:
                ckpt = load_checkpoint(path)
                buffer = io.BytesIO()
                torch.save(ckpt, buffer)
                data = buffer.getvalue()
            except UserError as exc:
                error = exc
        received = self.broadcast_bytes(data)
        if error is not None:
            raise AgreedError(str(error)) from None
        if received is None:
            raise AgreedError("resume_from: rank 0 could not read the checkpoint")
        return torch.load(io.BytesIO(received), map_location="cpu", weights_only=True)

    def ddp(self, model: torch.nn.Module) -> Any:
        """The DDP wrapper of ``model`` (made once per model: it broadcasts rank 0's weights)."""
        from torch.nn.parallel import DistributedDataParallel

        if self._ddp is None or self._ddp[0] != id(model):
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = (id(model), DistributedDataParallel(model, device_ids=ids))
        return self._ddp[1]

    def forget_model(self) -> None:
        self._ddp = None

    def close(self) -> None:
        """Rank 0: tell the others the run is over. Everyone: leave the process group."""
        try:
            if self.is_main:
                self.send({"kind": "done"})
        except RuntimeError:
            pass
        self.forget_model()
        if dist.is_initialized():
            try:
                dist.destroy_process_group()
            except RuntimeError:
                pass


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise UserError(f"distributed: {name}={os.environ.get(name)!r} is not a whole number") from None


def choose_backend(request: str, device_request: str, local_size: int) -> str:
    """gloo for CPU processes, NCCL with one GPU per process (when there are enough GPUs)."""
    request = (request or "auto").lower()
    if request not in BACKENDS:
        raise UserError(f"--backend {request!r}: use one of {', '.join(BACKENDS)}")
    wants_gpu = str(device_request).lower() not in ("cpu", "mps")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if request == "auto":
        return "nccl" if wants_gpu and gpus >= local_size and dist.is_nccl_available() else "gloo"
    if request == "nccl":
        if not dist.is_nccl_available() or gpus == 0:
            raise UserError("--backend nccl needs CUDA GPUs and a PyTorch built with NCCL; use gloo for CPUs")
        if gpus < local_size:
            raise UserError(
                f"--backend nccl: {local_size} processes on this machine but {gpus} GPU(s); "
                "start at most one process per GPU"
            )
    return request


def init_from_env(device_request: str = "auto", backend: str = "auto", timeout_s: float = 1800.0) -> World:
    """Join the run that torchrun (or ``--nproc``) described in the environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT, LOCAL_RANK, LOCAL_WORLD_SIZE)."""
    rank = _env_int("RANK", 0)
    size = _env_int("WORLD_SIZE", 1)
    local_rank = _env_int("LOCAL_RANK", rank)
    local_size = _env_int("LOCAL_WORLD_SIZE", size)
    backend = choose_backend(os.environ.get("WORKBENCH_BACKEND", backend), device_request, local_size)
    if backend == "nccl":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    timeout = datetime.timedelta(seconds=timeout_s)
    where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
    try:
        store, _, _ = next(dist.rendezvous("env://", rank, size, timeout=timeout))
        dist.init_process_group(
            backend, store=dist.PrefixStore("pg", store), rank=rank, world_size=size, timeout=timeout
        )
    except (RuntimeError, ValueError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise UserError(
            f"distributed: rank {rank} could not join the others at {where} ({text}); check MASTER_ADDR/"
            "MASTER_PORT (torchrun --rdzv-endpoint) and that every node can reach it"
        ) from None
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    channel = dist.PrefixStore(f"workbench/{restart}", store)
    node_rank = _env_int("GROUP_RANK", rank // max(1, local_size))
    return World(rank, size, local_rank, local_size, backend, device, channel, node_rank)


def worker_exit_code(exc: BaseException) -> int:
    return PEER_EXIT if is_peer_error(exc) else 1

"""The trainer's epoch, validation and stop decisions when several ranks train one model (DDP).

Every rank holds the whole split in memory and takes its shard of each epoch the way ``DistributedSampler``
does: one permutation per epoch from (seed, epoch), padded to a multiple of the world size, every
``size``-th index from ``rank``. ``batch_size`` stays the global batch: each rank takes
``ceil(batch_size / size)`` rows per step and DDP averages the gradients, so a step sees the same rows as one
process would with the same permutation, and the epoch has the same number of steps.

Ranks stay in step by construction: equal shard sizes give equal batch counts, and every decision that could
differ between ranks (a stop asked for on one rank, a diverging loss, early stopping) is agreed through a
small all-reduce at fixed batch numbers, never on the clock. Dropout draws from a generator reseeded from
(seed, epoch, rank) at each epoch start, so a resumed run repeats exactly what an uninterrupted one does.

It lives in the engine, not in ``workbench.distributed``: a streamed table (``tabular.stream_train``) runs the
same loop in one process with ``SOLO``, a world of one. ``World`` (distributed/world.py) calls in here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch

from workbench.errors import UserError

if TYPE_CHECKING:
    from workbench.distributed.world import World
    from workbench.engine.trainer import TrainState


class AgreedError(UserError):
    """An error every rank raised at the same point (they stay in step: the world can go on)."""


def shard_indices(n: int, size: int, rank: int, seed: int, epoch: int) -> torch.Tensor:
    """This rank's rows of the epoch, as ``DistributedSampler(shuffle=True, drop_last=False)`` picks them."""
    g = torch.Generator()
    g.manual_seed(int(seed) + int(epoch))
    perm = torch.randperm(n, generator=g)
    total = math.ceil(n / size) * size
    if total > n:
        perm = perm.repeat(math.ceil(total / n))[:total]
    return perm[rank:total:size]


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """The dropout seed of one rank in one epoch (a resumed run draws the same numbers)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + int(rank) * 104_729) % (2**63 - 1)


def _sync(
    world: World,
    state: TrainState,
    control: Any,
    window: list,
    sizes: list,
    totals: list,
    b: int,
) -> bool:
    """Read the losses kept on the device, then agree on a stop and on divergence; True: stop now."""
    diverged, asked = _read_and_ask(state, window, sizes, totals, b, control)
    stop, bad = world.all_sum([float(asked), float(diverged is not None)])
    if bad:
        _raise_diverged(state, diverged)
    if stop:
        state.should_stop = True
        state.stop_reason = state.stop_reason or "user"
        return True
    return False


def _raise_diverged(state: TrainState, own: UserError | None) -> None:
    if own is not None:
        raise AgreedError(str(own)) from None
    raise AgreedError(
        f"training diverged: the loss became NaN or infinite on another process in epoch {state.epoch}; try a "
        "lower lr, scale the inputs (standardize), or set grad_clip (e.g. 1.0)"
    )


class _Solo:
    """The world of a single process: the agreed loop without collectives (streamed tables use it)."""

    rank, size = 0, 1

    def all_sum(self, values: list[float]) -> list[float]:
        return [float(v) for v in values]

    def ddp(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def rank_batch(self, batch_size: int) -> int:
        return max(1, int(batch_size))


SOLO = _Solo()


def _memory_batches(
    world: Any, x: torch.Tensor, y: torch.Tensor, epoch: int, seed: int, bs: int
) -> tuple[int, Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """This rank's shard of an in-memory split, in batches of ``bs`` (the same count on every rank)."""
    idx = shard_indices(x.shape[0], world.size, world.rank, seed, epoch).to(x.device)
    xs, ys = x[idx], y[idx]
    m = xs.shape[0]
    steps = math.ceil(m / bs)
    if m > bs and m % bs == 1:
        steps -= 1  # a trailing one-row batch breaks batch norm and adds nothing (the same on every rank)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for step in range(steps):
            yield xs[step * bs : (step + 1) * bs], ys[step * bs : (step + 1) * bs]

    return steps, batches()


def train_epoch(
    world: Any,
    state: TrainState,
    x: Any,
    y: torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    control: Any,
    autocast: torch.dtype | None,
    frozen_gc: bool,
) -> bool:
    """One epoch of this rank's shard (through DDP when there are several). Returns whether the GC is
    frozen (after the first step). ``x`` is a tensor, or a streamed table's ``TrainStream``."""
    from workbench.engine import device as dev
    from workbench.engine.trainer import optimizer_step, start_epoch_loop

    config, opt, scaler, device = state.config, state.optimizer, state.scaler, state.device
    model = world.ddp(state.model)
    seed = int(config.seed or 0)
    n_global = int(x.shape[0])
    bs = world.rank_batch(state.batch_size)
    if hasattr(x, "epoch_batches"):
        steps, batches = x.epoch_batches(y, state.epoch, world.rank, world.size, bs, seed)
    else:
        steps, batches = _memory_batches(world, x, y, state.epoch, seed, bs)
    torch.manual_seed(rank_seed(seed, state.epoch, world.rank))
    state.batches = steps
    params, per_batch_scheduler, max_scheduler_steps, batch_hooks, clip, read_every, interval = (
        start_epoch_loop(state)
    )
    window: list[torch.Tensor] = []
    sizes: list[int] = []
    totals = [0.0, 0]
    last_read = time.perf_counter()
    rows = b = 0
    model.train()
    try:
        while b < steps:
            if b % read_every == 0:
                if _sync(world, state, control, window, sizes, totals, b):
                    break
                now = time.perf_counter()
                if b and now - last_read >= interval:
                    last_read = now
                    state.callbacks.call("on_progress", state)
            batch = next(batches, None)
            if batch is None:
                break  # one process's stream ended (several processes always get ``steps`` batches)
            xb, yb = batch
            loss = optimizer_step(model, loss_fn, opt, xb, yb, device.type, autocast, scaler, params, clip)
            if (
                loss is None
            ):  # the ranks cannot halve together mid-step: stop with advice instead (on_oom=halve too)
                raise UserError(
                    f"out of memory on {device} (process {world.rank}) at {bs} rows per process "
                    f"(epoch {state.epoch}, batch {b + 1}); lower batch_size or start fewer processes per GPU"
                )
            if per_batch_scheduler is not None and state.scheduler_steps < max_scheduler_steps:
                per_batch_scheduler.step()
                state.scheduler_steps += 1
            window.append(loss.detach())
            sizes.append(int(xb.shape[0]))
            rows += int(xb.shape[0])
            b += 1
            state.batch, state.epoch_samples = b, min(n_global, rows * world.size)
            if not frozen_gc and config.freeze_gc:
                dev.freeze_gc()
                frozen_gc = True
            for cb in batch_hooks:
                cb.on_batch_end(state)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # a stream's reader thread stops here
    # The epoch's loss over every rank's rows, a last look for NaN, and a stop asked for since the last
    # agreement point (every rank leaves the epoch the same way).
    diverged, asked = _read_and_ask(state, window, sizes, totals, b, control)
    loss_sum, count, bad, stop = world.all_sum(
        [totals[0], float(totals[1]), float(diverged is not None), float(asked)]
    )
    if bad:
        _raise_diverged(state, diverged)
    if stop:
        state.should_stop = True
        state.stop_reason = state.stop_reason or "user"
    state.running_loss = loss_sum / max(1.0, count) if count else None
    return frozen_gc


def validate(
    world: World,
    state: TrainState,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    head: str,
    autocast: torch.dtype | None,
) -> dict[str, float]:
    """Validation figures over the whole split: each rank scores a slice, the sums are reduced."""
    from workbench.engine.trainer import _validate

    n = x.shape[0]
    lo, hi = n * world.rank // world.size, n * (world.rank + 1) // world.size
    values = _validate(state, x[lo:hi], y[lo:hi], loss_fn, head, autocast)
    keys = sorted(values)
    sums = world.all_sum([values[k] * (hi - lo) for k in keys])
    return {k: s / max(1, n) for k, s in zip(keys, sums, strict=True)}


def agree_stop(world: World, state: TrainState) -> None:
    """After the epoch's callbacks: if any rank wants to stop (early stopping, a callback), all do."""
    codes = {"": 0.0, "early_stop": 1.0, "user": 2.0}
    mine = codes.get(state.stop_reason, 2.0) if state.should_stop else 0.0
    wants, user = world.all_sum([float(state.should_stop), float(mine == 2.0)])
    if wants and not state.should_stop:
        state.should_stop = True
        state.stop_reason = "user" if user else "early_stop"


def _read_and_ask(
    state: TrainState, window: list, sizes: list, totals: list, b: int, control: Any
) -> tuple[UserError | None, bool]:
    """This rank's view before an agreement: the losses kept on the device read (a NaN is the divergence to
    share, not raised here) and whether a stop was asked (by a callback or the user)."""
    from workbench.engine.trainer import _read_window

    diverged: UserError | None = None
    try:
        _read_window(state, window, sizes, totals, b)
    except UserError as exc:
        diverged = exc
    return diverged, bool(state.should_stop) or bool(control is not None and control.cancelled)

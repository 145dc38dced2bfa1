"""The in-memory training loop.

Why it looks like this (engineering notes): a whole split lives as tensors on the training device and is
batched by slicing after one permutation per epoch — a per-sample ``DataLoader`` was 1.4–3.7× slower for
tables. Losses stay on the device and are read every few batches (at most ~10 times a second), so a GPU is
not synchronised on every step. Stop and pause are checked between batches (cooperative: the current batch
finishes, the run ends with usable weights). Everything else — progress, history, early stopping,
checkpoints — is a callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from workbench.engine import device as dev
from workbench.engine.callbacks import Callback, CallbackList, EarlyStopping, History
from workbench.engine.objectives import (  # noqa: F401 - re-exported for callers of the trainer
    LOSSES,
    OPTIMIZERS,
    SCHEDULERS,
    class_weight_tensor,
    evaluate_loss,
    make_loss,
    make_optimizer,
    make_scheduler,
)
from workbench.engine.train_params import TrainConfig  # noqa: F401 - re-exported: the loop's settings
from workbench.errors import UserError

OOM_ERRORS: tuple[type[BaseException], ...] = tuple(
    error
    for error in {getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)}
    if error is not None
)


class Control(Protocol):
    """What the loop needs from a cancel token (``workbench.execution.context.CancelToken`` fits)."""

    @property
    def cancelled(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    def wait_if_paused(self, timeout: float | None = None) -> None: ...


@dataclass
class TrainData:
    """Tensors for one fit. ``head``: binary (y int 0/1), multiclass (y int64 class ids) or regression.

    ``x_train``/``x_val`` may also be batch sources that stand in for a tensor (``workbench.images.source``):
    ``.to(device, dtype)``, ``.shape``, ``.nbytes`` (huge, so batches are gathered by ``x[idx]``), ``x[idx]``
    and ``x[a:b]`` giving a batch on the device, and ``start_epoch(perm, batch_size)`` to read ahead.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None
    head: str = "multiclass"
    n_classes: int = 0


class TrainState:
    """What callbacks see: the objects being trained and where the loop is."""

    def __init__(self, model: nn.Module, config: TrainConfig, device: torch.device, precision: str) -> None:
        self.model = model
        self.config = config
        self.device = device
        self.precision = precision
        self.optimizer: torch.optim.Optimizer = None  # type: ignore[assignment]
        self.scheduler: Any = None
        self.scheduler_steps = 0
        self.scaler: Any = None
        self.callbacks: CallbackList = CallbackList([])
        self.architecture: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.epoch = 0
        self.epochs = config.epochs
        self.start_epoch = 0
        self.last_epoch_done = 0
        self.batch = 0
        self.batches = 0
        self.batch_size = config.batch_size
        self.n_train = 0
        self.n_val = 0
        self.n_parameters = 0
        self.n_trainable = 0
        self.epoch_samples = 0
        self.samples_before = 0
        self.running_loss: float | None = None
        self.should_stop = False
        self.stop_reason = ""
        self.best_restored_from = 0
        self.t0 = time.perf_counter()
        self.paused_s = 0.0

    def log(self, message: str) -> None:
        self.callbacks.call("on_log", self, message)

    def active_seconds(self) -> float:
        return max(1e-9, time.perf_counter() - self.t0 - self.paused_s)

    def samples_per_second(self) -> float:
        return (self.samples_before + self.epoch_samples) / self.active_seconds()


@dataclass
class FitResult:
    model: nn.Module
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    stopped: bool
    stop_reason: str = ""
    checkpoints: list[str] = field(default_factory=list)


def _targets(y: torch.Tensor, head: str) -> torch.Tensor:
    if head == "multiclass":
        return y.reshape(-1).long()
    y = y.float()
    return y.reshape(-1, 1) if y.dim() == 1 else y


def fit(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig | None = None,
    callbacks: Sequence[Callback] = (),
    control: Control | None = None,
    architecture: dict[str, Any] | None = None,
    world: Any = None,
) -> FitResult:
    """Train ``model`` on ``data``; returns the model (eval mode) and its history.

    ``world`` (a ``workbench.distributed.world.World``): this process is one of several training the model
    with DDP; the world takes over the epoch, validation and stop decisions (see workbench/distributed/).

    The model goes back to the device it came in on (CPU for a fresh one), also after an error, so a GPU run
    frees its memory when it ends and the caller's CPU tensors keep working with the returned model.

    Raises UserError for diverging losses (NaN/inf: names epoch and batch), out-of-memory without
    ``on_oom='halve'``, and settings that do not fit the task. A cooperative stop is not an error: the
    result has ``stopped=True`` and usable weights.
    """
    config = config or TrainConfig()
    device = dev.resolve_device(config.device)
    precision = dev.resolve_precision(config.precision, device)
    param = next(model.parameters(), None)
    home = param.device if param is not None else torch.device("cpu")
    try:
        with dev.thread_limit(config.threads):
            dev.seed_everything(config.seed)
            return _fit(model, data, config, list(callbacks), control, architecture, device, precision, world)
    finally:
        if device != home:
            model.to(home)
            dev.empty_device_cache(device, collect=False)


# While this process is rank 0 of a distributed run, workbench.distributed installs here the function that
# hands a fit to every process (fit_everywhere); the engine never imports the distributed package.
Runner = Callable[..., FitResult]
_runner: Runner | None = None


def use_runner(runner: Runner | None) -> None:
    """Install (or, with None, remove) the function :func:`train` hands every fit to."""
    global _runner
    _runner = runner


def train(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    control: Control | None = None,
    architecture: dict[str, Any] | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> FitResult:
    """:func:`fit` in this process, or through the installed runner on every process of a distributed run."""
    if _runner is None:
        return fit(model, data, config, callbacks, control=control, architecture=architecture)
    return _runner(model, data, config, callbacks, control, architecture, log)


def _fit(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    callbacks: list[Callback],
    control: Control | None,
    architecture: dict[str, Any] | None,
    device: torch.device,
    precision: str,
    world: Any = None,
) -> FitResult:
    from workbench.engine.checkpoint import load_checkpoint, set_rng_state

    config = config.resolved(int(data.x_train.shape[0]))
    if config.early_stopping and not any(isinstance(cb, EarlyStopping) for cb in callbacks):
        callbacks.append(EarlyStopping(config.monitor, config.patience, restore_best=config.restore_best))
    if config.epochs < 1 or config.batch_size < 1:
        raise UserError("epochs and batch_size must be at least 1")
    model.to(device)
    x_train = data.x_train.to(device, torch.float32)
    y_train = _targets(data.y_train, data.head).to(device)
    if x_train.shape[0] == 0:
        raise UserError("the training split is empty; give the split a larger train fraction or more rows")
    x_val = y_val = None
    if data.x_val is not None and data.y_val is not None and data.x_val.shape[0] > 0:
        x_val = data.x_val.to(device, torch.float32)
        y_val = _targets(data.y_val, data.head).to(device)
    loss_fn = make_loss(config, data, y_train)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise UserError("every layer is frozen: nothing can learn; unfreeze at least the head")

    state = TrainState(model, config, device, precision)
    state.architecture = architecture
    state.n_train, state.n_val = x_train.shape[0], 0 if x_val is None else x_val.shape[0]
    state.n_parameters = sum(p.numel() for p in model.parameters())
    state.n_trainable = sum(p.numel() for p in trainable)
    # a model's own callbacks (transfer learning's Unfreeze, engine/transfer.py); the layers they unfreeze
    # later are in the optimiser from the start (no gradient yet: skipped)
    later = list(getattr(model, "fit_callbacks", ()))
    state.optimizer = make_optimizer(list(model.parameters()) if later else trainable, config, device)
    state.scheduler = make_scheduler(state.optimizer, config, math.ceil(state.n_train / config.batch_size))
    if precision == "fp16":
        state.scaler = torch.amp.GradScaler(device.type)
    history = History()
    state.callbacks = CallbackList([history, *callbacks, *later])
    state.history = history.records

    if config.resume_from:
        ckpt = (
            load_checkpoint(config.resume_from)
            if world is None
            else world.load_checkpoint(config.resume_from)
        )
        try:
            model.load_state_dict(ckpt["model"])
            state.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise UserError(
                f"resume_from: the checkpoint does not match this model/optimiser ({str(exc).splitlines()[0]})"
            ) from None
        if state.scheduler is not None and ckpt.get("scheduler") is not None:
            state.scheduler.load_state_dict(ckpt["scheduler"])
        state.scheduler_steps = int(ckpt.get("scheduler_steps", 0))
        if state.scaler is not None and ckpt.get("scaler"):
            state.scaler.load_state_dict(ckpt["scaler"])
        history.records[:] = [dict(r) for r in ckpt.get("history", [])]
        state.batch_size = int(ckpt.get("batch_size", config.batch_size))
        state.start_epoch = state.last_epoch_done = state.epoch = int(ckpt["epoch"])
        saved = ckpt.get("callbacks", {})
        for cb in callbacks:
            if hasattr(cb, "load_state_dict") and type(cb).__name__ in saved:
                cb.load_state_dict(saved[type(cb).__name__])
        set_rng_state(ckpt["rng"])

    autocast = dev.autocast_dtype(precision)
    state.t0 = time.perf_counter()
    state.callbacks.call("on_fit_start", state)
    frozen_gc = False
    try:
        for epoch in range(state.start_epoch + 1, config.epochs + 1):
            state.epoch = epoch
            state.callbacks.call("on_epoch_start", state)
            t_epoch = time.perf_counter()
            if world is not None:
                epoch_fn = world.train_epoch
            else:  # a streamed table (tabular/stream_train.py) reads its own epochs
                epoch_fn = getattr(x_train, "train_epoch", _train_epoch)
            frozen_gc = epoch_fn(state, x_train, y_train, loss_fn, control, autocast, frozen_gc)
            if state.stop_reason == "user":
                _call_on_stop(state)
                break  # a partial epoch is not recorded; weights are the last ones (or the best, see callbacks)
            record: dict[str, Any] = {"epoch": epoch, "train_loss": state.running_loss}
            if x_val is not None and y_val is not None:
                validate = _validate if world is None else world.validate
                values = validate(state, x_val, y_val, loss_fn, data.head, autocast)
                record.update(values)
                state.callbacks.call("on_validation_end", state, values)
            record["lr"] = state.optimizer.param_groups[0]["lr"]
            record["seconds"] = time.perf_counter() - t_epoch
            _step_epoch_scheduler(state, record)
            state.last_epoch_done = epoch
            state.callbacks.call("on_epoch_end", state, record)
            if world is not None:
                world.agree_stop(state)  # every process stops after the same epoch
            if state.should_stop:
                break
    except BaseException as exc:
        state.callbacks.call("on_exception", state, exc)
        raise
    finally:
        if frozen_gc:
            dev.unfreeze_gc()
    state.callbacks.call("on_fit_end", state)
    model.eval()
    return FitResult(model, history.records, _summary(state), state.stop_reason == "user", state.stop_reason)


def _call_on_stop(state: TrainState) -> None:
    """``on_stop(state)`` on callbacks that have it (a checkpointer keeps the weights so far), before
    ``on_fit_end`` may restore the best ones. Looked up per callback: duck-typed callbacks need not have it."""
    for cb in state.callbacks.callbacks:
        hook = getattr(cb, "on_stop", None)
        if callable(hook):
            hook(state)


def _train_epoch(
    state: TrainState,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    control: Control | None,
    autocast: torch.dtype | None,
    frozen_gc: bool,
) -> bool:
    """One pass over the training split. Returns whether the GC is frozen (after the warm-up step)."""
    config, model, opt, scaler, device = (
        state.config,
        state.model,
        state.optimizer,
        state.scaler,
        state.device,
    )
    n = x.shape[0]
    bs = state.batch_size
    perm = torch.randperm(n, device=device)
    if hasattr(x, "start_epoch"):  # a batch source (images/source.py): it decodes ahead in this order
        x.start_epoch(perm, bs)
    whole = x.nbytes + y.nbytes <= config.permute_limit_bytes
    if whole:
        no_room = False
        try:
            x, y = x[perm], y[perm]
        except (RuntimeError, MemoryError) as exc:  # no room for a permuted copy: gather each batch instead
            if not dev.is_out_of_memory(exc):
                raise
            no_room = True
        if no_room:
            dev.empty_device_cache(device)
            whole = False
    state.batches = math.ceil(n / bs)
    params, per_batch_scheduler, max_scheduler_steps, batch_hooks, clip, read_every, interval = (
        start_epoch_loop(state)
    )
    window: list[torch.Tensor] = []
    sizes: list[int] = []
    totals = [0.0, 0]  # loss·samples and samples read so far this epoch
    last_read = time.perf_counter()
    i = b = 0
    model.train()
    while i < n:
        if control is not None:
            if control.paused:
                t_pause = time.perf_counter()
                control.wait_if_paused()
                state.paused_s += time.perf_counter() - t_pause
            if control.cancelled:
                state.should_stop, state.stop_reason = True, "user"
        if state.should_stop:
            state.stop_reason = state.stop_reason or "user"
            break
        end = min(i + bs, n)
        if end - i == 1 and i > 0:
            break  # a trailing one-row batch breaks batch norm and adds nothing
        if whole:
            xb, yb = x[i:end], y[i:end]
        else:
            idx = perm[i:end]
            xb, yb = x[idx], y[idx]
        loss = optimizer_step(model, loss_fn, opt, xb, yb, device.type, autocast, scaler, params, clip)
        if loss is None:
            loss = xb = yb = None  # type: ignore[assignment]
            opt.zero_grad(set_to_none=True)
            bs = _after_oom(state, bs, b)
            state.batch_size = bs
            state.batches = b + math.ceil((n - i) / bs)
            continue
        if per_batch_scheduler is not None and state.scheduler_steps < max_scheduler_steps:
            per_batch_scheduler.step()
            state.scheduler_steps += 1
        window.append(loss.detach())
        sizes.append(end - i)
        i = end
        b += 1
        state.batch, state.epoch_samples = b, i
        if not frozen_gc and config.freeze_gc:
            dev.freeze_gc()  # after the warm-up step: fewer GUI stalls from gen-2 collections
            frozen_gc = True
        if batch_hooks:
            for cb in batch_hooks:
                cb.on_batch_end(state)
        if b % read_every == 0:
            now = time.perf_counter()
            if now - last_read >= interval:
                last_read = now
                _read_window(state, window, sizes, totals, b)
                state.callbacks.call("on_progress", state)
    _read_window(state, window, sizes, totals, b)
    return frozen_gc


def _read_window(
    state: TrainState, window: list[torch.Tensor], sizes: list[int], totals: list, b: int
) -> None:
    """Read the losses kept on the device since the last read (one sync); stop on NaN/inf."""
    if not window:
        return
    values = torch.stack(window).float().tolist()
    total = sum(v * s for v, s in zip(values, sizes, strict=True))
    if not math.isfinite(total):
        first = next(k for k, v in enumerate(values) if not math.isfinite(v))
        batch = b - len(values) + first + 1
        raise UserError(
            f"training diverged: the loss became {values[first]} at epoch {state.epoch}, batch {batch} of "
            f"{state.batches}; try a lower lr, scale the inputs (standardize), or set grad_clip (e.g. 1.0)"
        )
    totals[0] += total
    totals[1] += sum(sizes)
    window.clear()
    sizes.clear()
    state.running_loss = totals[0] / max(1, totals[1])


def start_epoch_loop(state: TrainState) -> tuple[list[Any], Any, int, list[Any], float, int, float]:
    """Reset the epoch's counters and return what the batch loop reads on every step: (parameters, the
    per-batch scheduler or None, its step limit, batch-end hooks, gradient clip, batches between progress
    reads, seconds between progress events). Shared by the one-process loop and the distributed ranks."""
    config = state.config
    state.samples_before += state.epoch_samples
    state.batch = state.epoch_samples = 0
    state.running_loss = None
    params = [p for group in state.optimizer.param_groups for p in group["params"]]
    per_batch_scheduler = state.scheduler if config.scheduler == "one_cycle" else None
    max_scheduler_steps = getattr(per_batch_scheduler, "total_steps", 0) - 1
    return (
        params,
        per_batch_scheduler,
        max_scheduler_steps,
        state.callbacks.batch_end,
        config.grad_clip,
        max(1, config.read_every),
        config.progress_interval_s,
    )


def optimizer_step(
    model: Any,
    loss_fn: Callable[..., Any],
    opt: Any,
    xb: Any,
    yb: Any,
    device_type: str,
    autocast: Any,
    scaler: Any,
    params: list[Any],
    clip: float,
) -> Any:
    """One optimiser step (forward under autocast when asked, backward, clip, step; the AMP scaler when
    there is one); returns the loss, or None when the step ran out of memory (CUDA's OutOfMemoryError or the
    CPU allocator's error). Shared by the one-process loop and every rank of a distributed run."""
    try:
        opt.zero_grad(set_to_none=True)
        if autocast is None:
            loss = loss_fn(model(xb), yb)
        else:
            with torch.autocast(device_type, dtype=autocast):
                loss = loss_fn(model(xb), yb)
        if scaler is None:
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
        else:
            scaler.scale(loss).backward()
            if clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, clip)
            scaler.step(opt)
            scaler.update()
    except (RuntimeError, MemoryError) as exc:
        if not dev.is_out_of_memory(exc):
            raise
        return None
    return loss


def _after_oom(state: TrainState, bs: int, b: int) -> int:
    dev.empty_device_cache(state.device)
    where = f"epoch {state.epoch}, batch {b + 1}"
    if state.config.on_oom == "halve" and bs > 1:
        state.log(f"out of memory on {state.device} at batch size {bs} ({where}); continuing with {bs // 2}")
        return bs // 2
    raise UserError(
        f"out of memory on {state.device} at batch size {bs} ({where}); lower batch_size, "
        "or set on_oom to 'halve' to halve it and continue"
    )


def _step_epoch_scheduler(state: TrainState, record: dict[str, Any]) -> None:
    name = state.config.scheduler
    if state.scheduler is None or name == "one_cycle":
        return
    if name == "plateau":
        value = record.get("val_loss", record.get("train_loss"))
        if value is not None and math.isfinite(value):
            state.scheduler.step(value)
    else:
        state.scheduler.step()
    state.scheduler_steps += 1


def _validate(
    state: TrainState,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    head: str,
    autocast: torch.dtype | None,
) -> dict[str, float]:
    """Validation with smaller chunks after an out-of-memory error (it needs no user decision)."""
    batch_size = state.config.val_batch_size
    while True:
        oom = False
        try:
            return evaluate_loss(state.model, x, y, loss_fn, head, batch_size, autocast)
        except (RuntimeError, MemoryError) as exc:
            if batch_size <= 1 or not dev.is_out_of_memory(exc):
                raise
            oom = True
        if oom:
            dev.empty_device_cache(state.device)
            batch_size //= 2


def _summary(state: TrainState) -> dict[str, Any]:
    records = state.history
    val = [r["val_loss"] for r in records if r.get("val_loss") is not None and math.isfinite(r["val_loss"])]
    train_records = [r for r in records if r.get("train_loss") is not None]
    best_epoch = min(
        (r for r in records if r.get("val_loss") is not None), key=lambda r: r["val_loss"], default={}
    ).get("epoch")
    return {
        "samples_per_second": state.samples_per_second(),
        "final_train_loss": train_records[-1]["train_loss"] if train_records else None,
        "final_val_loss": val[-1] if val else None,
        "best_val_loss": min(val) if val else None,
        "best_epoch": best_epoch,
        "epochs_run": len(records),
        "device": dev.device_name(state.device),
        "precision": state.precision,
        "stopped": state.stop_reason == "user",
        "early_stopped": state.stop_reason == "early_stop",
        "restored_epoch": state.best_restored_from or None,
        "batch_size": state.batch_size,
        "parameters": state.n_parameters,
        "trainable_parameters": state.n_trainable,
        "train_seconds": state.active_seconds(),
    }

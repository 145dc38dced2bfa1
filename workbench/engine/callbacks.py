"""Callbacks: no-op hooks the trainer calls by name.

Progress, history, early stopping and checkpointing are all callbacks, so the loop itself stays small and
a GUI or CLI adds behaviour without touching it. Batch-level hooks are only called for callbacks that
override them, so an idle hook costs nothing per batch.

Hooks (``state`` is the trainer's :class:`~workbench.engine.trainer.TrainState`):
``on_fit_start``, ``on_epoch_start``, ``on_batch_end``, ``on_progress`` (every few batches, after the
device was read; ``state.running_loss`` is fresh), ``on_validation_end(state, values)``,
``on_epoch_end(state, record)``, ``on_checkpoint(state, path)``, ``on_log(state, message)``,
``on_fit_end``, ``on_exception(state, exc)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engine.trainer import TrainState

BATCH_HOOKS = ("on_batch_end",)


class Callback:
    """Base class: every hook is a no-op. ``order`` sorts callbacks (checkpointing runs last)."""

    order: int = 0

    def on_fit_start(self, state: TrainState) -> None: ...
    def on_epoch_start(self, state: TrainState) -> None: ...
    def on_batch_end(self, state: TrainState) -> None: ...
    def on_progress(self, state: TrainState) -> None: ...
    def on_validation_end(self, state: TrainState, values: dict[str, float]) -> None: ...
    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None: ...
    def on_checkpoint(self, state: TrainState, path: Path) -> None: ...
    def on_log(self, state: TrainState, message: str) -> None: ...
    def on_fit_end(self, state: TrainState) -> None: ...
    def on_exception(self, state: TrainState, exc: BaseException) -> None: ...


class CallbackList:
    """Calls a hook by name on every callback; keeps the per-batch list to those that override it."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = sorted(callbacks, key=lambda cb: cb.order)
        self.batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_batch_end")]

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)


def _overrides(cb: Callback, hook: str) -> bool:
    impl = getattr(type(cb), hook, None)  # duck-typed callbacks count only when their class defines the hook
    return impl is not None and impl is not getattr(Callback, hook)


class History(Callback):
    """Keeps the per-epoch records (the trainer always installs one)."""

    order = -100

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = list(records or [])

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        self.records.append(record)


class ProgressReporter(Callback):
    """Turns batch counts into throttled progress calls with rate and ETAs.

    ``report(fraction, label=..., eta_s=..., rate=..., rate_unit=..., **extra)`` matches
    ``NodeContext.progress``; it is called at most once per ``interval_s``, and at the end of the last epoch.
    """

    def __init__(self, report: Callable[..., None], interval_s: float = 0.1) -> None:
        self.report = report
        self.interval_s = interval_s
        self._last = 0.0

    def on_progress(self, state: TrainState) -> None:
        now = time.perf_counter()
        if now - self._last >= self.interval_s:
            self._last = now
            self._emit(state)

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        now = time.perf_counter()
        if now - self._last >= self.interval_s or state.epoch >= state.epochs or state.should_stop:
            self._last = now
            self._emit(state)  # tiny epochs still report at most ~1/interval, and always the last one

    def _emit(self, state: TrainState) -> None:
        rate = state.samples_per_second()
        per_epoch = max(1, state.n_train)
        epoch_fraction = min(1.0, state.epoch_samples / per_epoch) if state.batch < state.batches else 1.0
        span = max(1, state.epochs - state.start_epoch)
        fraction = (state.epoch - 1 - state.start_epoch + epoch_fraction) / span
        left_epoch = (1.0 - epoch_fraction) * per_epoch
        left_total = left_epoch + (state.epochs - state.epoch) * per_epoch
        eta_epoch = left_epoch / rate if rate > 0 else None
        eta_total = left_total / rate if rate > 0 else None
        label = f"epoch {state.epoch}/{state.epochs} · batch {state.batch}/{state.batches}"
        if state.running_loss is not None and math.isfinite(state.running_loss):
            label += f" · loss {state.running_loss:.4g}"
        self.report(
            fraction,
            label=label,
            eta_s=eta_epoch,
            rate=rate,
            rate_unit="samples/s",
            epoch=state.epoch,
            epochs=state.epochs,
            batch=state.batch,
            batches=state.batches,
            eta_total_s=eta_total,
        )


class EarlyStopping(Callback):
    """Stops when ``monitor`` has not improved for ``patience`` epochs; can restore the best weights.

    ``restore_best`` also applies when the user stops the run: the best epoch's weights are kept.
    """

    order = 10

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = True,
        mode: str = "auto",
    ) -> None:
        self.monitor = monitor
        self.patience = max(1, int(patience))
        self.min_delta = abs(float(min_delta))
        self.restore_best = restore_best
        self.mode = mode if mode != "auto" else ("max" if "acc" in monitor or "r2" in monitor else "min")
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_state: dict[str, Any] | None = None
        self._warned = False

    def _value(self, state: TrainState, record: dict[str, Any]) -> float | None:
        value = record.get(self.monitor)
        if value is None and not self._warned:
            self._warned = True
            fallback = "train_loss" if self.mode == "min" else None
            state.log(f"early stopping: {self.monitor} is not available; monitoring {fallback or 'nothing'}")
            if fallback:
                self.monitor = fallback
                value = record.get(fallback)
        return value

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        value = self._value(state, record)
        if value is None or not math.isfinite(value):
            return
        better = self.best is None or (
            value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        )
        if better:
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            if self.restore_best:
                self.best_state = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience and not state.should_stop:
            state.should_stop = True
            state.stop_reason = "early_stop"
            state.log(
                f"early stop at epoch {state.epoch}: {self.monitor} did not improve for {self.patience} "
                f"epoch(s); best {self.best:.6g} at epoch {self.best_epoch}"
            )

    def on_fit_end(self, state: TrainState) -> None:
        moved_on = (
            self.best_epoch != state.last_epoch_done or state.stop_reason == "user"
        )  # stopped mid-epoch
        if self.restore_best and self.best_state is not None and moved_on:
            state.model.load_state_dict(self.best_state)
            state.best_restored_from = self.best_epoch
            state.log(
                f"restored the best weights from epoch {self.best_epoch} ({self.monitor} {self.best:.6g})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_state": self.best_state,
        }

    def load_state_dict(self, data: dict[str, Any]) -> None:
        self.monitor = data["monitor"]
        self.best, self.best_epoch, self.wait = data["best"], data["best_epoch"], data["wait"]
        self.best_state = data.get("best_state")


class Checkpointer(Callback):
    """Saves a resumable checkpoint every ``every`` epochs (``epoch_NNNN.pt``, and ``last.pt``)."""

    order = 100

    def __init__(self, directory: str | Path, every: int = 1, keep_last: bool = True) -> None:
        self.directory = Path(directory)
        self.every = max(1, int(every))
        self.keep_last = keep_last
        self.saved: list[Path] = []
        self._saved_epoch = -1

    def on_epoch_end(self, state: TrainState, record: dict[str, Any]) -> None:
        if state.epoch % self.every == 0 or state.epoch == state.epochs or state.should_stop:
            self.save(state)

    def save(self, state: TrainState) -> Path:
        from workbench.engine.checkpoint import save_checkpoint

        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"epoch_{state.epoch:04d}.pt"
        save_checkpoint(path, state)
        if self.keep_last:
            save_checkpoint(self.directory / "last.pt", state)
        self.saved.append(path)
        self._saved_epoch = state.epoch
        state.callbacks.call("on_checkpoint", state, path)
        return path

    def on_stop(self, state: TrainState) -> None:
        """Stopped by the user (called by the trainer before ``on_fit_end``): keep the weights so far in
        ``last.pt`` as the resume point, recorded as the last complete epoch."""
        if state.batch == 0 and self._saved_epoch == state.last_epoch_done:
            return  # nothing trained since the last checkpoint
        from workbench.engine.checkpoint import save_checkpoint

        self.directory.mkdir(parents=True, exist_ok=True)
        path = save_checkpoint(self.directory / "last.pt", state, epoch=state.last_epoch_done)
        self._saved_epoch = state.last_epoch_done
        state.callbacks.call("on_checkpoint", state, path)


class StopAfter(Callback):
    """Requests a cooperative stop after ``batches`` batches in total (tests, previews)."""

    def __init__(self, batches: int) -> None:
        self.batches = batches
        self.seen = 0

    def on_batch_end(self, state: TrainState) -> None:
        self.seen += 1
        if self.seen >= self.batches:
            state.should_stop = True
            state.stop_reason = "user"

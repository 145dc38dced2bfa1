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

    def __init__(
        self, report: Callable[..., None], interval_s: float = 0.1, open_ended: bool = False
    ) -> None:
        self.report = report
        self.interval_s = interval_s
        self.open_ended = open_ended  # auto epochs: ``state.epochs`` is only a cap, so no total ETA
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
        total = f"{state.epochs}" if not self.open_ended else f"auto (at most {state.epochs})"
        label = f"epoch {state.epoch}/{total} · batch {state.batch}/{state.batches}"
        if state.running_loss is not None and math.isfinite(state.running_loss):
            label += f" · loss {state.running_loss:.4g}"
        self.report(
            fraction,
            label=label,
            eta_s=eta_epoch,
            rate=rate,
            rate_unit="samples/s",
            epoch=state.epoch,
            epochs=None if self.open_ended else state.epochs,  # None: the end is not known in advance
            max_epochs=state.epochs,
            batch=state.batch,
            batches=state.batches,
            eta_total_s=None if self.open_ended else eta_total,
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


class StillImproving(Callback):
    """Says so when a run ends at its epoch limit while the validation loss is still clearly falling.

    Why: a short fixed run (the old default was 10 epochs) stopped small tables far from their best model
    with nothing to tell the user. The hint fires only when the last ``window`` epochs were each a new best
    and the loss fell by at least ``min_drop`` (relative) per epoch on average over them; runs that a user or
    early stopping ended, or that have flattened out, stay quiet. ``advice`` is the sentence that follows
    (``{suggested}`` becomes an epoch count to try), so the node can name its own parameters.
    """

    order = 20

    def __init__(
        self,
        window: int = 3,
        min_drop: float = 0.01,
        advice: str = "train for more epochs (e.g. {suggested})",
    ) -> None:
        self.window = max(1, int(window))
        self.min_drop = float(min_drop)
        self.advice = advice
        self.fired = False
        self.rate: float | None = None

    def on_fit_end(self, state: TrainState) -> None:
        if state.stop_reason or state.last_epoch_done < state.epochs:
            return
        key = "val_loss" if any(r.get("val_loss") is not None for r in state.history) else "train_loss"
        values: list[Any] = [r.get(key) for r in state.history]
        window = min(self.window, len(values) - 1)  # a 2-epoch run can still be clearly under-trained
        tail = values[-(window + 1) :]
        if window < 1 or not all(isinstance(v, int | float) and math.isfinite(v) for v in tail):
            return
        if tail[0] <= 0 or not all(b < a for a, b in zip(tail, tail[1:], strict=False)):
            return
        rate = 1.0 - (max(tail[-1], 0.0) / tail[0]) ** (1.0 / window)
        if rate < self.min_drop:
            return
        self.fired, self.rate = True, rate
        name = "validation loss" if key == "val_loss" else "training loss"
        state.log(
            f"{name} still falling when training ended at epoch {state.last_epoch_done} "
            f"({rate * 100:.1f} % per epoch over the last {window}): the model is probably under-trained; "
            + self.advice.format(suggested=suggest_epochs(state.epochs))
        )


def suggest_epochs(epochs: int) -> int:
    """An epoch count worth trying after an under-trained run: about four times as many, rounded up."""
    target = max(20, 4 * int(epochs))
    step = 10 if target <= 100 else 50 if target <= 500 else 100
    return -(-target // step) * step

"""Training rows of a streamed table, epoch by epoch, without holding them.

Per epoch the units (a Parquet row group each) are shuffled from (seed, epoch) and dealt to the processes,
balanced by their training rows; a reader thread turns each record batch into model inputs through the
fitted chain (``chain.Transform``, the prediction path: the same numbers as in memory) while the loop trains, and a
shuffle buffer mixes rows across batches and units. Targets come from one small tensor of every training
row's target (read once: 4 or 8 bytes a row), so the train node's target scaling applies to them as usual.

With several processes each rank yields the same number of steps: ``ceil(rows / (batch × processes))``
batches of ``ceil(batch / processes)`` rows; a rank whose units run out starts them again (reshuffled), one
with more rows leaves the rest to later epochs, as ``DistributedSampler`` pads or drops.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.dataset import CLASSIFICATION, Dataset
from workbench.tabular.stream import ParquetSource, SplitRule, to_frame

BUFFER_ROWS = 1 << 17  # rows mixed by the shuffle buffer (about 20 MB for 40 features)


@dataclasses.dataclass
class StreamSplit:
    """``dataset.stream``: the source, the row split, and how many training rows each unit holds."""

    source: ParquetSource
    rule: SplitRule
    columns: list[str]
    target: str
    task: str
    fragment_train_rows: list[int]
    train_rows: int

    def __post_init__(self) -> None:
        self.train_offsets = np.concatenate([[0], np.cumsum(self.fragment_train_rows)]).astype(np.int64)

    def train_frames(
        self, units: list[int] | None = None, columns: list[str] | None = None
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """(training-row ordinals, frame) per record batch of ``units`` (default all, in order)."""
        cols = list(columns or self.columns)
        if self.target not in cols:
            cols.append(self.target)
        for unit in range(len(self.source.fragments)) if units is None else units:
            if not self.fragment_train_rows[unit]:
                continue
            ordinal = int(self.train_offsets[unit])
            for rows, batch in self.source.batches(unit, cols):
                has = batch.column(self.target).to_pandas().notna().to_numpy()
                mask = has & (self.rule.assign(rows) == 0)
                count = int(mask.sum())
                if not count:
                    continue
                if count < len(mask):
                    import pyarrow as pa

                    batch = batch.filter(pa.array(mask))
                yield np.arange(ordinal, ordinal + count, dtype=np.int64), to_frame(batch)
                ordinal += count

    def refit(self, dataset: Dataset, step: dict, log: Callable[[str], None] | None = None) -> dict:
        from workbench.tabular.stream_fit import refit_step

        return refit_step(self, dataset, step, log)

    def train_targets(self, dataset: Dataset) -> np.ndarray:
        """Every training row's target in ordinal order: class ids (int64) or (n, 1) float32.

        Encoded batch by batch, so the only thing kept is the small array itself (no text objects per row)."""
        from workbench.tabular.chain import encode_labels

        parts = []
        for _, frame in self.train_frames(columns=[self.target]):
            values = frame[self.target]
            if dataset.task == CLASSIFICATION:
                parts.append(encode_labels(values, dataset.classes))
            else:
                parts.append(values.to_numpy(dtype=np.float32, na_value=np.nan))
        if dataset.task == CLASSIFICATION:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)).reshape(-1, 1)

    def tensor_splits(self, dataset: Dataset, device: str, log: Callable[[str], None] | None = None) -> Any:
        """What ``to_tensors`` gives, with the training split as a :class:`TrainStream`."""
        import torch

        from workbench.tabular.tensors import TensorSplits, to_arrays

        if dataset.window:
            raise UserError("prep.window needs every row in memory; it cannot follow a streamed table")
        if dataset.augmentations:
            raise UserError("prep.augment changes rows in memory; it cannot follow a streamed table")
        held = to_arrays(dataclasses.replace(dataset, train=dataset.train.iloc[:0]))
        tensors: dict[str, Any] = {
            k: torch.from_numpy(v).to(device) for k, v in held.items() if not k.endswith("_train")
        }
        y_train = torch.from_numpy(self.train_targets(dataset)).to(device)
        x_train = TrainStream(self, list(dataset.chain), list(dataset.features))
        if log:
            log(f"stream: {self.train_rows:,} training rows read from the files each epoch")
        return TensorSplits(
            x_train=x_train,
            y_train=y_train,
            **tensors,
            feature_names=list(dataset.features),
            classes=list(dataset.classes),
            task=dataset.task,
            n_features=len(dataset.features),
            n_outputs=len(dataset.classes) if dataset.task == CLASSIFICATION else 1,
        )

    def to_job(self) -> dict[str, Any]:
        return {
            "path": str(self.source.path),
            "files": [str(f) for f in self.source.files],
            "rule": self.rule.to_json(),
            "columns": list(self.columns),
            "target": self.target,
            "task": self.task,
            "fragment_train_rows": list(self.fragment_train_rows),
            "train_rows": int(self.train_rows),
        }

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> StreamSplit:
        source = ParquetSource(Path(job["path"]))
        if [str(f) for f in source.files] != list(job["files"]) or len(source.fragments) != len(
            job["fragment_train_rows"]
        ):
            raise UserError(
                f"stream: this process sees other Parquet files under {job['path']} than process 0; every "
                "process must read the same files (a shared file system)"
            )
        return cls(
            source,
            SplitRule(**job["rule"]),
            list(job["columns"]),
            job["target"],
            job["task"],
            [int(n) for n in job["fragment_train_rows"]],
            int(job["train_rows"]),
        )


class TrainStream:
    """Stands in for ``x_train`` in the trainer: its length and shape, and batches of an epoch."""

    streamed = True

    def __init__(self, split: StreamSplit, chain: list[dict], features: list[str]) -> None:
        self.split = split
        self.chain = chain
        self.features = features
        self.plan = _prepared_chain(chain, features) if chain else None
        self.shape = (split.train_rows, len(features))
        self.device: Any = "cpu"
        self.buffer_rows = BUFFER_ROWS
        self.nbytes = split.train_rows * max(1, len(features)) * 4

    def __len__(self) -> int:
        return self.shape[0]

    def to(self, device: Any = None, dtype: Any = None) -> TrainStream:
        if device is not None:
            self.device = device
        return self

    def to_job(self) -> dict[str, Any]:
        return {"split": self.split.to_job(), "chain": self.chain, "features": self.features}

    @classmethod
    def from_job(cls, job: dict[str, Any]) -> TrainStream:
        return cls(StreamSplit.from_job(job["split"]), list(job["chain"]), list(job["features"]))

    def train_epoch(
        self, state: Any, x: Any, y: Any, loss_fn: Any, control: Any, autocast: Any, frozen: bool
    ) -> bool:
        """The trainer's epoch for one process (the agreed loop of several, with a world of one)."""
        from workbench.engine.ranks import SOLO, train_epoch

        return train_epoch(SOLO, state, x, y, loss_fn, control, autocast, frozen)

    # -- one epoch
    def units_for(self, epoch: int, rank: int, size: int, seed: int) -> list[int]:
        """This rank's units this epoch: shuffled from (seed, epoch), dealt to the least-loaded rank."""
        rows = self.split.fragment_train_rows
        units = [u for u, n in enumerate(rows) if n]
        order = np.random.default_rng([int(seed), int(epoch), 0x57AE]).permutation(units).tolist()
        loads = [0] * size
        mine = []
        for unit in order:
            target = int(np.argmin(loads))
            loads[target] += rows[unit]
            if target == rank:
                mine.append(unit)
        return mine

    def epoch_batches(
        self, y: Any, epoch: int, rank: int, size: int, rows_per_step: int, seed: int
    ) -> tuple[int, Iterator[tuple[Any, Any]]]:
        """(steps, batches) of (x, y) tensors on the device. One process: every training row once."""
        n = self.shape[0]
        units = self.units_for(epoch, rank, size, seed)
        if size == 1:
            steps = math.ceil(n / rows_per_step)
            if n > rows_per_step and n % rows_per_step == 1:
                steps -= 1  # a trailing one-row batch breaks batch norm and adds nothing
        else:
            steps = math.ceil(n / (rows_per_step * size))
            if not units:
                raise UserError(
                    f"stream: {size} processes but only {len(self.split.fragment_train_rows)} Parquet row groups "
                    "hold training rows; write the table in more row groups or files, or start fewer processes"
                )
        return steps, self._batches(y, units, epoch, seed, rank, rows_per_step, steps, cycle=size > 1)

    def _batches(
        self, y: Any, units: list[int], epoch: int, seed: int, rank: int, bs: int, steps: int, cycle: bool
    ) -> Iterator[tuple[Any, Any]]:
        import torch

        reader = _Reader(self, units, epoch, seed, cycle)
        rng = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch) * 7_919 + int(rank) + 17)
        device = torch.device(self.device)
        pending_x: list[np.ndarray] = []
        pending_i: list[np.ndarray] = []
        held = 0
        made = 0
        try:
            while made < steps:
                chunk = reader.next()
                last = chunk is None
                if chunk is not None:
                    pending_x.append(chunk[0])
                    pending_i.append(chunk[1])
                    held += len(chunk[1])
                needed = (steps - made) * bs  # rows this epoch still takes on this rank
                if held < min(self.buffer_rows, needed) and not last:
                    continue
                if not held:
                    return
                xs = np.concatenate(pending_x) if len(pending_x) > 1 else pending_x[0]
                ids = np.concatenate(pending_i) if len(pending_i) > 1 else pending_i[0]
                order = torch.randperm(held, generator=rng).numpy()
                xs, ids = xs[order], ids[order]
                every = last or held >= needed
                emit = held if every else max(bs, (held // 2) // bs * bs)  # keep half to mix with what comes
                start = 0
                while start + bs <= emit or (every and start < held):
                    end = min(start + bs, held)
                    if made >= steps:
                        return
                    xb = torch.from_numpy(np.ascontiguousarray(xs[start:end])).to(device, non_blocking=True)
                    yb = y[torch.from_numpy(ids[start:end]).to(y.device)]
                    made += 1
                    yield xb, yb
                    start = end
                pending_x, pending_i = [xs[start:]], [ids[start:]]
                held -= start
                if last:
                    return
        finally:
            reader.close()

    def chunk(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs (float32) for raw training rows; UserError naming columns with gaps."""
        if self.plan is not None:
            matrix, finite = self.plan(frame)
        else:
            from workbench.tabular.chain import frame_matrix

            matrix, finite = frame_matrix(frame, self.features), False
        if not finite and not np.isfinite(matrix).all():
            bad = ~np.isfinite(matrix).all(axis=0)
            cols = [self.features[i] for i in np.flatnonzero(bad)][:10]
            raise UserError(
                f"train split: missing or infinite values in {', '.join(cols)}; add prep.impute before training"
            )
        return matrix


def _prepared_chain(chain: list[dict], features: list[str]) -> Any:
    """The fitted chain made ready once, as the prediction path runs it (the same numbers the training
    frames get): ``prepared(frame)`` → (float32 model input, True when known to be finite); ``.needed``."""
    from workbench.tabular.chain import Transform

    return Transform(chain, features)


class _Reader:
    """A thread that reads this rank's units and turns them into model inputs, a few chunks ahead."""

    def __init__(self, stream: TrainStream, units: list[int], epoch: int, seed: int, cycle: bool) -> None:
        self.stream = stream
        self.units = units
        self.epoch, self.seed, self.cycle = epoch, seed, cycle
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="workbench-stream-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        stream = self.stream
        needed = stream.plan.needed if stream.plan is not None else stream.features
        try:
            rounds = 0
            while not self.stop.is_set():
                units = self.units
                if rounds:
                    rng = np.random.default_rng([int(self.seed), int(self.epoch), rounds])
                    units = rng.permutation(units).tolist()
                for ids, frame in stream.split.train_frames(units, list(needed)):
                    if self.stop.is_set():
                        return
                    self._put((stream.chunk(frame), ids))
                rounds += 1
                if not self.cycle or not self.units:
                    break
            self._put(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the training thread
            self._put(exc)

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next(self) -> tuple[np.ndarray, np.ndarray] | None:
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

"""Tables larger than memory: a Parquet file or folder read in record batches, never whole.

``data.file`` with ``stream`` on gives a :class:`StreamedTable`: the files (pyarrow.dataset fragments), the
row count from their metadata, and a bounded uniform sample of rows. ``data.split`` turns it into an ordinary
Dataset whose ``train`` frame is the sample's training rows and whose ``val``/``test`` frames are the held-out
rows (all of them, or a uniform subsample up to ``holdout_rows`` each), plus ``dataset.stream``
(:class:`StreamSplit`), which knows every row's split without holding any:

- rows are assigned by a hash of (seed, row number): a row's split never depends on how it was read;
  with ``shuffle`` off, by position (the last rows are held out, as in-memory);
- each fitted step is refitted over every training row (``stream_fit``): exact category counts, means and
  variances; medians and quantiles stay the sample's (approximate, documented in docs/scaling.md);
- training reads the training rows epoch by epoch through the fitted chain (``stream_train``).

Why the sample keeps every category: a category the sample missed would be silently unknown to a one-hot
step fitted on it. The first pass counts the values of every column with few distinct values, and a value
the sample lacks is written into one sample row (the sample only guides fitting decisions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.dataset import Dataset

BATCH_ROWS = 65_536
SAMPLE_SALT = 0x5A3F_1E00
HOLDOUT_SALT = 0x401D_0117
SPLIT_SALT = 0x5E11_7000
DISTINCT_CAP = 2_000  # values counted per column for the sample's coverage; more: the column is not tracked
_MASK = (1 << 64) - 1


def row_uniform(rows: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per row number (splitmix64): the same for a row however it is read."""
    x = rows.astype(np.uint64) + np.uint64((salt * 0x9E3779B97F4A7C15) & _MASK)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class ParquetSource:
    """The Parquet files of one source as pyarrow.dataset fragments (one per row group), with global row
    numbers in file order."""

    def __init__(self, path: Path) -> None:
        import pyarrow.dataset as pads

        path = Path(path)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in (".parquet", ".pq")
                and not p.name.startswith((".", "_"))
            )
            if not files:
                raise UserError(f"{path}: no .parquet files in this folder; stream reads Parquet files only")
        elif path.suffix.lower() in (".parquet", ".pq"):
            files = [path]
        else:
            raise UserError(
                f"{path.name}: only Parquet files (or a folder of them) can stream; turn stream off, or "
                "convert the table to Parquet"
            )
        self.path = path
        self.files = files
        try:
            self.dataset = pads.dataset([str(f) for f in files], format="parquet")
            # The units of reading, shuffling and sharding: one row group each (a file has one or many).
            self.fragments = [g for f in self.dataset.get_fragments() for g in f.split_by_row_group()]
            self.rows = [sum(int(rg.num_rows) for rg in g.row_groups) for g in self.fragments]
        except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file for the user
            raise UserError(
                f"{path.name}: not a readable Parquet source ({_short(exc)}); re-export it"
            ) from None
        self.offsets = np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)
        self.columns = [n for n in self.dataset.schema.names if not n.startswith("__index_level_")]

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    def batches(
        self, fragment: int, columns: Sequence[str] | None = None, batch_rows: int = BATCH_ROWS
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """(global row numbers, RecordBatch) for one fragment, in file order."""
        start = int(self.offsets[fragment])
        cols = list(columns) if columns is not None else self.columns
        try:
            batches = self.fragments[fragment].to_batches(
                columns=cols, batch_size=batch_rows, batch_readahead=2, fragment_readahead=2
            )  # little read ahead: memory stays at a few batches (the reader thread overlaps the rest)
            for batch in batches:
                n = batch.num_rows
                if n:
                    yield np.arange(start, start + n, dtype=np.int64), batch
                start += n
        except Exception as exc:  # noqa: BLE001
            name = Path(self.fragments[fragment].path).name
            raise UserError(
                f"{name}: reading the Parquet file failed ({_short(exc)}); re-export it"
            ) from None


def to_frame(batch: Any) -> pd.DataFrame:
    """A record batch as the pandas frame ``pd.read_parquet`` would give for its rows."""
    return batch.to_pandas()


@dataclasses.dataclass
class StreamedTable:
    """What ``data.file`` hands on for a streamed source (instead of a DataFrame)."""

    source: ParquetSource
    sample: pd.DataFrame
    sample_rows: np.ndarray  # the global row number of each sample row
    holdout_rows: int
    patched: dict[str, int] = dataclasses.field(default_factory=dict)

    streamed = True

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    @property
    def columns(self) -> list[str]:
        return list(self.source.columns)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, len(self.source.columns))

    def __len__(self) -> int:
        return self.n_rows

    @property
    def frame(self) -> pd.DataFrame:
        """The sample: what the app's data view and column lists show for a streamed source."""
        return self.sample

    def describe(self) -> str:
        files = len(self.source.files)
        return (
            f"streamed: {self.n_rows:,} rows (from the Parquet metadata) x {len(self.source.columns)} columns in "
            f"{files} file{'s' if files != 1 else ''}; sample of {len(self.sample):,} rows for fitting decisions"
        )


def open_stream(
    path: Path,
    sample_rows: int = 100_000,
    holdout_rows: int = 100_000,
    check: Callable[[], None] | None = None,
) -> StreamedTable:
    """One pass over the source: a uniform sample of about ``sample_rows`` rows, and the values of each
    column with few distinct ones (so the sample can be made to show every one of them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source = ParquetSource(path)
    n = source.n_rows
    if n == 0:
        raise UserError(f"{source.path.name}: the Parquet source has no rows")
    share = min(1.0, sample_rows / n)
    parts, numbers = [], []
    counts: dict[str, dict[Any, int] | None] = {}
    schema = source.dataset.schema
    for name in source.columns:
        kind = schema.field(name).type
        if pa.types.is_floating(kind) or pa.types.is_temporal(kind) or pa.types.is_binary(kind):
            continue
        counts[name] = {}
    for fragment in range(len(source.fragments)):
        for rows, batch in source.batches(fragment):
            if check is not None:
                check()
            keep = row_uniform(rows, SAMPLE_SALT) < share
            if keep.any():
                parts.append(batch.filter(pa.array(keep)))
                numbers.append(rows[keep])
            for name, seen in counts.items():
                if seen is None:
                    continue
                found = pc.value_counts(batch.column(name))
                for value, count in zip(
                    found.field("values").to_pylist(), found.field("counts").to_pylist(), strict=True
                ):
                    if value is not None:
                        seen[value] = seen.get(value, 0) + int(count)
                if len(seen) > DISTINCT_CAP:
                    counts[name] = None
    if not parts:
        raise UserError(f"{source.path.name}: the sample came out empty; raise sample_rows")
    sample = pa.Table.from_batches(parts).to_pandas()
    sample_numbers = np.concatenate(numbers)
    patched = _cover_values(sample, counts)
    return StreamedTable(source, sample, sample_numbers, int(holdout_rows), patched)


def _cover_values(sample: pd.DataFrame, counts: dict[str, dict[Any, int] | None]) -> dict[str, int]:
    """Write each value the sample lacks into one sample row (rows spread evenly, a different row for each)."""
    patched: dict[str, int] = {}
    slot = 0
    n = len(sample)
    for name, seen in counts.items():
        if not seen:
            continue
        present = set(sample[name].dropna().tolist())
        lacking = [value for value in seen if value not in present]
        if not lacking or len(lacking) >= n:
            continue
        column = sample[name].copy()
        for value in sorted(lacking, key=str):
            row = (slot * 7919) % n
            slot += 1
            column.iloc[row] = value
        sample[name] = column
        patched[name] = len(lacking)
    return patched


# --------------------------------------------------------------------------- the split


@dataclasses.dataclass
class SplitRule:
    """Which split a row belongs to, from its number alone."""

    n_rows: int
    val_fraction: float
    test_fraction: float
    shuffle: bool
    seed: int

    def assign(self, rows: np.ndarray) -> np.ndarray:
        """0 train, 1 validation, 2 test per row number."""
        if self.shuffle:
            u = row_uniform(rows, SPLIT_SALT + int(self.seed))
            out = np.zeros(len(rows), dtype=np.int8)
            out[u < self.val_fraction + self.test_fraction] = 1
            out[u < self.test_fraction] = 2
            return out
        position = (rows + 0.5) / max(1, self.n_rows)  # in file order: the last rows are held out
        out = np.zeros(len(rows), dtype=np.int8)
        out[position >= 1.0 - self.val_fraction - self.test_fraction] = 1
        out[position >= 1.0 - self.test_fraction] = 2
        return out

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_streamed(table: StreamedTable, params: Mapping[str, Any], log: Callable[[str], None]) -> Dataset:
    """``data.split`` for a streamed table: roles, task and classes from the sample (which shows every
    class); the held-out rows read into memory (capped); the training rows left in the files."""
    from workbench.tabular.split import split_table
    from workbench.tabular.stream_train import StreamSplit

    if params.get("time_column"):
        raise UserError(
            "data.split: a streamed table is split by row, not sorted by a time column; write the files in "
            "time order and turn shuffle off (the last rows are then held out)"
        )
    val_fraction, test_fraction = float(params["val_fraction"]), float(params["test_fraction"])
    notes: list[str] = []
    base = split_table(
        table.sample,
        params["target"],
        task=params["task"],
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        stratify=False,
        time_column="",
        shuffle=True,
        features=params.get("features") or (),
        seed=int(params["seed"]),
        log=notes.append,
    )
    rule = SplitRule(
        table.n_rows, val_fraction, test_fraction, bool(params.get("shuffle", True)), int(params["seed"])
    )
    columns = list(base.train.columns)
    target = base.target
    held, counts = _read_holdout(table, rule, columns, target)
    train_share = table.sample[target].notna().to_numpy() & (rule.assign(table.sample_rows) == 0)
    train = table.sample.loc[train_share, columns].reset_index(drop=True)
    stream = StreamSplit(
        source=table.source,
        rule=rule,
        columns=columns,
        target=target,
        task=base.task,
        fragment_train_rows=counts["fragment_train"],
        train_rows=int(sum(counts["fragment_train"])),
    )
    if stream.train_rows < 2:
        raise UserError(
            "data.split: fewer than 2 training rows in the streamed table; lower the held-out fractions"
        )
    dataset = dataclasses.replace(
        base,
        train=train,
        val=held[1],
        test=held[2],
        raw=None,
        dropped_rows=counts["no_target"],
        stream=stream,
    )
    kept = ", ".join(
        f"{name} {len(frame):,}" + (f" of {counts[name]:,}" if counts[name] > len(frame) else "")
        for name, frame in (("validation", held[1]), ("test", held[2]))
    )
    log(
        f"streamed split: {stream.train_rows:,} training rows stay in the files; held out in memory: {kept} rows"
        + (f"; {counts['no_target']:,} row(s) without a target dropped" if counts["no_target"] else "")
    )
    if table.patched:
        shown = ", ".join(f"{c} ({k})" for c, k in table.patched.items())
        log(f"sample: values the sample had not drawn were written into it so every value is known: {shown}")
    return dataset


def _read_holdout(
    table: StreamedTable, rule: SplitRule, columns: list[str], target: str
) -> tuple[dict[int, pd.DataFrame], dict[str, Any]]:
    """One pass: the validation/test rows (each capped at ``holdout_rows`` by a uniform subsample), the
    training rows per fragment, and the rows without a target."""
    import pyarrow as pa

    source = table.source
    expected = {1: rule.val_fraction * source.n_rows, 2: rule.test_fraction * source.n_rows}
    keep_share = {k: min(1.0, table.holdout_rows / v) if v > 0 else 1.0 for k, v in expected.items()}
    parts: dict[int, list[Any]] = {1: [], 2: []}
    totals = {1: 0, 2: 0}
    fragment_train = []
    no_target = 0
    for fragment in range(len(source.fragments)):
        in_train = 0
        for rows, batch in source.batches(fragment, columns):
            has = batch.column(target).to_pandas().notna().to_numpy()
            no_target += int((~has).sum())
            split = rule.assign(rows)
            in_train += int((has & (split == 0)).sum())
            for k in (1, 2):
                mask = has & (split == k)
                totals[k] += int(mask.sum())
                if keep_share[k] < 1.0:
                    mask &= row_uniform(rows, HOLDOUT_SALT + k) < keep_share[k]
                if mask.any():
                    parts[k].append(batch.filter(pa.array(mask)))
        fragment_train.append(in_train)
    frames = {}
    for k in (1, 2):
        if parts[k]:
            frames[k] = pa.Table.from_batches(parts[k]).to_pandas()
        else:
            frames[k] = table.sample.iloc[:0][columns].reset_index(drop=True)
        frames[k] = frames[k][columns]
    return frames, {
        "fragment_train": fragment_train,
        "no_target": no_target,
        "validation": totals[1],
        "test": totals[2],
    }

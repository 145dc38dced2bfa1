"""The experiment store: an SQLite index (stdlib ``sqlite3``, WAL) over the run folders.

The run folder stays the source of truth (``report.json``, ``manifest.json`` with the pipeline as it
ran, ``curves.json`` and the user's ``annotations.json``); a lost or damaged index is rebuilt from the folders
with :meth:`ExperimentStore.reindex`. WAL lets the app read while a CLI sweep writes, and a process killed
mid-write leaves the database as it was before that transaction. ``PRAGMA user_version`` holds the schema
version; :data:`MIGRATIONS` brings an older file forward in one transaction.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import UserError
from workbench.experiments.rows import (  # noqa: F401 - the store's public helpers live there
    ANNOTATIONS,
    build_row,
    flatten_metrics,
    flatten_params,
    pipeline_hash,
    row_from_folder,
)

FILE_NAME = "experiments.sqlite"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_MS = 2000
_LOWER_IS_BETTER = ("loss", "mae", "rmse", "mape", "error", "seconds")

_SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    pipeline_name TEXT NOT NULL DEFAULT '',
    pipeline_file TEXT,
    pipeline_hash TEXT NOT NULL DEFAULT '',
    pipeline_json TEXT NOT NULL DEFAULT '{}',
    params TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    curves TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT '',
    finished_at REAL,
    duration REAL,
    device TEXT NOT NULL DEFAULT '',
    seed INTEGER,
    data_fingerprint TEXT NOT NULL DEFAULT '',
    bundle_path TEXT,
    run_dir TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_pipeline ON runs (pipeline_name);
CREATE INDEX runs_finished ON runs (finished_at);
"""

_V1_TO_V2 = """
ALTER TABLE runs ADD COLUMN sweep_id TEXT;
ALTER TABLE runs ADD COLUMN trial INTEGER;
ALTER TABLE runs ADD COLUMN trial_state TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_sweep ON runs (sweep_id);
"""

# user_version N -> SQL turning a version-N database into version N+1 (0: a new, empty file).
MIGRATIONS: dict[int, str] = {0: _SCHEMA_V1, 1: _V1_TO_V2}

_LIST_COLUMNS = (
    "run_id, name, pipeline_name, pipeline_file, pipeline_hash, params, metrics, status, finished_at, "
    "duration, device, seed, data_fingerprint, bundle_path, run_dir, note, tags, sweep_id, trial, trial_state"
)


def default_path() -> Path:
    return paths.user_data_dir() / FILE_NAME


def metric_direction(name: str) -> str:
    """'minimize' for losses and errors, 'maximize' for scores (accuracy, R², AUC …)."""
    return "minimize" if any(word in name.lower() for word in _LOWER_IS_BETTER) else "maximize"


@dataclass
class RunRecord:
    """One row of the index (the pipeline JSON and curves are loaded on demand)."""

    run_id: str
    name: str = ""
    pipeline_name: str = ""
    pipeline_file: str | None = None
    pipeline_hash: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = ""
    finished_at: float | None = None
    duration: float | None = None
    device: str = ""
    seed: int | None = None
    data_fingerprint: str = ""
    bundle_path: str | None = None
    run_dir: str = ""
    note: str = ""
    tags: list[str] = field(default_factory=list)
    sweep_id: str | None = None
    trial: int | None = None
    trial_state: str = ""

    @property
    def title(self) -> str:
        return self.name or self.run_id

    @property
    def started_at(self) -> float | None:
        if self.finished_at is None:
            return None
        return self.finished_at - (self.duration or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# --------------------------------------------------------------------------- the store


class ExperimentStore:
    """Open, migrate and query the index. One object per thread; cheap to open (one file, no server)."""

    def __init__(
        self, path: str | Path | None = None, timeout_ms: int = BUSY_TIMEOUT_MS, shared: bool = False
    ) -> None:
        self.path = Path(path) if path is not None else default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                str(self.path), timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=not shared
            )
            self.db.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise UserError(
                f"run history {self.path}: {exc}; move the file aside and run 'workbench runs reindex' "
                "to rebuild it from the run folders"
            ) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ExperimentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait and then find it done
        try:
            version = self.version
            if version > SCHEMA_VERSION:
                raise UserError(
                    f"run history {self.path} was written by a newer Model Workbench (schema {version}); "
                    "update the app, or move the file aside and run 'workbench runs reindex'"
                )
            while version < SCHEMA_VERSION:
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                version += 1
            self.db.execute(f"PRAGMA user_version = {version}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -- writing
    def upsert(self, row: Mapping[str, Any]) -> None:
        names = list(row)
        self.db.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )

    def update(
        self,
        run_id: str,
        *,
        name: str | None = None,
        note: str | None = None,
        tags: Iterable[str] | None = None,
        trial_state: str | None = None,
        durable: bool = True,
    ) -> RunRecord:
        """Change the user's fields; they are also written to the run folder so a reindex keeps them
        (``durable=False``: replaced atomically but not fsynced — a sweep's trial states, ~15 ms less each)."""
        record = self.get(run_id)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name.strip()
        if note is not None:
            changes["note"] = note
        if tags is not None:
            changes["tags"] = sorted({t.strip() for t in tags if t.strip()})
        if trial_state is not None:
            changes["trial_state"] = trial_state
        if not changes:
            return record
        for key, value in changes.items():
            setattr(record, key, value)
        self.db.execute(
            f"UPDATE runs SET {', '.join(f'{k} = ?' for k in changes)} WHERE run_id = ?",
            [json.dumps(v) if k == "tags" else v for k, v in changes.items()] + [record.run_id],
        )
        folder = Path(record.run_dir) if record.run_dir else None
        if folder is not None and folder.is_dir():
            from workbench.files import atomic_write_text

            kept = {"name": record.name, "note": record.note, "tags": record.tags}
            if record.trial_state:
                kept["trial_state"] = record.trial_state
            text = json.dumps(kept, indent=2, ensure_ascii=False)
            with contextlib.suppress(OSError):  # the index has it; a read-only folder loses it on reindex
                if durable:
                    atomic_write_text(folder / ANNOTATIONS, text)
                else:
                    temporary = folder / f".{ANNOTATIONS}.tmp"
                    temporary.write_text(text, encoding="utf-8")
                    os.replace(temporary, folder / ANNOTATIONS)
        return record

    def delete(self, run_id: str, remove_folder: bool = True) -> RunRecord:
        """Forget a run and delete its folder — only a folder directly under the runs folder, named as the run."""
        record = self.get(run_id)
        folder = Path(record.run_dir) if record.run_dir else None
        if remove_folder and folder is not None and folder.exists():
            if folder.resolve().parent != paths.runs_dir().resolve() or folder.name != record.run_id:
                raise UserError(
                    f"run {record.run_id}: its folder {folder} is not a run folder under "
                    f"{paths.runs_dir()}; not deleting it (delete it yourself, then 'workbench runs reindex')"
                )
            shutil.rmtree(folder)
        self.db.execute("DELETE FROM runs WHERE run_id = ?", (record.run_id,))
        return record

    def reindex(
        self, root: Path | None = None, registry: Any = None, on_skip: Callable[[str], None] | None = None
    ) -> tuple[int, int]:
        """Rebuild the index from the run folders: (runs indexed, rows dropped whose folder is gone)."""
        root = root or paths.runs_dir()
        if registry is None:
            from workbench.graph import default_registry

            registry = default_registry()
        rows = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if not (folder / "report.json").exists():
                continue
            try:
                rows.append(row_from_folder(folder, registry))
            except (OSError, ValueError) as exc:
                if on_skip is not None:
                    on_skip(f"{folder}: skipped ({exc})")
        present = {row["run_id"] for row in rows}
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                self.upsert(row)
            stale = [r for (r, d) in self.db.execute("SELECT run_id, run_dir FROM runs") if r not in present]
            stale = [r for r in stale if not self._folder_exists(r)]
            self.db.executemany("DELETE FROM runs WHERE run_id = ?", [(r,) for r in stale])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(rows), len(stale)

    def _folder_exists(self, run_id: str) -> bool:
        found = self.db.execute("SELECT run_dir FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return bool(found and found[0] and (Path(found[0]) / "report.json").exists())

    # -- reading
    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def list(
        self,
        pipeline: str | None = None,
        sweep: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first (or best first by ``sort``, a metric; runs without it last)."""
        where, args = [], []
        if pipeline:
            where.append("(pipeline_name = ? OR pipeline_file = ? OR pipeline_file LIKE ?)")
            args += [pipeline, pipeline, f"%{Path(pipeline).name}"]
        if sweep:
            where.append("sweep_id = ?")
            args.append(sweep)
        query = f"SELECT {_LIST_COLUMNS} FROM runs"
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY finished_at DESC, run_id DESC"
        records = [_record(row) for row in self.db.execute(query, args)]
        if sort:
            records = sort_runs(records, sort)
        return records[:limit] if limit else records

    def get(self, run_id: str) -> RunRecord:
        """A run by id, or by a unique start of its id; UserError naming the choices otherwise."""
        rows = self.db.execute(f"SELECT {_LIST_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchall()
        if not rows:
            pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            rows = self.db.execute(
                f"SELECT {_LIST_COLUMNS} FROM runs WHERE run_id LIKE ? ESCAPE '\\' LIMIT 6", (pattern,)
            ).fetchall()
        if len(rows) == 1:
            return _record(rows[0])
        if not rows:
            raise UserError(f"no run {run_id!r} in the run history; 'workbench runs list' shows the runs")
        choices = ", ".join(r[0] for r in rows[:5])
        raise UserError(f"run {run_id!r} is ambiguous ({choices} …); give more of the id")

    def curves(self, run_id: str) -> dict[str, builtins.list[dict[str, Any]]]:  # ``list`` is a method here
        row = self.db.execute("SELECT curves FROM runs WHERE run_id = ?", (self.get(run_id).run_id,))
        return json.loads(row.fetchone()[0] or "{}")

    def pipeline_json(self, run_id: str) -> dict[str, Any]:
        row = self.db.execute("SELECT pipeline_json FROM runs WHERE run_id = ?", (self.get(run_id).run_id,))
        return json.loads(row.fetchone()[0] or "{}")

    def compare(self, run_ids: Iterable[str]) -> dict[str, Any]:
        """Parameters (all, and the keys whose values differ) and metrics of runs side by side."""
        records = [self.get(r) for r in run_ids]
        return compare_records(records)


def compare_records(records: list[RunRecord]) -> dict[str, Any]:
    keys = sorted({k for r in records for k in r.params})
    params = {k: [r.params.get(k) for r in records] for k in keys}
    changed = [k for k, values in params.items() if len({json.dumps(v, sort_keys=True) for v in values}) > 1]
    names = sorted({k for r in records for k in r.metrics})
    return {
        "runs": [r.run_id for r in records],
        "params": params,
        "changed": changed,
        "metrics": {n: [r.metrics.get(n) for r in records] for n in names},
    }


def differing_params(records: Iterable[RunRecord]) -> list[str]:
    """Parameter keys whose value is not the same in every listed run (the Runs table's columns)."""
    seen: dict[str, str] = {}
    differ: set[str] = set()
    records = list(records)
    for record in records:
        for key, value in record.params.items():
            text = json.dumps(value, sort_keys=True, default=str)
            if seen.setdefault(key, text) != text:
                differ.add(key)
    for key in seen:  # a key some runs lack differs too
        if key not in differ and any(key not in r.params for r in records):
            differ.add(key)
    return sorted(differ)


def sort_runs(records: list[RunRecord], metric: str) -> list[RunRecord]:
    """Best first by ``metric`` (direction from its name); runs without the metric keep their order, last."""
    sign = 1.0 if metric_direction(metric) == "minimize" else -1.0
    having = [r for r in records if metric in r.metrics]
    missing = [r for r in records if metric not in r.metrics]
    return sorted(having, key=lambda r: sign * r.metrics[metric]) + missing


def _record(row: tuple[Any, ...]) -> RunRecord:
    (run_id, name, pname, pfile, phash, params, metrics, status, finished, duration, device, seed, data,
     bundle, run_dir, note, tags, sweep_id, trial, trial_state) = row  # fmt: skip
    return RunRecord(
        run_id, name, pname, pfile, phash, json.loads(params or "{}"), json.loads(metrics or "{}"), status,
        finished, duration, device, seed, data, bundle, run_dir, note, json.loads(tags or "[]"), sweep_id,
        trial, trial_state or "",
    )  # fmt: skip


def record_run(
    run_dir: Path,
    report: Mapping[str, Any],
    manifest: Mapping[str, Any],
    pipeline_json: Mapping[str, Any] | None,
    curves: Mapping[str, Any] | None = None,
    registry: Any = None,
    store_path: Path | None = None,
) -> float:
    """Add a finished run to the index; returns the seconds it took (~1 ms; the budget is 20 ms).

    The connection is kept for the process: opening one, writing and closing cost 10-30 ms here, almost all
    of it SQLite's checkpoint when the last connection closes; a kept connection writes in well under 1 ms.
    """
    began = time.perf_counter()
    row = build_row(run_dir, report, manifest, pipeline_json, curves, None, registry)
    with _kept(store_path) as store:
        store.upsert(row)
    return time.perf_counter() - began


def annotate_trial(run_id: str, state: str, store_path: Path | None = None) -> None:
    """Mark a sweep trial's run (complete, pruned …) in the index and its folder."""
    with _kept(store_path) as store:
        store.update(run_id, trial_state=state, durable=False)


_RECORDERS: dict[Path, tuple[tuple[int, int], ExperimentStore]] = {}
_RECORDER_LOCK = threading.Lock()


@contextlib.contextmanager
def _kept(store_path: Path | None) -> Iterator[ExperimentStore]:
    """The process's kept connection to the store at ``store_path`` (reopened if the file was replaced)."""
    path = Path(store_path) if store_path is not None else default_path()
    with _RECORDER_LOCK:
        try:
            stat = path.stat()
            identity: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            identity = None
        kept = _RECORDERS.get(path)
        if kept is None or identity is None or kept[0] != identity:  # new, or the file was replaced
            if kept is not None:
                kept[1].close()
            store = ExperimentStore(path, shared=True)
            stat = path.stat()
            kept = _RECORDERS[path] = ((stat.st_dev, stat.st_ino), store)
        try:
            yield kept[1]
        except sqlite3.Error:
            _RECORDERS.pop(path, None)
            kept[1].close()
            raise

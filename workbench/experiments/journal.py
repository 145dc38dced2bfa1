"""The sweep folder's files on disk: Optuna's journal (written lean, repaired after a crash) and the OS lock
that lets one process at a time run a sweep."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.errors import UserError

JOURNAL, LOCK = "journal.log", "sweep.lock"


@contextlib.contextmanager
def locked(folder: Path, sweep_id: str) -> Iterator[None]:
    """One process at a time per sweep; the OS drops the lock when its holder dies (even by kill -9)."""
    handle = open(folder / LOCK, "a+")  # noqa: SIM115 - held for the whole with-block
    try:
        try:
            _lock(handle)
        except OSError:
            raise UserError(
                f"sweep {sweep_id} is running in another process; wait for it or stop it first"
            ) from None
        yield
    finally:
        handle.close()


def repair(folder: Path) -> None:
    """Under our lock nobody else writes: drop Optuna's stale lock and a torn last line (kept aside)."""
    journal = folder / JOURNAL
    stale = Path(str(journal) + ".lock")
    if stale.is_symlink() or stale.exists():
        stale.unlink()
    if not journal.exists() or journal.stat().st_size == 0:
        return
    data = journal.read_bytes()
    if data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    (folder / f"{JOURNAL}.torn-{int(time.time())}").write_bytes(data[keep:])
    with open(journal, "r+b") as handle:
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def close_stale(study: Any, optuna: Any) -> None:
    """A trial still 'running' in the journal belonged to a process that died: mark it interrupted."""
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)


def backend(path: Path) -> Any:
    """Optuna's journal file, synced to disk once per finished trial instead of after every line.

    Its file backend fsyncs every append (~4 ms here), takes a symlink lock file around it (~1.5 ms on this
    disk) and reads the file back after every write: with a report per epoch that was 10-15 % of a short
    trial's training. The sweep's own OS lock keeps every other writer out, so lines are appended without
    Optuna's lock and the writer replays its own lines from memory (readers still read the file).
    A killed process loses nothing (the lines are in the OS's cache); a power cut can lose the lines of the
    last trial, and a torn last line is set aside when the sweep reopens.
    """
    from optuna.storages.journal import JournalFileBackend

    finished = 6  # JournalOperation.SET_TRIAL_STATE_VALUES: a trial's end, or its start

    class Backend(JournalFileBackend):
        handle: Any = None
        logs: list[dict[str, Any]] | None = None  # what this process wrote and read, once it writes

        def read_logs(self, log_number_from: int) -> Any:
            if self.logs is None:  # a reader (the app's trials table): the file as it is now
                return super().read_logs(log_number_from)
            return iter(self.logs[log_number_from:])  # the only writer: the file holds nothing newer

        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            if self.logs is None:
                self.logs = list(super().read_logs(0))
            lines = [json.dumps(log, separators=(",", ":")) for log in logs]
            if self.handle is None:
                self.handle = open(self._file_path, "ab")  # noqa: SIM115 - kept while the study is used
            self.handle.write(("\n".join(lines) + "\n").encode("utf-8"))
            self.handle.flush()
            self.logs.extend(json.loads(line) for line in lines)  # exactly what a reader gets back
            if any(log.get("op_code") == finished for log in logs):
                os.fsync(self.handle.fileno())

        def __del__(self) -> None:
            if self.handle is not None:
                self.handle.close()

    return Backend(str(path))


def _lock(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]  # Windows only
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

"""``workbench run PIPELINE --nproc N`` and the rank-aware run behind ``torchrun … -m workbench run``.

The launcher is ``torch.distributed.launcher.api.elastic_launch`` — the same agent ``torchrun`` runs — called
from our own process, so the installed app needs no separate ``torchrun`` binary. It starts N copies of
``python -m workbench run …`` on this machine with a local rendezvous; each copy finds its rank in the
environment exactly as under ``torchrun`` or ``srun torchrun``.

Stopping: the launcher passes Ctrl-C on to every rank (the agent starts each in a session of its own). A
rank asks for a cooperative stop (the ranks agree on it at the next agreement point, rank 0 writes its
report); a second Ctrl-C aborts. When a rank fails, the agent stops the others (SIGTERM, which a rank treats
as a stop request) and the launcher prints one line naming the rank.

A face (it parses the command's arguments, installs signal handlers and prints to the terminal), so it sits
beside ``workbench.cli``; the ranks' library is ``workbench.distributed``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench import distributed
from workbench.distributed import PEER_EXIT
from workbench.errors import UserError

QUIET_RANK0_CODES = (1, 2, 130)  # rank 0 already said why (a failed node, a usage error, a stop)


def run_command(args: argparse.Namespace, run_local: Callable[[argparse.Namespace], int]) -> int:
    """``workbench run`` when several processes are involved: launch them, or be one of them."""
    nproc = int(getattr(args, "nproc", 0) or 0)
    if distributed.launched():
        if nproc > 1:
            raise UserError(
                f"--nproc {nproc}: this process is already one of {os.environ.get('WORLD_SIZE')} started by "
                "torchrun; leave --nproc out"
            )
        return run_rank(args, run_local)
    if nproc > 1:
        return launch(args, nproc)
    return run_local(args)


def run_rank(args: argparse.Namespace, run_local: Callable[[argparse.Namespace], int]) -> int:
    """One rank of a distributed run: rank 0 runs the pipeline, the others serve its training jobs."""
    from workbench.distributed.world import init_from_env
    from workbench.execution.context import CancelToken

    rank = os.environ.get("RANK", "?")
    try:
        world = init_from_env(args.device, getattr(args, "backend", "auto"))
    except UserError as exc:
        print(f"error: process {rank}: {exc}", file=sys.stderr)
        return 1
    distributed.set_current(world)
    try:
        if not world.is_main:
            from workbench.distributed.jobs import serve

            token = CancelToken()
            with _worker_signals(token):
                return serve(world, token)
        with _main_signals(world):
            return run_local(args)
    finally:
        distributed.set_current(None)
        world.close()


class _worker_signals:
    """Ctrl-C (or the agent's SIGTERM) asks for a stop, agreed with the others; a second Ctrl-C aborts."""

    def __init__(self, token: Any) -> None:
        self.token = token
        self.presses = 0
        self.previous: dict[int, Any] = {}

    def _on_int(self, signum: int, frame: Any) -> None:
        self.presses += 1
        if self.presses >= 2:
            os._exit(130)
        self.token.cancel()

    def _on_term(self, signum: int, frame: Any) -> None:
        self.token.cancel()

    def __enter__(self) -> None:
        for sig, handler in ((signal.SIGINT, self._on_int), (signal.SIGTERM, self._on_term)):
            try:
                self.previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread
                pass

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class _main_signals:
    """Rank 0: the CLI handles Ctrl-C as usual; SIGTERM (the agent stopping every rank because one failed,
    or a scheduler ending the job) asks the run to stop, so the report still gets written."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.previous: Any = None

    def _on_term(self, signum: int, frame: Any) -> None:
        if self.world.token is not None:
            self.world.token.cancel()
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> None:
        try:
            self.previous = signal.signal(signal.SIGTERM, self._on_term)
        except ValueError:
            self.previous = None

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:  # the run is over: a late SIGTERM must not turn exit 0/1 into "killed"
            signal.signal(signal.SIGTERM, _after_the_run)


def _after_the_run(signum: int, frame: Any) -> None:
    """SIGTERM once rank 0's run has ended (the agent stopping everyone): it is exiting anyway."""


def rank_argv(args: argparse.Namespace) -> list[str]:
    """The ``workbench run`` arguments every rank gets (absolute paths: the ranks may start elsewhere)."""
    argv = ["run", str(Path(args.pipeline).resolve())]
    for item in getattr(args, "overrides", []) or []:
        argv += ["--set", item]
    argv += ["--device", str(getattr(args, "device", "auto"))]
    for target in getattr(args, "target", []) or []:
        argv += ["--target", target]
    if getattr(args, "report", None):
        argv += ["--report", str(Path(args.report).resolve())]
    if getattr(args, "quiet", False):
        argv.append("--quiet")
    backend = getattr(args, "backend", "auto")
    if backend and backend != "auto":
        argv += ["--backend", backend]
    return argv


def _check_before_launch(args: argparse.Namespace, nproc: int) -> None:
    """Problems one process can see (a missing file, a bad --set, too few GPUs) before N start."""
    from workbench.cli import apply_overrides
    from workbench.graph import Pipeline

    pipeline = Pipeline.load(args.pipeline)
    apply_overrides(pipeline, getattr(args, "overrides", []) or [])
    device = str(getattr(args, "device", "auto")).lower()
    if device == "cpu" or getattr(args, "backend", "auto") == "gloo":
        return
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and nproc > gpus:
        raise UserError(
            f"--nproc {nproc}: this machine has {gpus} GPU(s); start at most {gpus} processes (one per GPU), "
            "or add --device cpu for CPU processes"
        )
    if device.startswith("cuda") and not gpus:
        raise UserError(f"--device {device}: no CUDA GPU here; use --device cpu (gloo) for CPU processes")


def launch(args: argparse.Namespace, nproc: int) -> int:
    """Start ``nproc`` ranks on this machine and wait for them; returns the run's exit code."""
    _check_before_launch(args, nproc)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    root = str(Path(__file__).resolve().parents[1])  # the ranks import this same workbench
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"workbench-{uuid.uuid4().hex[:12]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.1,
        signals_to_handle="SIGTERM,SIGHUP,SIGQUIT",  # not SIGINT: the ranks stop themselves cleanly on it
    )
    previous = signal.signal(signal.SIGINT, _forward)
    try:
        elastic_launch(config, sys.executable)("-m", "workbench", *rank_argv(args))
    except ChildFailedError as exc:
        return explain_failure(exc.failures)
    except SignalException as exc:
        print(f"stopped: the launcher got {exc.sigval.name}; every process was stopped", file=sys.stderr)
        return 128 + int(exc.sigval)
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0


def _forward(signum: int, frame: Any) -> None:
    """The launcher's Ctrl-C goes on to the ranks: the agent starts each in its own session, so the
    terminal's interrupt reaches only the launcher. A rank stops cooperatively on the first, aborts on the
    second."""
    for pid in _children(os.getpid()):
        try:
            os.kill(pid, signal.SIGINT)
        except OSError:
            pass


def _children(parent: int) -> list[int]:
    """Process ids whose parent is ``parent`` (from /proc; ``pgrep -P`` where there is none)."""
    found = []
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()  # after "pid (name) ": state, ppid, ...
            if len(fields) > 1 and fields[1] == str(parent):
                found.append(int(entry.name))
        return found
    import subprocess

    try:
        out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(line) for line in out.split() if line.isdigit()]


def explain_failure(failures: dict[int, Any]) -> int:
    """The exit code of a run where some process ended non-zero, and one line naming a process that failed
    on its own (rank 0's ordinary failures and stops were already reported by rank 0)."""
    main = failures.get(0)
    main_code = getattr(main, "exitcode", 0) if main is not None else 0
    blamed = []
    for rank, failure in failures.items():
        code = failure.exitcode
        if code == PEER_EXIT or (rank == 0 and code in QUIET_RANK0_CODES):
            continue
        if code == 130 and main_code == 130:
            continue  # everyone was stopped by Ctrl-C
        if code == -signal.SIGTERM:
            continue  # the agent stopped it because another failed
        blamed.append((failure.timestamp, rank, failure))
    if not blamed:
        return main_code if main_code in QUIET_RANK0_CODES else 1
    _, rank, failure = min(blamed, key=lambda item: (item[0], item[1] == 0, item[1]))  # seconds: ties
    print(
        f"error: process {rank} failed ({_how(failure.exitcode)}); every process was stopped", file=sys.stderr
    )
    return 1


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"

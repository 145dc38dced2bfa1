"""Hyperparameter sweeps: one Optuna study per sweep, kept as a journal file in the sweep's folder.

Each trial is an ordinary run (recorded in the run history with the sweep id and trial number) of the
pipeline as it was when the sweep started, with the trial's values set. The training node's per-epoch
figures reach the study through the run's reporter (``trial.report``/``should_prune``, ask/tell), so the
MedianPruner can stop a poor trial after a few epochs by cancelling that trial's run. Journal storage, not
SQLite: ~4 ms per report instead of ~52, and no lock-ups with several writers (docs/performance.md).

A sweep holds an OS lock on its folder while it runs; a sweep killed outright (kill -9, power cut) leaves a
journal that reopens: on the next start its half-written last line is set aside, Optuna's stale file lock
is removed and the trial that was running is marked interrupted, then the sweep goes on where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import events as E
from workbench import paths
from workbench.errors import UserError
from workbench.execution.context import CancelToken
from workbench.experiments import journal
from workbench.experiments.journal import JOURNAL
from workbench.experiments.space import SearchParam, changes, decode_params
from workbench.experiments.store import annotate_trial, flatten_metrics, metric_direction

CONFIG = "sweep.json"
SAMPLERS = ("tpe", "random", "grid")
DEFAULT_METRIC = "best_val_loss"  # every supervised run with a validation split has it
MAX_FAILURES_IN_A_ROW = 3
_EPOCH_NAME = {"best_val_loss": "val_loss", "final_val_loss": "val_loss"}


def sweeps_dir() -> Path:
    path = paths.user_data_dir() / "sweeps"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class TrialInfo:
    number: int
    state: str  # complete | pruned | failed | interrupted | running
    value: float | None
    params: dict[str, Any]
    run_id: str = ""
    epochs: int = 0
    seconds: float = 0.0
    message: str = ""
    partial: float | None = None  # a pruned trial's best objective value before it was stopped, if known

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SweepResult:
    sweep_id: str
    status: str  # done | stopped | timeout | failed
    trials: list[TrialInfo]
    best: TrialInfo | None
    message: str = ""
    best_run: Any = None  # the RunResult of the best trial run in this call (the app shows it)
    overhead_s: list[float] = field(default_factory=list)  # per trial: time in the sweep's own machinery
    train_s: list[float] = field(default_factory=list)  # per trial: time in the training node


class _TrialToken(CancelToken):
    """A trial's own stop (pruning) that also follows the sweep's stop and pause."""

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self.parent = parent

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set() or self.parent.cancelled

    @property
    def paused(self) -> bool:
        return self.parent.paused

    def wait_if_paused(self, timeout: float | None = None) -> None:
        self.parent.wait_if_paused(timeout)


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class Sweep:
    """A sweep folder: ``sweep.json`` (what to search, the pipeline as it was), ``journal.log`` (the study)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            self.config = json.loads((self.folder / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"sweep {self.folder}: cannot read {CONFIG} ({exc})") from None
        self.space = [SearchParam.from_json(p) for p in self.config["params"]]

    @property
    def sweep_id(self) -> str:
        return self.folder.name

    @property
    def metric(self) -> str:
        return str(self.config["metric"])

    @property
    def direction(self) -> str:
        return str(self.config["direction"])

    # -- creating and finding
    @classmethod
    def create(
        cls,
        pipeline: Any,
        space: Sequence[SearchParam],
        metric: str = DEFAULT_METRIC,
        direction: str = "auto",
        sampler: str = "tpe",
        trials: int = 20,
        timeout_s: float | None = None,
        seed: int = 0,
        prune: bool = True,
        device: str = "auto",
        root: Path | None = None,
        prune_startup: int = 5,
        prune_warmup: int = 2,
    ) -> Sweep:
        """A new sweep folder. Pruning starts after ``prune_startup`` finished trials and never stops a
        trial within its first ``prune_warmup`` epochs."""
        if not space:
            raise UserError("a sweep needs at least one parameter to search (--param NODE.PARAM=...)")
        if sampler not in SAMPLERS:
            raise UserError(f"sampler {sampler!r}: use one of {', '.join(SAMPLERS)}")
        if trials < 1:
            raise UserError("--trials: at least 1")
        keys = [p.key for p in space]
        if len(set(keys)) != len(keys):
            raise UserError(f"--param: {sorted(k for k in keys if keys.count(k) > 1)[0]} is given twice")
        if sampler == "grid":
            for param in space:
                param.grid_values()  # a float range is refused before anything runs
        direction = metric_direction(metric) if direction == "auto" else direction
        if direction not in ("minimize", "maximize"):
            raise UserError(f"direction {direction!r}: use minimize, maximize or auto")
        name = pipeline.path.name.split(".")[0] if pipeline.path else "untitled"
        name = re.sub(r"[^A-Za-z0-9_\-]+", "_", name)[:40] or "sweep"
        root = root or sweeps_dir()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder, suffix = root / f"{stamp}-{name}", 2
        while folder.exists():
            folder, suffix = root / f"{stamp}-{name}-{suffix}", suffix + 1
        folder.mkdir(parents=True)
        config = {
            "format": 1,
            "pipeline_file": str(pipeline.path) if pipeline.path else None,
            "pipeline": pipeline.to_json(),
            "params": [p.to_json() for p in space],
            "metric": metric,
            "direction": direction,
            "sampler": sampler,
            "trials": int(trials),
            "timeout_s": timeout_s,
            "seed": int(seed),
            "prune": bool(prune),
            "prune_startup": int(prune_startup),
            "prune_warmup": int(prune_warmup),
            "device": device,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        from workbench.files import atomic_write_text

        atomic_write_text(folder / CONFIG, json.dumps(config, indent=2, ensure_ascii=False))
        return cls(folder)

    @classmethod
    def open(cls, ref: str | Path) -> Sweep:
        """A sweep by folder, id, or unique start of its id."""
        path = Path(ref)
        if (path / CONFIG).exists():
            return cls(path)
        root = paths.user_data_dir() / "sweeps"  # looking up creates nothing
        candidates = root.iterdir() if root.is_dir() else []
        found = [p for p in candidates if p.name.startswith(str(ref)) and (p / CONFIG).exists()]
        exact = [p for p in found if p.name == str(ref)]
        if len(exact or found) == 1:
            return cls((exact or found)[0])
        if not found:
            raise UserError(f"no sweep {str(ref)!r} in {root}")
        raise UserError(f"sweep {str(ref)!r} is ambiguous ({', '.join(p.name for p in found[:5])})")

    # -- the study
    def _storage(self) -> Any:
        return _optuna().storages.JournalStorage(journal.backend(self.folder / JOURNAL))

    def study(self, seed_offset: int = 0) -> Any:
        optuna = _optuna()
        seed = int(self.config["seed"]) + seed_offset  # a continued sweep does not replay its first draws
        kind = self.config["sampler"]
        if kind in ("grid", "random"):  # grid points are enqueued one by one (see _next_grid_point)
            sampler = optuna.samplers.RandomSampler(seed=seed)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed)
        if self.config["prune"]:
            pruner = optuna.pruners.MedianPruner(
                n_startup_trials=int(self.config.get("prune_startup", 5)),
                n_warmup_steps=int(self.config.get("prune_warmup", 2)),
            )
        else:
            pruner = optuna.pruners.NopPruner()
        return optuna.create_study(
            study_name=self.sweep_id,
            storage=self._storage(),
            sampler=sampler,
            pruner=pruner,
            direction=self.direction,
            load_if_exists=True,
        )

    def trials(self) -> list[TrialInfo]:
        if not (self.folder / JOURNAL).exists():
            return []
        return [_info(t, self.direction) for t in self.study().trials]

    def best(self) -> TrialInfo | None:
        done = [(t.value, t) for t in self.trials() if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = min if self.direction == "minimize" else max
        return pick(done, key=lambda pair: pair[0])[1]

    def importances(self) -> dict[str, float]:
        """fANOVA importance of each searched parameter ({} until a few trials have completed)."""
        optuna = _optuna()
        study = self.study()
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(complete) < 3:
            return {}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 'importances will be equal' on tiny studies: not news
                return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}

    def grid_size(self) -> int | None:
        if self.config["sampler"] != "grid":
            return None
        size = 1
        for param in self.space:
            size *= len(param.grid_values())
        return size

    # -- running
    def run(
        self,
        reporter: E.Reporter = E.null_reporter,
        token: CancelToken | None = None,
        on_trial: Callable[[TrialInfo], None] | None = None,
        executor: Any = None,
        registry: Any = None,
        trials: int | None = None,
        timeout_s: float | None = None,
    ) -> SweepResult:
        """Run trials until the budget (trials counted over the whole sweep, and minutes from now) is spent,
        the user stops, or several trials in a row fail. Safe to call again to continue."""
        from workbench.execution.executor import Executor
        from workbench.graph import Pipeline

        token = token or CancelToken()
        budget = int(trials if trials is not None else self.config["trials"])
        timeout = timeout_s if timeout_s is not None else self.config.get("timeout_s")
        executor = executor or Executor(registry)
        base = Pipeline.from_json(self.config["pipeline"], registry, source=str(self.folder / CONFIG))
        base.path = Path(self.config["pipeline_file"]) if self.config.get("pipeline_file") else None
        result = SweepResult(self.sweep_id, "done", [], None)
        began = time.monotonic()
        failures = 0
        with journal.locked(self.folder, self.sweep_id):
            journal.repair(self.folder)
            optuna = _optuna()
            study = self.study(seed_offset=len(self._existing()))
            journal.close_stale(study, optuna)
            grid = self.grid_size()
            limit = min(budget, grid) if grid else budget
            while True:
                counted = sum(1 for t in study.get_trials(deepcopy=False) if _counts(t, optuna))
                if counted >= limit:
                    break
                if token.cancelled:
                    result.status = "stopped"
                    break
                if timeout and time.monotonic() - began >= timeout:
                    result.status = "timeout"
                    break
                info, run = self._trial(study, base, executor, reporter, token, result)
                result.trials.append(info)
                if on_trial is not None:
                    on_trial(info)
                if info.state == "complete" and run is not None and info.value is not None:
                    best = result.best
                    better = (
                        best is None
                        or best.value is None
                        or (
                            info.value < best.value
                            if self.direction == "minimize"
                            else info.value > best.value
                        )
                    )
                    if better:
                        result.best, result.best_run = info, run
                failures = failures + 1 if info.state == "failed" else 0
                if failures >= MAX_FAILURES_IN_A_ROW:
                    result.status, result.message = (
                        "failed",
                        f"{failures} trials in a row failed: {info.message}",
                    )
                    break
                if info.state == "interrupted":
                    result.status = "stopped"
                    break
        result.best = self.best()
        return result

    def _trial(
        self,
        study: Any,
        base: Any,
        executor: Any,
        reporter: E.Reporter,
        token: CancelToken,
        result: SweepResult,
    ) -> tuple[TrialInfo, Any]:
        from workbench.graph import Pipeline

        optuna = _optuna()
        t0 = time.perf_counter()
        if self.config["sampler"] == "grid":
            point = self._next_grid_point(study)
            if point is not None:
                study.enqueue_trial(point)
        trial = study.ask()
        values = {p.key: p.suggest(trial) for p in self.space}
        pipeline = Pipeline.from_json(self.config["pipeline"], base.registry, source="<sweep trial>")
        pipeline.path = base.path
        for (node_id, name), value in changes(pipeline, self.space, values).items():
            pipeline.set_param(node_id, name, value)
        trial_token = _TrialToken(token)
        hook = _PruneHook(trial, self.metric, self.direction, trial_token, reporter)
        if not self.config["prune"]:
            hook.trial = None  # nothing to decide: no per-epoch journal lines at all
        else:
            complete = (optuna.trial.TrialState.COMPLETE,)
            finished = len(study.get_trials(deepcopy=False, states=complete))
            hook.ask_from = int(self.config.get("prune_warmup", 2))
            if finished < int(self.config.get("prune_startup", 5)):
                hook.ask_from = 1 << 30  # MedianPruner never prunes before its startup trials: report only
        reporter(E.LogRecord("info", f"sweep {self.sweep_id}: trial {trial.number} " + _show(values)))
        overhead = time.perf_counter() - t0
        # Deploy nodes (export, predict files) are left out: thirty trials must not overwrite the user's files.
        targets = [n.id for n in pipeline.nodes if getattr(pipeline.spec(n.id), "category", "") != "deploy"]
        try:
            run = executor.run(
                pipeline,
                targets or None,
                reporter=hook,
                token=trial_token,
                device=self.config.get("device", "auto"),
                labels={"sweep_id": self.sweep_id, "trial": trial.number},
            )
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        t1 = time.perf_counter()
        train_s = sum(r.seconds for r in run.nodes.values() if r.node_id == hook.node_id)
        epochs = len(run.curves.get(hook.node_id, []))
        metrics = flatten_metrics(run.report().get("metrics", {}))
        attrs = {
            "run_id": run.run_id,
            "epochs": epochs,
            "seconds": round(run.seconds, 3),
            "direct": hook.direct,
        }
        state, value, message = "complete", metrics.get(self.metric), ""
        if hook.pruned:
            state = "pruned"
            trial.set_user_attr("workbench", attrs)  # one journal line for all of them
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif run.status == "stopped" or token.cancelled:
            state = "interrupted"
            trial.set_user_attr("workbench", attrs | {"interrupted": True})
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        elif run.status != "ok" or value is None:
            state = "failed"
            failures = run.failures
            message = next(iter(failures.values()), "") if failures else ""
            if run.status == "ok" and value is None:
                known = ", ".join(sorted(metrics)) or "none"
                message = f"the run has no metric {self.metric!r} (it has: {known}); choose one with --metric"
            trial.set_user_attr("workbench", attrs | {"message": message})
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if run.status == "ok" and value is None:
                raise UserError(message)
        else:
            trial.set_user_attr("workbench", attrs)
            study.tell(trial, float(value))
        if run.run_dir is not None:
            with contextlib.suppress(Exception):  # the history, not the sweep itself
                annotate_trial(run.run_id, state)
        info = _info(study._storage.get_trial(trial._trial_id), self.direction)
        reporter(
            E.LogRecord("info", f"sweep {self.sweep_id}: trial {trial.number} {describe(info, self.metric)}")
        )
        result.overhead_s.append(overhead + hook.seconds + (time.perf_counter() - t1))
        result.train_s.append(train_s)
        return info, run

    def _next_grid_point(self, study: Any) -> dict[str, Any] | None:
        """The first grid point (in a seeded shuffled order) no counted trial has tried. Optuna's GridSampler
        calls ``study.stop()`` when the grid is done, which ask/tell does not allow."""
        import itertools
        import random

        optuna = _optuna()
        axes = [[(p.key, v) for v in p.grid_values()] for p in self.space]
        points = [dict(combo) for combo in itertools.product(*axes)]
        random.Random(int(self.config["seed"])).shuffle(points)
        tried = {
            json.dumps(t.params, sort_keys=True)
            for t in study.get_trials(deepcopy=False)
            if _counts(t, optuna)
        }
        return next((p for p in points if json.dumps(p, sort_keys=True) not in tried), None)

    def _existing(self) -> list[Any]:
        return self.study().trials if (self.folder / JOURNAL).exists() else []


class _PruneHook:
    """Forwards every event; the first training node's per-epoch figures go to the trial for pruning."""

    def __init__(
        self, trial: Any, metric: str, direction: str, token: _TrialToken, reporter: E.Reporter
    ) -> None:
        self.trial, self.metric, self.direction = trial, metric, direction
        self.token, self.reporter = token, reporter
        self.node_id = ""
        self.direct = False  # the per-epoch figure is the objective itself (not the validation loss)
        self.pruned = False
        self.ask_from = 0  # should_prune is asked from this epoch on (it never prunes in the warm-up epochs)
        self.seconds = 0.0

    def __call__(self, event: E.Event) -> None:
        if isinstance(event, E.MetricsLogged) and event.kind == "epoch":
            self.node_id = self.node_id or event.node_id
            if event.node_id == self.node_id and self.trial is not None and not self.pruned:
                began = time.perf_counter()
                value = intermediate(event.values, self.metric, self.direction)
                self.direct = _EPOCH_NAME.get(self.metric, self.metric) in event.values
                if value is not None:
                    self.trial.report(value, int(event.step))
                    if int(event.step) >= self.ask_from and self.trial.should_prune():
                        self.pruned = True
                        self.token.cancel()
                self.seconds += time.perf_counter() - began
        self.reporter(event)


def intermediate(values: Any, metric: str, direction: str) -> float | None:
    """The per-epoch figure the pruner compares: the objective itself when the epoch reports it, else the
    validation loss (negated when the objective is maximised, so 'better' points the same way)."""
    name = _EPOCH_NAME.get(metric, metric)
    value = values.get(name)
    if value is None and "val_loss" in values:
        loss = float(values["val_loss"])
        return loss if direction == "minimize" else -loss
    return float(value) if value is not None and value == value else None


def _attrs(trial: Any) -> dict[str, Any]:
    return {**trial.user_attrs.get("workbench", {}), **trial.user_attrs}


def _counts(trial: Any, optuna: Any) -> bool:
    """Trials that spend the budget: complete, pruned, or failed on their own (not interrupted)."""
    states = optuna.trial.TrialState
    if trial.state in (states.COMPLETE, states.PRUNED):
        return True
    return trial.state == states.FAIL and not _attrs(trial).get("interrupted")


def _info(trial: Any, direction: str) -> TrialInfo:
    attrs = _attrs(trial)
    state = trial.state.name.lower()
    if state == "fail":
        state = "interrupted" if attrs.get("interrupted") else "failed"
    partial = None
    if state == "pruned" and attrs.get("direct") and trial.intermediate_values:
        pick = min if direction == "minimize" else max
        partial = float(pick(trial.intermediate_values.values()))
    return TrialInfo(
        trial.number,
        state,
        trial.value if state == "complete" else None,
        decode_params(trial.params),
        str(attrs.get("run_id", "")),
        int(attrs.get("epochs", 0)),
        float(attrs.get("seconds", 0.0)),
        str(attrs.get("message", "")),
        partial,
    )


def _show(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def describe(info: TrialInfo, metric: str) -> str:
    """'complete: val_accuracy 0.9521 · 5 epochs · 2.1 s (train.lr=0.003)' and the like, for logs and the CLI."""
    if info.state == "complete":
        head = f"{metric} {info.value:.4g}"
    elif info.state == "pruned":
        head = "pruned" + (f" at {info.partial:.4g}" if info.partial is not None else "")
    else:
        head = info.state + (f": {info.message}" if info.message else "")
    return f"{head} · {info.epochs} epochs · {info.seconds:.1f} s ({_show(info.params)})"

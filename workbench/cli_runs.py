"""``workbench runs list|show|compare|delete|reindex|export-mlflow`` and ``workbench sweep``.

The run history and sweeps from the terminal; same store and same sweep code as the app. Output meant for
people goes to stdout as a table (``--json`` for scripts); progress and problems go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from workbench.errors import UserError
from workbench.experiments.rows import format_value

HEADLINE = ("val_accuracy", "accuracy", "val_r2", "r2", "best_val_loss", "baseline_accuracy", "baseline_r2")


def add_commands(subparsers: Any) -> None:
    """Register ``runs`` and ``sweep`` on the CLI's subparsers object."""
    runs = subparsers.add_parser("runs", help="the run history: list, show, compare, delete, reindex, export")
    sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="runs, newest first (or best first with --sort)")
    listing.add_argument("--pipeline", metavar="P", help="only runs of this pipeline (name or file)")
    listing.add_argument("--sweep", metavar="ID", help="only the trials of this sweep")
    listing.add_argument("--sort", metavar="METRIC", help="best first by this metric (e.g. val_accuracy)")
    listing.add_argument("--limit", type=int, metavar="N", help="at most N runs")
    listing.add_argument("--json", action="store_true", help="machine-readable list")
    show = sub.add_parser("show", help="one run: parameters, metrics, files")
    show.add_argument("run_id", metavar="ID")
    show.add_argument("--json", action="store_true")
    compare = sub.add_parser("compare", help="runs side by side: changed parameters and metrics")
    compare.add_argument("run_ids", nargs="+", metavar="ID")
    compare.add_argument("--all", action="store_true", help="every parameter, not only those that differ")
    compare.add_argument("--json", action="store_true")
    delete = sub.add_parser("delete", help="delete runs and their folders")
    delete.add_argument("run_ids", nargs="+", metavar="ID")
    delete.add_argument("--keep-folder", action="store_true", help="only forget the run; keep its folder")
    sub.add_parser("reindex", help="rebuild the run history from the run folders")
    export = sub.add_parser("export-mlflow", help="copy runs to an MLflow tracking URI (needs mlflow)")
    export.add_argument("uri", help="MLflow tracking URI, e.g. ./mlruns or http://server:5000")
    export.add_argument("--experiment", default="model-workbench", help="MLflow experiment name")
    export.add_argument("--run", dest="run_ids", action="append", default=[], metavar="ID", help="only these")
    runs.set_defaults(handler=cmd_runs)

    sweep = subparsers.add_parser("sweep", help="search hyperparameters of a pipeline (Optuna)")
    sweep.add_argument("pipeline", nargs="?", help="pipeline file (.json)")
    sweep.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NODE.PARAM=RANGE",
        help="LOW:HIGH, LOW:HIGH:log or A,B,C (repeatable), e.g. train.lr=1e-4:1e-1:log mlp.units=32,64,128",
    )
    sweep.add_argument("--trials", type=int, help="trials in the whole sweep (default 20)")
    sweep.add_argument("--timeout", type=float, metavar="SECONDS", help="start no trial after this long")
    sweep.add_argument("--metric", help="objective (default best_val_loss; e.g. val_accuracy, val_r2)")
    sweep.add_argument("--direction", default="auto", choices=("auto", "minimize", "maximize"))
    sweep.add_argument("--sampler", default="tpe", choices=("tpe", "random", "grid"))
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--no-prune", action="store_true", help="train every trial to the end")
    sweep.add_argument("--prune-startup", type=int, default=5, metavar="N", help="prune only after N trials")
    sweep.add_argument("--prune-warmup", type=int, default=2, metavar="E", help="never prune before epoch E")
    sweep.add_argument("--device", default="auto")
    sweep.add_argument("--continue", dest="resume", metavar="SWEEP_ID", help="go on with a stopped sweep")
    sweep.add_argument("--report", metavar="FILE.json", help="write the sweep's trials and best here")
    sweep.add_argument("--json", action="store_true", help="print the result as JSON")
    sweep.add_argument("--verbose", action="store_true", help="show every node and epoch of each trial")
    sweep.set_defaults(handler=cmd_sweep)


# --------------------------------------------------------------------------- runs


def cmd_runs(args: argparse.Namespace) -> int:
    from workbench.experiments.store import ExperimentStore

    with ExperimentStore() as store:
        action = args.runs_command
        if action == "list":
            return _list(store, args)
        if action == "show":
            return _show(store, args)
        if action == "compare":
            return _compare(store, args)
        if action == "delete":
            for run_id in args.run_ids:
                record = store.delete(run_id, remove_folder=not args.keep_folder)
                kept = " (folder kept)" if args.keep_folder else f" and its folder {record.run_dir}"
                print(f"deleted {record.run_id}{kept}")
            return 0
        if action == "reindex":
            indexed, dropped = store.reindex(on_skip=lambda line: print(f"warning: {line}", file=sys.stderr))
            print(
                f"{indexed} run(s) indexed from {store.path.parent / 'runs'}; {dropped} gone run(s) dropped"
            )
            return 0
        return _export_mlflow(store, args)


def _list(store: Any, args: argparse.Namespace) -> int:
    from workbench.experiments.store import differing_params

    records = store.list(pipeline=args.pipeline, sweep=args.sweep, sort=args.sort, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=False))
        return 0
    if not records:
        print("no runs yet" + (" matching that" if args.pipeline or args.sweep else ""), file=sys.stderr)
        return 0
    metrics = [args.sort] if args.sort else [m for m in HEADLINE if any(m in r.metrics for r in records)][:3]
    params = differing_params(records)[:4]
    header = ["run", "finished", "status", "pipeline", *metrics, *params]
    rows = [header]
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.finished_at)) if r.finished_at else "?"
        status = r.trial_state if r.trial_state and r.trial_state != "complete" else r.status
        rows.append([r.title, when, status, r.pipeline_name, *(_fmt(r.metrics.get(m)) for m in metrics),
                     *(_fmt(r.params.get(p)) for p in params)])  # fmt: skip
    _table(rows)
    return 0


def _show(store: Any, args: argparse.Namespace) -> int:
    record = store.get(args.run_id)
    curves = store.curves(record.run_id)
    if args.json:
        print(json.dumps(record.to_json() | {"curves": curves}, indent=2, ensure_ascii=False))
        return 0
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at or 0))
    lines = [
        f"run       {record.run_id}" + (f"  ({record.name})" if record.name else ""),
        f"pipeline  {record.pipeline_name}  {record.pipeline_file or '(unsaved)'}  #{record.pipeline_hash}",
        f"status    {record.status}  started {started}  {_fmt(record.duration)} s  device {record.device}",
        f"seed      {record.seed}  data {record.data_fingerprint}",
        f"folder    {record.run_dir}",
    ]
    if record.bundle_path:
        lines.append(f"bundle    {record.bundle_path}")
    if record.sweep_id:
        lines.append(f"sweep     {record.sweep_id} trial {record.trial} ({record.trial_state or '?'})")
    if record.tags or record.note:
        lines.append(f"tags      {', '.join(record.tags)}  note: {record.note}")
    lines += ["", "metrics"] + [f"  {k:28} {_fmt(v)}" for k, v in sorted(record.metrics.items())]
    lines += ["", "parameters"] + [f"  {k:28} {_fmt(v)}" for k, v in record.params.items()]
    for node_id, curve in curves.items():
        lines += ["", f"curve {node_id}: {len(curve)} epoch(s)"]
    print("\n".join(lines))
    return 0


def _compare(store: Any, args: argparse.Namespace) -> int:
    if len(args.run_ids) < 2:
        raise UserError("runs compare: give at least two run ids")
    found = store.compare(args.run_ids)
    if args.json:
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    keys = list(found["params"]) if args.all else found["changed"]
    rows = [["", *found["runs"]]]
    rows += [[f"{k}{' *' if k in found['changed'] else ''}", *map(_fmt, found["params"][k])] for k in keys]
    if not keys:
        rows.append(["(no parameter differs)", *([""] * len(found["runs"]))])
    rows.append([""] * (len(found["runs"]) + 1))
    rows += [[k, *map(_fmt, v)] for k, v in found["metrics"].items()]
    _table(rows)
    return 0


def _export_mlflow(store: Any, args: argparse.Namespace) -> int:
    try:
        import mlflow  # noqa: F401 - only here: the app never needs it
    except ImportError:
        from workbench.experiments.mlflow_export import INSTALL_HINT

        print(f"error: exporting to MLflow needs the mlflow package, which the app does not ship: {INSTALL_HINT}",
              file=sys.stderr)  # fmt: skip
        return 1
    from workbench.experiments.mlflow_export import export_runs

    records = [store.get(r) for r in args.run_ids] if args.run_ids else store.list()
    made = export_runs(sys.modules["mlflow"], store, records, args.uri, args.experiment)
    print(f"{len(made)} run(s) exported to {args.uri} (experiment {args.experiment!r})")
    return 0


def _fmt(value: Any) -> str:
    return format_value(value, 40)


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# --------------------------------------------------------------------------- sweep


class _SweepDisplay:
    """One line per trial on stderr (``--verbose``: the full run display of each trial)."""

    def __init__(self, pipeline: Any, verbose: bool) -> None:
        from workbench.cli_display import TerminalDisplay

        self.full = TerminalDisplay(pipeline) if verbose else None

    def __call__(self, event: Any) -> None:
        from workbench import events as E

        if self.full is not None:
            self.full(event)
        elif (
            isinstance(event, E.LogRecord)
            and event.message.startswith("sweep ")
            and " trial " in event.message
        ):
            if "=" in event.message and event.message.count("·") == 0:
                return  # the 'trial N starts' line; its result line follows
            print(event.message.split(": ", 1)[-1], file=sys.stderr, flush=True)
        elif isinstance(event, E.LogRecord) and event.level == "error":
            print(f"error: {event.message}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


def cmd_sweep(args: argparse.Namespace) -> int:
    from workbench.cli import run_stoppable
    from workbench.execution.context import CancelToken
    from workbench.execution.executor import Executor, OutputCache
    from workbench.experiments.space import parse_param
    from workbench.experiments.sweep import DEFAULT_METRIC, Sweep
    from workbench.graph import Pipeline
    from workbench.paths import check_output_file

    report_path = check_output_file(args.report, "--report") if args.report else None
    if args.resume:
        if args.pipeline or args.params:
            raise UserError("--continue takes the sweep's own pipeline and parameters; give only its id")
        sweep = Sweep.open(args.resume)
    else:
        if not args.pipeline:
            raise UserError("sweep: give a pipeline file (or --continue SWEEP_ID)")
        pipeline = Pipeline.load(args.pipeline)
        space = [parse_param(text, pipeline) for text in args.params]
        sweep = Sweep.create(
            pipeline,
            space,
            metric=args.metric or DEFAULT_METRIC,
            direction=args.direction,
            sampler=args.sampler,
            trials=args.trials or 20,
            timeout_s=args.timeout,
            seed=args.seed,
            prune=not args.no_prune,
            device=args.device,
            prune_startup=args.prune_startup,
            prune_warmup=args.prune_warmup,
        )
    base = Pipeline.from_json(sweep.config["pipeline"])
    print(
        f"sweep {sweep.sweep_id}: {sweep.direction} {sweep.metric} over "
        + ", ".join(p.describe() for p in sweep.space)
        + f" · {sweep.config['sampler']} · folder {sweep.folder}",
        file=sys.stderr,
    )
    display = _SweepDisplay(base, args.verbose)
    token = CancelToken()

    def job() -> Any:
        return sweep.run(
            reporter=display,
            token=token,
            executor=Executor(cache=OutputCache(16)),
            trials=args.trials if args.resume else None,
            timeout_s=args.timeout if args.resume else None,
        )

    result = run_stoppable(job, token, display, "workbench-sweep")
    trials = sweep.trials()
    summary = {
        "sweep_id": sweep.sweep_id,
        "status": result.status,
        "metric": sweep.metric,
        "direction": sweep.direction,
        "best": result.best.to_json() if result.best else None,
        "trials": [t.to_json() for t in trials],
        "importances": sweep.importances(),
        "folder": str(sweep.folder),
        **({"message": result.message} if result.message else {}),
    }
    if report_path is not None:
        from workbench.project import atomic_write_text

        atomic_write_text(report_path, json.dumps(summary, indent=2, ensure_ascii=False))
    counts = {
        s: sum(1 for t in trials if t.state == s) for s in ("complete", "pruned", "failed", "interrupted")
    }
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        print(f"sweep {sweep.sweep_id} {result.status}: {len(trials)} trial(s) ({shown or 'none'})")
        if result.best:
            best = result.best
            print(f"best: trial {best.number} {sweep.metric} {best.value:.6g} (run {best.run_id})")
            values = " ".join(
                f"--set {k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in best.params.items()
            )
            if not any(p.list_field for p in sweep.space):  # --set cannot name a field of a list parameter
                print(f"apply: workbench run {sweep.config.get('pipeline_file') or 'PIPELINE'} {values}")
            else:
                print("best values: " + ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items()))
    if result.message:
        print(f"error: {result.message}", file=sys.stderr)
    if result.status == "stopped":
        print(f"stopped; continue with: workbench sweep --continue {sweep.sweep_id}", file=sys.stderr)
        return 130
    return 0 if result.status in ("done", "timeout") and result.best is not None else 1

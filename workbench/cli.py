"""The terminal face: ``workbench run | validate | nodes | predict | export``.

Exit codes: 0 success, 1 the pipeline (or input) failed — one clear line on stderr per problem, never a
traceback — 2 usage errors, 130 stopped with Ctrl-C. The desktop app is started by the ``workbench`` entry
point in ``ui.launcher``; this module never imports Qt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from workbench._version import __version__
from workbench.errors import PipelineFileError, UserError, WorkbenchError
from workbench.params import ParamError


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Model Workbench: train neural networks on your own tables. "
        "Without a command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"model-workbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline headless with a live progress display")
    run.add_argument("pipeline", help="pipeline file (.json)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="override a node parameter for this run (repeatable); the file is not changed",
    )
    run.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default auto)")
    run.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NODE_ID",
        help="run only what this node needs (repeatable)",
    )
    run.add_argument(
        "--report", metavar="FILE.json", help="write the run report (status, nodes, metrics) here"
    )
    run.add_argument("--quiet", action="store_true", help="print only errors and the final line")
    run.add_argument(
        "--nproc",
        type=int,
        default=0,
        metavar="N",
        help="train with N processes on this machine (one per GPU with NCCL, else CPU processes with gloo); "
        "see docs/scaling.md for torchrun and clusters",
    )
    run.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "gloo", "nccl"),
        help="distributed backend (default auto)",
    )

    validate = sub.add_parser("validate", help="check a pipeline file and print its problems")
    validate.add_argument("pipeline")

    nodes = sub.add_parser("nodes", help="print the node catalog")
    fmt = nodes.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="machine-readable catalog")
    fmt.add_argument("--markdown", action="store_true", help="the node reference as Markdown")

    from workbench.cli_model import add_commands
    from workbench.cli_new import add_commands as add_new

    add_commands(sub)
    add_new(sub)
    from workbench.cli_runs import add_commands as add_runs

    add_runs(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        print(
            "workbench: no command given; use 'workbench run PIPELINE' or start the desktop app with the "
            "'workbench' launcher (python -m ui)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.command == "run":
            if args.nproc > 1 or os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
                from workbench.cli_launch import run_command

                return run_command(args, cmd_run)  # launch the processes, or be one of them
            return cmd_run(args)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "nodes":
            return cmd_nodes(args)
        return int(args.handler(args))
    except UsageError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except (PipelineFileError, UserError, ParamError, WorkbenchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `workbench runs list | head`: the reader has all it wanted
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except OSError as exc:  # a file or folder the command had to read or write; never a traceback
        from workbench.paths import describe_os_error

        print(f"error: {describe_os_error(exc, action='use')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


# --------------------------------------------------------------------------- run


def apply_overrides(pipeline: Any, overrides: Sequence[str]) -> None:
    """Apply ``NODE.PARAM=VALUE`` strings, coercing VALUE with the parameter's spec."""
    for item in overrides:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise UsageError(f"--set {item!r}: expected NODE_ID.PARAM=VALUE")
        key, value = item.split("=", 1)
        node_id, name = key.split(".", 1)
        if node_id not in pipeline:
            known = ", ".join(n.id for n in pipeline.nodes)
            raise UsageError(f"--set {item!r}: no node {node_id!r} (nodes: {known})")
        spec = pipeline.spec(node_id)
        param = spec.param(name) if spec else None
        if spec is not None and param is None:
            names = ", ".join(p.name for p in spec.params) or "none"
            raise UsageError(
                f"--set {item!r}: {spec.type_id} has no parameter {name!r} (parameters: {names})"
            )
        try:
            coerced = param.coerce(value) if param else value
            if param:
                param.check(coerced)
        except ParamError as exc:
            raise UsageError(f"--set {item!r}: {exc}") from None
        pipeline.set_param(node_id, name, coerced)


def cmd_run(args: argparse.Namespace) -> int:
    from workbench.cli_display import TerminalDisplay
    from workbench.execution.context import CancelToken
    from workbench.execution.executor import Executor
    from workbench.graph import Pipeline
    from workbench.paths import check_output_file, describe_os_error

    pipeline = Pipeline.load(args.pipeline)
    for warning in pipeline.load_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for node in pipeline.nodes:
        for warning in pipeline.param_warnings(node.id).values():
            print(f"warning: node {node.id!r}: {warning}", file=sys.stderr)
    apply_overrides(pipeline, args.overrides)
    for target in args.target:
        if target not in pipeline:
            raise UsageError(f"--target {target!r}: no such node")
    report_path = check_output_file(args.report, "--report") if args.report else None  # before, not after
    display = TerminalDisplay(pipeline, quiet=args.quiet)
    token = CancelToken()
    from workbench.distributed import current as current_world

    world = current_world()  # rank 0 of a distributed run: a SIGTERM stops the run through this token
    if world is not None:
        world.token = token

    def job() -> Any:
        return Executor().run(
            pipeline,
            args.target or None,
            reporter=display,
            token=token,
            device=args.device,
            labels=world.labels() if world is not None else None,
        )

    try:
        result = run_stoppable(job, token, display, "workbench-run")
    finally:
        display.close()
    report = result.report()
    report_error = ""
    if report_path is not None:
        from workbench.project import atomic_write_text

        try:
            atomic_write_text(report_path, json.dumps(report, indent=2, ensure_ascii=False))
        except OSError as exc:
            kept = f"; the run folder keeps its own copy: {result.run_dir}" if result.run_dir else ""
            report_error = f"--report: {describe_os_error(exc, report_path)}{kept}"
    for node_id, message in result.failures.items():
        node = pipeline.node(node_id)
        print(f"error: node {node_id!r} ({node.type}): {message}", file=sys.stderr)
    for problem in [*result.record_errors, report_error]:
        if problem:
            print(f"error: {problem}", file=sys.stderr)
    display.summary(result)
    if result.status == "stopped":
        return 130
    return 0 if result.status == "ok" and not (report_error or result.record_errors) else 1


def run_stoppable(job: Callable[[], Any], token: Any, display: Any, name: str) -> Any:
    """``job()`` in a worker thread so Ctrl-C in the main thread can stop it cooperatively (through ``token``);
    returns its result or raises its error. The main thread waits on an Event the worker sets last: on
    CPython 3.11 a KeyboardInterrupt inside Thread.join(timeout) can mark a thread finished while it still
    runs, which lost the result and the report."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["result"] = job()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            finished.set()

    worker = threading.Thread(target=work, name=name, daemon=True)
    with _ctrl_c_stops(token, display, finished):
        worker.start()
        while not finished.wait(0.2):
            pass
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@contextlib.contextmanager
def _ctrl_c_stops(token: Any, display: Any, finished: threading.Event) -> Iterator[None]:
    """While a run is in progress: the first Ctrl-C asks it to stop (it ends 'stopped' with its report and
    checkpoint), a second one aborts, each with one line and no traceback. The second waits a second for a
    run that is already winding down (a quick double press should not cost the report); a third does not.

    A signal handler rather than KeyboardInterrupt, so the interrupt never lands in the middle of the main
    thread's bookkeeping. Outside the main thread (an embedding caller) signals cannot be handled: no-op.
    """
    presses = 0

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            token.cancel()
            display.note("stopping after the current batch… (Ctrl-C again to abort)")
            return
        if presses == 2 and finished.wait(1.0):
            return  # it ended on its own: the report gets written as usual
        display.note("aborted: the run did not finish and wrote no report")
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(130)  # the worker may be inside torch; exiting the interpreter normally could hang or crash

    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- validate, nodes


def cmd_validate(args: argparse.Namespace) -> int:
    from workbench.checks import input_problems
    from workbench.graph import Pipeline

    pipeline = Pipeline.load(args.pipeline)
    problems = pipeline.problems(warnings=True)
    for node_id, issues in input_problems(pipeline).items():  # files exist, named columns exist
        problems.setdefault(node_id, []).extend(issues)
    for warning in pipeline.load_warnings:
        print(f"warning: {warning}")
    for node_id, issues in problems.items():
        for issue in issues:
            print(f"{node_id}: {issue}")
    if problems:
        print(f"{sum(len(v) for v in problems.values())} problem(s) in {args.pipeline}", file=sys.stderr)
        return 1
    print(f"{args.pipeline}: {len(pipeline.nodes)} nodes, {len(pipeline.links)} links, no problems")
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    from workbench.graph import default_registry

    registry = default_registry()
    if args.json:
        print(json.dumps([t.spec.to_json() for t in registry], indent=2, ensure_ascii=False))
    elif args.markdown:
        print(catalog_markdown(registry))
    else:
        for node_type in registry:
            spec = node_type.spec
            ins = ", ".join(f"{p.name}:{p.type}" for p in spec.inputs) or "-"
            outs = ", ".join(f"{p.name}:{p.type}" for p in spec.outputs) or "-"
            print(f"{spec.type_id:22} {spec.title:28} in({ins}) out({outs})")
    for error in registry.plugin_errors:
        print(f"warning: {error}", file=sys.stderr)
    return 0


def catalog_markdown(registry: Any) -> str:
    from workbench.nodes.base import CATEGORIES

    lines = ["# Node reference", "", "Generated by `workbench nodes --markdown`; do not edit by hand.", ""]
    titles = dict(CATEGORIES)
    current = None
    for node_type in registry:
        spec = node_type.spec
        if spec.category != current:
            current = spec.category
            lines += [f"## {titles.get(current, current)}", ""]
        lines += [f"### `{spec.type_id}` — {spec.title}", ""]
        if spec.help:
            lines += [spec.help, ""]
        for label, ports in (("Inputs", spec.inputs), ("Outputs", spec.outputs)):
            if ports:
                items = ", ".join(f"`{p.name}` ({p.type}{', optional' if p.optional else ''})" for p in ports)
                lines += [f"{label}: {items}", ""]
        if spec.params:
            lines += ["| parameter | kind | default | help |", "|---|---|---|---|"]
            for param in spec.params:
                info = param.to_json()
                extra = ""
                if "choices" in info:
                    extra = " (" + " / ".join(info["choices"]) + ")"
                default = json.dumps(info["default"], ensure_ascii=False)
                help_text = (param.help + extra).replace("|", "\\|")
                lines.append(f"| `{param.name}` | {param.kind} | `{default}` | {help_text} |")
            lines.append("")
    return "\n".join(lines)


def run_module() -> None:
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C before a command got going (while importing, say)
        print("stopped", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    run_module()

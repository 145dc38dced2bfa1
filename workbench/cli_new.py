"""``workbench new DATA [--target COL] [-o PIPELINE.json] [--run]``: the drop dialog's pipeline from a script.

Writes the same standard pipeline the app builds when a file is dropped on it (``workbench.templates``), says
what it guessed and why, and with ``--run`` runs it at once like ``workbench run``. No Qt.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(subparsers: Any) -> None:
    """Register ``new`` on the CLI's subparsers object."""
    new = subparsers.add_parser(
        "new",
        help="write the standard pipeline for a data file (file → split → prep → model → train → evaluate → "
        "export), guessing the target",
    )
    new.add_argument("data", help="the data file: CSV, TSV, TXT, Parquet, Excel or JSON")
    new.add_argument(
        "--target", metavar="COL", help="the column to predict (default: guessed, with the reason)"
    )
    new.add_argument(
        "-o",
        "--output",
        metavar="PIPELINE.json",
        help="pipeline file to write (default: DATA's name + .pipeline.json beside it); never overwritten",
    )
    new.add_argument("--run", action="store_true", help="run the pipeline after writing it")
    new.add_argument("--device", default="auto", help="with --run: auto | cpu | cuda | cuda:N | mps")
    new.add_argument("--quiet", action="store_true", help="with --run: print only errors and the final line")
    new.set_defaults(handler=cmd_new)


def cmd_new(args: argparse.Namespace) -> int:
    from workbench.templates import write_new_pipeline

    path, pipeline, guessed = write_new_pipeline(args.data, args.output, target=args.target)
    print(f"target: {guessed.target} ({guessed.reason})", file=sys.stderr)
    print(f"task: {guessed.task} ({guessed.task_reason})", file=sys.stderr)
    if guessed.drop:
        notes = "; ".join(f"{c.name} ({c.note})" for c in guessed.columns if c.name in guessed.drop)
        print(f"left out: {notes}", file=sys.stderr)
    chain = " → ".join(node.id for node in pipeline.nodes)
    print(f"pipeline written to {path} ({chain})")
    if not args.run:
        print(f"run it with: workbench run {path}", file=sys.stderr)
        return 0
    from workbench.cli import cmd_run

    run_args = argparse.Namespace(
        pipeline=str(path), overrides=[], device=args.device, target=[], report=None, quiet=args.quiet
    )
    return cmd_run(run_args)

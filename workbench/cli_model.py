"""``workbench predict`` and ``workbench export``: the bundle from the terminal.

``add_commands(subparsers)`` adds both subcommands; each sets ``handler`` to a function ``(args) -> int``
(0 success, 1 a problem reported on stderr in one line, 130 stopped). No Qt, and torch only when needed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from workbench.errors import UserError

# An image bundle's input with one of these suffixes is a table naming the pictures, not a picture.
TABLE_SUFFIXES = (
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".pq",
    ".xlsx",
    ".xlsm",
    ".xls",
    ".json",
    ".jsonl",
    ".ndjson",
)


def add_commands(subparsers: Any) -> None:
    """Register ``predict`` and ``export`` on the CLI's subparsers object."""
    predict = subparsers.add_parser(
        "predict",
        help="predict a table (CSV, Parquet, Excel, JSON), or pictures with an image bundle, with an exported bundle",
    )
    predict.add_argument(
        "bundle", help="bundle folder (or its .zip) written by deploy.export / workbench export"
    )
    predict.add_argument(
        "input",
        nargs="+",
        help="table with the model's input columns; for an image bundle: picture files and/or folders, or a "
        "table naming pictures in a path column",
    )
    predict.add_argument("-o", "--output", required=True, help="predictions file (.csv or .parquet)")
    predict.add_argument("--proba", action="store_true", help="add class probability columns")
    predict.add_argument(
        "--top-k",
        type=int,
        default=None,
        metavar="K",
        help="image bundles: classes per picture, most likely first (default 3, as the bundle's predict.py)",
    )
    predict.add_argument(
        "--keep-columns",
        nargs="?",
        const="",
        metavar="COLS",
        help="copy input columns into the output (all of them, or the comma-separated COLS)",
    )
    predict.add_argument(
        "--row-id", action="store_true", help="add row_id: the 0-based input row of each prediction"
    )
    predict.set_defaults(handler=cmd_predict)

    export = subparsers.add_parser("export", help="run a pipeline up to a training node and export its model")
    export.add_argument("pipeline", help="pipeline file (.json)")
    export.add_argument(
        "--node", required=True, metavar="TRAIN_NODE_ID", help="the node whose model to export"
    )
    export.add_argument("-o", "--output", required=True, metavar="FOLDER", help="bundle folder to write")
    export.add_argument("--zip", action="store_true", help="also write FOLDER.zip")
    export.add_argument("--device", default="auto", help="training device: auto | cpu | cuda | cuda:N | mps")
    export.set_defaults(handler=cmd_export)


def cmd_predict(args: argparse.Namespace) -> int:
    """``workbench predict BUNDLE INPUT... -o OUTPUT [--proba] [--top-k K]``: a table, or pictures for an
    image bundle."""
    from workbench.export.predict_template import parse_keep
    from workbench.export.predictor import Predictor, write_table
    from workbench.paths import check_output_file, describe_os_error
    from workbench.tabular.io import read_table

    check_output_file(args.output, "-o")  # before loading the model and reading the table
    predictor = Predictor.from_bundle(args.bundle)
    if getattr(predictor, "kind", "table") == "image":
        return _predict_pictures(predictor, args)
    if args.top_k is not None:
        raise UserError("--top-k: only for image bundles; this bundle predicts tables")
    if len(args.input) != 1:
        raise UserError(f"input: this bundle predicts one table, not {len(args.input)} files")
    frame = read_table(args.input[0])
    result = predictor.predict(
        frame, proba=args.proba, keep=parse_keep(args.keep_columns), row_id=args.row_id
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        path = write_table(result.table, args.output)
    except OSError as exc:  # a full disk, a folder that vanished: name the output, not a temp file
        raise UserError(f"-o: {describe_os_error(exc, args.output)}") from None
    print(f"{len(result.table):,} prediction(s) written to {path}")
    return 0


def _predict_pictures(predictor: Any, args: argparse.Namespace) -> int:
    """An image bundle: picture files and folders → the CSV the bundle's own predict.py writes."""
    from workbench.export.predictor import write_image_csv, write_table
    from workbench.paths import describe_os_error

    if len(args.input) == 1 and Path(args.input[0]).suffix.lower() in TABLE_SUFFIXES:
        return _predict_picture_table(predictor, args)
    if args.keep_columns is not None or args.row_id:
        raise UserError(
            "--keep-columns/--row-id: only for a table input (a table naming the pictures); for picture files "
            "each row already names its path"
        )
    top_k = 3 if args.top_k is None else args.top_k
    warn = lambda line: print(line, file=sys.stderr)  # noqa: E731 - predict.py's skip lines, as it prints them
    result = predictor.predict_files(args.input, top_k=top_k, proba=args.proba, log=warn)
    try:
        if Path(args.output).suffix.lower() in (".csv", ".txt", ""):
            path = write_image_csv(result.table, args.output)
        else:
            path = write_table(result.table, args.output)
    except OSError as exc:
        raise UserError(f"-o: {describe_os_error(exc, args.output)}") from None
    skipped = len(result.notes)
    print(f"{len(result.table):,} picture(s) classified" + (f", {skipped:,} skipped" if skipped else "")
          + f"; predictions written to {path}")  # fmt: skip
    return 0


def _predict_picture_table(predictor: Any, args: argparse.Namespace) -> int:
    """An image bundle and a table naming pictures in its path column (relative paths from the table's folder,
    as data.images reads them): one prediction per row, input columns kept as for table bundles."""
    from workbench.export.predict_template import parse_keep
    from workbench.export.predictor import write_table
    from workbench.paths import describe_os_error
    from workbench.tabular.io import read_table

    if args.top_k is not None:
        raise UserError("--top-k: only for picture files and folders; a table gets one prediction per row")
    source = Path(args.input[0])
    frame = read_table(source)
    column = str(predictor.prep["image"].get("column", "path"))
    if column in frame.columns:
        base = source.resolve().parent
        frame[column] = [
            str(base / value) if isinstance(value, str) and value and not Path(value).is_absolute() else value
            for value in frame[column].tolist()
        ]
    result = predictor.predict(
        frame, proba=args.proba, keep=parse_keep(args.keep_columns), row_id=args.row_id
    )
    try:
        path = write_table(result.table, args.output)
    except OSError as exc:
        raise UserError(f"-o: {describe_os_error(exc, args.output)}") from None
    print(f"{len(result.table):,} prediction(s) written to {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``workbench export PIPELINE --node TRAIN_NODE_ID -o FOLDER [--zip]``."""
    from workbench.execution.executor import Executor
    from workbench.export.service import export_model
    from workbench.graph import Pipeline
    from workbench.ports import MODEL

    pipeline = Pipeline.load(args.pipeline)
    if args.node not in pipeline:
        known = ", ".join(n.id for n in pipeline.nodes)
        raise UserError(f"--node {args.node!r}: no such node in {args.pipeline} (nodes: {known})")
    spec = pipeline.spec(args.node)
    if spec is None or not any(port.type == MODEL for port in spec.outputs):
        raise UserError(
            f"--node {args.node!r}: {pipeline.node(args.node).type} does not output a trained model"
        )
    port = next(p.name for p in spec.outputs if p.type == MODEL)
    dataset_link = pipeline.input_links(args.node).get("dataset")
    from workbench.export.target import check_target, check_zip_target

    pipeline_dir = pipeline.path.parent if pipeline.path else None
    check_target(args.output, pipeline_dir)  # before training: refuse at once, touch nothing
    if args.zip:
        check_zip_target(args.output)
    executor = Executor()
    result = executor.run(pipeline, [args.node], device=args.device, reporter=_Progress())
    if result.status != "ok":
        for node_id, message in result.failures.items():
            print(f"error: node {node_id!r}: {message}", file=sys.stderr)
        return 130 if result.status == "stopped" else 1
    model = result.output(args.node, port)
    dataset = result.output(dataset_link.source, dataset_link.source_port) if dataset_link else None
    bundle = export_model(model, dataset, Path(args.output), args.zip, lambda m: print(m, file=sys.stderr),
                          executor.last_fingerprints.get(args.node), pipeline_dir)  # fmt: skip
    print(f"bundle written to {bundle.path}" + (f" (and {bundle.zip_path})" if bundle.zip_path else ""))
    return 0


class _Progress:
    """Prints node failures and log warnings while the pipeline runs; quiet otherwise."""

    def __call__(self, event: Any) -> None:
        level = getattr(event, "level", None)
        if level in ("warning", "error"):
            print(f"{level}: {event.message}", file=sys.stderr)

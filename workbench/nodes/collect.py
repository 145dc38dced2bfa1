"""Collect data: a user's own file, or a built-in sample. Thin adapters over workbench.tabular."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench import ports
from workbench.errors import UserError
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.params import Bool, Choice, Int, Path, Str

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

SAMPLE_NAMES = (
    "iris",
    "wine",
    "breast_cancer",
    "diabetes",
    "digits",
    "credit_risk",
    "stock_prices",
    "student_performance",
    "breast_cancer_csv",
)  # kept in step with workbench.tabular.samples.NAMES (checked by a test) so the catalog needs no pandas


class DataFile(NodeType):
    spec = NodeSpec(
        type_id="data.file",
        title="Data file",
        category="collect",
        help="Read a table from CSV/TSV/TXT, Parquet, Excel or JSON. Delimiter, decimal mark, encoding, header, "
        "missing-value markers and date columns are detected; override any of them here.",
        outputs=(PortSpec("table", ports.TABLE),),
        params=(
            Path(
                "path",
                "",
                help="The data file. Relative paths resolve against the pipeline's folder, then resources/.",
                filters=("Tables (*.csv *.tsv *.txt *.parquet *.xlsx *.xls *.json *.jsonl)", "All files (*)"),
            ),
            Choice(
                "file_format",
                "auto",
                choices=("auto", "text", "parquet", "excel", "json", "jsonl"),
                help="File type; auto uses the extension.",
            ),
            Str("sheet", "", help="Excel sheet name or index (0 = first); empty reads the first sheet."),
            Choice("delimiter", "auto", choices=("auto", ",", ";", "tab", "|", "space")),
            Choice("decimal", "auto", choices=("auto", ".", ",")),
            Choice("thousands", "auto", choices=("auto", "none", ",", ".", "'")),
            Choice("encoding", "auto", choices=("auto", "utf-8", "cp1252", "latin-1", "gb18030", "utf-16")),
            Choice("header", "auto", choices=("auto", "yes", "no"), help="Is the first row column names?"),
            Str(
                "na_values",
                "",
                help="Extra markers of missing values, comma separated (added to NA, null, ?, -, ...).",
            ),
            Bool("parse_dates", True, help="Turn text columns that hold dates into date columns."),
            Choice(
                "bad_lines",
                "error",
                choices=("error", "skip"),
                help="Rows with too many fields: stop, or skip them.",
            ),
            Int(
                "max_columns",
                16_384,
                minimum=1,
                help="Refuse a file with more columns than this (checked from the header, before reading the "
                "rows); the default is Excel's widest sheet. Raise it for a table that really is wider.",
            ),
            Bool(
                "stream",
                False,
                help="Parquet file or folder of Parquet files larger than memory: read it in batches instead of "
                "whole. Training reads every training row each epoch; fitted steps use every training row; "
                "validation and test rows are held in memory (see holdout_rows). See docs/scaling.md.",
            ),
            Int(
                "sample_rows",
                100_000,
                minimum=100,
                visible_if={"stream": True},
                help="Streamed: rows drawn uniformly for fitting decisions (kinds, columns, medians).",
            ),
            Int(
                "holdout_rows",
                100_000,
                minimum=100,
                visible_if={"stream": True},
                help="Streamed: the most validation rows, and test rows, kept in memory (a uniform subsample "
                "beyond this).",
            ),
        ),
        summary=("path",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.io import DEFAULT_MAX_COLUMNS, NA_MARKERS, read_table

        path = ctx.resolve_path(params["path"])
        if params.get("stream"):
            from workbench.tabular.stream import open_stream

            table = open_stream(
                path, params["sample_rows"], params["holdout_rows"], check=ctx.check_cancelled
            )
            ctx.log(f"{path.name}: {table.describe()}")
            return {"table": table}
        extra = [m.strip() for m in str(params.get("na_values", "")).split(",") if m.strip()]
        auto = lambda key: "" if params.get(key, "auto") == "auto" else params[key]  # noqa: E731
        thousands = params.get("thousands", "auto")
        frame = read_table(
            path,
            file_format=params.get("file_format", "auto"),
            sheet=str(params.get("sheet", "")),
            delimiter=auto("delimiter"),
            decimal=auto("decimal"),
            thousands="" if thousands == "auto" else ("none" if thousands == "none" else thousands),
            encoding=auto("encoding"),
            header=params.get("header", "auto"),
            na_values=(NA_MARKERS + extra) if extra else None,
            parse_dates=bool(params.get("parse_dates", True)),
            bad_lines=params.get("bad_lines", "error"),
            log=ctx.log,
            max_columns=int(params.get("max_columns", DEFAULT_MAX_COLUMNS)),
            check=ctx.check_cancelled,  # Stop ends a long read; the node then reports "stopped"
        )
        ctx.log(f"{path.name}: {len(frame):,} rows x {frame.shape[1]} columns")
        return {"table": frame}

    def fingerprint_extra(self, params: Mapping[str, Any], resolve_path: Any) -> str:
        try:
            path = resolve_path(params["path"])
            stat = path.stat()
            if path.is_dir():  # a streamed folder: every file in it
                files = sorted(p for p in path.rglob("*") if p.is_file())
                return "\n".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
        except (UserError, OSError, KeyError, TypeError):
            return ""
        return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


class DataSample(NodeType):
    spec = NodeSpec(
        type_id="data.sample",
        title="Sample dataset",
        category="collect",
        help="A built-in dataset that works offline: scikit-learn's bundled sets and the scenario datasets "
        "(credit risk, stock prices, student performance, breast cancer).",
        outputs=(PortSpec("table", ports.TABLE),),
        params=(Choice("name", "iris", choices=SAMPLE_NAMES),),
        summary=("name",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.samples import load_sample, suggested_target

        frame = load_sample(params["name"])
        ctx.log(
            f"{params['name']}: {len(frame):,} rows x {frame.shape[1]} columns; suggested target {suggested_target(params['name'])!r}"
        )
        return {"table": frame}


NODE_TYPES = (DataFile, DataSample)

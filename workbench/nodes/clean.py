"""Clean: stateless table-to-table steps before the split. Thin adapters over workbench.tabular.clean."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench import ports
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.params import Bool, Choice, Column, Columns, Float, Str
from workbench.tabular.vocabulary import DATE_PARTS, OPERATORS

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

_IN = (PortSpec("table", ports.TABLE),)
_OUT = (PortSpec("table", ports.TABLE),)


class CleanColumns(NodeType):
    spec = NodeSpec(
        type_id="clean.columns",
        title="Choose columns",
        category="clean",
        help="Keep only some columns (in the given order) and/or drop others, e.g. ID columns or leaks.",
        inputs=_IN,
        outputs=_OUT,
        params=(
            Columns("keep", help="Columns to keep; empty keeps all."),
            Columns("drop", help="Columns to remove."),
        ),
        summary=("keep", "drop"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.clean import select_columns

        out = select_columns(inputs["table"], params["keep"], params["drop"])
        ctx.log(f"{out.shape[1]} of {inputs['table'].shape[1]} columns kept")
        return {"table": out}


class CleanMissing(NodeType):
    spec = NodeSpec(
        type_id="clean.missing",
        title="Drop missing",
        category="clean",
        help="Drop rows (or columns) whose share of missing values is above a threshold. With rows and 0, any "
        "gap in the chosen columns drops the row. To fill gaps instead, use prep.impute after the split.",
        inputs=_IN,
        outputs=_OUT,
        params=(
            Choice("axis", "rows", choices=("rows", "columns")),
            Float("threshold", 0.0, minimum=0.0, maximum=1.0, help="Allowed share of missing values (0-1)."),
            Columns("columns", help="Columns to judge rows by; empty means all."),
        ),
        summary=("axis", "threshold"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.clean import drop_missing

        out, dropped = drop_missing(inputs["table"], params["axis"], params["threshold"], params["columns"])
        ctx.log(f"dropped {dropped} {params['axis'] if dropped != 1 else params['axis'][:-1]}")
        return {"table": out}


class CleanDedupe(NodeType):
    spec = NodeSpec(
        type_id="clean.dedupe",
        title="Remove duplicates",
        category="clean",
        help="Drop repeated rows, judged on the chosen columns (all when empty).",
        inputs=_IN,
        outputs=_OUT,
        params=(
            Columns("columns", help="Columns that identify a row; empty means all."),
            Choice(
                "keep",
                "first",
                choices=("first", "last", "none"),
                help="Which copy stays; none drops all copies.",
            ),
        ),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.clean import dedupe

        out, dropped = dedupe(inputs["table"], params["columns"], params["keep"])
        ctx.log(f"dropped {dropped} duplicate row(s)")
        return {"table": out}


class CleanFilter(NodeType):
    spec = NodeSpec(
        type_id="clean.filter",
        title="Filter rows",
        category="clean",
        help="Keep rows where a column compares to a value. The value is read as the column's type (number, "
        "date or text); 'in' takes a comma-separated list. No expressions are evaluated.",
        inputs=_IN,
        outputs=_OUT,
        params=(
            Column("column"),
            Choice("operator", "==", choices=OPERATORS),
            Str("value", "", visible_if={"operator": [op for op in OPERATORS if "missing" not in op]}),
        ),
        summary=("column", "operator", "value"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.clean import filter_rows

        out, dropped = filter_rows(
            inputs["table"], params["column"], params["operator"], params.get("value", "")
        )
        ctx.log(f"kept {len(out):,} row(s), dropped {dropped:,}")
        return {"table": out}


class CleanTypes(NodeType):
    spec = NodeSpec(
        type_id="clean.types",
        title="Set column types",
        category="clean",
        help="Cast columns to numbers, categories, dates or true/false; optionally split dates into parts.",
        inputs=_IN,
        outputs=_OUT,
        params=(
            Columns("columns"),
            Choice("to", "numeric", choices=("numeric", "category", "datetime", "bool")),
            Str(
                "date_parts",
                "",
                visible_if={"to": "datetime"},
                help=f"For dates: comma-separated parts to add as numeric columns ({', '.join(DATE_PARTS)}).",
            ),
            Bool(
                "drop_original",
                False,
                visible_if={"to": "datetime"},
                help="Remove the date column after adding its parts.",
            ),
        ),
        summary=("columns", "to"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.clean import cast_columns, date_parts

        out, lost = cast_columns(inputs["table"], params["columns"], params["to"])
        for column, count in lost.items():
            ctx.warn(
                f"column {column!r}: {count} value(s) could not be read as {params['to']} and are now missing"
            )
        parts = [part.strip() for part in str(params.get("date_parts") or "").split(",") if part.strip()]
        if params["to"] == "datetime" and parts:
            out = date_parts(out, params["columns"], parts, params["drop_original"])
        return {"table": out}


NODE_TYPES = (CleanColumns, CleanMissing, CleanDedupe, CleanFilter, CleanTypes)

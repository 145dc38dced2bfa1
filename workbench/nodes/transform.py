"""Split & transform: the split, then fitted steps that learn on the training split only and record a JSON step
in the dataset's chain (which travels with the model). Thin adapters over workbench.tabular."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench import ports
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.params import Bool, Choice, Column, Columns, Float, Int, Str

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext

_DS_IN = (PortSpec("dataset", ports.DATASET),)
_DS_OUT = (PortSpec("dataset", ports.DATASET),)


class DataSplit(NodeType):
    spec = NodeSpec(
        type_id="data.split",
        title="Split",
        category="transform",
        help="Choose the target and split rows into training, validation and test sets. Rows without a target "
        "are dropped. Classes are stratified; with a time column the split keeps time order (no shuffling). "
        "Date columns become year/month/day/weekday numbers here, before any fill or scale step; ID-like text "
        "(nearly one value per row, e.g. names) is left out unless named in features.",
        inputs=(PortSpec("table", ports.TABLE),),
        outputs=_DS_OUT,
        params=(
            Column("target", help="The column to predict."),
            Choice("task", "auto", choices=("auto", "classification", "regression")),
            Float("val_fraction", 0.15, minimum=0.0, maximum=0.5),
            Float("test_fraction", 0.15, minimum=0.0, maximum=0.5),
            Bool("stratify", True, help="Keep class shares equal across splits (classification)."),
            Column("time_column", "", optional=True, help="Sort by this column and split in time order."),
            Bool(
                "shuffle",
                True,
                help="Off keeps the file's row order (time-ordered split without a time column).",
            ),
            Columns(
                "features",
                help="Input columns; empty means every column except target, time column and ID-like text.",
            ),
            Int("seed", 0, minimum=0),
        ),
        summary=("target", "task"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.auto import derive_features
        from workbench.tabular.split import split_table

        if getattr(inputs["table"], "streamed", False):  # a streamed Parquet source (tabular/stream.py)
            from workbench.tabular.stream import split_streamed

            return {"dataset": derive_features(split_streamed(inputs["table"], params, ctx.log), ctx.log)}
        dataset = split_table(
            inputs["table"],
            params["target"],
            task=params["task"],
            val_fraction=params["val_fraction"],
            test_fraction=params["test_fraction"],
            stratify=params["stratify"],
            time_column=params.get("time_column") or "",
            shuffle=params["shuffle"],
            features=params["features"],
            seed=params["seed"],
            log=ctx.log,
        )
        # Derived columns (date parts, "was zero" flags) are made here, before any fill or scale step the
        # user places next, so those steps treat them like every other number.
        return {"dataset": derive_features(dataset, ctx.log)}


class PrepImpute(NodeType):
    spec = NodeSpec(
        type_id="prep.impute",
        title="Fill missing values",
        category="transform",
        help="Fill gaps with a value learned on the training split (mean, median, most frequent) or a constant. "
        "Text columns always use the most frequent value (or the constant).",
        inputs=_DS_IN,
        outputs=_DS_OUT,
        params=(
            Choice("strategy", "median", choices=("mean", "median", "most_frequent", "constant")),
            Str("constant", "0", visible_if={"strategy": "constant"}),
            Columns("columns", source="dataset", help="Columns to fill; empty means every feature."),
            Bool("indicators", False, help="Add a 0/1 'was missing' column for each column that had gaps."),
        ),
        summary=("strategy",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular import fit

        dataset = inputs["dataset"]
        columns = fit.pick_columns(
            dataset, params["columns"], {"numeric", "category", "bool", "datetime"}, "prep.impute"
        )
        columns = [c for c in columns if fit.kinds(dataset.train, [c])[c] != "datetime"]
        step = fit.fit_impute(
            dataset.train,
            dataset.features,
            columns,
            params["strategy"],
            params["constant"],
            params["indicators"],
        )
        ctx.log(_impute_line(dataset, columns, step, params["strategy"]))
        return {"dataset": fit.apply_to_dataset(dataset, step, ctx.log)}


def _impute_line(dataset: Any, columns: list[str], step: dict, strategy: str) -> str:
    """What prep.impute did, in counts that are true: values filled and the columns that held them (every
    split), out of the columns checked; indicators only for columns with gaps in the training rows."""
    from workbench.tabular.auto import count_missing

    filled = count_missing(dataset, columns)
    line = f"filled {sum(filled.values()):,} missing value(s) in {len(filled)} column(s) ({strategy})"
    if len(filled) < len(columns):
        line += f"; {len(columns)} column(s) checked, fill values kept for prediction"
    if step.get("indicators"):
        line += f"; {len(step['indicators'])} 'was missing' column(s) added"
    return line


class PrepEncode(NodeType):
    spec = NodeSpec(
        type_id="prep.encode",
        title="Encode categories",
        category="transform",
        help="Turn text and true/false columns into numbers. One-hot keeps the most frequent categories (cap), "
        "puts the rest in an 'other' column and values never seen in training in an 'unseen' column. "
        "Ordinal gives each category a number.",
        inputs=_DS_IN,
        outputs=_DS_OUT,
        params=(
            Choice("method", "onehot", choices=("onehot", "ordinal")),
            Int("max_categories", 20, minimum=1, maximum=1000, visible_if={"method": "onehot"}),
            Columns(
                "columns", source="dataset", help="Columns to encode; empty means every text/bool column."
            ),
        ),
        summary=("method",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular import fit

        dataset = inputs["dataset"]
        columns = fit.pick_columns(dataset, params["columns"], {"category", "bool"}, "prep.encode")
        if not columns:
            ctx.log("no text or true/false columns to encode")
            return {"dataset": dataset.replace()}
        if params["method"] == "onehot":
            step = fit.fit_onehot(dataset.train, dataset.features, columns, params["max_categories"])
        else:
            step = fit.fit_ordinal(dataset.train, dataset.features, columns)
        out = fit.apply_to_dataset(dataset, step, ctx.log)
        made = len(out.features) - (len(dataset.features) - len(columns))
        ctx.log(
            f"{params['method']}: {len(columns)} column(s) -> {made} column(s); {len(out.features)} features in all"
        )
        return {"dataset": out}


class PrepScale(NodeType):
    spec = NodeSpec(
        type_id="prep.scale",
        title="Scale numbers",
        category="transform",
        help="Rescale numeric columns with figures from the training split: standard (mean 0, std 1), "
        "min-max (0 to 1) or robust (median and interquartile range).",
        inputs=_DS_IN,
        outputs=_DS_OUT,
        params=(
            Choice("method", "standard", choices=("standard", "minmax", "robust")),
            Columns(
                "columns",
                source="dataset",
                help="Columns to scale; empty means numeric columns other than 0/1 flags.",
            ),
        ),
        summary=("method",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        from workbench.errors import UserError
        from workbench.tabular import fit

        dataset = inputs["dataset"]
        columns = fit.pick_columns(dataset, params["columns"], {"numeric"}, "prep.scale")
        kinds = fit.kinds(dataset.train, columns)
        bad = [c for c in columns if kinds[c] != "numeric"]
        if bad:
            raise UserError(f"prep.scale: column(s) {', '.join(bad)} are not numeric; add prep.encode first")
        if not params["columns"]:
            flags = []
            for c in columns:
                values = dataset.train[c].to_numpy(dtype=np.float64, na_value=np.nan)
                if np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
                    flags.append(c)
            columns = [c for c in columns if c not in flags]
        step = fit.fit_scale(dataset.train, dataset.features, columns, params["method"])
        ctx.log(f"{params['method']} scaling of {len(columns)} column(s)")
        return {"dataset": fit.apply_to_dataset(dataset, step, ctx.log)}


class PrepAugment(NodeType):
    spec = NodeSpec(
        type_id="prep.augment",
        title="Augment training rows",
        category="transform",
        help="Add rows to the training split only: Gaussian noise copies, mixup blends, or oversampling of "
        "minority classes. Validation and test rows are never touched.",
        inputs=_DS_IN,
        outputs=_DS_OUT,
        params=(
            Choice("method", "oversample", choices=("noise", "mixup", "oversample")),
            Float(
                "amount",
                1.0,
                minimum=0.0,
                maximum=10.0,
                help="New rows as a share of the training rows; for oversampling the target share of the majority count.",
            ),
            Float(
                "noise_std",
                0.1,
                minimum=0.0,
                maximum=5.0,
                visible_if={"method": "noise"},
                help="Noise in units of each column's std.",
            ),
            Float("alpha", 0.2, minimum=0.01, maximum=10.0, visible_if={"method": "mixup"}),
            Int("seed", 0, minimum=0),
        ),
        summary=("method",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular.augment import augment

        dataset, added = augment(
            inputs["dataset"],
            params["method"],
            params["amount"],
            params["noise_std"],
            params["alpha"],
            params["seed"],
        )
        ctx.log(f"{params['method']}: added {added:,} training row(s) -> {len(dataset.train):,}")
        return {"dataset": dataset}


class PrepWindow(NodeType):
    spec = NodeSpec(
        type_id="prep.window",
        title="Sliding windows",
        category="transform",
        help="For sequence models over a time-ordered split: each sample is the last `lookback` rows and the "
        "target is `horizon` rows ahead. Missing columns are prepared (encode, impute, scale) first.",
        inputs=_DS_IN,
        outputs=_DS_OUT,
        params=(
            Int("lookback", 10, minimum=1, maximum=1000),
            Int(
                "horizon", 1, minimum=0, maximum=1000, help="0 predicts the target of the window's last row."
            ),
            Columns("columns", source="dataset", help="Columns in each window; empty means every feature."),
            Bool("include_target", True, help="Also feed the target's past values (standardised)."),
        ),
        summary=("lookback", "horizon"),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.tabular import fit
        from workbench.tabular.auto import prepare_for_training

        dataset = prepare_for_training(inputs["dataset"], ctx.log)
        step = fit.fit_window(
            dataset, params["lookback"], params["horizon"], params["columns"], params["include_target"]
        )
        schema = dict(dataset.input_schema)
        if step["target_input"]:
            schema.setdefault(dataset.target, "numeric")
        out = dataset.replace(
            chain=[*dataset.chain, step],
            features=list(step["features_out"]),
            window=dict(step),
            input_schema=schema,
        )
        ctx.log(
            f"windows of {step['lookback']} rows x {len(step['features_out'])} channel(s), horizon {step['horizon']}"
        )
        return {"dataset": out}


NODE_TYPES = (DataSplit, PrepImpute, PrepEncode, PrepScale, PrepAugment, PrepWindow)

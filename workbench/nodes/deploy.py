"""Export & predict: write the parity-checked model bundle, and predict on new tables.

Thin adapters over ``workbench.export`` (``export.service.export_model`` is shared with the CLI and the app). Export is not cached: it writes files that a user may move or
delete between runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import params as P
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import BUNDLE, DATASET, MODEL, TABLE

if TYPE_CHECKING:
    from workbench.execution.context import NodeContext


class DeployExport(NodeType):
    spec = NodeSpec(
        type_id="deploy.export",
        title="Export bundle",
        category="deploy",
        help=(
            "Writes a folder anyone can use offline: model.onnx, model.pt2, weights.safetensors + "
            "architecture.json, preprocessing.json, manifest.json, predict.py and a README model card. "
            "The exported model (.pt2, ONNX, and predict.py on raw held-out rows) is checked against the trained one "
            "and refused if they differ by more than 1e-4 + 1e-5 × the output's scale. "
            "The folder must be new, empty or an earlier bundle (files you added to it are kept); the home "
            "folder, the pipeline's own folder or a folder holding other files is refused."
        ),
        inputs=(
            PortSpec("model", MODEL, help="The trained model."),
            PortSpec(
                "dataset",
                DATASET,
                optional=True,
                help="Its dataset: test rows for the parity check and metrics.",
            ),
        ),
        outputs=(PortSpec("bundle", BUNDLE, help="The bundle folder; connect it to deploy.predict."),),
        params=(
            P.Path(
                "path",
                "",
                mode="dir",
                optional=True,
                help="Bundle folder (relative to the pipeline file); empty: inside this run's folder.",
            ),
            P.Bool("zip", False, help="Also write <folder>.zip next to the folder."),
        ),
        summary=("path",),
        cacheable=False,
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.nodes.evaluate import trained_model

        folder = (
            ctx.resolve_path(params["path"], must_exist=False) if params["path"] else ctx.node_dir / "bundle"
        )
        fingerprint = ctx.fingerprint or None  # the node's cache key: what the bundle was made from
        from workbench.export.service import export_model

        bundle = export_model(
            trained_model(inputs["model"]),
            inputs.get("dataset"),
            folder,
            params["zip"],
            ctx.log,
            fingerprint,
            pipeline_dir=ctx.run.base_dir,
        )
        ctx.artifact("bundle", bundle.path)
        if bundle.zip_path:
            ctx.artifact("bundle_zip", bundle.zip_path)
        return {"bundle": bundle}

    def check(self, params: Mapping[str, Any], base_dir: Path | None) -> dict[str, str]:
        from workbench.export.target import target_problem
        from workbench.paths import resolve_output

        if not params["path"]:
            return {}  # inside the run's own folder: always new
        problem = target_problem(resolve_output(params["path"], base_dir), base_dir)  # where run() writes
        return {"path": problem} if problem else {}


class DeployPredict(NodeType):
    spec = NodeSpec(
        type_id="deploy.predict",
        title="Predict",
        category="deploy",
        help=(
            "Predicts a table with a trained model or an exported bundle (run by onnxruntime). Missing input "
            "columns are named, extra ones ignored, unseen categories counted, wrong-typed values reported by "
            "column and row."
        ),
        inputs=(
            PortSpec("model", MODEL, help="A trained model, or a bundle from deploy.export."),
            PortSpec("table", TABLE, help="New rows with the model's input columns."),
        ),
        outputs=(PortSpec("predictions", TABLE, help="prediction (+ proba_<class> columns) per input row."),),
        params=(
            P.Bool("proba", True, help="Add class probability columns (classification)."),
            P.Path(
                "output",
                "",
                mode="save",
                optional=True,
                filters=("CSV (*.csv)", "Parquet (*.parquet)"),
                help="Also write the predictions here (.csv or .parquet); empty: do not write.",
            ),
        ),
        summary=("output",),
    )

    def run(self, ctx: NodeContext, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from workbench.export.predictor import Predictor, write_table

        predictor = Predictor.from_any(inputs["model"])
        result = predictor.predict(inputs["table"], proba=params["proba"])
        for note in result.notes:
            (ctx.warn if note.startswith("values not seen") else ctx.log)(note)
        ctx.log(f"{len(result.table):,} prediction(s) from {predictor.source}")
        if params["output"]:
            path = write_table(result.table, ctx.resolve_path(params["output"], must_exist=False))
            ctx.artifact("predictions", path)
            ctx.log(f"predictions written to {path}")
        return {"predictions": result.table}


NODE_TYPES = (DeployExport, DeployPredict)

"""Copy runs from the run history into MLflow, for teams that track experiments there.

MLflow is never a dependency: ``workbench runs export-mlflow`` imports it inside the command (it adds ~7 s
of import time and ~90 MB frozen) and hands the module in, so this conversion is tested with a fake one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

INSTALL_HINT = "pip install mlflow"
MAX_PARAM_CHARS = 500  # the smallest limit MLflow servers have had for a parameter value


def _param_text(value: Any) -> str:
    import json

    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"


def export_runs(mlflow: Any, store: Any, records: Iterable[Any], uri: str, experiment: str) -> list[str]:
    """One MLflow run per record: parameters, final metrics, per-epoch curves (step = epoch), tags, the
    pipeline as it ran (an artifact). Returns the MLflow run ids."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    made = []
    for record in records:
        tags = {
            "workbench.run_id": record.run_id,
            "workbench.pipeline": record.pipeline_name,
            "workbench.status": record.status,
            "workbench.device": record.device,
            "workbench.run_dir": record.run_dir,
        }
        if record.sweep_id:
            tags |= {"workbench.sweep_id": record.sweep_id, "workbench.trial": str(record.trial),
                     "workbench.trial_state": record.trial_state}  # fmt: skip
        if record.note:
            tags["mlflow.note.content"] = record.note
        tags |= {f"tag.{t}": "true" for t in record.tags}
        with mlflow.start_run(run_name=record.title, tags=tags) as run:
            if record.params:
                mlflow.log_params({k: _param_text(v) for k, v in record.params.items()})
            finals = {k: v for k, v in record.metrics.items() if math.isfinite(v)}
            if finals:
                mlflow.log_metrics(finals)
            for node_id, curve in store.curves(record.run_id).items():
                for point in curve:
                    step = int(point.get("epoch", 0))
                    values = {
                        f"{node_id}.{k}": float(v)
                        for k, v in point.items()
                        if k != "epoch" and isinstance(v, int | float) and math.isfinite(v)
                    }
                    if values:
                        mlflow.log_metrics(values, step=step)
            pipeline = store.pipeline_json(record.run_id)
            if pipeline:
                mlflow.log_dict(pipeline, "pipeline.json")
            made.append(run.info.run_id)
    return made

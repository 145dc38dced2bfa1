"""The bundle's README.md: a model card saying what the model predicts, what it needs and how to run it."""

from __future__ import annotations

from typing import Any

_METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1_macro": "F1 (macro)",
    "roc_auc": "ROC-AUC",
    "log_loss": "Log loss",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "mape": "MAPE",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _column_notes(prep: dict[str, Any], column: str) -> str:
    notes = []
    for step in prep.get("steps", []):
        if step["op"] in ("onehot", "ordinal"):
            for enc in step["encodings"]:
                if enc["column"] == column:
                    shown = ", ".join(map(str, enc["categories"][:8]))
                    more = " …" if len(enc["categories"]) > 8 else ""
                    notes.append(f"known values: {shown}{more}; others go to an 'unseen' bucket")
        elif step["op"] == "impute" and column in step.get("columns", []):
            notes.append(f"missing → {_fmt(step['fill'][column])}")
        elif step["op"] == "datetime" and column in step.get("columns", []):
            notes.append(f"date, used as {', '.join(step['parts'])}")
        elif step["op"] == "zero_flags" and column in step.get("columns", []):
            notes.append(
                "also a 0/1 'was zero' input (zero and the smallest values are far apart in meaning)"
            )
    return "; ".join(notes)


def left_out(prep: dict[str, Any]) -> dict[str, str]:
    """Columns of the training table that were left out of the features, with the reason recorded at the
    split (a drop step that reads nothing: ID-like text such as names)."""
    found: dict[str, str] = {}
    for step in prep.get("steps", []):
        if step["op"] == "drop" and step.get("reasons"):
            for column in step["columns"]:
                if column not in step.get("features_in", []):
                    found[str(column)] = str(step["reasons"].get(column, ""))
    return found


def render(manifest: dict[str, Any], prep: dict[str, Any]) -> str:
    """Markdown text of the model card."""
    task, target = manifest["task"], manifest["target"]
    lines = [f"# Model: predicts `{target}`", ""]
    if task == "classification":
        classes = ", ".join(f"`{c}`" for c in manifest["classes"])
        lines.append(f"A classifier that predicts `{target}` as one of {classes}, with class probabilities.")
    else:
        lines.append(f"A regression model that predicts the number `{target}`.")
    window = manifest.get("window")
    if window:
        lines.append(
            f"It reads windows of {window['lookback']} consecutive rows and predicts {window['horizon']} row(s) "
            "after the last row of each window; the input rows must be in time order."
        )
    lines += [
        "",
        f"Exported by Model Workbench {manifest['versions'].get('model-workbench', '?')} on {manifest['created']}; "
        f"{manifest['n_parameters']:,} parameters; seed {manifest.get('seed')}.",
        "",
        "## Input columns",
        "",
        "| column | kind | notes |",
        "|---|---|---|",
    ]
    for column in manifest["input_columns"]:
        kind = manifest["input_schema"].get(column) or "?"
        lines.append(f"| `{column}` | {kind} | {_column_notes(prep, column)} |")
    lines += ["", "Extra columns are ignored. Values of the wrong kind are reported by column and row.", ""]
    skipped = left_out(prep)
    if skipped:
        lines += [
            "## Columns left out",
            "",
            "These columns of the training table are not used (nearly one different value per row: they identify "
            "a row rather than describe it). To use one anyway, name it in `data.split`'s features and train again.",
            "",
            "| column | why |",
            "|---|---|",
        ]
        lines += [f"| `{column}` | {why} |" for column, why in skipped.items()]
        lines.append("")
    figures = [(k, v) for k, v in manifest.get("metrics", {}).items() if k in _METRIC_NAMES]
    if figures:
        lines += ["## Metrics at export (test split)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {_METRIC_NAMES[k]} | {_fmt(v)} |" for k, v in figures]
        lines.append("")
    parity = manifest["parity"]
    lines += [
        "## How to run it",
        "",
        "Needs Python with pandas, numpy and onnxruntime (`pip install pandas numpy onnxruntime`):",
        "",
        "```",
        "python predict.py input.csv -o predictions.csv" + (" --proba" if task == "classification" else ""),
        "```",
        "",
        "The input may be CSV or TSV (separator, encoding and a decimal comma are detected) or Parquet; "
        "the output is CSV, or Parquet when its name ends in `.parquet`.",
        "",
        f"`model.onnx` takes a float32 input named `{manifest['onnx']['input']}` of shape "
        f"(batch, {', '.join(map(str, manifest['input_shape']))}) after the preprocessing in "
        "`preprocessing.json`, and returns raw outputs"
        + (
            " (one logit: sigmoid gives P(second class))"
            if manifest["head"] == "binary"
            else " (logits: softmax gives class probabilities)"
            if manifest["head"] == "multiclass"
            else ""
        )
        + ".",
        "`model.pt2` is the same network as a `torch.export` program (load it only from a source you trust).",
        "",
        "## Files",
        "",
        "- `model.onnx`, `model.pt2`: the network; `weights.safetensors` + `architecture.json`: for Model Workbench",
        "- `preprocessing.json`: input columns, fill values, category vocabularies, scaling, label mapping",
        "- `manifest.json`: task, schema, metrics, fingerprints, versions and checksums of every file",
        "",
        f"Parity at export on {parity['rows']} held-out rows (the trained model against each way of running "
        "the bundle; largest absolute and relative difference): "
        + "; ".join(
            f"{c['pair']} {c['max_abs_diff']:.2e} ({c['max_rel_diff']:.1e})"
            for c in parity.get("comparisons", [])
        )
        + ".",
        "",
    ]
    return "\n".join(lines)

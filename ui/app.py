"""Application entry: QApplication, name and icon, settings, theme, the main window — shown fast.

Only the catalog (light node modules) is loaded before the window shows; torch is imported in a
background thread afterwards to fill the device/precision labels and warm the first run.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

_IMPORTED_AT = time.perf_counter()

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal  # noqa: E402
from PySide6.QtGui import QGuiApplication, QIcon  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from ui.file_ops import example_files, is_pipeline_file  # noqa: E402
from ui.main_window import MainWindow  # noqa: E402
from ui.preferences import theme_mode  # noqa: E402
from ui.theme import apply_theme, set_preference  # noqa: E402
from workbench.paths import resource  # noqa: E402
from workbench.registry import NodeRegistry, builtin_registry  # noqa: E402
from workbench.templates import is_data_file  # noqa: E402

APP_NAME = "Model Workbench"
ORG_NAME = "ModelWorkbench"


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc), else since this module was imported."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(stat[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED_AT


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 32, 48, 64, 128, 256, 512):
        path = resource("icons", f"app-{size}.png")
        if path.is_file():
            icon.addFile(str(path))
    if icon.isNull():
        icon = QIcon(str(resource("icons", "app.svg")))
    return icon


WARM_MODULES = (
    "pandas",
    "workbench.engine.trainer",
    "workbench.engine.models",
    "workbench.engine.trained",
    "workbench.tabular.auto",
    "workbench.tabular.tensors",
    "workbench.tabular.io",
    "workbench.tabular.split",
)


def warm_imports() -> None:
    """Import what a first run needs, then freeze the heap.

    Importing these inside the first run created a few hundred thousand objects whose generation-2
    collections (50-90 ms, GIL held) stalled the window while the train node was starting.
    """
    import gc
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a run reports real import problems; this is only a warm-up
            pass
    if gc.isenabled():  # off while a window lives: then only the GUI thread collects (ui/gc_guard.py)
        gc.collect()
    gc.freeze()


class _Warmup(QObject):
    """Imports torch off the GUI thread; ``ready`` reaches the window's @Slot in the GUI thread."""

    ready = Signal(str, str)

    def start(self) -> None:
        threading.Thread(target=self._run, name="warmup", daemon=True).start()

    def _run(self) -> None:
        try:
            from workbench.engine.device import device_name, resolve_device, resolve_precision

            device = resolve_device("auto")
            warm_imports()
            self.ready.emit(device_name(device), resolve_precision("auto", device))
        except Exception as exc:  # noqa: BLE001 - the labels just say so; runs report real errors
            self.ready.emit(f"unavailable ({type(exc).__name__})", "—")
            return
        from ui.runner import TORCH_EXCLUSIVE

        if not TORCH_EXCLUSIVE.acquire(blocking=False):
            return  # a run already started: it exports the cold way rather than race torch.export
        try:  # then the exporter: the first real export drops from ~4 s to ~1.5 s (bench_export.py)
            from workbench.export.bundle import warm_exporter

            warm_exporter()
        except Exception:  # noqa: BLE001 - only a warm-up; an export reports its own errors
            pass
        finally:
            TORCH_EXCLUSIVE.release()


def make_app(argv: list[str]) -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication([sys.argv[0] if sys.argv else "workbench", *argv])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setDesktopFileName("model-workbench")
    app.setWindowIcon(app_icon())
    set_preference(theme_mode(QSettings()))
    apply_theme(app)
    return app


class _FirstPaint(QObject):
    """Records when the canvas is first painted: the moment a person sees the window."""

    painted = Signal()

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.seconds: float | None = None
        window.view.viewport().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if self.seconds is None and event.type() == QEvent.Type.Paint:
            self.seconds = process_age_s()
            self.window.shown_s = self.seconds  # type: ignore[attr-defined]
            QTimer.singleShot(0, self.painted.emit)
        return False


def create_window(files: list[str], registry: NodeRegistry | None = None) -> MainWindow:
    """The shown main window; opens ``files[0]`` or offers recovery / the examples on first start.

    ``window.shown_s`` is the seconds from process start to the first paint of the canvas.
    """
    settings = QSettings()
    window = MainWindow(registry if registry is not None else builtin_registry(), settings)
    window.setWindowIcon(app_icon())
    window.first_paint = _FirstPaint(window)  # type: ignore[attr-defined]
    first_start = not settings.value("started_before", False, type=bool)
    if first_start and settings.value("window/geometry") is None:
        screen = window.screen()
        if screen is not None:  # without a window manager showMaximized() alone keeps the default size
            window.setGeometry(screen.availableGeometry())
        window.showMaximized()  # the whole pipeline fits; later starts keep the user's size
    else:
        window.show()
    window.shown_s = process_age_s()  # type: ignore[attr-defined]  # refined at the first paint
    window.torch_before_show = "torch" in sys.modules  # type: ignore[attr-defined]

    done: list[bool] = []

    def after_show() -> None:
        if done:
            return
        done.append(True)
        window.log.add(f"Window shown {window.shown_s:.2f} s after launch")  # type: ignore[attr-defined]
        if files:
            path = Path(files[0])
            if path.is_file() and is_data_file(path) and not is_pipeline_file(path):
                window.files.new_from_data(path)  # ``workbench data.csv``: the drop dialog for it
            else:
                window.files.open(files[0], ask=False)
        elif not window.files.offer_recovery() and not settings.value("started_before", False, type=bool):
            examples = example_files()
            quick = next((p for p in examples if "quick" in p.stem), examples[0] if examples else None)
            if quick is not None:
                window.files.open_example(quick)
        settings.setValue("started_before", True)

    window.first_paint.painted.connect(after_show)  # type: ignore[attr-defined]
    QTimer.singleShot(3000, after_show)  # in case the canvas is never painted (minimised, hidden)
    return window


def main(argv: list[str] | None = None, registry: NodeRegistry | None = None) -> int:
    """Run the desktop app; ``argv`` may hold one pipeline file to open, or a data file to start from.

    ``--self-test [PIPELINE] [--set NODE.PARAM=VALUE ...]`` runs ``ui.selftest`` instead (offscreen).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in args:
        from ui.selftest import main as self_test

        return self_test(args)
    files = [a for a in args if not a.startswith("-")]
    app = make_app([a for a in args if a.startswith("-")])
    window = create_window(files, registry)
    warmup = _Warmup(window)
    warmup.ready.connect(window.set_device)
    window.first_paint.painted.connect(lambda: QTimer.singleShot(200, warmup.start))  # type: ignore[attr-defined]
    # Build the plots (pyqtgraph import, ~0.4 s) once the window is up, before the first Run needs them.
    window.first_paint.painted.connect(lambda: QTimer.singleShot(600, window.panels.warm))  # type: ignore[attr-defined]
    if os.environ.get("WORKBENCH_STARTUP_REPORT"):
        # Measurement hook: print when the window is first painted, then leave.
        def report() -> None:
            shown = round(window.shown_s, 3)  # type: ignore[attr-defined]
            torch_first = window.torch_before_show  # type: ignore[attr-defined]
            print(json.dumps({"window_shown_s": shown, "torch_imported_before_show": torch_first}))
            window.document.close()
            app.quit()

        window.first_paint.painted.connect(report)  # type: ignore[attr-defined]
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())

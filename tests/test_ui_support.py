"""Shared helpers for the UI tests: scripted dialogs, a window over the fake registry, mouse helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakes import FAKE_TYPES
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtWidgets import QApplication

from ui import dialogs as D
from ui.document import Document
from ui.main_window import MainWindow
from workbench import params as P
from workbench import ports
from workbench.nodes.base import NodeSpec, NodeType, PortSpec
from workbench.ports import TABLE
from workbench.registry import NodeRegistry


class Layers(NodeType):
    """A fake model node with a layer stack and column params, for the inspector tests."""

    spec = NodeSpec(
        "fake.mlp",
        "MLP",
        "model",
        help="A stack of dense layers.",
        inputs=(PortSpec("table", TABLE),),
        outputs=(PortSpec("table", TABLE),),
        params=(
            P.ListOf(
                "layers",
                ({"units": 64, "activation": "relu"},),
                fields=(
                    P.Int("units", 64, minimum=1, maximum=4096),
                    P.Choice("activation", "relu", choices=("relu", "gelu", "tanh")),
                ),
                min_items=1,
            ),
            P.Column("target", "", source="table", help="the column to predict"),
            P.Columns("features", (), source="table"),
            P.Float("lr", 0.001, minimum=0.0, log_scale=True),
            P.Bool("shuffle", True),
        ),
        summary=("layers",),
    )

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"table": inputs["table"]}


class Frame:
    """A table-like value with columns (what a DataFrame offers the inspector)."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns

    def __add__(self, other: Any) -> Frame:
        return self


ports.register_value(Frame, TABLE, columns=lambda frame: frame.columns)  # the inspector's columns_of


class FrameSource(NodeType):
    spec = NodeSpec("fake.frame", "Frame", "collect", outputs=(PortSpec("table", TABLE),))

    def run(self, ctx: Any, inputs: Any, params: Any) -> dict[str, Any]:
        return {"table": Frame(["age", "income", "label"])}


def ui_registry() -> NodeRegistry:
    return NodeRegistry((*FAKE_TYPES, Layers, FrameSource))


class ScriptedDialogs:
    """Answers every question from a script and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []
        self.unsaved_answer = D.CANCEL
        self.recovery_answer = D.RESTORE
        self.open_answer: Path | None = None
        self.save_answer: Path | None = None
        self.stop_answer = True
        self.text_answer: str | None = None
        self.preference_answers: dict[str, str] = {}

    def unsaved_changes(self, name: str) -> str:
        self.asked.append(("unsaved", name))
        return self.unsaved_answer

    def open_path(self, folder: str = "") -> Path | None:
        self.asked.append(("open", folder))
        return self.open_answer

    def save_path(self, suggested: str = "") -> Path | None:
        self.asked.append(("save", suggested))
        return self.save_answer

    def error(self, title: str, text: str) -> None:
        self.asked.append(("error", text))

    def offer_recovery(self, recovery: Any) -> str:
        self.asked.append(("recovery", recovery))
        return self.recovery_answer

    def confirm_stop_run(self) -> bool:
        self.asked.append(("stop", None))
        return self.stop_answer

    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        self.asked.append(("text", text))
        return self.text_answer

    def preferences(self, settings: Any) -> bool:
        from ui.preferences import PreferencesDialog

        dialog = PreferencesDialog(settings)
        for name, value in self.preference_answers.items():
            box = getattr(dialog, name)
            box.setCurrentIndex(box.findData(value))
        self.asked.append(("preferences", dict(self.preference_answers)))
        dialog.accept()
        return True

    def info(self, title: str, text: str) -> None:
        self.asked.append(("info", text))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.asked]


def make_window(
    qtbot: Any, tmp_path: Path, document: Document | None = None
) -> tuple[MainWindow, ScriptedDialogs]:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(ui_registry(), settings, document)
    dialogs = ScriptedDialogs()
    window.dialogs = dialogs  # type: ignore[assignment]
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitExposed(window)
    return window, dialogs


def vpos(window: MainWindow, scene_point: QPointF) -> QPoint:
    """A scene point in the view's viewport coordinates (where mouse events go)."""
    return window.view.mapFromScene(scene_point)


def drag(qtbot: Any, window: MainWindow, start: QPointF, end: QPointF, steps: int = 5) -> None:
    viewport = window.view.viewport()
    a, b = vpos(window, start), vpos(window, end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for i in range(1, steps + 1):
        qtbot.mouseMove(viewport, a + (b - a) * i / steps)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)
    QApplication.processEvents()


def port_pos(window: MainWindow, node_id: str, port: str, output: bool) -> QPointF:
    item = window.scene.nodes[node_id].port(port, output)
    assert item is not None
    return item.scene_centre()


def wait_run(qtbot: Any, window: MainWindow, timeout: int = 10_000) -> Any:
    qtbot.waitUntil(lambda: window.runner.thread is None, timeout=timeout)
    return window.runner.last_result

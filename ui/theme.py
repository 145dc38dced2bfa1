"""Light/dark theme following the system, stage and port colours, and the app stylesheet.

Colours live here (not in the items) so the canvas, palette and inspector agree, and a dark system theme
gets readable contrast everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from workbench.paths import resource

STAGE_COLOURS: dict[str, str] = {
    "collect": "#3b82f6",
    "clean": "#14b8a6",
    "transform": "#8b5cf6",
    "model": "#f59e0b",
    "train": "#ef4444",
    "evaluate": "#22c55e",
    "deploy": "#64748b",
    "other": "#94a3b8",
}

PORT_COLOURS: dict[str, str] = {
    "table": "#3b82f6",
    "dataset": "#8b5cf6",
    "model_spec": "#f59e0b",
    "model": "#ef4444",
    "history": "#ec4899",
    "report": "#22c55e",
    "bundle": "#64748b",
    "any": "#a3a3a3",
}

STATE_COLOURS: dict[str, str] = {
    "idle": "#00000000",
    "queued": "#a3a3a3",
    "running": "#3b82f6",
    "done": "#22c55e",
    "cached": "#14b8a6",
    "failed": "#ef4444",
    "skipped": "#a3a3a3",
    "stale": "#f59e0b",
    "stopped": "#f59e0b",
}


_preference = "system"  # from Preferences: system | light | dark


def set_preference(mode: str) -> None:
    global _preference
    _preference = mode if mode in ("light", "dark") else "system"


@dataclass(frozen=True)
class Palette:
    dark: bool
    canvas: QColor
    grid: QColor
    node_body: QColor
    node_border: QColor
    node_selected: QColor
    text: QColor
    muted: QColor
    error: QColor


def stage_colour(category: str) -> QColor:
    return QColor(STAGE_COLOURS.get(category, STAGE_COLOURS["other"]))


def port_colour(port_type: str) -> QColor:
    return QColor(PORT_COLOURS.get(port_type, PORT_COLOURS["any"]))


def state_colour(state: str) -> QColor:
    return QColor(STATE_COLOURS.get(state, "#a3a3a3"))


def is_dark() -> bool:
    """Follow the system; ``WORKBENCH_THEME=dark|light`` forces one (screenshots, testing)."""
    forced = os.environ.get("WORKBENCH_THEME", "").lower() or _preference
    if forced in ("dark", "light"):
        return forced == "dark"
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


def colours() -> Palette:
    dark = is_dark()
    if dark:
        return Palette(
            True,
            QColor("#1e1f22"),
            QColor("#2a2c30"),
            QColor("#2b2d31"),
            QColor("#4a4d55"),
            QColor("#f5c542"),
            QColor("#e6e6e6"),
            QColor("#9aa0a6"),
            QColor("#f87171"),
        )
    return Palette(
        False,
        QColor("#f4f5f7"),
        QColor("#e3e5e8"),
        QColor("#ffffff"),
        QColor("#b8bcc4"),
        QColor("#d97706"),
        QColor("#1f2328"),
        QColor("#5f6670"),
        QColor("#dc2626"),
    )


def apply_theme(app: QApplication) -> None:
    """Fusion style (same look on every OS), a dark palette when the system is dark, and our stylesheet."""
    app.setStyle("Fusion")
    app.setPalette(app.style().standardPalette())
    if is_dark():
        pal = QPalette()
        base, window, text = QColor("#1e1f22"), QColor("#2b2d31"), QColor("#e6e6e6")
        for role, colour in (
            (QPalette.ColorRole.Window, window),
            (QPalette.ColorRole.WindowText, text),
            (QPalette.ColorRole.Base, base),
            (QPalette.ColorRole.AlternateBase, window),
            (QPalette.ColorRole.Text, text),
            (QPalette.ColorRole.Button, window),
            (QPalette.ColorRole.ButtonText, text),
            (QPalette.ColorRole.ToolTipBase, window),
            (QPalette.ColorRole.ToolTipText, text),
            (QPalette.ColorRole.Highlight, QColor("#3b82f6")),
            (QPalette.ColorRole.HighlightedText, QColor("#ffffff")),
            (QPalette.ColorRole.PlaceholderText, QColor("#8a8f98")),
        ):
            pal.setColor(role, colour)
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078"))
        app.setPalette(pal)
    sheet = resource("styles", "dark.qss" if is_dark() else "light.qss")
    common = resource("styles", "common.qss")
    text = ""
    for path in (common, sheet):
        if path.is_file():
            text += path.read_text(encoding="utf-8") + "\n"
    app.setStyleSheet(text)

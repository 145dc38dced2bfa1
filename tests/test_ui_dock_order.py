"""A new window opens its bottom docks on the Log, not on the last tab added (Runs showed other runs)."""

from __future__ import annotations

from test_ui_support import make_window


def test_the_bottom_docks_open_on_the_log(qtbot, tmp_path) -> None:
    window, _ = make_window(qtbot, tmp_path)
    shown = [name for name in ("log", "data", "training", "results", "images", "runs")
             if name in window.docks and not window.docks[name].visibleRegion().isEmpty()]  # fmt: skip
    assert shown == ["log"]

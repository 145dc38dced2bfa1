"""Every question the window asks the user, in one replaceable object (tests swap in scripted answers)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from workbench.project import Recovery

PIPELINE_FILTER = "Pipelines (*.json *.workbench.json);;All files (*)"
SAVE, DISCARD, CANCEL = "save", "discard", "cancel"
RESTORE, LATER = "restore", "later"


class Dialogs:
    def __init__(self, parent: QWidget) -> None:
        self.parent = parent

    def unsaved_changes(self, name: str) -> str:
        """SAVE, DISCARD or CANCEL."""
        answer = QMessageBox.warning(
            self.parent,
            "Unsaved changes",
            f"Save the changes to “{name}” before closing it?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        return {QMessageBox.StandardButton.Save: SAVE, QMessageBox.StandardButton.Discard: DISCARD}.get(
            answer, CANCEL
        )

    def open_path(self, folder: str = "") -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(self.parent, "Open pipeline", folder, PIPELINE_FILTER)
        return Path(chosen) if chosen else None

    def save_path(self, suggested: str = "") -> Path | None:
        chosen, _ = QFileDialog.getSaveFileName(self.parent, "Save pipeline as", suggested, PIPELINE_FILTER)
        if not chosen:
            return None
        path = Path(chosen)
        return path if path.suffix else path.with_suffix(".json")

    def open_picture(self, folder: str = "") -> Path | None:
        """A picture file for "Try an image" (the image views)."""
        from ui.views.image_views_results import PICTURE_FILTER

        chosen, _ = QFileDialog.getOpenFileName(self.parent, "Try an image", folder, PICTURE_FILTER)
        return Path(chosen) if chosen else None

    def error(self, title: str, text: str) -> None:
        QMessageBox.critical(self.parent, title, text)

    def offer_recovery(self, recovery: Recovery) -> str:
        """RESTORE the autosaved copy, DISCARD it, or decide LATER (kept for the next start)."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        name = recovery.original.name if recovery.original else "an untitled pipeline"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Recover unsaved work",
            f"Model Workbench did not close normally. An autosaved copy of {name} "
            f"from {when} is available.\n\nRestore it?",
            parent=self.parent,
        )
        restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        clicked = box.clickedButton()
        return RESTORE if clicked is restore else DISCARD if clicked is discard else LATER

    def confirm_stop_run(self) -> bool:
        answer = QMessageBox.question(
            self.parent, "A run is in progress", "Stop the running pipeline and close?"
        )
        return answer == QMessageBox.StandardButton.Yes

    def ask_text(self, title: str, label: str, text: str = "") -> str | None:
        value, ok = QInputDialog.getText(self.parent, title, label, text=text)
        return value if ok else None

    def preferences(self, settings: QSettings) -> bool:
        from ui.preferences import PreferencesDialog

        return PreferencesDialog(settings, self.parent).exec() == PreferencesDialog.DialogCode.Accepted

    def info(self, title: str, text: str) -> None:
        QMessageBox.information(self.parent, title, text)

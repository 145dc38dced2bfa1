"""Preferences kept in QSettings: the device runs use and the colour theme."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

DEVICES = (
    ("auto", "Automatic (GPU when available)"),
    ("cpu", "CPU"),
    ("cuda", "NVIDIA GPU (CUDA)"),
    ("mps", "Apple GPU (MPS)"),
)
THEMES = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))


def device(settings: QSettings) -> str:
    value = str(settings.value("run/device", "auto"))
    return value if value in dict(DEVICES) else "auto"


def theme_mode(settings: QSettings) -> str:
    value = str(settings.value("ui/theme", "system"))
    return value if value in dict(THEMES) else "system"


class PreferencesDialog(QDialog):
    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        self.device = QComboBox()
        for key, label in DEVICES:
            self.device.addItem(label, key)
        self.device.setCurrentIndex(self.device.findData(device(settings)))
        self.theme = QComboBox()
        for key, label in THEMES:
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(self.theme.findData(theme_mode(settings)))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Train on", self.device)
        form.addRow("Colours", self.theme)
        note = QLabel("A node's own device setting, where it has one, wins over this.")
        note.setObjectName("nodeHelp")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.setValue("run/device", self.device.currentData())
        self.settings.setValue("ui/theme", self.theme.currentData())
        super().accept()

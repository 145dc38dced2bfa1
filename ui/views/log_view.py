"""The run log panel: one line per log record, errors in the error colour, bounded in size."""

from __future__ import annotations

import time

from PySide6.QtGui import QTextCharFormat
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from ui import theme


class LogView(QPlainTextEdit):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setPlaceholderText("Run messages appear here.")

    def add(self, message: str, level: str = "info", node_id: str = "") -> None:
        where = f"[{node_id}] " if node_id else ""
        line = f"{time.strftime('%H:%M:%S')} {where}{message}"
        fmt = QTextCharFormat()
        if level == "error":
            fmt.setForeground(theme.colours().error)
        elif level in ("warning", "debug"):
            fmt.setForeground(theme.colours().muted)
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if not self.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(line, fmt)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    def lines(self) -> list[str]:
        return self.toPlainText().splitlines()

"""File → Export run script…: hand the pipeline to a bigger machine.

The folder it writes (pipeline, pinned requirements.txt, run.sh with the torchrun line) comes from the
headless core, ``workbench.distributed.script``; this module only asks where and how many processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

TITLE = "Export run script"


def export_run_script(
    window: Any, folder: str | None = None, nproc: int | None = None
) -> dict[str, Any] | None:
    """Ask for an empty folder and a process count (unless given), write the folder, say what to run."""
    from workbench.distributed.script import default_nproc, write_run_script
    from workbench.errors import UserError

    parent: QWidget = window
    document = window.document
    if folder is None:
        start = str(document.path.parent) if document.path else str(Path.home())
        folder = QFileDialog.getExistingDirectory(parent, f"{TITLE}: choose a new or empty folder", start)
        if not folder:
            return None
    if nproc is None:
        nproc, ok = QInputDialog.getInt(
            parent, TITLE, "Processes per machine (one per GPU, or CPU processes):", default_nproc(), 1, 4096
        )
        if not ok:
            return None
    try:
        result = write_run_script(document.pipeline, folder, nproc)
    except (UserError, OSError) as exc:
        QMessageBox.warning(parent, TITLE, str(exc))
        return None
    text = (
        f"Wrote {result['folder']}:\npipeline.json, requirements.txt, run.sh, README.md\n\n"
        "On the bigger machine:\n  pip install -r requirements.txt\n  ./run.sh"
    )
    if result["missing"]:
        text += "\n\nNot found here (copy the data and edit pipeline.json there):\n  " + "\n  ".join(
            result["missing"]
        )
    box = QMessageBox(QMessageBox.Icon.Information, TITLE, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("runScriptDone")
    box.open()  # not exec(): the window keeps running (and tests need not click it)
    return result

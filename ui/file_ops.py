"""File menu behaviour: new, open, examples, save, recent files, unsaved-changes prompts and crash recovery.

A file that fails to load is only read (the core guarantees it), the error is shown, and the current
document stays open.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from ui import dialogs as D
from ui.document import Document
from workbench.errors import PipelineFileError, WorkbenchError
from workbench.paths import resource
from workbench.project import scan_recoveries

if TYPE_CHECKING:
    from ui.main_window import MainWindow

MAX_RECENT = 8


def example_files() -> list[Path]:
    folder = resource("examples")
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


class FileOps:
    def __init__(self, window: MainWindow) -> None:
        self.window = window

    @property
    def document(self) -> Document:
        return self.window.document

    def _new_document(self, **kwargs: object) -> Document:
        return Document(registry=self.window.registry, **kwargs)  # type: ignore[arg-type]

    # -- prompts
    def maybe_save(self) -> bool:
        """Ask about unsaved changes; True when it is fine to drop the current document."""
        if not self.document.dirty:
            return True
        answer = self.window.dialogs.unsaved_changes(self.document.title)
        if answer == D.SAVE:
            return self.save()
        return answer == D.DISCARD

    # -- commands
    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self.window.set_document(self._new_document())
        return True

    def open(self, path: str | Path | None = None, ask: bool = True) -> bool:
        if ask and not self.maybe_save():
            return False
        if path is None:
            folder = str(self.document.path.parent) if self.document.path else ""
            path = self.window.dialogs.open_path(folder)
            if path is None:
                return False
        try:
            document = Document.open(path, self.window.registry)
        except PipelineFileError as exc:
            self.window.dialogs.error("Cannot open the pipeline", str(exc))
            self.window.statusBar().showMessage(f"Could not open {Path(path).name}: {exc}", 15000)
            return False
        self.window.set_document(document)
        self.add_recent(document.path)
        for warning in document.pipeline.load_warnings:
            self.window.log.add(warning, "warning")
        return True

    def open_example(self, path: Path) -> bool:
        """Open a bundled example as an untitled copy, so Save never writes into the app's resources."""
        if not self.maybe_save():
            return False
        try:
            document = Document.open(path, self.window.registry)
        except PipelineFileError as exc:
            self.window.dialogs.error("Cannot open the example", str(exc))
            return False
        document.path = None  # the pipeline keeps its folder for relative data paths
        self.window.set_document(document)
        self.window.view.frame_pipeline()
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        suggested = str(self.document.path or Path.home() / "pipeline.json")
        path = self.window.dialogs.save_path(suggested)
        return path is not None and self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        """Save, or say in one line why not; on failure the document stays open, unsaved and autosaved."""
        try:
            self.document.save(path)
        except (OSError, ValueError, WorkbenchError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            line = f"Not saved: {path}: {reason}" if isinstance(exc, OSError) else f"Not saved: {reason}"
            self.window.dialogs.error("Cannot save", line)
            self.window.log.add(line, "error")
            self.window.statusBar().showMessage(line, 15000)
            self.document.autosave()  # the recovery copy is still the safety net
            return False
        self.add_recent(self.document.path)
        self.window.statusBar().showMessage(f"Saved {self.document.path}", 5000)
        return True

    # -- recent files
    def recent(self) -> list[str]:
        value = self.window.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: Path | None) -> None:
        if path is None:
            return
        items = [str(path)] + [p for p in self.recent() if p != str(path)]
        self.window.settings.setValue("recent_files", items[:MAX_RECENT])
        self.window.refresh_recent_menu()

    # -- crash recovery
    def offer_recovery(self) -> bool:
        """Offer autosaved copies left by sessions that ended without closing; True when one was restored.

        Unreadable recovery files are skipped, one log line each naming the file, and never hide good ones.
        """
        scan = scan_recoveries()
        for problem in scan.problems:
            self.window.log.add(f"Skipped an unreadable recovery file: {problem}", "warning")
        if scan.problems:
            count = len(scan.problems)
            note = f"{count} unreadable recovery file{'s' if count > 1 else ''} skipped (see the log)"
            self.window.statusBar().showMessage(note, 15000)
        for recovery in scan.found:
            answer = self.window.dialogs.offer_recovery(recovery)
            if answer == D.LATER:
                return False
            if answer == D.DISCARD:
                with contextlib.suppress(OSError):
                    recovery.path.unlink(missing_ok=True)
                continue
            try:
                pipeline = recovery.load(self.window.registry)
            except (WorkbenchError, OSError, ValueError) as exc:  # ValueError: a plugin's param migration
                self.window.dialogs.error("Cannot restore", str(exc))
                self.window.log.add(f"Could not restore: {exc}", "warning")
                continue
            pipeline.path = recovery.original
            document = Document(pipeline)
            document.path = recovery.original
            document.mark_restored()  # written to this session's own recovery file before the old one goes
            self.window.set_document(document)
            with contextlib.suppress(OSError):
                recovery.path.unlink(missing_ok=True)
            self.window.statusBar().showMessage("Restored the autosaved copy; save it to keep it", 10000)
            return True
        return False

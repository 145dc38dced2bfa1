"""One open pipeline: its model, undo stack, file path, dirty flag and autosave — the UI's only way to edit.

Views call ``Document.push(command)``; a refused edit (the core's typed GraphError/ParamError) is reported
through ``message`` instead of raising, so the status bar can say why.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from workbench import commands as C
from workbench.errors import WorkbenchError
from workbench.graph import GraphError, Pipeline
from workbench.params import ParamError
from workbench.project import SESSION_ID, load_pipeline, recovery_file, save_pipeline, write_recovery
from workbench.registry import NodeRegistry, UnknownNodeType

AUTOSAVE_MS = 30_000
STRUCTURAL = (C.AddNode, C.RemoveNodes, C.Connect, C.Disconnect, C.PasteGroup, C.Macro)
_counter = itertools.count(1)


class Document(QObject):
    """Owns a Pipeline and its CommandStack; emits Qt signals when they change."""

    changed = Signal()  # after every push/undo/redo/clean change
    dirty_changed = Signal(bool)
    path_changed = Signal(object)  # Path | None
    message = Signal(str)  # a user-facing note (refused edits)

    def __init__(
        self,
        pipeline: Pipeline | None = None,
        registry: NodeRegistry | None = None,
        parent: QObject | None = None,
        autosave_ms: int = AUTOSAVE_MS,
        recovery_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.pipeline = pipeline if pipeline is not None else Pipeline(registry)
        self.registry = self.pipeline.registry
        self.stack = C.CommandStack(self.pipeline)
        self.path: Path | None = self.pipeline.path
        self._dirty = False
        self._restored = False  # a recovered copy differs from its file until saved
        self._autosave_pending = False
        # The session id keeps a new session whose pid was reused from overwriting (or, on close, deleting) the
        # recovery file of the crashed session that had that pid.
        key = f"session-{os.getpid()}-{SESSION_ID}-{next(_counter)}"
        self.recovery_path = recovery_file(key, recovery_dir)
        self.stack.listeners.append(self._on_stack)
        self._timer = QTimer(self)
        self._timer.setInterval(autosave_ms)
        self._timer.timeout.connect(self.autosave)
        self._timer.start()

    # -- files
    @classmethod
    def open(
        cls,
        path: str | Path,
        registry: NodeRegistry | None = None,
        parent: QObject | None = None,
        **kwargs: object,
    ) -> Document:
        """Load a pipeline file (raises PipelineFileError; the file is never modified)."""
        pipeline = load_pipeline(path, registry)
        return cls(pipeline, parent=parent, **kwargs)  # type: ignore[arg-type]

    def save(self, path: str | Path | None = None) -> None:
        """Atomic save; marks the document clean and drops its recovery file.

        Raises OSError or PipelineFileError with the document still dirty and its recovery file kept.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no file name yet; use save(path)")
        save_pipeline(self.pipeline, target)
        old = self.path
        self.path = self.pipeline.path
        self._restored = False
        self.stack.set_clean()
        self.discard_recovery()
        if old != self.path:
            self.path_changed.emit(self.path)

    @property
    def title(self) -> str:
        return self.path.name if self.path else "Untitled"

    @property
    def dirty(self) -> bool:
        return self._dirty

    # -- editing
    def push(self, command: C.Command, merge: bool = True) -> bool:
        """Run ``command`` on the undo stack; on a refused edit emit ``message`` and return False."""
        try:
            self.stack.push(command, merge=merge)
        except (GraphError, ParamError, WorkbenchError, UnknownNodeType) as exc:
            self.message.emit(str(exc))
            return False
        if isinstance(command, STRUCTURAL):
            self.autosave()
        return True

    def undo(self) -> None:
        command = self.stack.undo()
        if command is not None:
            self.message.emit(f"Undid {command.text}")
            self.autosave()

    def redo(self) -> None:
        command = self.stack.redo()
        if command is not None:
            self.message.emit(f"Redid {command.text}")
            self.autosave()

    def mark_restored(self) -> None:
        """This document came from a recovery file: unsaved until saved, and autosaved again at once."""
        self._restored = True
        self._autosave_pending = True
        self._on_stack()
        self.autosave()

    def _on_stack(self) -> None:
        dirty = not self.stack.is_clean or self._restored
        self._autosave_pending = self._autosave_pending or dirty
        if not dirty:
            self._autosave_pending = False
            self.discard_recovery()  # back at the saved state: nothing to recover
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)
        self.changed.emit()

    # -- autosave / recovery
    def autosave(self) -> None:
        """Write the recovery file when there are unsaved changes (timer, and after structural edits)."""
        if not self._dirty or not self._autosave_pending:
            return
        try:
            write_recovery(self.pipeline, self.recovery_path, self.path)
            self._autosave_pending = False
        except (OSError, WorkbenchError) as exc:
            self.message.emit(f"Autosave failed: {exc}")

    def discard_recovery(self) -> None:
        """Called on save and on a clean close: a recovery file then means a crash."""
        with contextlib.suppress(OSError):
            self.recovery_path.unlink(missing_ok=True)

    def close(self) -> None:
        self._timer.stop()
        self.discard_recovery()
        self.stack.listeners.clear()

"""File menu behaviour: new, open, examples, save, recent files, unsaved-changes prompts and crash recovery.

A file that fails to load is only read (the core guarantees it), the error is shown, and the current
document stays open.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from ui import dialogs as D
from ui.data_dialog import CANCEL, REPLACE, DataDialog, DataQuestions
from ui.document import Document
from workbench import commands as C
from workbench.errors import PipelineFileError, UserError, WorkbenchError
from workbench.paths import resource
from workbench.project import scan_recoveries
from workbench.templates import is_data_file, standard_pipeline, suggested_name

if TYPE_CHECKING:
    from ui.main_window import MainWindow

MAX_RECENT = 8


def is_pipeline_file(path: Path) -> bool:
    """A pipeline rather than a data file: any ``.json`` except one that starts as an array of records."""
    if path.suffix.lower() != ".json":
        return False
    if path.name.lower().endswith((".pipeline.json", ".workbench.json")):
        return True
    try:
        with open(path, "rb") as handle:
            return not handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")
    except OSError:
        return True  # opening it as a pipeline reports the problem


def example_files() -> list[Path]:
    folder = resource("examples")
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


class FileOps:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.questions = DataQuestions(window)  # tests swap in scripted answers
        self.data_dialog: DataDialog | None = None  # the last one opened (tests and the start page look)

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
        suggested = str(self.document.path or self.suggested_path())
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

    def suggested_path(self) -> Path:
        """``name.pipeline.json`` (the examples' and the MIME type's pattern) for an unsaved pipeline: named after
        its title, in its data file's folder when that is known, else the home folder."""
        pipeline = self.document.pipeline
        folder = Path.home()
        for node in pipeline.nodes:
            value = str(node.params.get("path", "")) if node.type == "data.file" else ""
            if value and Path(value).expanduser().is_absolute() and Path(value).expanduser().parent.is_dir():
                folder = Path(value).expanduser().parent
                break
        return folder / suggested_name(str(pipeline.meta.get("title") or "pipeline"))

    # -- new from a data file
    def drop_paths(self, paths: list[str | Path]) -> bool:
        """Files dropped on the window: the first data file starts the new-from-data flow, a pipeline opens."""
        for raw in paths:
            path = Path(raw)
            if not path.is_file():
                continue
            if is_pipeline_file(path):
                return self.open(path)
            if is_data_file(path):
                self.new_from_data(path)
                return True
        self.window.statusBar().showMessage(
            "Drop a data file (CSV, TSV, TXT, Parquet, Excel, JSON) or a pipeline (.pipeline.json)", 10000
        )
        return False

    def selected_data_node(self) -> str | None:
        """The selected data.file node, whose file a second drop may replace."""
        selected = self.window.scene.selected_node_ids()
        pipeline = self.document.pipeline
        found = [n for n in selected if n in pipeline and pipeline.node(n).type == "data.file"]
        return found[0] if len(found) == 1 else None

    def new_from_data(self, path: str | Path | None = None) -> DataDialog | None:
        """Show the data dialog for ``path`` (asked when None); it builds the standard pipeline (and runs it).

        With a data.file node selected, first offer to replace that node's file instead (one undo step).
        """
        if path is None:
            folder = self.recent("recent_data")[:1]
            path = self.questions.open_data_path(str(Path(folder[0]).parent) if folder else "")
            if path is None:
                return None
        path = Path(path).expanduser().absolute()
        replace = self.selected_data_node()
        if replace is not None:
            answer = self.questions.replace_or_new(replace, path.name)
            if answer == CANCEL:
                return None
            if answer == REPLACE:
                if self.document.push(C.SetParam(replace, "path", str(path))):
                    self.add_recent(path, "recent_data")
                    self.window.statusBar().showMessage(f"{replace}: data file is now {path.name}", 10000)
                return None
        dialog = DataDialog(path, self.window)
        dialog.build_requested.connect(lambda run: self.build_from(dialog, run))
        dialog.finished.connect(dialog.deleteLater)
        self.data_dialog = dialog
        dialog.open()
        return dialog

    def build_from(self, dialog: DataDialog, run: bool) -> bool:
        """Build the standard pipeline for the dialog's file and choice in a new document; run it if asked."""
        if not self.maybe_save():
            return False
        target, task = dialog.choice()
        try:
            pipeline, _ = standard_pipeline(
                dialog.path, target=target, task=task, frame=dialog.frame, guessed=dialog.guess,
                registry=self.window.registry,
            )  # fmt: skip
        except UserError as exc:
            self.window.dialogs.error("Cannot build the pipeline", str(exc))
            return False
        document = self._new_document()
        document.pipeline.meta.update(pipeline.meta)
        steps: list[C.Command] = [
            C.AddNode(node.type, node.position, node.params, node_id=node.id) for node in pipeline.nodes
        ]
        steps += [C.Connect(k.source, k.source_port, k.target, k.target_port) for k in pipeline.links]
        document.push(C.Macro(f"new pipeline from {dialog.path.name}", steps))
        self.window.set_document(document)
        self.add_recent(dialog.path, "recent_data")
        self.window.log.add(f"New pipeline from {dialog.path.name}: {pipeline.meta.get('description', '')}")
        if run:
            self.window.run_all()
        return True

    # -- recent files
    def recent(self, key: str = "recent_files") -> list[str]:
        """Recent pipelines (``recent_files``) or data files (``recent_data``), newest first."""
        value = self.window.settings.value(key, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: Path | None, key: str = "recent_files") -> None:
        if path is None:
            return
        items = [str(path)] + [p for p in self.recent(key) if p != str(path)]
        self.window.settings.setValue(key, items[:MAX_RECENT])
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

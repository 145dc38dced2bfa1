"""Edit menu behaviour: delete, copy/cut/paste/duplicate, select all, rename, node help — all as commands."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QApplication

from workbench import commands as C
from workbench.ports import title as port_title

if TYPE_CHECKING:
    from ui.main_window import MainWindow


class EditOps:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self._paste_count = 0

    @property
    def scene(self) -> Any:
        return self.window.scene

    def delete(self) -> bool:
        nodes = self.scene.selected_node_ids()
        links = [k for k in self.scene.selected_links() if k.source not in nodes and k.target not in nodes]
        commands: list[C.Command] = [C.Disconnect(k) for k in links]
        if nodes:
            commands.append(C.RemoveNodes(nodes))
        if not commands:
            return False
        command = commands[0] if len(commands) == 1 else C.Macro("delete selection", commands)
        return self.window.document.push(command)

    def copy(self) -> bool:
        nodes = self.scene.selected_node_ids()
        if not nodes:
            return False
        group = C.copy_group(self.window.document.pipeline, nodes)
        # Plain JSON text with a marker, not a Python-made QMimeData: the clipboard (a Qt static) would
        # destroy such an object after Python has shut down, which crashes the process at exit.
        QApplication.clipboard().setText(json.dumps(group))
        self._paste_count = 0
        return True

    def cut(self) -> bool:
        return self.copy() and self.delete()

    def paste(self) -> bool:
        raw = QApplication.clipboard().text()
        try:
            group = json.loads(raw)
        except (ValueError, RecursionError):
            return False
        if not isinstance(group, dict) or group.get("workbench_clipboard") != 1:
            return False
        self._paste_count += 1
        return self._paste(group, 40.0 * self._paste_count)

    def duplicate(self) -> bool:
        nodes = self.scene.selected_node_ids()
        if not nodes:
            return False
        return self._paste(C.copy_group(self.window.document.pipeline, nodes), 40.0)

    def _paste(self, group: dict[str, Any], offset: float) -> bool:
        command = C.PasteGroup(group, (offset, offset))
        if not self.window.document.push(command):
            return False
        self.scene.select_nodes(list(command.new_ids.values()))
        return True

    def select_all(self) -> None:
        for item in self.scene.nodes.values():
            item.setSelected(True)

    def rename(self, node_id: str) -> None:
        pipeline = self.window.document.pipeline
        if node_id not in pipeline:
            return
        text = self.window.dialogs.ask_text(
            "Rename node", "Name shown on the canvas:", pipeline.node(node_id).title
        )
        if text is not None and text.strip() != pipeline.node(node_id).title:
            self.window.document.push(C.RenameNode(node_id, text.strip()))

    def help_text(self, node_id: str) -> str:
        pipeline = self.window.document.pipeline
        spec = pipeline.spec(node_id)
        if spec is None:
            return f"Unknown node type {pipeline.node(node_id).type!r}."
        lines = [f"<h3>{spec.title}</h3><p>{spec.help or 'No description.'}</p>"]
        for heading, ports in (("Inputs", spec.inputs), ("Outputs", spec.outputs)):
            if ports:
                items = "".join(
                    f"<li><b>{p.name}</b> ({port_title(p.type)}){' — ' + p.help if p.help else ''}</li>"
                    for p in ports
                )
                lines.append(f"<p>{heading}:</p><ul>{items}</ul>")
        if spec.params:
            items = "".join(
                f"<li><b>{p.title}</b>{': ' + p.help if p.help else ''}</li>" for p in spec.params
            )
            lines.append(f"<p>Settings:</p><ul>{items}</ul>")
        return "".join(lines)

    def show_help(self, node_id: str) -> None:
        self.window.dialogs.info("Node help", self.help_text(node_id))

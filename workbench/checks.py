"""What ``workbench validate`` can know before a run without reading the data: files that are not there or
cannot be read, and column parameters naming columns the file does not have.

Cheap by design (a stat per file, the Parquet schema or the first block of a text file), so a user learns
about a typo in seconds instead of after the file was read and a model half trained.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench import paths
from workbench.errors import UserError
from workbench.graph import Pipeline
from workbench.params import ParamError

FILE_TYPES = ("data.file",)
_DERIVED = re.compile(r"^(?P<base>.+)_(year|month|day|dayofweek|dayofyear|hour)$")


def _read_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """data.file's parameters as read_table options ("auto" means: sniff it)."""

    def auto(key: str) -> str:
        value = params.get(key, "auto")
        return "" if value == "auto" else str(value)

    thousands = params.get("thousands", "auto")
    return {
        "file_format": params.get("file_format", "auto"),
        "sheet": str(params.get("sheet", "")),
        "delimiter": auto("delimiter"),
        "decimal": auto("decimal"),
        "thousands": "" if thousands == "auto" else str(thousands),
        "encoding": auto("encoding"),
        "header": params.get("header", "auto"),
        "bad_lines": params.get("bad_lines", "error"),
    }


def _file_problem(
    value: str, base_dir: Path | None, folder_ok: bool = False
) -> tuple[Path | None, str | None]:
    if not value:
        return None, None
    try:
        path = paths.resolve_input(value, base_dir)
    except UserError as exc:
        return None, f"path: {exc}"
    if path.is_dir() and not folder_ok:
        return None, f"path: {path} is a folder; choose a data file"
    if not os.access(path, os.R_OK):
        return None, f"path: {path} cannot be read (permission denied)"
    return path, None


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value or [] if str(v)]


def input_problems(pipeline: Pipeline) -> dict[str, list[str]]:
    """Per node: data files that do not exist or cannot be read, and column names not in the file."""
    base_dir = pipeline.path.parent if pipeline.path else None
    found: dict[str, list[str]] = {}
    columns: dict[str, list[str] | None] = {}
    for node in pipeline.nodes:
        if node.type not in FILE_TYPES or node.unknown:
            continue
        try:
            params = pipeline.resolved_params(node.id)
        except ParamError:
            continue  # reported by problems() already
        stream = bool(params.get("stream"))  # a streamed Parquet file or folder (tabular/stream.py)
        path, problem = _file_problem(str(params.get("path", "")), base_dir, folder_ok=stream)
        if problem:
            found.setdefault(node.id, []).append(problem)
        if path is not None and stream:
            from workbench.tabular.stream import ParquetSource

            try:
                columns[node.id] = ParquetSource(path).columns
            except UserError as exc:
                found.setdefault(node.id, []).append(f"path: {exc}")
                columns[node.id] = None
        elif path is not None:
            from workbench.tabular.schema import peek_columns

            columns[node.id] = peek_columns(path, **_read_options(params))
        else:
            columns[node.id] = None
    for node in pipeline.nodes:
        spec = pipeline.spec(node.id)
        if spec is None:
            continue
        wanted = [p for p in spec.params if p.kind in ("column", "columns")]
        if not wanted:
            continue
        sources = [n for n in pipeline.upstream(node.id) if not pipeline.input_links(n)]
        if not sources or any(columns.get(s) is None for s in sources):
            continue  # a source whose columns we cannot know cheaply: the run will tell
        known = sorted({c for s in sources for c in columns[s] or []})
        try:
            params = pipeline.resolved_params(node.id)
        except ParamError:
            continue
        for param in wanted:
            missing = [
                name
                for name in _names(params.get(param.name))
                if name not in known and not _derived(name, known)
            ]
            if missing:
                files = ", ".join(
                    sorted(Path(str(pipeline.node(s).params.get("path", ""))).name for s in sources)
                )
                detail = "; ".join(f"{name!r}{_suggest(name, known)}" for name in missing)
                found.setdefault(node.id, []).append(f"{param.name}: no column {detail} in {files}")
    return found


def _derived(name: str, known: list[str]) -> bool:
    """Columns the pipeline makes itself: date parts (``when_year``) and one-hot outputs (``city=Oslo``)."""
    match = _DERIVED.match(name)
    return bool(match and match.group("base") in known) or ("=" in name and name.split("=", 1)[0] in known)

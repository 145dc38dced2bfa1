"""The column names of a data file, read cheaply: the Parquet schema, or the first block of a text file.

Why: ``workbench validate`` must say that a parameter names a column the file does not have without reading
a large file. Text files are read by the very reader the node uses (``io.read_table``), on a copy of their
first block cut at a line end, so delimiter, header and duplicate-name rules are the node's own.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from workbench.errors import UserError

PEEK_BYTES = 256 * 1024


def peek_columns(path: str | Path, **read_options: object) -> list[str] | None:
    """Column names of ``path`` as data.file would read it, or None when that cannot be told cheaply
    (a spreadsheet, a JSON document, an unreadable file: the run itself will say what is wrong)."""
    from workbench.tabular.io import _kind_from_suffix, read_table

    path = Path(path)
    kind = str(read_options.get("file_format") or "auto")
    kind = _kind_from_suffix(path) if kind == "auto" else kind
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return [str(name).strip() for name in pq.read_schema(path).names]
        if kind in ("excel", "json"):
            return None
        with open(path, "rb") as handle:
            head = handle.read(PEEK_BYTES)
            whole = len(head) < PEEK_BYTES
        if not whole:
            cut = head.rfind(b"\n")
            if cut <= 0:
                return None
            head = head[: cut + 1]
        handle_fd, name = tempfile.mkstemp(suffix=path.suffix or ".csv", prefix="peek-")
        try:
            with os.fdopen(handle_fd, "wb") as out:
                out.write(head)
            options = {k: v for k, v in read_options.items() if k != "max_columns"}
            frame = read_table(name, parse_dates=False, **options)  # type: ignore[arg-type]
        finally:
            os.unlink(name)
    except (OSError, UserError, ValueError):
        return None
    return [str(column) for column in frame.columns]

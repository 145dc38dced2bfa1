"""Sniffing a text table from its first bytes: encoding (UTF-8/BOM, GBK, CP1252, Latin-1), binary garbage,
delimiter, decimal mark, thousands separator and header row."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import UserError

SAMPLE_BYTES = 256 * 1024
HEADER_BLOCK = 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024 * 1024  # a first row longer than this is not a table
DELIMITERS = (",", ";", "\t", "|")
_NUM = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_NUM_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_NUM_EU_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(\.\d{3})+(,\d+)?$")
_NUM_US_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def decode_sample(data: bytes, encoding: str, name: str) -> tuple[str, str]:
    """Decode bytes: the given encoding, else UTF-8 (BOM aware), else CP1252, else Latin-1."""
    fallbacks = (
        ["utf-8-sig", "gb18030", "cp1252", "latin-1"]
        if _looks_gbk(data)
        else ["utf-8-sig", "cp1252", "latin-1"]
    )
    for candidate in [encoding] if encoding else fallbacks:
        try:
            decoder = codecs.getincrementaldecoder(candidate)()
            return decoder.decode(data, final=len(data) < SAMPLE_BYTES), candidate
        except LookupError:
            raise UserError(f"{name}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as exc:
            if encoding:
                raise UserError(
                    f"{name}: cannot decode as {encoding} ({short_error(exc)}); try another encoding"
                ) from None
    raise UserError(f"{name}: unknown text encoding; save it as UTF-8")  # latin-1 never fails


def _looks_gbk(data: bytes) -> bool:
    """Chinese text saved as GBK/GB18030 (common from Excel): nearly every high byte sits in a pair of bytes
    0xA1-0xFE (a GB2312 character). Latin-1/CP1252 accents are single high bytes next to ASCII letters."""
    high = pairs = 0
    index, end = 0, min(len(data), 65536)
    while index < end:
        byte = data[index]
        if byte < 0x80:
            index += 1
            continue
        if 0xA1 <= byte <= 0xFE and index + 1 < len(data) and 0xA1 <= data[index + 1] <= 0xFE:
            pairs += 1
            high += 2
            index += 2
        else:
            high += 1
            index += 1
    return pairs >= 2 and 2 * pairs >= 0.9 * high


def looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    head = data[:8192]
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 13))
    return controls > max(8, len(head) // 50)


def sniff_text(sample: str, name: str) -> dict[str, Any]:
    """Guess delimiter, decimal mark, thousands separator and header from a decoded sample."""
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        sample = "\n".join(lines[:-1])  # drop a row cut off by the sample size
    best: tuple[float, str] = (-1.0, ",")
    rows_by: dict[str, list[list[str]]] = {}
    for delim in DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delim) if row]
        except csv.Error:
            continue
        rows = rows[:200]
        rows_by[delim] = rows
        counts = Counter(len(row) for row in rows)
        if not counts:
            continue
        width, hits = counts.most_common(1)[0]
        if width < 2:
            continue
        score = hits / len(rows) + 0.01 * min(width, 50) / 50
        if score > best[0]:
            best = (score, delim)
    delim = best[1]
    if best[0] < 0:
        rows = [line.split() for line in sample.splitlines() if line.strip()][:200]
        widths = Counter(len(row) for row in rows)
        if widths and widths.most_common(1)[0][0] >= 2:
            delim, rows_by[r"\s+"] = r"\s+", rows
        else:
            delim = ","
            rows_by.setdefault(",", [[line] for line in sample.splitlines() if line.strip()][:200])
    rows = rows_by.get(delim, [])
    cells = [cell.strip() for row in rows[1:] for cell in row]
    decimal, thousands = ".", ""
    comma_numbers = sum(1 for cell in cells if _NUM_COMMA.match(cell))
    eu = sum(1 for cell in cells if _NUM_EU_THOUSANDS.match(cell))
    us = sum(1 for cell in cells if _NUM_US_THOUSANDS.match(cell) and not _NUM.match(cell))
    if delim != "," and comma_numbers + eu > 0 and comma_numbers + eu >= us:
        decimal = ","
        if eu:
            thousands = "."
    elif us:
        thousands = ","
    header = True
    if rows:
        first = [cell.strip() for cell in rows[0]]
        numeric_first = all(
            _NUM.match(cell.replace(decimal, ".") if decimal == "," else cell) for cell in first
        )
        header = not (numeric_first and len(rows) > 1)
    return {"delimiter": delim, "decimal": decimal, "thousands": thousands, "header": header}


def check_full_utf8(path: Path, check: Callable[[], None] | None = None) -> str:
    """A large file whose head is UTF-8 may still hold CP1252 further down; check it in chunks (``check`` is
    called before each, so a Stop ends this pass over a large file too)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(4 * 1024 * 1024):
                if check:
                    check()
                if not chunk.isascii():  # ASCII chunks are valid UTF-8; isascii runs at memory speed
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def short_error(exc: BaseException) -> str:
    """The first line of an exception's message, trimmed, for one-line user errors."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


class StoppableFile(io.RawIOBase):
    """A binary file that asks ``check`` before every block it hands out. pandas (C engine) and Arrow pull the
    file through ``read`` block by block while they parse, so a Stop lands within one block; the parser then
    fails with its own error, and ``raise_if_stopped`` puts the stop back in its place."""

    def __init__(self, path: Path, check: Callable[[], None]) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._check = check
        self._stop: BaseException | None = None
        self.name = str(path)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._stop is None:
            try:
                self._check()
            except BaseException as exc:  # noqa: BLE001 - kept and raised again by raise_if_stopped
                self._stop = exc
        if self._stop is not None:
            raise self._stop
        return self._file.readinto(buffer)

    def raise_if_stopped(self) -> None:
        if self._stop is not None:
            raise self._stop

    def close(self) -> None:
        self._file.close()
        super().close()


def header_width(path: Path, text: str, delim: str, more: bool, max_columns: int) -> tuple[int, bool]:
    """How many columns the first row holds, from the sample, before pandas parses the body: (count, exact).

    A first row longer than the sample (a very wide file) is counted by its delimiter bytes, reading on only
    until the row ends (at most 64 MB, counted at memory speed): a million-column header costs ~10 MB of reading.
    """
    cut = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=-1)
    if cut >= 0 or not more:
        first = text[:cut] if cut >= 0 else text
        if delim == r"\s+":
            return len(first.split()), True
        try:
            return len(next(csv.reader([first], delimiter=delim), [])), True
        except csv.Error:
            return first.count(delim) + 1, False
    mark = delim.encode()
    words = delim == r"\s+"
    count, seen, ended = (0 if words else 1), 0, False
    with path.open("rb") as handle:
        while not ended and seen <= MAX_HEADER_BYTES and (block := handle.read(HEADER_BLOCK)):
            ends = [i for i in (block.find(b"\n"), block.find(b"\r")) if i >= 0]
            ended = bool(ends)
            row = block[: min(ends)] if ends else block
            count += len(row.split()) if words else row.count(mark)
            seen += len(block)
    if not ended and seen > MAX_HEADER_BYTES and count <= max_columns:
        raise UserError(
            f"{path.name}: the first row is longer than {MAX_HEADER_BYTES // 2**20} MB; "
            "this does not look like a table"
        )
    return count, ended

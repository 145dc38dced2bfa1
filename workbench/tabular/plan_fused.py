"""The fused fast path of a compiled plan: chains that only impute/scale numbers, one-hot encode raw columns
and drop columns (the common shape) run in one pass per call — one numeric block, one Arrow lookup over all
text columns, one scatter of the one-hot ones — with the same numbers as the step-by-step plan. Where the
optional C pass (``_fastprep.c``) was built and the text columns are Arrow strings, it does all of that in one
C loop instead (same bits; the numpy pass is the fallback and the reference).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from workbench.tabular.plan import _Lookup, _null_mask, _value

try:  # the optional C pass (setup.py builds it); same numbers as the numpy pass below
    from workbench.tabular import _fastprep as NATIVE
except ImportError:  # pragma: no cover - no compiler at install time
    NATIVE = None
if os.environ.get("WORKBENCH_NO_NATIVE"):  # for comparisons and bug hunts: numpy only
    NATIVE = None

_NATIVE_DTYPES = frozenset(np.dtype(t) for t in ("float64", "float32", "int64", "int32"))
_TEXT_IDS: dict[int, int] = {}


def _text_kind(type_id: int) -> int | None:
    """1 for Arrow large_string, 0 for string, None for any other Arrow type id."""
    if not _TEXT_IDS:
        import pyarrow as pa

        _TEXT_IDS.update({pa.string().id: 0, pa.large_string().id: 1})
    return _TEXT_IDS.get(type_id)


def fuse(chain: list[dict], compiled: list[Any], needed: list[str], names: list[str]) -> _Fused | None:
    """The fused form of a chain that only imputes/scales numbers, one-hot encodes raw columns and drops:
    the same lazy states ``_run_step`` would reach, worked out once instead of per call (None: not that shape)."""
    state: dict[str, tuple] = {column: ("num", column, None, None, None) for column in needed}
    groups: list[tuple[str, _Lookup, int]] = []
    for step, steps in zip(chain, compiled, strict=True):
        op = step["op"]
        if op == "impute" and not step.get("indicators"):
            for column in step["columns"]:
                s, fill = state.get(column), step["fill"][column]
                if s is None or s[0] != "num" or s[2] is not None or s[3] is not None:
                    return None
                if isinstance(fill, bool) or not isinstance(fill, int | float):
                    return None
                state[column] = ("num", s[1], fill, None, None)
        elif op == "scale":
            for column, center, inv in steps:
                s = state.get(column)
                if s is None or s[0] != "num" or s[3] is not None:
                    return None
                state[column] = ("num", s[1], s[2], center, inv)
        elif op == "onehot":
            for column, out_names, lookup in steps:
                s = state.pop(column, None)
                if s is None or s[0] != "num" or s[2] is not None or s[3] is not None:
                    return None  # only a raw input column is encoded as is
                groups.append((s[1], lookup, len(out_names)))
                state.update((name, ("hot", len(groups) - 1, slot)) for slot, name in enumerate(out_names))
        elif op == "drop":
            for column in step["columns"]:
                state.pop(column, None)
        else:
            return None
    finals = [state.get(name) for name in names]
    if not groups or any(s is None for s in finals):
        return None
    return _Fused(finals, groups, len(names))


class _Fused:
    """Numeric impute → scale and one-hot of raw columns in one pass: one (k, n) block for the numbers with
    per-column fill/center/inverse-scale vectors, one Arrow lookup for all text columns, one scatter of ones.
    The arithmetic is ``_Layout.write_numeric``'s and the codes are ``_Lookup``'s, so the numbers are identical."""

    def __init__(self, finals: list[tuple], groups: list[tuple[str, _Lookup, int]], width: int) -> None:
        self.width, self.groups = width, groups
        nums = [(i, s) for i, s in enumerate(finals) if s[0] == "num"]
        self.sources = [s[1] for _, s in nums]
        self.fill = [s[2] for _, s in nums]
        self.centers = np.array([0.0 if s[3] is None else s[3] for _, s in nums], dtype=np.float32)[:, None]
        self.invs = np.array([1.0 if s[4] is None else s[4] for _, s in nums], dtype=np.float32)[:, None]
        index = [i for i, _ in nums]
        first = index[0] if index else 0
        contiguous = index == list(range(first, first + len(index)))
        self.target = slice(first, first + len(index)) if contiguous else np.array(index, dtype=np.intp)
        offsets = np.cumsum([0] + [width for _, _, width in groups]).tolist()
        colmap = np.full(offsets[-1], -1, dtype=np.int64)  # (group, slot) → output column, -1 if dropped
        for i, s in enumerate(finals):
            if s[0] == "hot":
                colmap[offsets[s[1]] + s[2]] = i
        self.complete = bool((colmap >= 0).all())
        # codes index a table of (group, slot) entries: its output column, whether it is unseen, its group
        slots = [(g, slot) for g, (_, _, w) in enumerate(groups) for slot in range(w)]
        self.plain = self._tables(slots, colmap, offsets)
        self.offsets = offsets
        # Arrow text: one lookup over the union vocabulary; per group, the slot of each text, missing, absent
        self.texts = list(dict.fromkeys(t for _, lookup, _ in groups for t in lookup.texts))
        self.stride = len(self.texts) + 2
        entries = [
            (g, slot)
            for g, (_, lookup, _) in enumerate(groups)
            for slot in [
                *(lookup.table.get(t, lookup.default) for t in self.texts),
                lookup.missing,
                lookup.default,
            ]
        ]
        self.arrow = self._tables(entries, colmap, offsets)
        self._where = {text: index for index, text in enumerate(self.texts)}
        self.native = native_tables(groups, colmap, offsets) if NATIVE is not None else None
        self._consts: dict[tuple, tuple] = {}
        self._options: dict[Any, Any] = {}
        self._rows: tuple[int, Any, Any] = (-1, None, None)

    def _tables(self, entries: list[tuple[int, int]], colmap: np.ndarray, offsets: list[int]) -> tuple:
        defaults = [lookup.default for _, lookup, _ in self.groups]
        return (
            np.array([colmap[offsets[g] + slot] for g, slot in entries], dtype=np.int64),
            np.array([slot == defaults[g] for g, slot in entries], dtype=bool),
            np.array([g for g, _ in entries], dtype=np.int64),
        )

    def run(self, columns: dict[str, Any], n: int, stats: dict) -> tuple[np.ndarray, bool] | None:
        """(model input, whether all of it is known finite), or None when a column's runtime type needs the
        general path. Big batches go in chunks of ``CHUNK`` rows: their temporaries stay in the CPU cache."""
        arrays = [columns[source] for source in self.sources]
        if n == 0 or any(type(a) is not np.ndarray for a in arrays):
            return None
        key = tuple(a.dtype for a in arrays)
        consts = self._consts.get(key)
        if consts is None:
            if any(a.dtype.kind not in "iuf" for a in arrays):
                return None
            filled = [f is not None and a.dtype.kind == "f" for f, a in zip(self.fill, arrays, strict=True)]
            fills = np.array([f if ok else 0.0 for f, ok in zip(self.fill, filled, strict=True)])[:, None]
            # every float row filled: no row mask needed (integer rows are never missing)
            every = all(ok or a.dtype.kind != "f" for ok, a in zip(filled, arrays, strict=True))
            native = None
            if self.native is not None and all(a.dtype in _NATIVE_DTYPES for a in arrays):
                target = np.arange(self.width)[self.target].tolist()
                native = tuple(
                    (col, int(ok), float(fill), float(center), float(inv))
                    for col, ok, fill, center, inv in zip(
                        target, filled, fills[:, 0], self.centers[:, 0], self.invs[:, 0], strict=True
                    )
                )
            consts = (None if every else np.array(filled, dtype=bool)[:, None], fills, any(filled), native)
            if len(self._consts) < 16:
                self._consts[key] = consts
        texts = [columns[source] for source, _, _ in self.groups]
        if consts[3] is not None:
            done = self._native(arrays, texts, n, consts[3], stats)
            if done is not None:
                return done
        if n <= self.CHUNK:
            out = np.zeros((n, self.width), dtype=np.float32)
            finite, counts = self._rows_into(out, arrays, texts, consts)
        else:
            out = np.empty((n, self.width), dtype=np.float32)
            finite, counts = True, [0] * len(self.groups)
            for start in range(0, n, self.CHUNK):
                part = out[start : start + self.CHUNK]
                part.fill(0.0)
                rows = slice(start, start + len(part))
                ok, found = self._rows_into(part, [a[rows] for a in arrays], [t[rows] for t in texts], consts)
                finite = finite and ok
                counts = [a + b for a, b in zip(counts, found, strict=True)]
        self._count_unseen(counts, stats)
        return out, finite

    CHUNK = 8192

    def _count_unseen(self, counts: Any, stats: dict) -> None:
        """Add per-encoded-column counts of values that went to the unseen/other bucket to ``stats``."""
        if any(counts):
            unseen = stats.setdefault("unseen", {})
            for (column, _, _), count in zip(self.groups, counts, strict=True):
                if count:
                    unseen[column] = unseen.get(column, 0) + count

    def _native(self, arrays: list, texts: list, n: int, statics: tuple, stats: dict) -> tuple | None:
        """The C pass over Arrow text columns (None: a column it does not take; the numpy pass runs)."""
        specs = []
        for column in texts:
            chunks = getattr(column, "_pa_array", None)
            wide = None if chunks is None else _text_kind(chunks.type.id)
            if wide is None or len(chunks) != n:
                return None
            array = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
            validity, offsets, data = array.buffers()
            specs.append((offsets, b"" if data is None else data, validity, wide, array.offset))
        out = np.empty((n, self.width), dtype=np.float32)
        try:
            finite, counts = NATIVE.fill(out, arrays, statics, self.native, tuple(specs))
        except ValueError:  # a malformed or unexpected buffer: the numpy pass decides
            return None
        self._count_unseen(counts, stats)
        return out, finite

    def _rows_into(self, out: np.ndarray, arrays: list, texts: list, consts: tuple) -> tuple[bool, list[int]]:
        """Write rows into the zeroed ``out``; (all finite, unseen count per encoded column)."""
        n = len(out)
        codes, (columns_of, unseen_of, group_of) = self._codes(texts, n)
        finite = True  # the one-hot part is 0/1; only the numbers can be NaN or infinite
        if arrays:
            block = np.array(arrays, dtype=np.float64)
            if consts[2]:
                bad = np.isfinite(block)
                np.logical_not(bad, out=bad)
                if consts[0] is not None:
                    bad &= consts[0]
                np.copyto(block, consts[1], where=bad)
            result = np.subtract(block, self.centers, dtype=np.float32)  # cast, then subtract in float32
            result *= self.invs
            out[:, self.target] = result.T
            finite = bool(np.isfinite(result.sum()))  # an overflowing sum only costs the caller a full check
        counts = [0] * len(self.groups)
        unseen = unseen_of.take(codes)
        if unseen.any():
            counts = np.bincount(group_of.take(codes[unseen]), minlength=len(self.groups)).tolist()
        target = columns_of.take(codes)
        rows = self._row_starts(n)[0]
        if not self.complete:
            keep = target >= 0
            target, rows = target[keep], rows[keep]
        target += rows
        out.reshape(-1)[target] = 1.0
        return finite, counts

    def _row_starts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(flat offset of each group-major row's output row, each row's group base in the Arrow table), per n."""
        if self._rows[0] != n:
            count = len(self.groups)
            rows = np.tile(np.arange(0, n * self.width, self.width, dtype=np.int64), count)
            base = np.repeat(np.arange(0, count * self.stride, self.stride, dtype=np.int32), n)
            self._rows = (n, rows, base)
        return self._rows[1], self._rows[2]

    def _codes(self, texts: list[Any], n: int) -> tuple[np.ndarray, tuple]:
        """Group-major codes into the Arrow table (all text columns Arrow strings) or the plain one."""
        chunks, kind = [], None
        for column in texts:
            values = getattr(column, "_pa_array", None)
            if values is None or len(values) != n or (kind is not None and values.type != kind):
                break
            if kind is None and str(values.type) not in ("string", "large_string"):
                break
            kind = values.type
            chunks.extend(values.chunks)
        else:
            return self._arrow_codes(chunks, n), self.arrow
        parts = [
            lookup(_value(column)) + offset
            for column, (_, lookup, _), offset in zip(texts, self.groups, self.offsets, strict=False)
        ]
        return np.concatenate(parts), self.plain

    def _arrow_codes(self, chunks: list[Any], n: int) -> np.ndarray:
        """One hash lookup for all text columns (a short batch: a dict lookup per value instead)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        values = chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)
        missing, absent = self.stride - 2, self.stride - 1
        if len(values) <= 16:
            where = self._where
            index = np.array([missing if v is None else where.get(v, absent) for v in values.to_pylist()])
        else:
            options = self._options.get(values.type)
            if options is None:  # null matches the null appended to the vocabulary: index ``missing``
                vocabulary = pa.array([*self.texts, None], type=values.type)
                options = self._options[values.type] = pc.SetLookupOptions(vocabulary, skip_nulls=False)
            found = pc.index_in(values, options=options)
            index = np.frombuffer(found.buffers()[1], dtype=np.int32)[
                found.offset : found.offset + len(found)
            ]
            if found.null_count:
                index = np.where(_null_mask(found), absent, index)
        return index + self._row_starts(n)[1]


def native_tables(
    groups: list[tuple[str, _Lookup, int]], colmap: np.ndarray, offsets: list[int]
) -> tuple | None:
    """Per encoded column, the C pass's static tables: an open-addressing hash table (linear probing, the C
    pass's own hash) over the UTF-8 vocabulary, each entry's output column and unseen flag, and the columns for
    missing and absent values. None when a vocabulary text has no UTF-8 form (Arrow text never holds one)."""
    tables = []
    for g, (_, lookup, _) in enumerate(groups):
        try:
            vocab = [text.encode("utf-8") for text in lookup.table]
        except (AttributeError, UnicodeEncodeError):
            return None
        size = 8
        while size < 2 * len(vocab) + 2:
            size *= 2
        slots = np.full(size, -1, dtype=np.int32)
        for index, text in enumerate(vocab):
            slot = NATIVE.hash(text) >> (64 - size.bit_length() + 1)  # the C pass's high bits
            while slots[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            slots[slot] = index
        column = [int(colmap[offsets[g] + slot]) for slot in lookup.table.values()]
        tables.append(
            (
                slots.tobytes(),
                size - 1,
                b"".join(vocab),
                np.cumsum([0] + [len(t) for t in vocab], dtype=np.int64).tobytes(),
                np.array(column, dtype=np.int32).tobytes(),
                np.array(
                    [slot == lookup.default for slot in lookup.table.values()], dtype=np.uint8
                ).tobytes(),
                int(colmap[offsets[g] + lookup.missing]),
                int(lookup.missing == lookup.default),
                int(colmap[offsets[g] + lookup.default]),
                1,
            )
        )
    return tuple(tables)

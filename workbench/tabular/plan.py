"""The compiled prediction path: a fitted chain turned once into lookups and vectors, run over numpy columns.

Same numbers as ``chain.transform_frame`` + ``chain.frame_matrix`` bit for bit (tests/test_predict_fast.py),
without a DataFrame copy per step — the predictor's hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import UserError
from workbench.tabular.chain import (
    _APPLY,
    MISSING,
    _apply_datetime,
    factorize_text,
    make_windows,
    onehot_names,
    required_columns,
    zero_flag_name,
)

# The chain runs over a dict of column arrays instead of DataFrames. Plain numeric columns stay lazy (_Num: raw
# values + pending fill/scale) and are computed for all of them at once while writing the output; one-hot columns
# stay as codes (_Hot) and are scattered into a zeroed block. Anything unusual is materialised and handled per
# column with the same numpy/pandas operations the DataFrame path uses, so the numbers are identical.
# Chains that only impute/scale numbers, one-hot encode raw columns and drop (the default tabular chain) skip
# the step loop: ``plan_fused.fuse`` works out those lazy states once and ``_Fused`` writes them in one pass.


class _Num:
    __slots__ = ("center", "fill", "inv", "raw")

    def __init__(self, raw: Any, fill: float | None = None, center: Any = None, inv: Any = None) -> None:
        self.raw, self.fill, self.center, self.inv = raw, fill, center, inv


class _Hot:
    __slots__ = ("codes", "slot", "width")

    def __init__(self, codes: np.ndarray, slot: int, width: int) -> None:
        self.codes, self.slot, self.width = codes, slot, width


def _numeric(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _float64(values: Any) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _float32(values: Any) -> np.ndarray:
    """``Series.to_numpy(dtype=float32, na_value=nan)`` for an array."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(np.float32, copy=False)
    return pd.Series(values, copy=False).to_numpy(dtype=np.float32, na_value=np.nan)


def _missing(values: Any) -> np.ndarray:
    """``missing_mask`` for an array: NaN/None/NaT, and +/-inf in float columns."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fc":
        return ~np.isfinite(values)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    mask = np.asarray(pd.isna(values), dtype=bool)
    if pd.api.types.is_float_dtype(values.dtype):
        mask = mask | np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
    return mask


def _value(value: Any) -> Any:
    """The column's actual array (materialises a lazy numeric or one-hot column)."""
    if isinstance(value, _Hot):
        return (value.codes == value.slot).astype(np.float32)
    if not isinstance(value, _Num):
        return value
    values = value.raw
    if value.fill is not None:
        mask = _missing(values)
        if mask.any():
            values = np.where(mask, value.fill, _float64(values))
    if value.center is not None:
        values = np.subtract(_float32(values), value.center, dtype=np.float32)
        values *= value.inv
    return values


class _Lookup:
    """Text key → slot for one encoded column; misses (and missing values unless listed) give ``default``."""

    def __init__(self, table: dict[str, int], default: int) -> None:
        self.table, self.default = table, default
        self.missing = table.get(MISSING, default)
        self.texts = list(table)
        self.slots = np.array([*table.values(), default], dtype=np.int64)
        self._arrow: dict[Any, Any] = {}

    def __call__(self, values: Any) -> np.ndarray:
        chunks = getattr(values, "_pa_array", None)
        if chunks is not None and str(chunks.type) in ("string", "large_string"):
            return self._arrow_codes(chunks)
        codes, texts = factorize_text(values)
        lookup = np.array([self.table.get(t, self.default) for t in texts] + [self.missing], dtype=np.int64)
        return lookup[codes]

    def _arrow_codes(self, chunks: Any) -> np.ndarray:
        """Arrow-backed text (pandas' default ``str``): one hash lookup in C, no Python objects per row."""
        values = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
        found, nulls = _arrow_index(values, self.texts, self._arrow)
        codes = self.slots[found]
        if nulls is not None:
            codes[nulls] = self.missing
        return codes


def _null_mask(array: Any) -> np.ndarray | None:
    """True where an Arrow array holds null, read from its validity bitmap (None when nothing is null)."""
    if not array.null_count:
        return None
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)] == 0


def _arrow_index(values: Any, texts: list[str], cache: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """(index of each row's text in ``texts``, ``len(texts)`` where absent; null mask of ``values``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.zeros(0, dtype=np.int64), None
    options = cache.get(values.type)
    if options is None:
        options = cache[values.type] = pc.SetLookupOptions(pa.array(texts, type=values.type))
    found = pc.index_in(values, options=options)
    index = np.frombuffer(found.buffers()[1], dtype=np.int32)[found.offset : found.offset + len(found)]
    absent = _null_mask(found)
    if absent is not None:
        index = np.where(absent, len(texts), index)
    return index, _null_mask(values)


def _compile_step(step: dict) -> Any:
    op = step["op"]
    if op == "onehot":
        compiled = []
        for enc in step["encodings"]:
            names = onehot_names(enc)
            table = {text: index for index, text in enumerate(enc["categories"])}
            if enc.get("other_values"):
                for text in enc["other_values"]:
                    table.setdefault(text, len(enc["categories"]))
            compiled.append((enc["column"], names, _Lookup(table, len(names) - 1)))
        return compiled
    if op == "ordinal":
        return [
            (e["column"], _Lookup({t: i for i, t in enumerate(e["categories"])}, -1))
            for e in step["encodings"]
        ]
    if op == "scale":
        return [
            (column, np.float32(center), np.float32(1.0 / scale))
            for column, center, scale in zip(step["columns"], step["center"], step["scale"], strict=True)
        ]
    if op not in _APPLY:
        raise UserError(f"unknown preprocessing step {op!r}; this model needs a newer Model Workbench")
    return None


class _Prefetch:
    """Codes of all encoded raw text columns from ONE Arrow hash lookup over their union vocabulary: the lookup's
    fixed cost (~12 µs) is paid once per call instead of once per column."""

    def __init__(self, items: list[tuple[str, _Lookup]]) -> None:
        self.items = items
        self.texts = list(dict.fromkeys(text for _, lookup in items for text in lookup.texts))
        self.remaps = [
            np.array(
                [lookup.table.get(t, lookup.default) for t in self.texts] + [lookup.default], dtype=np.int64
            )
            for _, lookup in items
        ]
        self._options: dict[Any, Any] = {}

    def __call__(self, columns: dict[str, Any], n: int) -> dict[int, np.ndarray]:
        picked, chunks, kind = [], [], None
        for index, (column, _) in enumerate(self.items):
            values = getattr(columns.get(column), "_pa_array", None)
            if values is None or len(values) != n or (kind is not None and values.type != kind):
                continue
            if kind is None and str(values.type) not in ("string", "large_string"):
                continue
            kind = values.type
            picked.append(index)
            chunks.extend(values.chunks)
        if len(picked) < 2 or not chunks:
            return {}
        import pyarrow as pa

        found, nulls = _arrow_index(pa.concat_arrays(chunks), self.texts, self._options)
        out = {}
        for part, index in enumerate(picked):
            lookup, rows = self.items[index][1], slice(part * n, (part + 1) * n)
            codes = self.remaps[index][found[rows]]
            if nulls is not None:
                codes[nulls[rows]] = lookup.missing
            out[id(lookup)] = codes
        return out


def _prefetchable(chain: list[dict], compiled: list[Any], needed: list[str]) -> list[tuple[str, _Lookup]]:
    """Encodings that read a raw input column no earlier step changed or created."""
    touched: set[str] = set()
    items = []
    for step, steps in zip(chain, compiled, strict=True):
        if step["op"] in ("onehot", "ordinal"):
            for item in steps:
                if item[0] not in touched and item[0] in needed:
                    items.append((item[0], item[-1]))
                touched.add(item[0])
        else:
            touched.update(step.get("columns", []))
        touched.update(set(step["features_out"]) - set(step["features_in"]))
    return items


def _run_step(step: dict, compiled: Any, env: dict[str, Any], stats: dict, pre: dict) -> None:
    op = step["op"]
    if op == "impute":
        flags = {
            f"{c}__missing": _missing(_value(env[c])).astype(np.float32) for c in step.get("indicators", [])
        }
        for column in step["columns"]:
            value, fill = env[column], step["fill"][column]
            if isinstance(value, _Num) and value.fill is None and value.center is None:
                env[column] = _Num(value.raw, fill)
                continue
            values = _value(value)
            mask = _missing(values)
            if mask.any():
                if _numeric(values.dtype):
                    env[column] = np.where(mask, fill, _float64(values))
                else:
                    env[column] = pd.Series(values, copy=False).astype(object).mask(mask, fill).to_numpy()
        env.update(flags)
    elif op == "onehot":
        for column, names, lookup in compiled:
            value = env.pop(column)
            codes = pre.pop(id(lookup), None)
            codes = lookup(_value(value)) if codes is None else codes
            count = int(np.count_nonzero(codes == lookup.default))
            if count:
                stats.setdefault("unseen", {})[column] = stats.get("unseen", {}).get(column, 0) + count
            for slot, name in enumerate(names):
                env[name] = _Hot(codes, slot, len(names))
    elif op == "ordinal":
        for column, lookup in compiled:
            codes = pre.pop(id(lookup), None)
            codes = lookup(_value(env[column])) if codes is None else codes
            count = int(np.count_nonzero(codes < 0))
            if count:
                stats.setdefault("unseen", {})[column] = count
            env[column] = codes.astype(np.float32)
    elif op == "scale":
        for column, center, inv in compiled:
            value = env[column]
            if isinstance(value, _Num) and value.center is None:
                env[column] = _Num(value.raw, value.fill, center, inv)
            else:
                result = np.subtract(_float32(_value(value)), center, dtype=np.float32)
                result *= inv
                env[column] = result
    elif op == "datetime":
        frame = pd.DataFrame({c: _value(env.pop(c)) for c in step["columns"]}, copy=False)
        env.update((name, series.to_numpy()) for name, series in _apply_datetime(step, frame, stats).items())
    elif op == "zero_flags":
        for column in step["columns"]:
            env[zero_flag_name(column)] = (_float64(_value(env[column])) == 0.0).astype(np.float32)
    elif op == "drop":
        for column in step["columns"]:
            env.pop(column, None)


def column_arrays(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, Any]:
    """The named columns as their backing arrays (numpy or pandas extension arrays), without Series objects."""
    columns = frame.columns.tolist()
    where = {column: index for index, column in enumerate(columns)}
    getter = getattr(frame, "_get_column_array", None)
    out = {}
    for name in names:
        if getter is not None and len(where) == len(columns):
            out[name] = getter(where[name])
        else:
            array = frame[name].array
            out[name] = array.to_numpy() if isinstance(array, pd.arrays.NumpyExtensionArray) else array
    return out


class Plan:
    """A chain compiled once (vocabularies as lookup tables, scales as float32 vectors) and applied to column
    arrays: ``Plan(chain, features).apply(columns, n, stats)``. Same numbers as the DataFrame path."""

    def __init__(self, chain: Sequence[dict], features: Sequence[str] | None = None) -> None:
        self.chain = list(chain)
        self.needed = required_columns(self.chain, features)
        self.window = self.chain[-1] if self.chain and self.chain[-1]["op"] == "window" else None
        self.names = list(self.chain[-1]["features_out"]) if self.chain else list(features or [])
        self.compiled = [_compile_step(step) for step in self.chain]
        self.prefetch = _Prefetch(_prefetchable(self.chain, self.compiled, self.needed))
        self._layouts: dict[tuple[int, ...], _Layout] = {}
        from workbench.tabular.plan_fused import fuse

        self.fused = None if self.window else fuse(self.chain, self.compiled, self.needed, self.names)

    def check_columns(self, present: Any) -> None:
        missing = [column for column in self.needed if column not in present]
        if missing:
            raise UserError(
                f"input table lacks column(s) {', '.join(missing)}; the model needs {', '.join(self.needed)}"
            )

    def transform(self, frame: pd.DataFrame, stats: dict | None = None) -> np.ndarray:
        """``transform`` for a DataFrame (extra columns ignored, order free)."""
        self.check_columns(set(frame.columns.tolist()))
        return self.apply(column_arrays(frame, self.needed), len(frame), stats)

    def apply(self, columns: dict[str, Any], n: int, stats: dict | None = None) -> np.ndarray:
        """The model input for raw column arrays of ``n`` rows (at least ``needed``)."""
        return self.run(columns, n, stats)[0]

    def run(self, columns: dict[str, Any], n: int, stats: dict | None = None) -> tuple[np.ndarray, bool]:
        """(``apply``'s model input, True when every value in it is known to be finite: no check needed)."""
        stats = {} if stats is None else stats
        if self.fused is not None:
            fused = self.fused.run(columns, n, stats)
            if fused is not None:
                return fused
        env = {
            name: _Num(values) if isinstance(values, np.ndarray) and values.dtype.kind in "iufc" else values
            for name, values in columns.items()
        }
        pre = self.prefetch(columns, n) if len(self.prefetch.items) > 1 else {}
        for step, compiled in zip(self.chain, self.compiled, strict=True):
            _run_step(step, compiled, env, stats, pre)
        if self.window:
            return self._windows(env, n), False
        return self._matrix(env, n), False

    def _windows(self, env: dict[str, Any], n: int) -> np.ndarray:
        window = self.window
        width = len(window["columns"]) + (1 if window.get("target_input") else 0)
        matrix = np.empty((n, width), dtype=np.float32)
        for index, column in enumerate(window["columns"]):
            matrix[:, index] = _float32(_value(env[column]))
        if window.get("target_input"):
            target = _float32(_value(env[window["target"]]))
            matrix[:, -1] = (target - np.float32(window["target_center"])) / np.float32(
                window["target_scale"]
            )
        lookback = int(window["lookback"])
        if n < lookback:
            raise UserError(f"the model reads windows of {lookback} rows; the input has only {n}")
        return make_windows(matrix, lookback, np.arange(lookback - 1, n))

    def _matrix(self, env: dict[str, Any], n: int) -> np.ndarray:
        values = [env[name] for name in self.names]
        key = tuple(
            2 if type(v) is _Hot else (3 if v.raw.dtype.kind in "fc" else 1) if _plain_num(v) else 0
            for v in values
        )
        layout = self._layouts.get(key)
        if layout is None:
            layout = _Layout(values)
            if len(self._layouts) < 16:
                self._layouts[key] = layout
        width = len(self.names)
        out = (
            np.zeros((n, width), dtype=np.float32) if layout.hots else np.empty((n, width), dtype=np.float32)
        )
        for index in layout.rest:
            column = _value(values[index])
            if not pd.api.types.is_numeric_dtype(column.dtype):
                raise UserError(
                    f"column {self.names[index]!r} is not numeric ({column.dtype}); add prep.encode before training"
                )
            out[:, index] = _float32(column)
        if layout.nums:
            layout.write_numeric(out, values, n)
        if layout.hots:
            starts = np.arange(0, n * width, width)
            flat = out.reshape(-1)
            for member, columns, complete in layout.hots:
                target = columns[values[member].codes]
                if complete:
                    flat[starts + target] = 1.0
                else:  # some one-hot columns were dropped or changed by later steps
                    keep = target >= 0
                    flat[starts[keep] + target[keep]] = 1.0
        return out


def _plain_num(value: Any) -> bool:
    return type(value) is _Num and isinstance(value.raw, np.ndarray)


class _Layout:
    """Where each final column comes from, for one structure of the final values (cached by the plan):
    lazy numeric columns with their fill/center/scale vectors, one-hot groups with their column maps, the rest."""

    def __init__(self, values: list[Any]) -> None:
        self.nums = [i for i, v in enumerate(values) if _plain_num(v)]
        self.rest = [i for i, v in enumerate(values) if not _plain_num(v) and type(v) is not _Hot]
        groups: dict[int, tuple[int, np.ndarray]] = {}
        for index, value in enumerate(values):
            if type(value) is _Hot:
                member, columns = groups.setdefault(
                    id(value.codes), (index, np.full(value.width, -1, dtype=np.int64))
                )
                columns[value.slot] = index
        self.hots = [(member, columns, bool((columns >= 0).all())) for member, columns in groups.values()]
        nums = [values[i] for i in self.nums]
        self.filled = np.array([v.fill is not None and v.raw.dtype.kind in "fc" for v in nums], dtype=bool)
        self.fills = np.array([v.fill if f else 0.0 for v, f in zip(nums, self.filled, strict=True)])[:, None]
        self.centers = np.array([0.0 if v.center is None else v.center for v in nums], dtype=np.float32)[
            :, None
        ]
        self.invs = np.array([1.0 if v.inv is None else v.inv for v in nums], dtype=np.float32)[:, None]
        first = self.nums[0] if self.nums else 0
        contiguous = self.nums == list(range(first, first + len(self.nums)))
        self.target = slice(first, first + len(self.nums)) if contiguous else np.array(self.nums)
        self.any_filled = bool(self.filled.any())

    def write_numeric(self, out: np.ndarray, values: list[Any], n: int) -> None:
        """All lazy numeric columns at once: fill (float64), cast, ``(x - center) * inv`` in float32."""
        block = np.empty((len(self.nums), n), dtype=np.float64)
        for row, index in enumerate(self.nums):
            block[row] = values[index].raw
        if self.any_filled:
            bad = ~np.isfinite(block)
            bad &= self.filled[:, None]
            if bad.any():
                np.copyto(block, self.fills, where=bad)
        result = block.astype(np.float32)
        result -= self.centers
        result *= self.invs
        out[:, self.target] = result.T

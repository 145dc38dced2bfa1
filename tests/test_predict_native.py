"""The optional C pass of the fused prediction path (``workbench/tabular/_fastprep.c``): the same numbers and
unseen counts as the numpy pass on awkward Arrow input, and a clean refusal (numpy then decides) of anything
malformed. Skipped where no C compiler built it; the numpy pass is covered everywhere by test_predict_fast."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from fakes import native_spy

from workbench.tabular import fit, plan_fused
from workbench.tabular.chain import transform_frame
from workbench.tabular.plan import Plan

pytestmark = pytest.mark.skipif(plan_fused.NATIVE is None, reason="the C pass was not built (no C compiler)")

LONG = "abcdefgh_X_ijklmnop"  # 19 bytes: first and last 8 bytes alone do not identify it
VOCAB = ["café", "北京", "", LONG, "a", "debt_consolidation", "x" * 40]


def fitted_chain(max_categories: int = 20) -> list[dict]:
    rng = np.random.default_rng(0)
    n = 600
    train = pd.DataFrame(
        {
            "num": np.where(rng.random(n) < 0.1, np.nan, rng.normal(5, 2, n)),
            "count": rng.integers(0, 9, n),
            "city": pd.array(rng.choice(VOCAB, n), dtype="str"),
            "kind": pd.array(rng.choice(["p", "q"], n), dtype="str"),
        }
    )
    frame, features, chain = train, list(train.columns), []
    for make in (
        lambda f, c: fit.fit_onehot(f, c, ["city", "kind"], max_categories),
        lambda f, c: fit.fit_impute(f, c, ["num"], "median"),
        lambda f, c: fit.fit_scale(f, c, ["num", "count"], "standard"),
    ):
        step = json.loads(json.dumps(make(frame, features)))
        chain.append(step)
        frame, features = transform_frame([step], frame), list(step["features_out"])
    return chain


def both_passes(chain: list[dict], columns: dict, n: int) -> tuple:
    """(C result, C stats, numpy result, numpy stats), checking that the C pass really ran."""
    real, calls = plan_fused.NATIVE, []
    stats: dict = {}
    numpy_stats: dict = {}
    try:
        plan_fused.NATIVE = native_spy(real, calls)
        got = Plan(chain).fused.run(columns, n, stats)
        plan_fused.NATIVE = None
        expected = Plan(chain).fused.run(columns, n, numpy_stats)
    finally:
        plan_fused.NATIVE = real
    assert calls == [n], "the C pass did not take a well-formed input"
    return got, stats, expected, numpy_stats


def awkward_text(n: int, rng: np.random.Generator) -> pa.Array:
    values = rng.choice([*VOCAB, "abcdefgh_Y_ijklmnop", "cafe", "北", "unseen", "x" * 41], n).tolist()
    for i in range(0, n, 7):
        values[i] = None
    # a slice of a bigger array: a non-zero Arrow offset into shared buffers
    return pa.array(["pad", *values, "pad"], type=pa.large_string()).slice(1, n)


@pytest.mark.parametrize("n", [1, 5, 1024, 3000])
@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.string()])
def test_c_pass_equals_numpy_on_awkward_arrow_text_and_numbers(n: int, arrow_type) -> None:  # noqa: ANN001
    rng = np.random.default_rng(n)
    num = rng.normal(5, 2, n)
    num[rng.random(n) < 0.2] = np.nan
    num[rng.random(n) < 0.05] = np.inf
    wide = np.arange(2 * n, dtype=np.float64) * 0.5
    columns = {
        "num": num,
        "count": wide[::2].astype(np.int32),  # int32 as stored
        "city": pd.arrays.ArrowStringArray(pa.chunked_array([awkward_text(n, rng).cast(arrow_type)])),
        "kind": pd.array(rng.choice(["p", "q", "r"], n), dtype="str"),
    }
    got, stats, expected, numpy_stats = both_passes(fitted_chain(), columns, n)
    assert np.array_equal(got[0], expected[0], equal_nan=True)
    assert got[1] == expected[1] and stats == numpy_stats
    if n >= 1024:
        assert stats["unseen"]["city"] > 0 and stats["unseen"]["kind"] > 0


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
def test_c_pass_reads_every_numeric_dtype_and_strided_arrays(dtype: str) -> None:
    n = 700
    rng = np.random.default_rng(1)
    base = (rng.normal(50, 20, 2 * n)).astype(dtype)
    columns = {
        "num": base[::2],  # a strided view
        "count": base[1::2].copy(),
        "city": pd.array(rng.choice(VOCAB, n), dtype="str"),
        "kind": pd.array(rng.choice(["p", "q"], n), dtype="str"),
    }
    got, stats, expected, numpy_stats = both_passes(fitted_chain(), columns, n)
    assert np.array_equal(got[0], expected[0], equal_nan=True) and stats == numpy_stats


def test_c_pass_refuses_malformed_buffers_and_the_predictor_falls_back() -> None:
    chain = fitted_chain()
    plan = Plan(chain)
    fused = plan.fused
    n = 4
    out = np.empty((n, fused.width), dtype=np.float32)
    good = pa.array(["a", "b", "café", None], type=pa.large_string())
    validity, offsets, data = good.buffers()
    numbers = [np.zeros(n), np.zeros(n, dtype=np.int64)]
    statics = ((0, 0, 0.0, 0.0, 1.0), (1, 0, 0.0, 0.0, 1.0))
    texts = ((offsets, data, validity, 1, 0), (offsets, data, validity, 1, 0))
    plan_fused.NATIVE.fill(out, numbers, statics, fused.native, texts)  # well formed: accepted
    far = np.array([0, 1, 2, 999, 999], dtype=np.int64).tobytes()  # an offset past the data
    backwards = np.array([0, 3, 1, 4, 4], dtype=np.int64).tobytes()
    for bad_texts in (
        ((far, data, validity, 1, 0), texts[1]),
        ((backwards, data, validity, 1, 0), texts[1]),
        ((offsets[:16], data, validity, 1, 0), texts[1]),  # shorter than the rows
        ((offsets, data, validity, 1, 2), texts[1]),  # an array offset past the end
    ):
        with pytest.raises(ValueError, match="fastprep"):
            plan_fused.NATIVE.fill(out, numbers, statics, fused.native, bad_texts)
    table = list(fused.native[0])
    table[0] = np.zeros(len(table[0]) // 4, dtype=np.int32).tobytes()  # a hash table with no empty slot
    with pytest.raises(ValueError, match="fastprep"):
        plan_fused.NATIVE.fill(out, numbers, statics, (tuple(table), fused.native[1]), texts)
    with pytest.raises(ValueError, match="fastprep"):
        plan_fused.NATIVE.fill(out.astype(np.float64), numbers, statics, fused.native, texts)
    with pytest.raises(ValueError, match="fastprep"):
        plan_fused.NATIVE.fill(out, [np.zeros(n, dtype=np.uint8), numbers[1]], statics, fused.native, texts)

    class Refusing:  # any refusal: the fused path answers with the numpy pass
        hash = staticmethod(plan_fused.NATIVE.hash)

        @staticmethod
        def fill(*args):  # noqa: ANN002, ANN205
            raise ValueError("fastprep: refused")

    rows = {
        "num": np.array([1.0, np.nan, 3.0]),
        "count": np.array([1, 2, 3]),
        "city": pd.array(["a", None, "zzz"], dtype="str"),
        "kind": pd.array(["p", "q", "p"], dtype="str"),
    }
    expected = plan.fused.run(rows, 3, {})
    native = plan_fused.NATIVE
    try:
        plan_fused.NATIVE = Refusing
        got = plan.fused.run(rows, 3, {})
    finally:
        plan_fused.NATIVE = native
    assert np.array_equal(got[0], expected[0])


def test_a_vocabulary_that_is_not_utf8_keeps_the_numpy_pass() -> None:
    bad = "bad\udc80"  # a lone surrogate: never in Arrow text, so no UTF-8 table can hold it

    def swap(value):  # noqa: ANN001, ANN202 - the category "a" and its one-hot column, renamed everywhere
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: (swap(v) if k != "column" else v) for k, v in value.items()}
        return {"a": bad, "city=a": f"city={bad}"}.get(value, value)

    chain = swap(fitted_chain())
    assert bad in chain[0]["encodings"][0]["categories"]
    plan = Plan(chain)
    assert plan.fused is not None and plan.fused.native is None

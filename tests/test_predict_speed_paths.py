"""The faster code paths of ``predict_template`` give the numbers of the plain ones, on awkward inputs.

The paths: Arrow text looked up column by column from ``UNION_ROWS`` rows (all columns in one pass below it);
a one-hot vocabulary whose positions are its slots takes Arrow's lookup as the slots (``Vocabulary.direct``);
a whole one-hot group is scattered straight into its columns, a partial one through its slot -> column map; a
block's columns are written in one fancy assignment, whole or some of its rows. The references: the object
(non-Arrow) lookup, which shares no code with Arrow's, and the DataFrame path the training splits take.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from workbench.export import predict_template as tpl
from workbench.tabular import fit
from workbench.tabular.chain import frame_matrix, transform, transform_frame

CITIES = ["paris", "lyon", "nice", "metz"]


def awkward(n: int, seed: int, train: bool = False) -> pd.DataFrame:
    """Gaps, unseen and literal bucket texts, float32 category values, ints with NaN, booleans and dates. In
    training, ``grade`` has three values and no gap (a direct vocabulary) and ``size`` has gaps (a listed
    ``__missing__`` bucket); prediction rows add unseen values to both and gaps to ``grade``."""
    rng = np.random.default_rng(seed)
    city = rng.choice(
        [*CITIES, "brest", "__missing__", "__other__"], n, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    )
    city = city.astype(object)
    city[rng.random(n) < 0.1] = None
    size = rng.choice(["s", "m", "l"] if train else ["s", "m", "l", "xl"], n).astype(object)
    size[rng.random(n) < 0.1] = None
    grade = rng.choice(["a", "b", "c"] if train else ["a", "b", "c", "d"], n).astype(object)
    if not train:
        grade[rng.random(n) < 0.1] = None
    weight = pd.array(rng.choice([0.1, 0.2, 0.3, 0.7], n).astype(np.float32), dtype="Float32")
    weight[rng.random(n) < 0.1] = pd.NA
    count = pd.array(rng.integers(0, 5, n), dtype="Int64")
    count[rng.random(n) < 0.1] = pd.NA
    num = rng.normal(5, 2, n)
    num[rng.random(n) < 0.1] = np.nan
    ratio = pd.array(rng.random(n), dtype="Float64")
    ratio[rng.random(n) < 0.1] = pd.NA
    count2 = pd.array(rng.integers(0, 9, n), dtype="Int64")
    count2[rng.random(n) < 0.1] = pd.NA
    return pd.DataFrame(
        {
            "city": pd.array(city, dtype="str"),
            "size": pd.array(size, dtype="string[pyarrow]"),
            "grade": pd.array(grade, dtype="str"),
            "weight": weight,
            "count": count,
            "member": rng.random(n) < 0.4,
            "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 60, n), unit="D"),
            "num": num,
            "ratio": ratio,  # a float extension array, imputed then scaled
            "count2": count2,  # ints with gaps, scaled as they are (the gaps stay NaN)
        }
    )


def chain_for(train: pd.DataFrame, drop_onehot: bool) -> list[dict]:
    """Encode every awkward column (with an ``__other__`` bucket for city), impute and scale the numbers;
    ``drop_onehot`` drops one middle one-hot column and one scaled column, so those groups are partial."""
    makers = [
        lambda f, c: fit.fit_datetime(c, ["day"], ["month", "dayofweek"]),
        lambda f, c: fit.fit_onehot(f, c, ["city", "size", "grade"], 4),  # Arrow text only: one pass possible
        lambda f, c: fit.fit_onehot(f, c, ["weight", "member", "day.month"], 4),
        lambda f, c: fit.fit_ordinal(f, c, ["count"]),
        lambda f, c: fit.fit_impute(f, c, ["num", "day.dayofweek", "ratio"], "median", indicators=True),
        lambda f, c: fit.fit_scale(f, c, ["num", "count", "day.dayofweek", "ratio", "count2"], "standard"),
    ]
    if drop_onehot:
        makers.append(lambda f, c: fit.fit_drop(c, [[n for n in c if n.startswith("size=")][1], "count"]))
    frame, features, chain = train, list(train.columns), []
    for make in makers:
        step = json.loads(json.dumps(make(frame, features)))
        chain.append(step)
        frame, features = transform_frame([step], frame), list(step["features_out"])
    return chain


def as_objects(frame: pd.DataFrame) -> pd.DataFrame:
    """The same table with its text columns as object arrays: the lookup that does not go through Arrow."""
    return frame.astype({"city": object, "size": object, "grade": object})


@pytest.mark.parametrize("drop_onehot", [False, True])
def test_every_lookup_and_write_path_gives_the_numbers_of_the_plain_ones(
    drop_onehot: bool, monkeypatch
) -> None:  # noqa: ANN001
    chain = chain_for(awkward(500, 0, train=True), drop_onehot)
    vocabularies = {name: vocabulary for name, vocabulary, _ in tpl.Step(chain[1]).encodings}
    assert vocabularies["grade"].direct  # Arrow's lookup is the slots
    assert not vocabularies["city"].direct and chain[1]["encodings"][0]["other_values"]  # an __other__ bucket
    assert not vocabularies["size"].direct and "__missing__" in vocabularies["size"].table  # a listed gap
    for n, seed in ((1, 1), (9, 2), (3000, 3)):
        rows = awkward(n, seed)
        if n > 1:  # Arrow columns in two chunks
            rows = pd.concat([rows.iloc[: n // 2], rows.iloc[n // 2 :]], ignore_index=True)
        stats: dict = {}
        expected = frame_matrix(transform_frame(chain, as_objects(rows), stats), chain[-1]["features_out"])
        for union_rows in (0, 1 << 30):  # each column on its own / all columns in one pass
            monkeypatch.setattr(tpl, "UNION_ROWS", union_rows)
            got_stats: dict = {}
            got = transform(chain, rows, stats=got_stats)
            assert got.dtype == np.float32 and np.array_equal(got, expected, equal_nan=True), (n, union_rows)
            assert got_stats == stats
            frame_stats: dict = {}
            through_frames = frame_matrix(
                transform_frame(chain, rows, frame_stats), chain[-1]["features_out"]
            )
            assert np.array_equal(through_frames, expected, equal_nan=True) and frame_stats == stats
        scale = next(
            step for step in chain if step["op"] == "scale"
        )  # an Int64 column with gaps, scaled as it is: float32 (x - center) * (1 / scale)
        at = scale["columns"].index("count2")
        center, factor = np.float32(scale["center"][at]), np.float32(1.0 / scale["scale"][at])
        raw = rows["count2"].to_numpy(dtype=np.float32, na_value=np.nan)
        column = chain[-1]["features_out"].index("count2")
        assert np.array_equal(expected[:, column], (raw - center) * factor, equal_nan=True)
        if n == 3000:
            assert stats["unseen"]["grade"] > 0 and stats["unseen"]["size"] > 0, stats


@pytest.mark.parametrize(
    "table",
    [
        {"a": 0, "b": 1, "c": 2},  # the usual one-hot vocabulary: direct
        {"a": 0, "b": 1, "__missing__": 2},  # a listed missing bucket: nulls are not unseen
        {"a": 0, "b": 1, "c": 1},  # an __other__ bucket: two texts, one slot
        {"b": 1, "a": 0},  # slots not in listing order
        {},  # nothing listed: all unseen
    ],
)
@pytest.mark.parametrize("arrow_type", ["large_string", "string"])
def test_arrow_slots_equal_the_object_lookup(table: dict, arrow_type: str) -> None:
    unseen = max(table.values(), default=-1) + 1
    vocabulary = tpl.Vocabulary(table, unseen)
    assert vocabulary.direct == (table == {"a": 0, "b": 1, "c": 2} or table == {})
    cases = [
        ["a", "b", None, "c", "zz", "__missing__", "__unseen__", "", "A"],
        [None, None, None],
        ["b"] * 5,
        [],
    ]
    for values in cases:
        array = pa.array(values, type=getattr(pa, arrow_type)())
        expected = vocabulary(np.array(values, dtype=object))
        got = vocabulary.arrow_slots(array)
        assert got.dtype == np.intp and got.tolist() == expected.tolist(), values
        assert vocabulary(pd.array(values, dtype="string[pyarrow]")).tolist() == expected.tolist()
        general = vocabulary.slots.take(vocabulary.arrow_index(array))  # the remapped path, for every table
        assert general.tolist() == expected.tolist()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_values_out_of_float32_range_are_refused_from_a_whole_or_partial_block() -> None:
    """The finite check follows the block: read from the float32 block when all of it is written, from the
    written columns when a later step dropped some of its rows (a value out of range there is not refused)."""
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
    scale = json.loads(json.dumps(fit.fit_scale(train, ["x", "y"], ["x", "y"], "standard")))
    drop = json.loads(json.dumps(fit.fit_drop(scale["features_out"], ["y"])))
    both = pd.DataFrame({"x": [1.0, 1e300, 2.0], "y": [1.0, 2.0, 1e300]})
    only_y = both.assign(x=[1.0, 2.0, 3.0])
    for chain, bad in (([scale], ["x", "y"]), ([scale, drop], ["x"])):
        prep = {
            "steps": chain,
            "feature_names": chain[-1]["features_out"],
            "input_columns": ["x", "y"],
            "input_schema": {"x": "numeric", "y": "numeric"},
            "labels": {"target": None},
            "window": None,
        }
        steps = tpl.Steps(chain, prep["feature_names"])
        with pytest.raises(tpl.PredictError, match="missing values the model cannot fill in") as info:
            tpl.model_features(both, prep, steps)
        found = re.search(r"fill in (.*) \(row", str(info.value))
        assert found is not None and found.group(1).split(", ") == bad
        if chain[-1] is drop:
            assert (
                tpl.model_features(only_y, prep, steps)[0][:, 0].tolist()
                == transform(chain, only_y)[:, 0].tolist()
            )


def test_shared_lookups_keep_their_order_and_never_wait_for_a_busy_worker() -> None:
    """``_shared`` runs jobs on the caller's thread and one worker; a job the worker has not begun is run by
    the caller, so a worker that cannot run (a busy machine, or a forked child without the thread) only costs
    the parallelism. Errors reach the caller."""
    import threading

    assert tpl._shared([lambda i=i: i * i for i in range(5)]) == [0, 1, 4, 9, 16]
    release, started = threading.Event(), threading.Event()
    blocker = tpl._WORKER[0].submit(lambda: (started.set(), release.wait(30)))
    assert started.wait(30)
    callers: list[int] = []
    jobs = [lambda i=i: callers.append(threading.get_ident()) or i for i in range(4)]
    assert tpl._shared(jobs) == [0, 1, 2, 3]  # returns while the worker is still blocked
    assert set(callers) == {threading.get_ident()} and not blocker.done()
    release.set()
    blocker.result(30)

    def fails() -> None:
        raise tpl.PredictError("bad column")

    with pytest.raises(tpl.PredictError, match="bad column"):
        tpl._shared([lambda: 1, fails, lambda: 3])

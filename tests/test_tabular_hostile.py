"""Hostile sizes stay bounded and stoppable: very wide headers, huge JSON, ID-like targets, wide numeric prep.

No timings: each test asserts what happens (refused before parsing, stopped mid-read, no per-column work).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench import events as E
from workbench.errors import RunCancelled, UserError
from workbench.execution.context import CancelToken
from workbench.execution.executor import Executor
from workbench.graph import Pipeline
from workbench.nodes import collect
from workbench.registry import NodeRegistry
from workbench.tabular import fit
from workbench.tabular import io as tio
from workbench.tabular.chain import missing_mask, transform_frame
from workbench.tabular.split import split_table


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))


def wide_csv(path: Path, columns: int, rows: int = 2) -> Path:
    header = ",".join(f"c{i}" for i in range(columns))
    body = "\n".join(",".join(["1"] * columns) for _ in range(rows))
    path.write_text(header + "\n" + body + "\n")
    return path


def forbid_parsing(monkeypatch) -> None:  # noqa: ANN001
    def parse(*_args, **_kwargs):
        raise AssertionError("the body was handed to the CSV parser")

    monkeypatch.setattr(pd, "read_csv", parse)


def file_pipeline(path: Path, **params) -> Pipeline:
    pipeline = Pipeline(NodeRegistry(collect.NODE_TYPES))
    pipeline.add("data.file", "file", path=str(path), **params)
    return pipeline


# -- 1. wide headers are refused before the body is parsed; long reads stop


def test_a_50000_column_header_longer_than_the_sample_is_refused_before_parsing(tmp_path, monkeypatch):
    path = wide_csv(tmp_path / "wide.csv", 50_000)
    assert path.read_bytes().index(b"\n") > tio.SAMPLE_BYTES  # the header alone overflows the sniffing sample
    forbid_parsing(monkeypatch)
    with pytest.raises(UserError) as caught:
        tio.read_table(path)
    message = str(caught.value)
    assert message.startswith("wide.csv: 50,000 columns, more than the limit of 16,384")
    assert "max_columns" in message and "\n" not in message


def test_a_header_inside_the_sample_is_counted_exactly(tmp_path, monkeypatch):
    path = wide_csv(tmp_path / "w20k.csv", 20_000, rows=1)
    forbid_parsing(monkeypatch)
    with pytest.raises(UserError, match=r"^w20k\.csv: 20,000 columns, more than the limit of 16,384"):
        tio.read_table(path, header="no")


def test_max_columns_is_a_node_parameter_that_can_raise_the_limit(tmp_path):
    spec = {p.name: p for p in collect.DataFile.spec.params}
    assert spec["max_columns"].default == tio.DEFAULT_MAX_COLUMNS  # the catalog keeps no pandas import
    path = wide_csv(tmp_path / "w300.csv", 300)
    refused = Executor().run(file_pipeline(path, max_columns=200), write_run_folder=False)
    assert refused.nodes["file"].state == E.FAILED
    assert refused.nodes["file"].message.startswith("w300.csv: 300 columns, more than the limit of 200")
    allowed = Executor().run(file_pipeline(path, max_columns=300), write_run_folder=False)
    assert allowed.status == "ok" and allowed.output("file", "table").shape == (2, 300)


def long_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(200_000, 4)).round(6), columns=list("abcd")).to_csv(path, index=False)
    return path


def test_a_stop_during_a_long_read_ends_it_mid_read(tmp_path):
    path = long_csv(tmp_path / "long.csv")
    asked: list[int] = []
    frame = tio.read_table(path, check=lambda: asked.append(1))
    assert frame.shape == (200_000, 4)
    total = len(asked)
    assert total >= 8  # asked between the parser's blocks all through the read, not just before and after

    stop_at = total // 2
    seen: list[int] = []

    def stop_halfway() -> None:
        seen.append(1)
        if len(seen) >= stop_at:
            raise RunCancelled("stopped by the user")

    with pytest.raises(RunCancelled):
        tio.read_table(path, check=stop_halfway)
    assert len(seen) == stop_at  # nothing more was read, parsed or checked once the stop came


class StopAt(CancelToken):
    """A token that counts how often the node asks (``check_cancelled`` waits on pause first) and is
    cancelled, as by the Stop button, when asked the ``at``-th time; ``at=0`` never stops."""

    def __init__(self, at: int = 0) -> None:
        super().__init__()
        self.at, self.asked = at, 0

    def wait_if_paused(self, timeout: float | None = None) -> None:
        self.asked += 1
        if self.asked == self.at:
            self.cancel()
        super().wait_if_paused(timeout)


def test_stop_ends_the_data_file_node_which_reports_stopped(tmp_path):
    path = long_csv(tmp_path / "long.csv")
    counting = StopAt()
    assert Executor().run(file_pipeline(path), token=counting, write_run_folder=False).status == "ok"
    token = StopAt(at=counting.asked // 2)
    result = Executor().run(file_pipeline(path), token=token, write_run_folder=False)
    assert result.status == "stopped"
    assert result.nodes["file"].state == E.STOPPED
    assert result.nodes["file"].message == "stopped by the user"
    assert "table" not in result.nodes["file"].outputs
    assert token.asked == token.at  # the read ended at the stop instead of running to the end


# -- 2. JSON is refused by size before a byte is read


@pytest.mark.parametrize("name", ["huge.json", "huge.jsonl", "huge_json.txt"])
def test_an_8_gb_json_file_is_refused_without_reading_it(tmp_path, monkeypatch, name):
    path = tmp_path / name
    with path.open("wb") as handle:
        handle.truncate(8 << 30)  # sparse: no disk used
    kind = "jsonl" if name.endswith(".txt") else "auto"

    def read(*_args, **_kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "open", read)
    monkeypatch.setattr(Path, "read_bytes", read)
    with pytest.raises(UserError) as caught:
        tio.read_table(path, file_format=kind)
    message = str(caught.value)
    assert message.startswith(f"{name}: 8,192 MB of JSON is more than the 256 MB")
    assert "convert it to Parquet or CSV" in message and "\n" not in message


def test_json_lines_still_read_and_a_bad_line_is_named(tmp_path):
    good = tmp_path / "rows.jsonl"
    good.write_text("".join(f'{{"x": {i}, "y": "r{i % 3}"}}\n' for i in range(100)))
    frame = tio.read_table(good, check=lambda: None)
    assert frame.shape == (100, 2) and frame["x"].sum() == 4950
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n{"x": 2}\n{"x": \n')
    with pytest.raises(UserError, match=r"^bad\.jsonl: invalid JSON at line 3"):
        tio.read_table(bad)


# -- 3. a classification target that is an ID or free text is refused where the task is decided


def test_a_free_text_target_is_refused_with_the_reason():
    n = 5000
    frame = pd.DataFrame({"x": np.arange(n) % 7, "comment": [f"note {i}" for i in range(n)]})
    with pytest.raises(UserError) as caught:
        split_table(frame, "comment")
    message = str(caught.value)
    assert "'comment' looks like an ID or free text (5,000 different values in 5,000 rows)" in message
    assert "pick another target column" in message and "regression" not in message


def test_a_numeric_id_forced_to_classification_suggests_regression():
    frame = pd.DataFrame({"x": np.arange(500) % 5, "id": np.arange(500)})
    with pytest.raises(UserError, match="set the task to regression"):
        split_table(frame, "id", task="classification")
    assert split_table(frame, "id").task == "regression"  # auto still picks regression


def test_classes_too_small_to_hold_out_any_row_are_refused():
    frame = pd.DataFrame({"x": np.arange(60.0), "label": [f"k{i // 2}" for i in range(60)]})
    with pytest.raises(
        UserError, match="30 classes in 60 rows, too few rows per class to put any in validation or test"
    ):
        split_table(frame, "label")


def test_many_classes_with_enough_rows_still_split():
    frame = pd.DataFrame({"x": np.arange(200.0), "label": [f"k{i % 25}" for i in range(200)]})
    dataset = split_table(frame, "label")
    assert dataset.n_classes == 25
    assert set(dataset.val["label"]) == set(dataset.test["label"]) == set(dataset.classes)


# -- 4. impute and scale work on 2-D blocks, with the numbers the per-column code gave


def old_fills(train: pd.DataFrame, columns: list[str], strategy: str) -> dict[str, float]:
    """The per-column fill values as fit_impute computed them before (the reference)."""
    fill = {}
    for column in columns:
        value = train[column].mean() if strategy == "mean" else train[column].median()
        fill[column] = 0.0 if pd.isna(value) else float(value)
    return fill


def old_scale_stats(train: pd.DataFrame, columns: list[str], method: str) -> tuple[list, list]:
    centers, scales = [], []
    for column in columns:
        values = train[column].to_numpy(dtype=np.float64, na_value=np.nan)
        values = values[~np.isnan(values)]
        if values.size == 0:
            center, spread = 0.0, 1.0
        elif method == "minmax":
            center, spread = float(values.min()), float(values.max() - values.min())
        elif method == "robust":
            q1, median, q3 = np.percentile(values, [25, 50, 75])
            center, spread = float(median), float(q3 - q1)
        else:
            center, spread = float(values.mean()), float(values.std())
        centers.append(center)
        scales.append(spread if spread > 1e-12 and np.isfinite(spread) else 1.0)
    return centers, scales


def old_apply(step: dict, frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy(deep=False)
    if step["op"] == "impute":
        for column in step["columns"]:
            series, fill = frame[column], step["fill"][column]
            mask = missing_mask(series)
            if mask.any():
                out[column] = series.mask(mask, fill)
        return out
    for column, center, scale in zip(step["columns"], step["center"], step["scale"], strict=True):
        values = frame[column].to_numpy(dtype=np.float32, na_value=np.nan)
        result = np.subtract(values, np.float32(center), dtype=np.float32)
        result *= np.float32(1.0 / scale)
        out[column] = result
    return out


def mixed_table(n: int = 9000) -> pd.DataFrame:
    """Gaps, infinities, an empty column, signed zeros, ties, ints, float32, bool and nullable ints; more rows
    than numpy's 8,192-element buffer; a repeated index."""
    rng = np.random.default_rng(7)
    data: dict[str, object] = {}
    for i in range(8):
        column = rng.normal(i, 1 + i, n).round(i % 4)
        column[rng.random(n) < 0.07 * (i % 3)] = np.nan
        data[f"f{i}"] = column
    data["inf"] = np.where(rng.random(n) < 0.05, np.inf, rng.normal(size=n))
    data["empty"] = np.full(n, np.nan)
    data["zeros"] = np.where(rng.random(n) < 0.5, 0.0, -0.0)
    data["ties"] = rng.integers(0, 3, n).astype(float)
    data["big"] = rng.normal(1e12, 1e3, n)
    data["int"] = rng.integers(-5, 100, n)
    data["uint"] = rng.integers(0, 100, n).astype(np.uint16)
    data["f32"] = np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)).astype(np.float32)
    data["flag"] = rng.random(n) < 0.3
    data["nullable"] = pd.array(np.where(rng.random(n) < 0.2, None, rng.integers(0, 9, n)), dtype="Int64")
    frame = pd.DataFrame(data)
    frame.index = rng.integers(0, 5, n)
    return frame


def same_bits(a: object, b: object) -> bool:
    return np.array_equal(
        np.asarray(a, dtype=np.float64).view(np.uint64), np.asarray(b, dtype=np.float64).view(np.uint64)
    )


def same_frames(new: pd.DataFrame, old: pd.DataFrame) -> None:
    assert list(new.columns) == list(old.columns)
    assert list(new.dtypes) == list(old.dtypes)
    assert list(new.index) == list(old.index)
    for column in old.columns:
        a = new[column].to_numpy(dtype=np.float64, na_value=np.nan)
        b = old[column].to_numpy(dtype=np.float64, na_value=np.nan)
        assert same_bits(a, b), column


@pytest.mark.parametrize("strategy", ["median", "mean"])
def test_impute_gives_the_per_column_numbers_bit_for_bit(strategy):
    frame = mixed_table()
    columns = [c for c in frame.columns if c not in ("flag", "nullable")]
    step = fit.fit_impute(frame, list(frame.columns), columns, strategy)
    expected = old_fills(frame, columns, strategy)
    assert list(step["fill"]) == columns
    assert same_bits(list(step["fill"].values()), list(expected.values()))
    same_frames(transform_frame([step], frame), old_apply(step, frame))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf, as before
@pytest.mark.parametrize("method", ["standard", "minmax", "robust"])
def test_scale_gives_the_per_column_numbers_bit_for_bit(method):
    frame = mixed_table()
    columns = list(frame.columns)
    step = fit.fit_scale(frame, columns, columns, method)
    centers, scales = old_scale_stats(frame, columns, method)
    assert same_bits(step["center"], centers) and same_bits(step["scale"], scales)
    same_frames(transform_frame([step], frame), old_apply(step, frame))


def test_wide_impute_and_scale_do_no_per_column_pandas_work(monkeypatch):
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 3000))
    values[rng.random(values.shape) < 0.05] = np.nan
    frame = pd.DataFrame(values, columns=[f"c{i}" for i in range(3000)])
    columns = list(frame.columns)
    calls = {"median": 0, "mean": 0, "setitem": 0}
    for name, owner, attribute in (
        ("median", pd.Series, "median"),
        ("mean", pd.Series, "mean"),
        ("setitem", pd.DataFrame, "__setitem__"),
    ):
        original = getattr(owner, attribute)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, attribute, counted)
    impute = fit.fit_impute(frame, columns, columns, "median")
    filled = transform_frame([impute], frame)
    scale = fit.fit_scale(filled, columns, columns)
    out = transform_frame([scale], filled)
    assert calls == {"median": 0, "mean": 0, "setitem": 0}
    assert not out.isna().any().any() and out.dtypes.eq(np.float32).all()

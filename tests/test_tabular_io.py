"""Reading files: sniffing, and the bad-input corpus in tests/data (each loads right or fails in one clear line)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.errors import UserError
from workbench.tabular.io import read_table, sniff_text

DATA = Path(__file__).parent / "data"


def load(name: str, **options):
    return read_table(DATA / name, **options)


def test_corpus_has_at_least_twenty_files():
    files = [p for p in DATA.iterdir() if p.suffix != ".py"]
    assert len(files) >= 20


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("empty.csv", "empty"),
        ("header_only.csv", "no data rows"),
        ("blank_lines.csv", "blank lines"),
        ("binary_garbage.csv", "binary"),
        ("ragged_rows.csv", "bad_lines"),
        ("corrupt.parquet", "Parquet"),
        ("not_excel.xlsx", "Excel"),
        ("bad.json", "different lengths"),
    ],
)
def test_bad_files_fail_with_one_line_naming_the_file(name, fragment):
    with pytest.raises(UserError) as caught:
        load(name)
    message = str(caught.value)
    assert message.startswith(name)
    assert fragment in message
    assert "\n" not in message


def test_ragged_rows_can_be_skipped():
    frame = load("ragged_rows.csv", bad_lines="skip")
    assert frame["a"].tolist() == [1, 8]


def test_json_inside_a_csv_is_read_as_json():
    frame = load("json_in.csv")
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].tolist() == ["x", "y", "z"]


def test_jsonl_records():
    assert load("records.jsonl").to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}


def test_nested_json_is_flattened():
    frame = load("nested.json")
    assert list(frame.columns) == ["id", "tags", "who.name", "who.age"]
    assert frame["who.name"].tolist() == ["a", "b"]
    assert frame["tags"].tolist()[0] == '["x", "y"]'


def test_semicolon_and_decimal_comma():
    frame = load("semicolon_decimal_comma.csv")
    assert list(frame.columns) == ["city", "temp", "rain"]
    assert frame["temp"].tolist() == [12.5, 15.25, 18.0]
    assert frame["rain"].tolist() == [0.3, 1.0, 0.0]


def test_european_thousands_and_decimal():
    assert load("eu_thousands.csv")["price"].tolist() == [1234.5, 2000.0, 999.99]


def test_thousands_separator_in_quotes():
    assert load("thousands_sep.csv")["amount"].tolist() == [1234567, 12000, 999]


def test_latin1_text_is_decoded():
    frame = load("latin1.csv")
    assert frame["name"].tolist() == ["Müller", "Café"]
    assert frame["city"].tolist() == ["Köln", "Besançon"]


def test_cp1252_euro_sign():
    assert load("cp1252.csv")["price"].tolist() == ["€12", "€3"]


def test_bom_is_not_part_of_the_first_column_name():
    frame = load("bom_utf8.csv")
    assert list(frame.columns) == ["id", "value"]
    assert frame["value"].sum() == 30


def test_utf16_with_bom():
    assert load("utf16.csv")["value"].tolist() == [10, 20]


def test_chinese_names_and_values():
    frame = load("chinese.csv")
    assert list(frame.columns) == ["城市", "温度", "天气"]
    assert frame["城市"].tolist() == ["北京", "上海", "广州"]
    assert frame["温度"].tolist() == [12.5, 18.0, 25.5]


def test_chinese_in_gbk_encoding():
    frame = load("chinese_gbk.csv")
    assert list(frame.columns) == ["城市", "温度", "天气"]
    assert frame["天气"].tolist() == ["晴", "多云"]


def test_quoted_newlines_stay_inside_the_field():
    frame = load("quoted_newlines.csv")
    assert len(frame) == 3
    assert frame["comment"].tolist()[0] == "first line\nsecond line"
    assert frame["score"].tolist() == [5, 3, 4]


def test_infinities_become_missing(tmp_path):
    messages = []
    frame = read_table(DATA / "inf_values.csv", log=messages.append)
    assert frame["y"].isna().tolist() == [True, True, False]
    assert any("infinite" in m for m in messages)


def test_duplicate_column_names_are_renamed():
    frame = load("duplicate_columns.csv")
    assert list(frame.columns) == ["a", "a.1", "b"]
    assert frame["a.1"].tolist() == [2, 5]


def test_wrong_delimiter_is_sniffed():
    frame = load("wrong_delimiter.csv")
    assert list(frame.columns) == ["a", "b", "c"]
    assert frame["c"].tolist() == ["x", "y", "z"]


def test_na_markers():
    frame = load("na_markers.csv")
    assert frame["a"].isna().tolist() == [False, True, True, False]
    assert frame["b"].isna().tolist() == [True, False, False, True]


def test_headerless_numeric_file_gets_column_names():
    frame = load("no_header.csv")
    assert list(frame.columns) == ["column_1", "column_2", "column_3"]
    assert frame["column_1"].tolist() == [1, 4, 7]
    forced = load("no_header.csv", header="yes")
    assert len(forced) == 2


def test_whitespace_aligned_text():
    frame = load("whitespace.txt")
    assert list(frame.columns) == ["x", "y", "label"]
    assert frame["y"].tolist() == [2.0, 4.0, 6.0]


def test_dates_iso_and_day_first():
    frame = load("dates.csv")
    assert pd.api.types.is_datetime64_any_dtype(frame["iso"])
    assert pd.api.types.is_datetime64_any_dtype(frame["european"])
    assert frame["european"].dt.day.tolist() == [31, 29, 15]
    assert frame["iso"].dt.month.tolist() == [1, 2, 3]
    assert not pd.api.types.is_datetime64_any_dtype(load("dates.csv", parse_dates=False)["iso"])


def test_parquet_and_excel_sheets():
    assert load("good.parquet")["b"].tolist() == ["x", "y", "z"]
    assert list(load("multi_sheet.xlsx").columns) == ["a", "b"]
    second = load("multi_sheet.xlsx", sheet="second")
    assert second["x"].tolist() == [10.5, 20.5, 30.5]
    assert load("multi_sheet.xlsx", sheet="1")["y"].tolist() == ["u", "v", "w"]
    with pytest.raises(UserError, match="sheets are first, second"):
        load("multi_sheet.xlsx", sheet="third")


def test_wide_and_high_cardinality_files():
    wide = load("wide_1000_columns.csv")
    assert wide.shape == (50, 1000)
    many = load("many_categories.csv")
    assert many["code"].nunique() == 10_000


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(UserError, match="folder"):
        read_table(tmp_path)


def test_sniff_prefers_consistent_delimiter():
    sniffed = sniff_text("a;b;c\n1,5;2;x\n3,5;4;y\n", "s")
    assert sniffed["delimiter"] == ";"
    assert sniffed["decimal"] == ","
    assert sniff_text("a\tb\n1\t2\n", "s")["delimiter"] == "\t"


def test_non_utf8_beyond_the_sample_is_detected(tmp_path):
    path = tmp_path / "late_latin1.csv"
    body = "name,value\n" + "plain,1\n" * 60_000 + "Müller,2\n"
    path.write_bytes(body.encode("latin-1"))
    frame = read_table(path)
    assert frame["name"].iloc[-1] == "Müller"


def test_large_csv_reads_every_row(tmp_path):
    """Its speed is a benchmark (benchmarks/bench_ui.py --only csv), not a timed test."""
    path = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame(rng.normal(size=(200_000, 5)), columns=list("abcde")).to_csv(path, index=False)
    frame = read_table(path)
    assert frame.shape == (200_000, 5)
    assert math.isclose(frame["a"].mean(), pd.read_csv(path)["a"].mean())


@pytest.mark.parametrize("path", sorted(p for p in DATA.iterdir() if p.suffix != ".py"), ids=lambda p: p.name)
def test_every_corpus_file_goes_through_the_data_path_or_fails_cleanly(path):
    """Read, profile, split on the last column, auto-prepare, tensors: only UserError may stop it."""
    from workbench.tabular.auto import prepare_for_training
    from workbench.tabular.profile import profile
    from workbench.tabular.split import split_table
    from workbench.tabular.tensors import to_tensors

    try:
        frame = read_table(path)
        assert profile(frame)["rows"] == len(frame)
        dataset = prepare_for_training(split_table(frame, str(frame.columns[-1])), lambda _m: None)
        tensors = to_tensors(dataset)
        assert tensors.x_train.shape[0] == len(dataset.train)
    except UserError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400

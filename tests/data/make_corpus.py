"""Writes the bad-input corpus in this folder (deterministic). The files are committed; this documents them.

.venv/bin/python tests/data/make_corpus.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def text(name: str, content: str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(content.encode(encoding))


def main() -> None:
    rng = np.random.default_rng(5)
    (HERE / "empty.csv").write_bytes(b"")
    text("header_only.csv", "id,name,score\n")
    text("blank_lines.csv", "\n\n  \n\n")
    (HERE / "binary_garbage.csv").write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    text("json_in.csv", '[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}]\n')
    text("ragged_rows.csv", "a,b,c\n1,2,3\n4,5,6,7\n8,9,10\n")
    text("semicolon_decimal_comma.csv", "city;temp;rain\nParis;12,5;0,3\nLyon;15,25;1,0\nNice;18,0;0,0\n")
    text("eu_thousands.csv", "item;price\nA;1.234,50\nB;2.000,00\nC;999,99\n")
    text("latin1.csv", "name;city\nMüller;Köln\nCafé;Besançon\n", encoding="latin-1")
    text("cp1252.csv", "product,price\nBook,€12\nPen,€3\n", encoding="cp1252")
    (HERE / "bom_utf8.csv").write_bytes(b"\xef\xbb\xbfid,value\n1,10\n2,20\n")
    (HERE / "utf16.csv").write_bytes("id,value\n1,10\n2,20\n".encode("utf-16"))
    text("chinese.csv", "城市,温度,天气\n北京,12.5,晴\n上海,18.0,多云\n广州,25.5,雨\n")
    text(
        "quoted_newlines.csv", 'id,comment,score\n1,"first line\nsecond line",5\n2,"plain",3\n3,"a, b\nc",4\n'
    )
    text("thousands_sep.csv", 'item,amount\nA,"1,234,567"\nB,"12,000"\nC,"999"\n')
    text("inf_values.csv", "x,y\n1.5,inf\n2.5,-inf\n3.5,4.0\n")
    text("duplicate_columns.csv", "a,a,b\n1,2,3\n4,5,6\n")
    text("wrong_delimiter.csv", "a|b|c\n1|2|x\n3|4|y\n5|6|z\n")
    text("na_markers.csv", "a,b\n1,?\nN/A,2\n-,3\n4,NULL\n")
    text("chinese_gbk.csv", "城市,温度,天气\n北京,12.5,晴\n上海,18.0,多云\n", encoding="gbk")
    text("no_header.csv", "1,2,3\n4,5,6\n7,8,9\n")
    text("whitespace.txt", "x    y     label\n1.0  2.0   a\n3.0  4.0   b\n5.0  6.0   a\n")
    text("records.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    text(
        "nested.json",
        '[{"id": 1, "who": {"name": "a", "age": 30}, "tags": ["x", "y"]}, {"id": 2, "who": {"name": "b"}}]',
    )
    text("bad.json", '{"a": [1, 2, 3], "b": [1, 2]}')
    text("five_rows.csv", "x,y,label\n1,2,a\n2,3,b\n3,4,a\n4,5,b\n5,6,a\n")
    text("target_all_missing.csv", "x,label\n1,\n2,\n3,\n4,\n")
    text("target_one_class.csv", "x,label\n1,yes\n2,yes\n3,yes\n4,yes\n")
    text("target_some_missing.csv", "x,label\n1,a\n2,\n3,b\n4,a\n5,\n6,b\n7,a\n8,b\n9,a\n10,b\n")
    text(
        "dates.csv",
        "iso,european,value\n2024-01-31,31/01/2024,1\n2024-02-29,29/02/2024,2\n2024-03-15,15/03/2024,3\n",
    )
    wide = pd.DataFrame(rng.normal(size=(50, 1000)).round(3), columns=[f"f{i}" for i in range(1000)])
    wide.to_csv(HERE / "wide_1000_columns.csv", index=False)
    cats = pd.DataFrame(
        {
            "code": [f"C{i:05d}" for i in range(10_000)] + [f"C{i:05d}" for i in range(2000)],
            "y": rng.integers(0, 2, 12_000),
        }
    )
    cats.to_csv(HERE / "many_categories.csv", index=False)
    good = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    good.to_parquet(HERE / "good.parquet")
    data = (HERE / "good.parquet").read_bytes()
    (HERE / "corrupt.parquet").write_bytes(data[:40] + b"\x00" * 20 + data[-8:])
    with pd.ExcelWriter(HERE / "multi_sheet.xlsx") as writer:
        pd.DataFrame({"a": [1, 2], "b": ["p", "q"]}).to_excel(writer, sheet_name="first", index=False)
        pd.DataFrame({"x": [10.5, 20.5, 30.5], "y": ["u", "v", "w"]}).to_excel(
            writer, sheet_name="second", index=False
        )
    text("not_excel.xlsx", "this is not a workbook")


if __name__ == "__main__":
    main()

"""Readers: formats and encodings detected from content, XLSX headers flattened."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacompact.errors import InvalidInput, NotFound
from datacompact.ingest import list_sheets, open_source
from tests.ingest.conftest import write_csv


def _rows(source) -> list[dict[str, object]]:
    return pa.Table.from_batches(list(source.batches())).to_pylist()


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gbk"), ("gb18030", "gbk")],
)
def test_csv_encodings_are_detected(tmp_path: Path, encoding: str, detected: str) -> None:
    path = write_csv(tmp_path / "a.csv", encoding, rows=30)
    with open_source(path) as source:
        assert source.format == "csv"
        assert source.encoding == detected
        assert source.columns == ("编号", "姓名", "地址")
        rows = _rows(source)
    assert len(rows) == 30
    assert rows[1]["姓名"] == "李四"


def test_gb18030_only_characters(tmp_path: Path) -> None:
    # "𠀀" (U+20000) exists in GB 18030 but not in GBK.
    path = tmp_path / "a.csv"
    path.write_bytes("编号,名称\n1,𠀀字库扩展\n2,张三丰\n".encode("gb18030") * 3)
    with open_source(path) as source:
        assert source.encoding == "gb18030"
        assert _rows(source)[0]["名称"] == "𠀀字库扩展"


def test_forced_encoding_wins(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "gbk")
    with open_source(path, encoding="GB2312") as source:
        assert source.encoding == "gbk"
    with pytest.raises(InvalidInput):
        open_source(path, encoding="latin-1")


def test_tsv_and_delimiters(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.tsv", "utf-8", delimiter="\t")
    with open_source(path) as source:
        assert (source.format, source.delimiter) == ("tsv", "\t")
        assert _rows(source)[2]["地址"] == "温州市鹿城区"
    semi = write_csv(tmp_path / "b.txt", "utf-8", delimiter=";")
    with open_source(semi) as source:
        assert source.delimiter == ";"
        assert len(_rows(source)) == 3


def test_csv_types_keep_identifiers_as_text(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        "zip,phone,n,amount,day\n0571,13812345678,1,2.5,2024-01-02\n0100,13912345678,2,3.25,2024-02-03\n"
    )
    with open_source(path) as source:
        table = pa.Table.from_batches(list(source.batches()))
    assert table.schema.field("zip").type == pa.string()
    assert table.schema.field("phone").type == pa.string()
    assert pa.types.is_integer(table.schema.field("n").type)
    assert pa.types.is_floating(table.schema.field("amount").type)
    assert pa.types.is_date(table.schema.field("day").type)


def test_csv_two_row_header(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("基本信息,,金额\n姓名,年龄,元\n张三,30,1.5\n", encoding="utf-8")
    with open_source(path, header_rows=2) as source:
        assert source.columns == ("基本信息_姓名", "基本信息_年龄", "金额_元")
        assert _rows(source) == [{"基本信息_姓名": "张三", "基本信息_年龄": 30, "金额_元": 1.5}]


def test_xlsx_merged_header_and_sheets(workbook: Path) -> None:
    assert list_sheets(workbook) == ("人员", "单位")
    with open_source(workbook) as source:
        assert source.format == "xlsx"
        assert source.sheet == "人员"
        assert source.header_rows == 2
        assert source.columns == (
            "序号",
            "基本信息_姓名",
            "基本信息_年龄",
            "联系方式_手机",
            "联系方式_邮箱",
            "金额",
        )
        rows = _rows(source)
    assert len(rows) == 5
    assert rows[0]["联系方式_手机"] == "13812345671"  # a long number is an identifier: text
    with open_source(workbook, sheet="单位") as source:
        assert source.columns == ("单位名称", "人数")
        assert _rows(source) == [{"单位名称": "财政局", "人数": 12}]
    with open_source(workbook, sheet=1) as source:
        assert source.sheet == "单位"
    with pytest.raises(InvalidInput):
        open_source(workbook, sheet="没有")
    with pytest.raises(InvalidInput):
        open_source(workbook, sheet=5)


def test_parquet_and_jsonl(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "t.parquet")
    with open_source(tmp_path / "t.parquet") as source:
        assert (source.format, source.total_rows) == ("parquet", 2)
        assert _rows(source) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    lines = [
        json.dumps({"id": i, "城市": "杭州", "tags": {"k": i}}, ensure_ascii=False)
        for i in range(3)
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open_source(tmp_path / "t.jsonl") as source:
        assert source.format == "jsonl"
        assert source.columns == ("id", "城市", "tags")
        assert _rows(source)[2]["城市"] == "杭州"


def test_format_comes_from_content_not_suffix(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1]}), tmp_path / "misnamed.csv")
    with open_source(tmp_path / "misnamed.csv") as source:
        assert source.format == "parquet"
    (tmp_path / "lines.txt").write_text('{"a": 1}\n{"a": 2}\n')
    with open_source(tmp_path / "lines.txt") as source:
        assert source.format == "jsonl"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        open_source(tmp_path / "nope.csv")
    with pytest.raises(InvalidInput):
        open_source(tmp_path)


def test_describe_is_json_ready(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "gbk")
    with open_source(path) as source:
        described = source.describe()
    assert json.loads(json.dumps(described))["encoding"] == "gbk"

"""Bad input: each case is a specific error or a warning naming the row or column.

Every file carries a sentinel value; no message may repeat it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from datacompact.errors import DataCompactError, InvalidInput, MalformedInput, PayloadTooLarge
from datacompact.ingest import MAX_CELL_BYTES, open_source, stage_to_parquet

SECRET = "110105194912310021"


def _stage(path: Path, tmp_path: Path, **options: object):
    with open_source(path, **options) as source:  # type: ignore[arg-type]
        return stage_to_parquet(source, tmp_path / "out" / "v.parquet")


def _fails(
    exc_type: type[DataCompactError], path: Path, tmp_path: Path, **options: object
) -> DataCompactError:
    with pytest.raises(exc_type) as caught:
        _stage(path, tmp_path, **options)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.details)
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    return caught.value


def test_gbk_file_with_utf8_lines(tmp_path: Path) -> None:
    gbk = "".join(f"{i},{SECRET},张三丰住在杭州市西湖区\n" for i in range(200)).encode("gbk")
    utf8 = f"200,{SECRET},李四光住在宁波市鄞州区\n".encode()
    path = tmp_path / "mixed.csv"
    path.write_bytes("编号,证件,备注\n".encode("gbk") + gbk + utf8 + gbk)
    error = _fails(MalformedInput, path, tmp_path)
    assert error.details["line"] == 202
    assert "mixed" in error.message


def test_utf8_file_with_a_gbk_line_late(tmp_path: Path) -> None:
    head = "编号,证件,备注\n" + "".join(f"{i},{SECRET},张三\n" for i in range(300_000))
    path = tmp_path / "late.csv"
    path.write_bytes(head.encode() + f"x,{SECRET},李四\n".encode("gbk") + b"1,2,3\n" * 10)
    error = _fails(MalformedInput, path, tmp_path)
    assert error.details["line"] == 300_002


def test_wrong_forced_encoding(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(f"编号,证件\n1,{SECRET}\n".encode("gbk"))
    error = _fails(MalformedInput, path, tmp_path, encoding="utf-8")
    assert error.details["line"] == 1


def test_ragged_rows(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"a,b,c\n1,2,3\n4,{SECRET}\n")
    error = _fails(MalformedInput, path, tmp_path)
    assert error.details == {"line": 3, "expected": "3", "got": "2"}


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_bytes(b"")
    _fails(MalformedInput, tmp_path / "e.csv", tmp_path)


def test_binary_file_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(bytes(range(256)) * 64)
    error = _fails(MalformedInput, path, tmp_path)
    assert error.details["got"] == "binary"


def test_random_bytes_without_nul_named_csv(tmp_path: Path) -> None:
    import random

    r = random.Random(7)
    path = tmp_path / "b.csv"
    path.write_bytes(bytes(r.randrange(1, 256) for _ in range(50_000)))
    _fails(MalformedInput, path, tmp_path)


def test_old_excel_and_broken_workbooks(tmp_path: Path) -> None:
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    _fails(MalformedInput, tmp_path / "old.xls", tmp_path)
    with zipfile.ZipFile(tmp_path / "fake.xlsx", "w") as z:
        z.writestr("hello.txt", SECRET)
    _fails(MalformedInput, tmp_path / "fake.xlsx", tmp_path)


def test_formulas_in_xlsx_are_a_warning(workbook: Path, tmp_path: Path) -> None:
    staged = _stage(workbook, tmp_path)
    formula = [w for w in staged.warnings if w.code == "formula_cells"]
    assert [(w.column, w.row) for w in formula] == [("金额", 3)]
    assert "5" in formula[0].message  # the count, not any value


def test_ten_thousand_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n")
    error = _fails(PayloadTooLarge, path, tmp_path)
    assert error.details == {"columns": 10_000, "limit": 2048, "setting": "ingest_max_columns"}
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append([f"c{i}" for i in range(3000)])
    wb.save(tmp_path / "wide.xlsx")
    _fails(PayloadTooLarge, tmp_path / "wide.xlsx", tmp_path)


def test_duplicate_and_empty_column_names_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"id,,id, \n1,2,3,{SECRET}\n")
    staged = _stage(path, tmp_path)
    assert staged.columns == ("id", "column_2", "id_2", "column_4")
    warnings = [(w.code, w.column) for w in staged.warnings]
    assert warnings == [
        ("empty_column_name", "column_2"),
        ("duplicate_column_name", "id_2"),
        ("empty_column_name", "column_4"),
    ]


def test_huge_cell(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"a,b\n1,{SECRET}\n2,{'长' * (MAX_CELL_BYTES // 3 + 10)}\n", encoding="utf-8")
    error = _fails(PayloadTooLarge, path, tmp_path)
    assert error.details == {"column": "b", "record": 2, "limit": MAX_CELL_BYTES}


def test_huge_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(f"a,b\n1,{SECRET}\n2,{'x' * (5 * MAX_CELL_BYTES)}\n")
    error = _fails(PayloadTooLarge, path, tmp_path)
    assert error.details["line"] == 3


def test_huge_cell_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": "' + "x" * (MAX_CELL_BYTES + 5) + '"}\n')
    _fails(PayloadTooLarge, path, tmp_path)


def test_malformed_jsonl_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(f'{{"a": "{SECRET}"}}\n{{"a": \n')
    _fails(MalformedInput, tmp_path / "a.jsonl", tmp_path)
    (tmp_path / "a.parquet").write_bytes(b"PAR1" + SECRET.encode() + b"PAR1")
    _fails(MalformedInput, tmp_path / "a.parquet", tmp_path)


def test_bad_options(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("a\n1\n")
    for options in ({"format": "xml"}, {"header_rows": 99}, {"delimiter": "::"}):
        with pytest.raises(InvalidInput):
            open_source(tmp_path / "a.csv", **options)


@pytest.mark.parametrize(
    ("tail", "line"),
    [(b"9,\x80\n", 100_002), (b"9,\xff\xff\n", 100_002), (b"9,\xd5", 100_002)],
)
def test_undecodable_bytes_late_in_a_large_gbk_file(tmp_path: Path, tail: bytes, line: int) -> None:
    # Far past the sample, so the streaming transcoder (not detection) finds them;
    # a lone 0x80 is the euro sign in code page 936 but not GBK for Python.
    body = "".join(f"{i},{SECRET}张三\n" for i in range(100_000)).encode("gbk")
    path = tmp_path / "late.csv"
    path.write_bytes("编号,备注\n".encode("gbk") + body + tail)
    error = _fails(MalformedInput, path, tmp_path)
    assert error.details["line"] == line

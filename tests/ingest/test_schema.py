"""Schema inference and the editable data dictionary."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacompact.errors import InvalidInput, MalformedInput, NotFound, UnknownField
from datacompact.ingest import ColumnSpec, DataDictionary, infer_dictionary, logical_type


def test_logical_types() -> None:
    cases = {
        pa.int64(): "integer",
        pa.float32(): "decimal",
        pa.decimal128(10, 2): "decimal",
        pa.string(): "text",
        pa.date32(): "date",
        pa.timestamp("us"): "datetime",
        pa.bool_(): "boolean",
        pa.dictionary(pa.int8(), pa.string()): "code",
    }
    assert {str(k): logical_type(k) for k in cases} == {str(k): v for k, v in cases.items()}


def test_infer_dictionary_proposes_code_lists(tmp_path: Path) -> None:
    n = 2000
    table = pa.table(
        {
            "xb": ["1", "2"] * (n // 2),
            "name": [f"张{i}" for i in range(n)],
            "n": list(range(n)),
            "day": pa.array([0] * n, pa.date32()),
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    dictionary = infer_dictionary(tmp_path / "t.parquet")
    assert [(c.name, c.type) for c in dictionary.columns] == [
        ("xb", "code"),
        ("name", "text"),
        ("n", "integer"),
        ("day", "date"),
    ]
    assert dictionary.column("xb").code_list == {"1": "", "2": ""}
    assert dictionary.column("name").code_list is None


def test_tiny_files_get_no_code_lists(tmp_path: Path) -> None:
    pq.write_table(pa.table({"name": ["张三", "李四", "张三"]}), tmp_path / "t.parquet")
    assert infer_dictionary(tmp_path / "t.parquet").column("name").type == "text"


def test_edit_and_round_trip() -> None:
    d = DataDictionary((ColumnSpec("xb", "code", code_list={"1": ""}), ColumnSpec("je", "decimal")))
    d = d.edit("xb", description="性别 (GB/T 2261.1)", code_list={"1": "男", "2": "女"})
    d = d.edit("je", unit="元")
    again = DataDictionary.from_json(d.to_json())
    assert again == d
    assert again.column("je").unit == "元"
    assert again.column("xb").code_list == {"1": "男", "2": "女"}


def test_dictionary_rejects_bad_input() -> None:
    d = DataDictionary((ColumnSpec("a", "text"),))
    with pytest.raises(UnknownField):
        d.edit("a", colour="red")
    with pytest.raises(UnknownField):
        d.edit("a", name="b")
    with pytest.raises(NotFound):
        d.edit("zz", unit="元")
    with pytest.raises(InvalidInput):
        d.edit("a", type="money")
    with pytest.raises(InvalidInput):
        DataDictionary((ColumnSpec("a", "text"), ColumnSpec("a", "code")))
    with pytest.raises(InvalidInput):
        ColumnSpec("a", "code", code_list={"1": 2})  # type: ignore[dict-item]
    with pytest.raises(MalformedInput):
        DataDictionary.from_json("{not json")
    with pytest.raises(MalformedInput):
        DataDictionary.from_json('{"columns": 3}')
    with pytest.raises(MalformedInput):
        DataDictionary.from_json('{"columns": [{"name": "a"}]}')
    with pytest.raises(UnknownField):
        DataDictionary.from_json('{"columns": [{"name": "a", "type": "text", "x": 1}]}')

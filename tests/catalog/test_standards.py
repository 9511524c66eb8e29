"""Data standards: built-in code lists, conformance in DuckDB, derivation in the standard's form."""

from __future__ import annotations

import random
import re
from datetime import date
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from stdnum.cn import ric

from datacompact.catalog._standard_codes import region_codes, region_periods
from datacompact.catalog.standard_sql import conformance, derive
from datacompact.catalog.standards import ColumnMapping, builtin_standards, get_standard
from datacompact.errors import InvalidInput, MalformedInput, NotFound
from datacompact.registry.identifiers import validate_region_code

SEX = ColumnMapping(column="sex", standard="GB/T 2261.1-2003", element="sex")
REGION = ColumnMapping(column="region", standard="GB/T 2260", element="region_code")
RID = ColumnMapping(column="rid", standard="GB 11643-1999", element="resident_id")
INDUSTRY = ColumnMapping(column="industry", standard="GB/T 4754-2017", element="industry_section")
DATE = ColumnMapping(column="day", standard="GB/T 7408-2005", element="calendar_date")

PERSONAL_VALUES = ["female", "?x", "11010519491231002X", "110105194912310021", "abc"]


@pytest.fixture
def table_path(tmp_path: Path) -> Path:
    path = tmp_path / "in.parquet"
    table = pa.table(
        {
            "sex": ["男", "M", "female", "1", "?x", None],
            "region": ["330106", "999999", "110101", None, "33010", "330106"],
            "rid": [
                "11010519491231002X",
                "110105194912310021",
                "11010519491231002x",
                None,
                "abc",
                None,
            ],
            "industry": ["C", "制造业", "Z", "j", None, "Finance"],
            "day": ["2024-01-02", "2024/1/2", "20240230", None, "x", "2024-02-29"],
            "untouched": [1, 2, 3, 4, 5, 6],
        }
    )
    pq.write_table(table, path)
    return path


def test_builtin_code_lists() -> None:
    ids = [s.id for s in builtin_standards()]
    assert ids == [
        "GB/T 2261.1-2003",
        "GB/T 2260",
        "GB/T 4754-2017",
        "GB 11643-1999",
        "GB/T 7408-2005",
    ]
    sex = get_standard("GB/T 2261.1-2003").element("sex")
    assert [(c.code, c.label_zh) for c in sex.codes] == [
        ("0", "未知的性别"),
        ("1", "男性"),
        ("2", "女性"),
        ("9", "未说明的性别"),
    ]
    assert sex.aliases()["male"] == "1"
    assert sex.aliases()["女"] == "2"
    sections = get_standard("GB/T 4754-2017").element("industry_section").codes
    assert "".join(c.code for c in sections) == "ABCDEFGHIJKLMNOPQRST"
    assert sections[9].label_zh == "金融业"


def test_region_table_agrees_with_registry() -> None:
    codes = region_codes()
    assert len(codes) > 3000
    assert "330106" in codes
    assert "110000" in codes
    for code in random.Random(7).sample(codes, 50):
        assert validate_region_code(code) == code


def test_unknown_standard_and_element() -> None:
    with pytest.raises(NotFound, match="unknown data standard"):
        get_standard("GB/T 0000")
    with pytest.raises(NotFound, match="no element"):
        get_standard("GB/T 2260").element("sex")


def test_conformance_report(table_path: Path) -> None:
    report = conformance(parquet=table_path, mappings=[SEX, REGION, RID, INDUSTRY, DATE])
    assert report.rows == 6
    by_column = {e.column: e for e in report.elements}
    expected = {  # (non-null values, conforming, of which by label, nulls)
        "sex": (5, 4, 3, 1),  # 男, M and female name codes; 1 is one; ?x names none
        "region": (5, 3, 0, 1),
        "rid": (4, 1, 0, 2),
        "industry": (5, 3, 2, 1),  # 制造业 and Finance are labels; j is not a code
        "day": (5, 2, 0, 1),
    }
    for column, (values, ok, labelled, nulls) in expected.items():
        element = by_column[column]
        got = (element.values, element.conforming, element.by_label, element.nulls)
        assert got == (values, ok, labelled, nulls), column
    assert by_column["sex"].percent == 80.0
    assert by_column["sex"].failing == 1
    assert by_column["sex"].by_code == 1
    assert by_column["region"].samples == ("33010", "999999")
    assert by_column["industry"].samples == ("Z", "j")


def test_personal_values_never_reported(table_path: Path) -> None:
    report = conformance(parquet=table_path, mappings=[SEX, RID])
    assert all(e.samples == () for e in report.elements)
    text = repr(report)
    assert not any(value in text for value in PERSONAL_VALUES)
    hidden = ColumnMapping(
        column="region", standard="GB/T 2260", element="region_code", personal=True
    )
    assert conformance(parquet=table_path, mappings=[hidden]).elements[0].samples == ()


def test_all_null_column_has_no_percent(tmp_path: Path) -> None:
    path = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"sex": pa.array([None, None], pa.string())}), path)
    (element,) = conformance(parquet=path, mappings=[SEX]).elements
    assert element.values == 0
    assert element.percent is None
    assert element.nulls == 2


def _resident_ids(count: int) -> list[str]:
    rng = random.Random(11643)
    regions = region_codes()
    out = []
    for i in range(count):
        body = f"{rng.choice(regions)}{rng.randint(1930, 2020)}{rng.randint(1, 12):02d}"
        body += f"{rng.randint(1, 31):02d}{rng.randint(0, 999):03d}"
        value = body + ric.calc_check_digit(body + "0")
        if i % 3 == 0:  # corrupt a third: a digit or the check character
            pos = rng.randrange(18)
            value = (
                value[:pos]
                + str((int(value[pos]) + 1) % 10 if value[pos] != "X" else 0)
                + value[pos + 1 :]
            )
        out.append(value)
    return out


def _valid_resident_id(value: str) -> bool:
    """The documented rule in Python: stdnum's format, date and check, and a live-enough region."""
    if not re.fullmatch(r"[1-8][0-9]{16}[0-9X]", value):
        return False
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    last = dict(region_periods()).get(value[:6], -1)
    alive = last is None or (last != -1 and last >= birth.year)
    return alive and ric.calc_check_digit(value) == value[-1]


@pytest.mark.slow
def test_resident_id_sql_agrees_with_rule(tmp_path: Path) -> None:
    values = _resident_ids(3000)
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"rid": values}), path)
    (element,) = conformance(parquet=path, mappings=[RID]).elements
    assert element.conforming == sum(_valid_resident_id(v) for v in values)
    assert 1000 < element.conforming < len(values)
    # stdnum is stricter (the county must exist in the birth year), never looser.
    assert all(_valid_resident_id(v) for v in values if ric.is_valid(v))


@pytest.mark.parametrize(
    ("stem", "expected", "stdnum"),
    [
        ("33010619500101001", True, False),  # 西湖区 created 1983: issued later, still valid
        ("33010619900101001", True, True),
        ("11010320150101001", False, False),  # 崇文区 abolished 2010: cannot be issued in 2015
        ("11010320050101001", True, True),
        ("33010619900231001", False, False),  # 31 February
        ("99010619900101001", False, False),
    ],
)
def test_resident_id_region_periods(
    tmp_path: Path, stem: str, expected: bool, stdnum: bool
) -> None:
    value = stem + ric.calc_check_digit(stem + "0")
    assert ric.is_valid(value) is stdnum
    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"rid": [value]}), path)
    (element,) = conformance(parquet=path, mappings=[RID]).elements
    assert element.conforming == int(expected)


def test_derive(table_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    sex = ColumnMapping(
        column="sex", standard="GB/T 2261.1-2003", element="sex", aliases={"?x": "9"}
    )
    result = derive(parquet=table_path, mappings=[sex, REGION, RID, INDUSTRY, DATE], output=out)
    rows = pq.read_table(out).to_pydict()
    assert rows["sex"] == ["1", "1", "2", "1", "9", None]
    assert rows["region"] == ["330106", None, "110101", None, None, "330106"]
    assert rows["rid"] == ["11010519491231002X", None, "11010519491231002X", None, None, None]
    assert rows["industry"] == ["C", "C", None, "J", None, "J"]
    assert [d.isoformat() if d else None for d in rows["day"]] == [
        "2024-01-02",
        "2024-01-02",
        None,
        None,
        None,
        "2024-02-29",
    ]
    assert rows["untouched"] == [1, 2, 3, 4, 5, 6]
    counts = {c.column: (c.mapped, c.unmapped, c.nulls) for c in result.columns}
    assert counts == {
        "sex": (5, 0, 1),
        "region": (3, 2, 1),
        "rid": (2, 2, 2),
        "industry": (4, 1, 1),
        "day": (3, 2, 1),
    }
    by_code = {c.column: dict(c.by_code) for c in result.columns}
    assert by_code["sex"] == {"1": 3, "2": 1, "9": 1}
    assert by_code["industry"] == {"C": 2, "J": 2}
    assert result.rows == 6
    assert result.output == out
    table = {(r.column, r.spelling): r.code for r in result.mapping_table}
    assert table[("sex", "male")] == "1"
    assert table[("sex", "?x")] == "9"
    assert table[("industry", "金融业")] == "J"
    assert not any(r.spelling in {"11010519491231002x"} for r in result.mapping_table)


def test_derive_keeps_row_order(tmp_path: Path) -> None:
    rng = random.Random(2260)
    codes = list(region_codes())
    regions = [rng.choice(codes) if i % 5 else "000000" for i in range(60_000)]
    source, out = tmp_path / "big.parquet", tmp_path / "big-out.parquet"
    pq.write_table(
        pa.table({"i": list(range(60_000)), "region": regions}), source, row_group_size=5_000
    )
    derive(parquet=source, mappings=[REGION], output=out)
    rows = pq.read_table(out).to_pydict()
    assert rows["i"] == list(range(60_000))
    assert rows["region"] == [r if r != "000000" else None for r in regions]


def test_bad_mappings(table_path: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no mappings"):
        conformance(parquet=table_path, mappings=[])
    with pytest.raises(InvalidInput, match="duplicate mapping"):
        conformance(parquet=table_path, mappings=[SEX, SEX])
    with pytest.raises(InvalidInput, match="not in the data: nope"):
        conformance(
            parquet=table_path,
            mappings=[ColumnMapping(column="nope", standard="GB/T 2260", element="region_code")],
        )
    with pytest.raises(NotFound):
        conformance(
            parquet=table_path, mappings=[ColumnMapping(column="sex", standard="x", element="sex")]
        )
    bad_alias = ColumnMapping(
        column="sex", standard="GB/T 2261.1-2003", element="sex", aliases={"?x": "7"}
    )
    with pytest.raises(InvalidInput, match="not in its code list"):
        derive(parquet=table_path, mappings=[bad_alias], output=tmp_path / "o.parquet")


def test_unreadable_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet at all")
    for path in (junk, tmp_path / "missing.parquet"):
        with pytest.raises(MalformedInput, match="expected a readable Parquet file") as info:
            conformance(parquet=path, mappings=[SEX])
        assert str(path) not in info.value.message


def test_failed_derivation_leaves_no_file(table_path: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "out.parquet"
    with pytest.raises(InvalidInput, match="cannot derive the standard form"):
        derive(parquet=table_path, mappings=[SEX], output=target)
    assert not target.exists()
    out_dir = tmp_path / "ok"
    out_dir.mkdir()
    derive(parquet=table_path, mappings=[SEX], output=out_dir / "out.parquet")
    assert [p.name for p in out_dir.iterdir()] == ["out.parquet"]


# One case per built-in standard: values written as codes, as labels, and wrong,
# with what conformance counts and what derivation writes.
BUILTIN_CASES = {
    "GB/T 2261.1-2003": (
        "sex",
        ["1", "2", "男", "女", "女性", "Male", "3", "男士"],
        (6, 4),
        ["1", "2", "1", "2", "2", "1", None, None],
    ),
    "GB/T 2260": (
        "region_code",
        ["330106", " 110101", "999999", "西湖区"],
        (1, 0),
        ["330106", "110101", None, None],
    ),
    "GB/T 4754-2017": (
        "industry_section",
        ["I", "金融业", "construction", "U", "i"],
        (3, 2),
        ["I", "J", "E", None, "I"],
    ),
    "GB 11643-1999": (
        "resident_id",
        ["11010519491231002X", "11010519491231002x", "110105194912310021"],
        (1, 0),
        ["11010519491231002X", "11010519491231002X", None],
    ),
    "GB/T 7408-2005": (
        "calendar_date",
        ["2024-01-02", "2024年1月2日", "2024-13-01"],
        (1, 0),
        ["2024-01-02", "2024-01-02", None],
    ),
}


def test_every_builtin_standard_has_a_case() -> None:
    assert set(BUILTIN_CASES) == {s.id for s in builtin_standards()}


@pytest.mark.parametrize("standard_id", sorted(BUILTIN_CASES))
def test_each_builtin_standard_conforms_and_derives(standard_id: str, tmp_path: Path) -> None:
    element, values, (conforming, by_label), derived = BUILTIN_CASES[standard_id]
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(pa.table({"v": values}), source)
    mapping = ColumnMapping(column="v", standard=standard_id, element=element)
    (report,) = conformance(parquet=source, mappings=[mapping]).elements
    assert (report.conforming, report.by_label, report.values) == (
        conforming,
        by_label,
        len(values),
    )
    derive(parquet=source, mappings=[mapping], output=out)
    written = pq.read_table(out).to_pydict()["v"]
    assert [v.isoformat() if isinstance(v, date) else v for v in written] == derived
    # A derived column is in the standard's form: every value conforms by code.
    (after,) = conformance(parquet=out, mappings=[mapping]).elements
    assert after.conforming == after.values == sum(v is not None for v in derived)
    assert after.by_label == 0

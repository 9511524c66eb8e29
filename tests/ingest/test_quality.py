"""Quality profiling: the five dimensions, their scores and counts, and no values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from datacompact.errors import InvalidInput, MalformedInput, UnknownField
from datacompact.ingest import (
    ColumnSpec,
    ConsistencyRule,
    DataDictionary,
    QualityRules,
    profile_quality,
)


def _id(birth: str, seq: str) -> str:
    stem = f"330106{birth}{seq}"
    return stem + ric.calc_check_digit(stem + "0")


@pytest.fixture
def people(tmp_path: Path) -> Path:
    rows = [
        # id, birth_date, sex, xb_code, amount text, start, end
        (_id("19800101", "011"), "1980-01-01", "1", "1", "12.5", 1, 2),
        (_id("19900202", "022"), "1990-02-02", "2", "2", "7", 1, 3),
        (_id("19900202", "022"), "1991-02-02", "1", "9", "abc", 5, 3),  # dup key, 3 inconsistencies
        ("330106199001011230", "1990-01-01", "2", "2", None, 1, 1),  # bad checksum
        (None, None, None, None, "", 2, 2),
    ]
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "sfzh": pa.array(cols[0], pa.string()),
            "birth_date": pa.array(cols[1], pa.string()),
            "sex": pa.array(cols[2], pa.string()),
            "xb": pa.array(cols[3], pa.string()),
            "amount": pa.array(cols[4], pa.string()),
            "start": pa.array(cols[5]),
            "end": pa.array(cols[6]),
        }
    )
    path = tmp_path / "people.parquet"
    pq.write_table(table, path)
    return path


def test_dimensions_and_counts(people: Path) -> None:
    dictionary = DataDictionary(
        (
            ColumnSpec("xb", "code", code_list={"1": "男", "2": "女"}),
            ColumnSpec("amount", "decimal"),
        )
    )
    rules = QualityRules(
        checksums={"sfzh": "resident_id"},
        patterns={"sex": "[12]"},
        keys=(("sfzh",),),
        consistency=(
            ConsistencyRule.id_birth_date("sfzh", "birth_date"),
            ConsistencyRule.id_sex("sfzh", "sex"),
            ConsistencyRule.compare("start", "<=", "end"),
        ),
        frequency="monthly",
        last_updated=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    report = profile_quality(
        people, dictionary=dictionary, rules=rules, now=dt.datetime(2024, 1, 20, tzinfo=dt.UTC)
    )
    checks = {(c.dimension, c.rule, c.column): (c.checked, c.failed) for c in report.checks}
    assert checks[("completeness", "present", "amount")] == (5, 2)
    assert checks[("validity", "checksum:resident_id", "sfzh")] == (4, 1)
    assert checks[("validity", "code_list", "xb")] == (4, 1)
    assert checks[("validity", "type:decimal", "amount")] == (4, 1)
    assert checks[("uniqueness", "key", "sfzh")] == (5, 1)
    assert checks[("consistency", "id_birth_date(sfzh, birth_date)", "sfzh")] == (3, 1)
    assert checks[("consistency", "id_sex(sfzh, sex)", "sfzh")] == (3, 1)
    assert checks[("consistency", "start <= end", None)] == (5, 1)
    assert report.scores["timeliness"] == 100.0
    assert report.scores["uniqueness"] == 80.0
    assert report.scores["completeness"] == round(100 * (1 - 6 / 35), 2)
    assert report.overall is not None
    assert 0 < report.overall < 100
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    assert _id("19900202", "022") not in text
    assert "abc" not in text


def test_timeliness_decays() -> None:
    from datacompact.ingest.quality import _timeliness

    last = dt.datetime(2024, 1, 1)
    rules = QualityRules(frequency="daily", last_updated=last)
    assert _timeliness(rules, last + dt.timedelta(hours=12)) == 100.0
    assert _timeliness(rules, last + dt.timedelta(days=2)) == 50.0
    assert _timeliness(rules, last + dt.timedelta(days=30)) == 0.0
    assert _timeliness(QualityRules(frequency="irregular", last_updated=last), last) is None
    with pytest.raises(InvalidInput):
        _timeliness(rules, dt.datetime(2024, 1, 2, tzinfo=dt.UTC))


def test_scores_without_rules(people: Path) -> None:
    report = profile_quality(people)
    assert report.rows == 5
    assert report.scores["validity"] is None
    assert report.scores["completeness"] is not None


def test_bad_rules(people: Path) -> None:
    with pytest.raises(UnknownField):
        profile_quality(people, rules=QualityRules(keys=(("nope",),)))
    with pytest.raises(MalformedInput):
        profile_quality(people, rules=QualityRules(patterns={"sex": "(unclosed"}))
    with pytest.raises(InvalidInput):
        profile_quality(people, rules=QualityRules(checksums={"sfzh": "iban"}))  # type: ignore[dict-item]
    with pytest.raises(InvalidInput):
        ConsistencyRule.compare("start", "LIKE", "end")


def test_vectorized_resident_id_check_agrees_with_the_sql_rule() -> None:
    import duckdb
    import pyarrow as pa
    from stdnum.cn import ric

    from datacompact.ingest._pii_rules import RULE_BY_TYPE, ric_sex

    stems = ["11010519491231002", "33010620000229001", "33010619000229001", "01010519491231001"]
    stems += ["11010517991231001", "11010520991231001", "11010519491301001", "11010519490431001"]
    values: list[str | None] = [None, "", "  ", "1101051949123100", "11010519491231002XX"]
    for stem in stems:
        good = ric.calc_check_digit(stem + "0")
        values += [stem + good, stem + good.lower(), f" {stem}{good} ", stem + "Y", stem + "0"]
    values += ["１１０１０５１９４９１２３１００２Ｘ", "11010519491231002\tX"]
    sql = RULE_BY_TYPE["resident_id"].full("upper(trim(v))")
    con = duckdb.connect()
    expected = [
        row[0]
        for row in con.execute(
            f"SELECT coalesce({sql}, false) FROM unnest(?) WITH ORDINALITY AS t(v, i) ORDER BY i",
            [values],
        ).fetchall()
    ]
    got = [v is not None for v in ric_sex(pa.array(values, pa.string())).to_pylist()]
    assert got == expected
    assert any(got)
    assert not all(got)

"""The query-overlap auditor: near-duplicate pairs reported to the regulator."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from datacompact.errors import InvalidInput
from datacompact.sandbox.canonical import canonical_sql
from datacompact.sandbox.overlap import (
    SEVERITY,
    OverlapFinding,
    QueryRecord,
    find_overlaps,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
ID_NUMBER = "110105199001011234"
BASE = "SELECT district, COUNT(*) AS n FROM sbk WHERE district = 'd0'"
GROUP = " GROUP BY district"
CJK = re.compile(r"[\u4e00-\u9fff]")


def log(*sqls, grantee="p1", grants=None):
    """Records 1..n, one minute apart, all under grant g1 unless ``grants`` says otherwise."""
    grants = grants or ["g1"] * len(sqls)
    return [
        QueryRecord(i + 1, grant, grantee, sql, T0 + timedelta(minutes=i))
        for i, (sql, grant) in enumerate(zip(sqls, grants, strict=True))
    ]


def where(condition):
    return f"SELECT district, COUNT(*) AS n FROM sbk WHERE {condition}{GROUP}"


def only(findings):
    assert len(findings) == 1, findings
    return findings[0]


def test_empty_input():
    assert find_overlaps([]) == []


# -- predicate_difference -------------------------------------------------------------


def test_one_added_conjunct_is_a_predicate_difference():
    # The pair of test_differencing: the difference of the answers is one person.
    finding = only(find_overlaps(log(BASE + GROUP, BASE + " AND age <> 20" + GROUP)))
    assert finding.kind == "predicate_difference"
    assert (finding.first_id, finding.second_id) == (1, 2)
    assert finding.columns == ("age",)
    assert finding.grant_ids == ("g1",)
    assert finding.grantee == "p1"
    assert "adds one condition on column age" in finding.reason_en
    assert "列 age" in finding.reason_zh


def test_one_removed_conjunct_is_a_predicate_difference():
    finding = only(find_overlaps(log(where("age > 30 AND pid <> 'x'"), where("age > 30"))))
    assert finding.kind == "predicate_difference"
    assert finding.columns == ("pid",)
    assert "query #2 drops one condition on column pid from query #1" in finding.reason_en


def test_no_filter_then_one_filter_is_a_predicate_difference():
    finding = only(
        find_overlaps(log("SELECT COUNT(*) FROM sbk", "SELECT COUNT(*) FROM sbk WHERE age > 30"))
    )
    assert finding.kind == "predicate_difference"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("age BETWEEN 1 AND 100", "age BETWEEN 1 AND 99"),
        ("age > 30", "age > 31"),
        ("age >= 30 AND sex = 'f'", "sex = 'f' AND age >= 29.5"),
        ("birth_date < DATE '1990-01-02'", "birth_date < DATE '1990-01-01'"),
    ],
)
def test_a_changed_range_bound_is_a_predicate_difference(first, second):
    finding = only(find_overlaps(log(where(first), where(second))))
    assert finding.kind == "predicate_difference"
    assert "range bound" in finding.reason_en
    assert "范围边界" in finding.reason_zh


def test_a_sweep_of_bounds_pairs_neighbours_not_every_pair():
    bounds = [30, 40, 35, 20]
    findings = find_overlaps(log(*(where(f"age > {b}") for b in bounds)))
    pairs = {(f.first_id, f.second_id) for f in findings}
    # Sorted bounds 20 < 30 < 35 < 40 are queries 4, 1, 3, 2.
    assert pairs == {(1, 4), (1, 3), (2, 3)}
    assert {f.kind for f in findings} == {"predicate_difference"}


def test_a_long_sweep_gives_a_chain():
    findings = find_overlaps(log(*(where(f"age > {b}") for b in range(300))))
    assert len(findings) == 299


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("district IN ('d0', 'd1', 'd2')", "district IN ('d1', 'd0')"),
        ("district NOT IN ('d0', 'd1')", "district NOT IN ('d1', 'd0', 'd2')"),
        ("age IN (30, 31) AND sex = 'f'", "sex = 'f' AND age IN (31.0, 30, 32)"),
    ],
)
def test_an_in_list_one_value_apart_is_a_predicate_difference(first, second):
    finding = only(find_overlaps(log(where(first), where(second))))
    assert finding.kind == "predicate_difference"
    assert "IN list" in finding.reason_en
    assert finding.columns in {("district",), ("age",)}


def test_in_lists_more_than_one_value_apart_are_not_a_predicate_difference():
    assert (
        find_overlaps(log(where("district IN ('d0', 'd1', 'd2')"), where("district IN ('d0')")))
        == []
    )


# -- complement -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "negated"),
    [
        ("sex = 'f'", "NOT sex = 'f'"),
        ("sex = 'f'", "sex <> 'f'"),
        ("sex = 'f'", "sex != 'f'"),
        ("age > 30", "age <= 30"),
        ("age > 30", "NOT (30 < age)"),
        ("age >= 30", "age < 30"),
        ("pid IS NULL", "pid IS NOT NULL"),
        ("district IN ('d0', 'd1')", "district NOT IN ('d1', 'd0')"),
        ("age BETWEEN 30 AND 40", "age NOT BETWEEN 30 AND 40"),
        ("(age > 60 OR sex = 'f')", "NOT (sex = 'f' OR age > 60)"),
        ("NOT NOT sex = 'f'", "sex <> 'f'"),
    ],
)
def test_a_negated_conjunct_is_a_complement(condition, negated):
    first = where(f"district = 'd0' AND {condition}")
    second = where(f"{negated} AND district = 'd0'")
    finding = only(find_overlaps(log(first, second)))
    assert finding.kind == "complement"
    assert (finding.first_id, finding.second_id) == (1, 2)
    assert "negates a condition" in finding.reason_en
    assert "取反" in finding.reason_zh


def test_a_complement_without_a_common_part():
    finding = only(find_overlaps(log(where("age > 30"), where("age <= 30"))))
    assert finding.kind == "complement"
    assert finding.columns == ("age",)


# -- same_query_repeated --------------------------------------------------------------


@pytest.mark.parametrize(
    "again",
    [
        BASE + GROUP,
        "select district, count(*) as total from SBK where DISTRICT = 'd0' group by district",
        "SELECT s.district, COUNT(1) FROM sbk AS s WHERE s.district = 'd0' GROUP BY 1",
        "SELECT \"district\", COUNT(*) FROM sbk WHERE (district = 'd0') GROUP BY district",
        "SELECT COUNT(*) AS n, district FROM sbk WHERE 'd0' = district AND TRUE GROUP BY district",
        BASE + GROUP + " ORDER BY n",
    ],
)
def test_the_same_canonical_query_again_is_repeated(again):
    finding = only(find_overlaps(log(BASE + GROUP, again)))
    assert finding.kind == "same_query_repeated"
    assert finding.similarity == 1.0
    assert "averages away the DP noise" in finding.reason_en


def test_repeats_are_reported_for_consecutive_runs():
    findings = find_overlaps(log(*[BASE + GROUP] * 4))
    assert [(f.first_id, f.second_id) for f in findings] == [(1, 2), (2, 3), (3, 4)]
    assert {f.kind for f in findings} == {"same_query_repeated"}


def test_a_different_limit_is_not_a_repeat():
    assert find_overlaps(log(BASE + GROUP + " LIMIT 1", BASE + GROUP + " LIMIT 2")) == []


def test_order_by_counts_when_a_limit_is_set():
    first = BASE + GROUP + " ORDER BY n LIMIT 1"
    assert find_overlaps(log(first, BASE + GROUP + " ORDER BY n DESC LIMIT 1")) == []
    assert only(find_overlaps(log(first, first))).kind == "same_query_repeated"


# -- similar and the threshold --------------------------------------------------------

SHARED = "a = 1 AND b = 2 AND c = 3 AND d = 4 AND e = 5"
NEAR_1 = f"SELECT COUNT(*) FROM sbk WHERE {SHARED} AND district = 'd0'"
NEAR_2 = f"SELECT COUNT(*) FROM sbk WHERE {SHARED} AND district = 'd1'"


def test_disjoint_equality_values_are_ordinary_exploration():
    assert find_overlaps(log(where("district = 'd0'"), where("district = 'd1'"))) == []


def test_the_threshold_gates_similar():
    # The shape (1 + one output) and five conjuncts are shared: 7 of 9 fingerprints.
    assert find_overlaps(log(NEAR_1, NEAR_2)) == []
    finding = only(find_overlaps(log(NEAR_1, NEAR_2), threshold=0.75))
    assert finding.kind == "similar"
    assert finding.similarity == pytest.approx(7 / 9, abs=1e-4)
    assert finding.columns == ("district",)
    assert "similarity 0.78" in finding.reason_en
    assert "相似度 0.78" in finding.reason_zh
    assert find_overlaps(log(NEAR_1, NEAR_2), threshold=7 / 9) != []


def test_the_threshold_does_not_gate_structural_rules():
    findings = find_overlaps(log(BASE + GROUP, BASE + " AND age <> 20" + GROUP), threshold=1.0)
    assert only(findings).kind == "predicate_difference"
    assert findings[0].similarity < 1.0


def test_similar_links_each_query_to_one_earlier_query():
    queries = [
        f"SELECT COUNT(*) FROM sbk WHERE {SHARED} AND f = 6 AND district = 'd{i}'"
        for i in range(100)
    ]
    findings = find_overlaps(log(*queries))
    assert len(findings) == 99
    assert {f.kind for f in findings} == {"similar"}
    assert {f.second_id for f in findings} == set(range(2, 101))


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01, float("nan")])
def test_a_threshold_outside_zero_one_is_refused(threshold):
    with pytest.raises(InvalidInput):
        find_overlaps([], threshold=threshold)


# -- what is never paired -------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        "SELECT COUNT(*) FROM tax WHERE district = 'd0'",
        "SELECT sex, COUNT(*) FROM sbk WHERE district = 'd0' GROUP BY sex",
        "SELECT district, SUM(income) FROM sbk WHERE district = 'd0' AND age <> 20 GROUP BY district",
        where("income > 1000 AND sex = 'm'"),
        "SELECT COUNT(*) FROM sbk WHERE district = 'd0' UNION ALL SELECT COUNT(*) FROM tax",
    ],
)
def test_unrelated_queries_are_not_flagged(other):
    assert find_overlaps(log(BASE + GROUP, other)) == []


def test_different_grantees_are_not_paired():
    records = [
        *log(BASE + GROUP, grantee="p1"),
        QueryRecord(2, "g1", "p2", BASE + " AND age <> 20" + GROUP, T0 + timedelta(minutes=1)),
        QueryRecord(3, "g1", "p2", BASE + GROUP + " ", T0 + timedelta(minutes=2)),
    ]
    findings = find_overlaps(records)
    assert only(findings).grantee == "p2"
    assert (findings[0].first_id, findings[0].second_id) == (2, 3)


def test_an_attack_split_over_two_grants_is_paired():
    finding = only(
        find_overlaps(log(BASE + GROUP, BASE + " AND age <> 20" + GROUP, grants=["g2", "g1"]))
    )
    assert finding.grant_ids == ("g1", "g2")
    assert finding.reason_en.endswith("(across grants g1 and g2)")
    assert "跨授权 g1、g2" in finding.reason_zh


@pytest.mark.parametrize(
    "bad",
    ["SELEC district FROM sbk", "SELECT 1; SELECT 2", "DELETE FROM sbk", "", "SELECT (((", "  "],
)
def test_sql_that_is_not_one_query_is_skipped(bad):
    findings = find_overlaps(log(BASE + GROUP, bad, bad, BASE + " AND age <> 20" + GROUP))
    assert [(f.first_id, f.second_id) for f in findings] == [(1, 4)]
    assert canonical_sql(bad) is None


def test_first_is_the_earlier_query_whatever_the_ids():
    records = [
        QueryRecord(7, "g1", "p1", BASE + " AND age <> 20" + GROUP, T0 + timedelta(hours=1)),
        QueryRecord(9, "g1", "p1", BASE + GROUP, T0),
    ]
    finding = only(find_overlaps(records))
    assert (finding.first_id, finding.second_id) == (9, 7)
    assert "query #7 adds one condition" in finding.reason_en


# -- reasons --------------------------------------------------------------------------


def _every_kind(literal):
    return log(
        where(f"pid <> '{literal}'"),
        where(f"pid <> '{literal}' AND age > 30"),
        where(f"pid = '{literal}' AND age > 30"),
        where(f"pid IN ('{literal}', 'x', 'y')"),
        where(f"pid IN ('{literal}', 'x')"),
        where(f"pid IN ('{literal}', 'x')"),
        where(f"card BETWEEN {literal} AND 2"),
        where(f"card BETWEEN {literal} AND 3"),
        f"SELECT COUNT(*) FROM sbk WHERE {SHARED} AND pid = '{literal}'",
        f"SELECT COUNT(*) FROM sbk WHERE {SHARED} AND pid = '{literal}9'",
        f'SELECT COUNT(*) FROM sbk WHERE "{literal}" = 1',
        f'SELECT COUNT(*) FROM sbk WHERE "{literal}" = 1 AND age > 2',
    )


def test_literals_never_appear_in_a_finding():
    findings = find_overlaps(_every_kind(ID_NUMBER), threshold=0.75)
    assert {f.kind for f in findings} == set(SEVERITY)
    for finding in findings:
        assert ID_NUMBER not in repr(finding)
        assert ID_NUMBER not in finding.reason


def test_a_name_that_cannot_be_a_column_is_not_shown():
    findings = find_overlaps(_every_kind(ID_NUMBER)[-2:])
    assert only(findings).columns == ("age",)
    records = log(
        "SELECT COUNT(*) FROM sbk WHERE age > 2",
        f'SELECT COUNT(*) FROM sbk WHERE "{ID_NUMBER}" = 1 AND age > 2',
    )
    finding = only(find_overlaps(records))
    assert finding.columns == ("?",)
    assert ID_NUMBER not in finding.reason


def test_reasons_are_bilingual():
    for finding in find_overlaps(_every_kind("x1"), threshold=0.75):
        assert finding.reason == f"{finding.reason_zh} / {finding.reason_en}"
        assert CJK.search(finding.reason_zh)
        assert finding.reason_en.isascii()
        assert f"#{finding.first_id}" in finding.reason_en
        assert f"#{finding.second_id}" in finding.reason_zh


def test_findings_are_sorted_by_severity_then_similarity():
    findings = find_overlaps(_every_kind("x1"), threshold=0.75)
    keys = [(SEVERITY.index(f.kind), -f.similarity, f.first_id) for f in findings]
    assert keys == sorted(keys)
    assert findings[0].kind == "predicate_difference"
    assert findings[-1].kind == "similar"


# -- records and findings check themselves --------------------------------------------


def test_a_naive_time_is_refused():
    with pytest.raises(InvalidInput, match="aware"):
        QueryRecord(1, "g1", "p1", BASE, datetime(2025, 3, 1))


@pytest.mark.parametrize(("grant", "grantee"), [("", "p1"), ("g1", "")])
def test_a_record_needs_a_grant_and_a_grantee(grant, grantee):
    with pytest.raises(InvalidInput):
        QueryRecord(1, grant, grantee, BASE, T0)


def test_duplicate_query_ids_are_refused():
    record = log(BASE)[0]
    with pytest.raises(InvalidInput, match="unique"):
        find_overlaps([record, record])


@pytest.mark.parametrize(("kind", "similarity"), [("near", 0.5), ("similar", 1.5)])
def test_a_malformed_finding_is_refused(kind, similarity):
    with pytest.raises(InvalidInput):
        OverlapFinding(1, 2, ("g1",), "p1", kind, similarity, "中", "en")


# -- the canonical form ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT COUNT(1) AS n FROM sbk AS s WHERE NOT s.sex = 'f' AND 30.0 < s.age",
            "SELECT COUNT(*) FROM sbk WHERE age > 30 AND sex <> 'f'",
        ),
        (
            "SELECT a.x FROM sbk a JOIN sbk b ON b.pid = a.pid WHERE b.y > -3",
            "SELECT sbk_1.x FROM sbk AS sbk_1 JOIN sbk AS sbk_2 ON sbk_1.pid = sbk_2.pid WHERE sbk_2.y > -3",
        ),
        (
            "SELECT COUNT(*) FROM sbk WHERE x IN (3, 1, 2.0, 1) OR y = 1 OR x IN (1, 2, 3)",
            "SELECT COUNT(*) FROM sbk WHERE y = 1 OR x IN (1, 2, 3)",
        ),
        (
            "SELECT d, COUNT(*) AS n FROM sbk GROUP BY 1 HAVING n > 3 ORDER BY n",
            "SELECT d, COUNT(*) FROM sbk GROUP BY d HAVING COUNT(*) > 3",
        ),
        (
            "WITH q AS (SELECT age FROM sbk) SELECT COUNT(*) FROM q AS t WHERE t.age > 3",
            "WITH cte0 AS (SELECT age FROM sbk) SELECT COUNT(*) FROM cte0 WHERE cte0.age > 3",
        ),
    ],
)
def test_canonical_sql(sql, expected):
    assert canonical_sql(sql) == expected


def test_a_huge_exponent_is_kept_as_written():
    assert canonical_sql("SELECT COUNT(*) FROM sbk WHERE x > 1e999999999 AND y > 1.50e2") == (
        "SELECT COUNT(*) FROM sbk WHERE x > 1e999999999 AND y > 150"
    )

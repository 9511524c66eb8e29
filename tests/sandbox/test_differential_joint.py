"""The differential test for joint grants: a join of two holders' tables.

The people of :mod:`._twins` are joined with a second holder's ``loans``,
keyed by the same person identifier, which is a keyed pseudonym under the
grant's own key in both tables (as ``policy._grant_view.joint_grant_view``
builds them) and the entity of both. The one-of-a-kind person holds 21
loans, so a join fans their one record out to 21 rows. As in
:mod:`.test_differential`, the outcome of every generated query must be the
same on the two twins: same refusal or failure, or the same column names and
types; and in the aggregate modes the groups stay thresholded by distinct
people of *each* side, however many rows the join makes of one person.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacompact.sandbox import (
    ColumnRule,
    DuckDBEngine,
    GrantedTable,
    GrantView,
    OutputMode,
    govern,
)

from . import _twins
from .test_differential import S, _call, _choose, anything, boolean, number

EXAMPLES = int(os.environ.get("DATACOMPACT_DIFFERENTIAL_EXAMPLES") or "150")
JOIN = "FROM people AS p JOIN loans AS l ON p.pid = l.pid"
LOAN_FILTERS = ("TRUE", "l.branch = 'b1'", "l.loan > 500", "l.branch IN ('b0', 'b2')")


def loans() -> pa.Table:
    """One loan for each of the first 30 people, and 20 more for the one-of-a-kind person."""
    pids = [f"P-{i:04d}" for i in range(30)] + [_twins.ONE] * 20
    return pa.table(
        {
            "pid": pids,
            "loan": pa.array([100 * (1 + k % 9) for k in range(len(pids))], pa.int64()),
            "branch": [f"b{k % 3}" for k in range(len(pids))],
        }
    )


def joint_grant(paths: dict[str, Path], mode: OutputMode) -> GrantView:
    """``people`` and ``loans`` of two holders under one grant, both keyed by a pseudonym."""
    people = _twins.grant(paths, mode).tables["people"]
    loan_table = GrantedTable(
        name="loans",
        parquet_path=str(paths["loans"]),
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True),
            "loan": ColumnRule(dp_bounds=(0.0, 10_000.0)),
            "branch": ColumnRule(),
        },
        # A DP release reads one DP table: the other side is thresholded aggregates.
        output_mode="aggregates" if mode == "dp_aggregates" else mode,
        min_group_entities=_twins.K,
        entity_column="pid",
    )
    return GrantView(grant_id=f"joint-{mode}", tables={"people": people, "loans": loan_table})


def queries(mode: OutputMode) -> S:
    b, n = boolean("p.", 2), number("p.", 2)
    loan_filter = _choose(LOAN_FILTERS)
    if mode == "masked_records":
        v = anything("p.", 2)
        return st.one_of(
            _call(
                f"SELECT {{}} AS c1, l.branch, l.pid {JOIN} WHERE {{}} AND {{}} ORDER BY 1 LIMIT 20",
                v,
                b,
                loan_filter,
            ),
            _call(
                f"SELECT l.branch, COUNT(*) AS n, SUM({{}}) AS s {JOIN} WHERE {{}} GROUP BY 1",
                n,
                b,
            ),
        )
    g = anything("p.", 2)
    return st.one_of(
        _call(
            f"SELECT {{}} AS g, COUNT(*) AS n, SUM(l.loan) AS s {JOIN} WHERE {{}} AND {{}} "
            "GROUP BY 1",
            g,
            b,
            loan_filter,
        ),
        _call(
            f"SELECT l.branch, COUNT(*) AS n, AVG(p.age) AS a {JOIN} WHERE {{}} AND {{}} "
            "GROUP BY l.branch",
            b,
            loan_filter,
        ),
        _call(
            f"SELECT p.district, COUNT(*) AS n {JOIN} WHERE {{}} GROUP BY p.district",
            loan_filter,
        ),
    )


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> dict[_twins.Twin, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("joint-twins")
    found = {}
    for twin in _twins.TWINS:
        paths = _twins.write(folder, twin)
        paths["loans"] = folder / twin / "loans.parquet"
        pq.write_table(loans(), paths["loans"])
        found[twin] = paths
    return found


@pytest.fixture(scope="module")
def engine(twins: dict[_twins.Twin, dict[str, Path]]) -> Iterator[DuckDBEngine]:
    folders = {path.parent for files in twins.values() for path in files.values()}
    found = DuckDBEngine(pseudonym_key=_twins.KEY, data_dirs=sorted(folders))
    yield found
    found.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["masked_records", "aggregates", "dp_aggregates"])
def test_joint_outcomes_do_not_depend_on_one_record(
    mode: OutputMode, twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    succeeded = 0

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(sql=queries(mode))
    def check(sql: str) -> None:
        nonlocal succeeded
        ordinary = _twins.outcome(sql, joint_grant(twins[_twins.ORDINARY], mode), engine)
        extreme = _twins.outcome(sql, joint_grant(twins[_twins.EXTREME], mode), engine)
        succeeded += ordinary[0] == "ok"
        assert ordinary == extreme, sql

    check()
    assert succeeded > 0


def test_the_one_persons_fan_out_never_makes_a_group(
    twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    """21 joined rows of one person: past k=3 in rows, one person in entities."""
    grant = joint_grant(twins[_twins.ORDINARY], "aggregates")
    sql = f"SELECT p.district, COUNT(*) AS n {JOIN} GROUP BY p.district ORDER BY p.district"
    result = engine.execute(govern(sql, grant))
    assert "d9" not in {r["district"] for r in result.rows.to_pylist()}
    text = govern(sql, grant).sql()
    assert "COUNT(DISTINCT p.__dc_entity) >= 3" in text
    assert "COUNT(DISTINCT l.__dc_entity) >= 3" in text


def test_pseudonyms_join_within_a_grant_and_never_across_two(
    twins: dict[_twins.Twin, dict[str, Path]], engine: DuckDBEngine
) -> None:
    paths = twins[_twins.ORDINARY]
    sql = f"SELECT p.pid AS a, l.pid AS b {JOIN} WHERE p.district = 'd1' ORDER BY 1"
    one = engine.execute(govern(sql, joint_grant(paths, "masked_records"))).rows.to_pylist()
    other_grant = joint_grant(paths, "masked_records")
    other = GrantView(grant_id="another-grant", tables=other_grant.tables)
    two = engine.execute(govern(sql, other)).rows.to_pylist()
    assert one
    assert all(r["a"] == r["b"] and not r["a"].startswith("P-") for r in one)
    assert not {r["a"] for r in one} & {r["a"] for r in two}

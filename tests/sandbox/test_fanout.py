"""Attack: join fan-out inflating counts past a group threshold."""

from __future__ import annotations

import duckdb

from ._helpers import run

FANOUT = (
    "SELECT s.district, COUNT(*) AS n FROM sbk AS s JOIN visits AS v ON s.pid = v.pid "
    "WHERE s.district = 'd2' GROUP BY s.district"
)


def test_raw_join_would_pass_a_row_threshold(paths):
    # The attack is real: 3 people times 20 visits is 60 rows, well past k=10.
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT COUNT(*) FROM read_parquet('{paths['sbk']}') s "
        f"JOIN read_parquet('{paths['visits']}') v ON s.pid = v.pid WHERE s.district = 'd2'"
    ).fetchone()
    assert rows is not None
    assert rows[0] >= 10


def test_fanout_group_is_suppressed(grant_for, engine):
    assert run(FANOUT, grant_for("aggregates"), engine).rows.num_rows == 0


def test_large_group_passes_with_fanout_join(grant_for, engine):
    sql = FANOUT.replace("'d2'", "'d0'")
    result = run(sql, grant_for("aggregates"), engine)
    assert result.rows.to_pylist() == [{"district": "d0", "n": 26}]


def test_threshold_counts_entities_of_each_joined_table(grant_for, engine):
    plan_sql = run(FANOUT, grant_for("aggregates"), engine)
    assert plan_sql.rows.num_rows == 0
    from datacompact.sandbox import govern

    text = govern(FANOUT, grant_for("aggregates")).sql()
    assert "COUNT(DISTINCT s.__dc_entity) >= 10" in text
    assert "COUNT(DISTINCT v.__dc_entity) >= 10" in text

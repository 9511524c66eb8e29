"""Attack: table functions and dynamic SQL (read_*, query(), glob)."""

from __future__ import annotations

import duckdb
import pytest

from datacompact.sandbox import DuckDBEngine, govern

from ._data import KEY
from ._helpers import refused, run


@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM read_parquet('{sbk}')",
        "SELECT * FROM parquet_scan('{sbk}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM '{sbk}'",
        "SELECT * FROM glob('/tmp/*')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('sbk')",
        "SELECT * FROM range(10)",
        "SELECT * FROM unnest([1, 2])",
        "SELECT * FROM sbk, LATERAL (SELECT 1)",
        "SELECT getenv('HOME')",
        "SELECT district FROM sbk WHERE district IN (SELECT * FROM read_parquet('{sbk}'))",
    ],
)
def test_table_functions_are_refused(template, paths, grant_for, engine):
    refused(template.format(sbk=paths["sbk"]), grant_for("records"), engine)


def test_locked_connection_reads_no_other_file(grant_for, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("secret\n42\n")
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = DuckDBEngine(pseudonym_key=KEY).connect(plan, ["sbk"])
    try:
        for sql in (
            f"SELECT * FROM read_csv('{other}')",
            "SELECT * FROM glob('/tmp/*')",
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
            "INSTALL httpfs",
            "LOAD httpfs",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert con.execute("SELECT COUNT(*) FROM __dc_src_sbk").fetchone() == (49,)
    finally:
        con.close()


def test_the_granted_file_itself_is_not_readable_by_path(paths, grant_for):
    # Outside the data folders the slice is an Arrow dataset registered by the
    # platform; DuckDB's own allow-list stays empty, so not even the granted
    # file is readable by name.
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = DuckDBEngine(pseudonym_key=KEY).connect(plan, ["sbk"])
    try:
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT * FROM read_parquet('{paths['sbk']}')")
    finally:
        con.close()


def test_a_connection_sees_no_other_requests_tables(grant_for):
    # The database is shared; each request's slice is registered on its own connection.
    engine = DuckDBEngine(pseudonym_key=KEY)
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    first = engine.connect(plan, ["sbk"])
    second = engine.connect(plan, [])
    try:
        assert first.execute("SELECT COUNT(*) FROM __dc_src_sbk").fetchone() == (49,)
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT COUNT(*) FROM __dc_src_sbk")
    finally:
        first.close()
        second.close()
    third = engine.connect(plan, [])
    try:
        with pytest.raises(duckdb.CatalogException):
            third.execute("SELECT COUNT(*) FROM __dc_src_sbk")
    finally:
        third.close()


def test_read_natively_only_the_granted_files_are_readable(paths, grant_for):
    """Files under the data folders are read by DuckDB itself, with exactly them allowed.

    Another resource's file in the same folder stays unreadable, even to SQL
    that slipped past the analyzer: each set of granted files has its own database.
    """
    folder = paths["sbk"].parent
    assert paths["visits"].parent == folder
    engine = DuckDBEngine(pseudonym_key=KEY, data_dirs=[folder])
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = engine.connect(plan, ["sbk"])
    try:
        assert con.execute("SELECT COUNT(*) FROM __dc_src_sbk").fetchone() == (49,)
        for sql in (
            f"SELECT * FROM read_parquet('{paths['visits']}')",
            f"SELECT * FROM read_parquet('{folder}/*.parquet')",
            "SELECT * FROM glob('/tmp/*')",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
    finally:
        engine.disconnect(con, plan, ["sbk"])
        engine.close()


def test_idle_databases_are_closed_past_the_limit(paths, grant_for, monkeypatch):
    monkeypatch.setattr("datacompact.sandbox.engine.MAX_DATABASES", 1)
    engine = DuckDBEngine(pseudonym_key=KEY, data_dirs=[paths["sbk"].parent])
    for sql in ("SELECT district FROM sbk", "SELECT clinic FROM visits"):
        run(sql, grant_for("records"), engine)
    assert len(engine._databases) == 1
    assert len(engine._spills) == 1
    engine.close()

"""Attack: schema and view-definition leaks through information_schema and duckdb_*."""

from __future__ import annotations

import pytest

from ._helpers import refused

LEAKS = [
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    "SELECT table_name FROM main.sbk",
    "SELECT * FROM duckdb_views()",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_columns()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM pragma_table_info('sbk')",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM pg_catalog.pg_class",
    "SELECT current_setting('allowed_paths')",
    "SELECT * FROM __dc_src_sbk",
    "SELECT sql FROM duckdb_views",
]


@pytest.mark.parametrize("sql", LEAKS)
def test_catalog_access_is_refused(sql, grant_for, engine):
    error = refused(sql, grant_for("records"), engine)
    assert "parquet" not in error.message


def test_locked_connection_still_hides_nothing_it_should_not_show(grant_for, engine):
    # Defence in depth: even on the raw locked connection, configuration cannot change.
    from datacompact.sandbox import govern

    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = engine.connect(plan, ["sbk"])
    try:
        with pytest.raises(Exception, match="locked"):
            con.execute("SET enable_external_access = true")
    finally:
        con.close()

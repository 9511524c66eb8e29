"""Attack: table functions and dynamic SQL (read_*, query(), glob)."""

from __future__ import annotations

import duckdb
import pytest

from datacompact.sandbox import DuckDBEngine, govern

from ._data import KEY
from ._helpers import refused


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


@pytest.mark.parametrize("scan", ["parquet", "arrow"])
def test_locked_connection_reads_no_other_file(scan, grant_for, tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("secret\n42\n")
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = DuckDBEngine(pseudonym_key=KEY, scan=scan).connect(plan, ["sbk"])
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


def test_arrow_scan_keeps_the_allow_list_empty(paths, grant_for):
    # The granted file itself is on DuckDB's allow-list in parquet mode (the
    # analyzer keeps user SQL from naming it); in arrow mode it is not even there.
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    con = DuckDBEngine(pseudonym_key=KEY, scan="arrow").connect(plan, ["sbk"])
    try:
        with pytest.raises(duckdb.Error):
            con.execute(f"SELECT * FROM read_parquet('{paths['sbk']}')")
    finally:
        con.close()

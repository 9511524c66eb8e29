"""A joint governed query over two holders' resources vs DuckDB running the same join directly.

Two generated Parquet resources of ``--rows`` rows each (a roster and a loan
ledger) share a resident ID key with about ``rows / 5`` distinct people. The
governed query joins them under one joint grant view, as
``policy._grant_view.joint_grant_view`` builds it: both keys become keyed
pseudonyms under the grant's key, the row filter applies, and every group
needs 10 distinct people on each side. The peer is DuckDB running the same
join on the raw files, with the same filter and thresholds, the same threads
and memory limit. The ratio says what the governance costs; most of it is
the HMAC of every distinct key on both sides (Python, through
``privacy.masking.pseudonymize``).

Run: ``.venv/bin/python benchmarks/sandbox/bench_joint.py [--rows N] [--folder DIR]``
(the issue's figure is ``--rows 10000000``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.sandbox import ColumnRule, DuckDBEngine, GrantedTable, GrantView, Limits, govern

QUERY = (
    "SELECT r.district, COUNT(*) AS n, SUM(l.loan) AS total FROM roster AS r "
    "JOIN loans AS l ON r.resident_id = l.resident_id WHERE r.age > 30 GROUP BY r.district"
)
DIRECT = (
    "SELECT r.district, COUNT(*) AS n, SUM(l.loan) AS total FROM read_parquet('{roster}') AS r "
    "JOIN read_parquet('{loans}') AS l ON r.resident_id = l.resident_id "
    "WHERE r.age >= 18 AND r.age > 30 GROUP BY r.district "
    "HAVING COUNT(DISTINCT r.resident_id) >= 10 AND COUNT(DISTINCT l.resident_id) >= 10"
)


def generate(folder: Path, rows: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(16)
    people = max(rows // 5, 1)
    roster, loans = folder / f"roster-{rows}.parquet", folder / f"loans-{rows}.parquet"
    if not roster.exists():
        table = pa.table(
            {
                "resident_id": pa.array(
                    np.char.add("R", rng.integers(0, people, rows).astype(str))
                ),
                "district": pa.array(
                    np.array([f"d{i:02d}" for i in range(16)])[rng.integers(0, 16, rows)]
                ),
                "age": rng.integers(10, 90, rows),
            }
        )
        pq.write_table(table, roster, row_group_size=1_000_000)
    if not loans.exists():
        table = pa.table(
            {
                "resident_id": pa.array(
                    np.char.add("R", rng.integers(0, people, rows).astype(str))
                ),
                "loan": rng.integers(1_000, 500_000, rows),
            }
        )
        pq.write_table(table, loans, row_group_size=1_000_000)
    return roster, loans


def joint_view(roster: Path, loans: Path) -> GrantView:
    key = ColumnRule(mask="pseudonym", entity_key=True, constraint="join_only")
    return GrantView(
        grant_id="bench-joint",
        tables={
            "roster": GrantedTable(
                name="roster",
                parquet_path=str(roster),
                columns={"resident_id": key, "district": ColumnRule(), "age": ColumnRule()},
                row_filter="age >= 18",
                output_mode="aggregates",
                entity_column="resident_id",
            ),
            "loans": GrantedTable(
                name="loans",
                parquet_path=str(loans),
                columns={"resident_id": key, "loan": ColumnRule(constraint="aggregate_only")},
                output_mode="aggregates",
                entity_column="resident_id",
            ),
        },
    )


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "dc-bench-joint"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    roster, loans = generate(args.folder, args.rows)
    limits = Limits(threads=args.threads, memory_limit="4GB", timeout_seconds=900)
    view = joint_view(roster, loans)

    def direct() -> None:
        con = duckdb.connect()
        con.execute(f"SET threads = {args.threads}")
        con.execute("SET memory_limit = '4GB'")
        con.sql(DIRECT.format(roster=roster, loans=loans)).to_arrow_table()
        con.close()

    print(f"rows={args.rows} per resource, threads={args.threads} repeat={args.repeat}")
    direct()  # warm the page cache
    base = statistics.median(timed(direct, args.repeat))
    print(f"direct DuckDB join (same filter and thresholds)  median {base * 1000:9.1f} ms")
    engine = DuckDBEngine(pseudonym_key=b"bench-key-0123456789abcdef", data_dirs=[args.folder])
    plan = govern(QUERY, view, limits=limits)
    governed_rows = engine.execute(plan).rows.num_rows
    median = statistics.median(timed(lambda: engine.execute(plan), args.repeat))
    print(
        f"governed joint query (pseudonymized keys)       median {median * 1000:9.1f} ms  "
        f"ratio {median / base:.2f}x  ({governed_rows} groups)"
    )
    engine.close()


if __name__ == "__main__":
    main()

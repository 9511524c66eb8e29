"""Sandbox benchmarks.

1. A governed aggregate query over a generated 10-million-row Parquet resource,
   against the same query run directly in DuckDB on the same file (target ≤ 1.2×).
   Both sides get the same thread count and memory limit.
2. Analysis + rewrite latency of a 3-join query (target p50 ≤ 5 ms).

Run: ``.venv/bin/python benchmarks/sandbox/bench_sandbox.py [--rows N] [--folder DIR]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.sandbox import (
    ColumnRule,
    DuckDBEngine,
    GrantedTable,
    GrantView,
    Limits,
    analyze,
    govern,
    rewrite,
)

QUERY = "SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM sbk WHERE age > 30 GROUP BY district"
DIRECT = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM read_parquet('{path}') "
    "WHERE age >= 18 AND age > 30 GROUP BY district HAVING COUNT(DISTINCT resident_id) >= 10"
)
THREE_JOINS = (
    "SELECT s.district, COUNT(*) AS n, SUM(s.income) AS total FROM sbk AS s "
    "JOIN visits AS v ON s.resident_id = v.resident_id JOIN biz AS b ON s.district = b.district "
    "JOIN clinics AS c ON v.clinic = c.clinic WHERE b.sector = 'it' AND c.kind = 'public' "
    "GROUP BY s.district"
)


def generate(path: Path, rows: int) -> None:
    rng = np.random.default_rng(6)
    table = pa.table(
        {
            "resident_id": pa.array(np.char.add("R", rng.integers(0, rows // 5, rows).astype(str))),
            "district": pa.array(
                np.array([f"d{i:02d}" for i in range(16)])[rng.integers(0, 16, rows)]
            ),
            "age": rng.integers(10, 90, rows),
            "income": rng.normal(5000, 1500, rows),
        }
    )
    pq.write_table(table, path, row_group_size=1_000_000)


def grant(path: Path) -> GrantView:
    def table(name: str, columns: list[str]) -> GrantedTable:
        return GrantedTable(
            name=name,
            parquet_path=str(path),
            columns={
                c: ColumnRule(mask="pseudonym" if c == "resident_id" else None) for c in columns
            },
            row_filter="age >= 18" if name == "sbk" else None,
            output_mode="aggregates",
            entity_column="resident_id",
        )

    tables = {
        "sbk": table("sbk", ["resident_id", "district", "age", "income"]),
        "visits": table("visits", ["resident_id", "clinic"]),
        "biz": table("biz", ["district", "sector"]),
        "clinics": table("clinics", ["clinic", "kind"]),
    }
    return GrantView(grant_id="bench", tables=tables)


def timed(run: object, repeat: int) -> list[float]:
    assert callable(run)
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "dc-bench-sandbox"
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    path = args.folder / f"sbk-{args.rows}.parquet"
    if not path.exists():
        generate(path, args.rows)
    limits = Limits(threads=args.threads, memory_limit="4GB", timeout_seconds=300)
    view = grant(path)

    def direct() -> None:
        con = duckdb.connect()
        con.execute(f"SET threads = {args.threads}")
        con.execute("SET memory_limit = '4GB'")
        con.sql(DIRECT.format(path=path)).to_arrow_table()
        con.close()

    print(f"rows={args.rows} threads={args.threads} repeat={args.repeat}")
    direct()  # warm the page cache
    base = statistics.median(timed(direct, args.repeat))
    print(f"direct DuckDB (same filter and threshold)  median {base * 1000:8.1f} ms")
    # As the platform runs it: the granted file read by DuckDB itself (under
    # the engine's data folders), and, for comparison, scanned as an Arrow dataset.
    native = DuckDBEngine(pseudonym_key=b"bench-key-0123456789abcdef", data_dirs=[args.folder])
    arrow = DuckDBEngine(pseudonym_key=b"bench-key-0123456789abcdef")
    for label, engine in (("governed (native Parquet)", native), ("governed (Arrow scan)", arrow)):

        def governed(engine: DuckDBEngine = engine) -> None:
            engine.execute(govern(QUERY, view, limits=limits))

        governed()
        median = statistics.median(timed(governed, args.repeat))
        print(f"{label:<42}median {median * 1000:8.1f} ms  ratio {median / base:.2f}x")
    # Uncached: govern() would answer a repeated query from its plan cache.
    latencies = timed(lambda: rewrite(analyze(THREE_JOINS, view)), 300)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    print(f"analyze+rewrite, 3 joins: p50 {p50 * 1000:.2f} ms  p99 {p99 * 1000:.2f} ms")


if __name__ == "__main__":
    main()

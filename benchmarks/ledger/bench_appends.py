"""Sustained, durable, batched appends to the transparency log.

Each batch is one committed transaction: the event rows, their leaf and inner
node hashes and the advanced log head, with SQLite at ``synchronous=FULL``
(WAL) and PostgreSQL at its default ``fsync=on``/``synchronous_commit=on``.
Target on the 2-core reference machine: >= 50,000 appends per second.

    .venv/bin/python benchmarks/ledger/bench_appends.py [--count N] [--batch B]

Set DATACOMPACT_BENCH_DATABASE_URL to a fresh PostgreSQL database to measure it too.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _store import fill, new_platform, pg_url

from datacompact.ledger.log.check import check_ledger

TARGET = 50_000


def run(label: str, url: str | None, count: int, batch: int) -> None:
    platform = new_platform(url)
    fill(platform, batch, batch=batch)  # warm-up: imports, caches, first pages
    start = time.perf_counter()
    fill(platform, count, batch=batch)
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    with platform.db.read() as session:
        report = check_ledger(session, log_verifier=platform.log_signer.verifier())
    assert report.ok, report.problems
    assert report.size == count + batch, report.problems
    print(
        f"{label:10} appends: {count:,} in {elapsed:.2f} s = {rate:,.0f}/s "
        f"(batch {batch}, durable) — {rate / TARGET:.2f}× the {TARGET:,}/s target"
    )
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    run("sqlite", None, args.count, args.batch)
    url = pg_url()
    if url:
        run("postgresql", url, args.count, args.batch)
    else:
        print("postgresql skipped: set DATACOMPACT_BENCH_DATABASE_URL to measure it")


if __name__ == "__main__":
    main()

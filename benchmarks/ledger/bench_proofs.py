"""Inclusion-proof latency at 1,000,000 entries, from the store.

Builds a log of N entries (default 1,000,000) in a fresh SQLite store, then
times ``ledger.log.inclusion_proof`` (one query for the O(log n) stored nodes
plus two pure passes) for random indices, each proof verified against the
stored root. Target on the reference machine: p50 <= 1 ms.

    .venv/bin/python benchmarks/ledger/bench_proofs.py [--entries N] [--proofs K]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _store import fill, new_platform, pg_url
from sqlalchemy import select

from datacompact.ledger import log
from datacompact.ledger.formats import merkle
from datacompact.store.models import Event

TARGET_P50_MS = 1.0


def run(label: str, url: str | None, entries: int, proofs: int) -> None:
    platform = new_platform(url)
    start = time.perf_counter()
    fill(platform, entries, batch=10_000)
    built = time.perf_counter() - start
    rng = random.Random(7)
    timings: list[float] = []
    with platform.db.read() as session:
        root = log.read_head(session).root
        for _ in range(proofs):
            index = rng.randrange(entries)
            t0 = time.perf_counter()
            proof = log.inclusion_proof(session, index=index, size=entries)
            timings.append((time.perf_counter() - t0) * 1000)
            entry = session.scalar(select(Event.entry).where(Event.seq == index))
            assert entry is not None
            merkle.verify_inclusion(
                leaf_hash=merkle.leaf_hash(entry), index=index, size=entries, proof=proof, root=root
            )
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(
        f"{label:10} {entries:,} entries (built in {built:.1f} s): inclusion proof over {proofs:,} "
        f"random indices p50 {p50:.3f} ms, p99 {p99:.3f} ms — p50 is {p50 / TARGET_P50_MS:.2f}× "
        f"the {TARGET_P50_MS} ms target"
    )
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=5_000)
    args = parser.parse_args()
    run("sqlite", None, args.entries, args.proofs)
    url = pg_url()
    if url:
        run("postgresql", url, args.entries, args.proofs)


if __name__ == "__main__":
    main()

"""What a governed query's response time reveals about one record.

Two Parquet resources differ in exactly one record: the *target*, the only
person with an income of 987654.5, in a district of many people. The attack
query asks, under ``aggregates``, for a join of that district with itself
behind a predicate on the target's value::

    SELECT a.district, COUNT(*) FROM t AS a JOIN t AS b ON a.district = b.district
     WHERE a.income = 987654.5 GROUP BY a.district

Both answers are empty (one entity on the ``a`` side is under the entity
threshold), and the query succeeds on both, so only time can tell them apart:
when the target exists, DuckDB builds the fan-out of its district.

The script times the whole sandbox path (analysis, rewrite, execution) on
each resource, interleaved, and reports for the raw times and for the times
padded to the quantum ``serve`` uses (``DATACOMPACT_SANDBOX_TIME_QUANTUM_MS``)
the medians and the accuracy of the best single-threshold guess "target
present" (0.5 = no better than a coin; 1.0 = always right).

Run: ``.venv/bin/python benchmarks/sandbox/bench_timing.py [--rows N] [--runs N] [--quantum-ms Q]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.sandbox import ColumnRule, DuckDBEngine, GrantedTable, GrantView, run_query

TARGET = 987654.5
ATTACK = (
    "SELECT a.district, COUNT(*) AS n FROM t AS a JOIN t AS b ON a.district = b.district "
    f"WHERE a.income = {TARGET} GROUP BY a.district"
)


def generate(path: Path, rows: int, *, with_target: bool) -> None:
    rng = np.random.default_rng(11)
    district = np.array([f"d{i:02d}" for i in range(8)])[rng.integers(0, 8, rows)]
    income = rng.normal(5000, 1500, rows).round(2)
    pid = np.char.add("P", np.arange(rows).astype(str))
    if with_target:
        income[0] = TARGET
    else:
        income[0] = 5000.0
    pq.write_table(pa.table({"pid": pid, "district": district, "income": income}), path)


def grant(path: Path) -> GrantView:
    table = GrantedTable(
        name="t",
        parquet_path=str(path),
        columns={
            "pid": ColumnRule(mask="pseudonym", entity_key=True, constraint="join_only"),
            "district": ColumnRule(),
            "income": ColumnRule(),
        },
        output_mode="aggregates",
        entity_column="pid",
    )
    return GrantView(grant_id="timing", tables={"t": table})


def accuracy(present: list[float], absent: list[float]) -> float:
    """The best accuracy of guessing "present" when the time is above some threshold."""
    labelled = sorted([(t, 1) for t in present] + [(t, 0) for t in absent])
    best = 0.5
    above_present, above_absent = len(present), len(absent)
    total = len(labelled)
    for i, (_, label) in enumerate(labelled):
        # Threshold just above labelled[i]: everything after is guessed "present".
        if label:
            above_present -= 1
        else:
            above_absent -= 1
        if i + 1 < total and labelled[i + 1][0] == labelled[i][0]:
            continue  # a threshold cannot separate equal times
        correct = above_present + (len(absent) - above_absent)
        best = max(best, correct / total, 1 - correct / total)
    return best


def pad(seconds: float, quantum: float) -> float:
    return max(math.ceil(seconds / quantum), 1) * quantum if quantum > 0 else seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--quantum-ms", type=float, default=50.0)
    args = parser.parse_args()
    quantum = args.quantum_ms / 1000
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for present in (True, False):
            paths[present] = Path(folder) / f"t-{present}.parquet"
            generate(paths[present], args.rows, with_target=present)
        engine = DuckDBEngine(pseudonym_key=b"timing-benchmark-pseudonym-key!!")
        times: dict[bool, list[float]] = {True: [], False: []}
        for present in (True, False):  # warm both files and plans
            run_query(ATTACK, grant(paths[present]), engine=engine)
        for _ in range(args.runs):
            for present in (True, False):
                started = time.perf_counter()
                result = run_query(ATTACK, grant(paths[present]), engine=engine)
                times[present].append(time.perf_counter() - started)
                assert result.rows.num_rows == 0
        engine.close()
    raw = accuracy(times[True], times[False])
    padded = {p: [pad(t, quantum) for t in ts] for p, ts in times.items()}
    print(f"rows {args.rows:,}, runs {args.runs} per resource, quantum {args.quantum_ms:g} ms")
    for label, series in (("raw", times), ("padded", padded)):
        med_present = statistics.median(series[True]) * 1000
        med_absent = statistics.median(series[False]) * 1000
        print(
            f"{label:>7}: median with target {med_present:.1f} ms, without {med_absent:.1f} ms; "
            f"best threshold guess right {accuracy(series[True], series[False]):.0%}"
        )
    print(f"advantage removed by padding: {raw:.0%} -> {accuracy(padded[True], padded[False]):.0%}")


if __name__ == "__main__":
    main()

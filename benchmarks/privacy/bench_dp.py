"""Differential-privacy releases per second through OpenDP's privacy filter.

Run: .venv/bin/python benchmarks/privacy/bench_dp.py

Measures scalar releases (count, sum, mean) and histogram releases (one
noisy count per category, all in one query) on 1,000 and 100,000 synthetic
records (OpenDP's own work per query grows with the rows);
the target is 10,000 noisy aggregates per second. Repeated query shapes reuse
their calibrated measurement; the "cold" line asks a new ε every time, so
every query is calibrated afresh through OpenDP.
"""

from __future__ import annotations

import time

import numpy as np

from datacompact.privacy.dp import PrivacyBudget

TARGET = 10_000
SIZES = (1_000, 100_000)


def _rate(label: str, call, repeat: int, per_call: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    elapsed = time.perf_counter() - started
    rate = repeat * per_call / elapsed
    print(f"{label:<42} {rate:>10.0f} aggregates/s  ({rate / TARGET:.3f} of target)")
    return rate


def main() -> None:
    for rows in SIZES:
        print(f"-- {rows:,} records")
        run(rows)


def run(rows: int) -> None:
    rng = np.random.default_rng(7)
    ages = rng.integers(18, 90, size=rows).astype(float)
    codes = rng.integers(0, 2000, size=rows).astype(str)
    budget = PrivacyBudget({"age": ages, "code": codes}, epsilon=1e12)
    _rate("count", lambda: budget.count("age", epsilon=1.0), 2000)
    _rate("sum (clamped)", lambda: budget.sum("age", bounds=(0.0, 100.0), epsilon=1.0), 2000)
    _rate(
        "mean (clamped, known size)",
        lambda: budget.mean("age", bounds=(0.0, 100.0), epsilon=1.0, size=rows),
        2000,
    )
    epsilons = iter(np.linspace(0.5, 1.5, 1000))
    _rate(
        "count, cold (new ε each query)", lambda: budget.count("age", epsilon=next(epsilons)), 1000
    )
    categories = [str(i) for i in range(2000)]
    _rate(
        "histogram, 2,000 categories + other",
        lambda: budget.histogram("code", categories=categories, epsilon=1.0),
        10,
        per_call=len(categories) + 1,
    )


if __name__ == "__main__":
    main()

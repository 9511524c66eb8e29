"""Exact Shapley shares over 12 resources for 10,000 uses.

Each use touches all 12 resources and records 20 supports (result rows that
need a random set of 1 to 4 of them), as a join over many holders' data would.
Timed, in one process:

- ``split``: :func:`datacompact.value._split.split_revenue` under the Shapley
  rule, the whole rule as a distribution runs it: the 4,096-coalition table of
  each use, the exact Shapley value in integers, the fractions of each use's
  revenue, and the rounding of every resource's total to the fen;
- ``generic``: the Shapley value alone of the same games given as full
  4,096-value tables of ``v`` (:func:`datacompact.value._shapley.exact_batch`:
  the Möbius transform, then the dividends' sums), in batches of 512 as the
  rule batches them: what any other characteristic function would cost;
- ``textbook``: the peer, the definition's sum over coalitions
  ``Σ |S|!(n−|S|−1)!/n! · (v(S∪{i}) − v(S))`` in Python fractions, on the first
  ``--peer`` uses only, its time per use scaled to all of them.

Every share of the first ``--peer`` uses is checked against the textbook sum
and the closed form ``Σ rows_T / |T|`` before anything is printed.
Target: ``split`` at most 10 s. The load average is printed beside the figure:
the machine may be shared.

Run: ``.venv/bin/python benchmarks/value/bench_shapley.py [--uses N] [--peer M]``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np

from datacompact.value import _shapley
from datacompact.value._split import ShareRule, Support, Touched, Use, split_revenue

TARGET_SECONDS = 10.0
N = 12


def _uses(count: int, seed: int = 2026) -> list[Use]:
    rng = random.Random(seed)
    out = []
    for k in range(count):
        touched = tuple(Touched(r, 1000 + r % 5, rng.randint(0, 10**6)) for r in range(1, N + 1))
        supports = tuple(
            Support(frozenset(rng.sample(range(1, N + 1), rng.randint(1, 4))), rng.randint(0, 5000))
            for _ in range(20)
        )
        revenue = Decimal(rng.randint(1, 100_000)) / 100
        out.append(Use(f"query:{k}", revenue, touched, supports))
    return out


def _textbook(values: list[int], n: int) -> list[Fraction]:
    weight = [
        Fraction(math.factorial(s) * math.factorial(n - s - 1), math.factorial(n)) for s in range(n)
    ]
    phi = [Fraction(0)] * n
    for mask in range(1 << n):
        size = bin(mask).count("1")
        for i in range(n):
            if not mask >> i & 1:
                phi[i] += weight[size] * (values[mask | 1 << i] - values[mask])
    return phi


def _supports(use: Use) -> list[tuple[int, int]]:
    index = {r: i for i, r in enumerate(use.resource_ids)}
    return [(sum(1 << index[r] for r in s.resources), s.rows) for s in use.supports]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--uses", type=int, default=10_000)
    parser.add_argument("--peer", type=int, default=20)
    args = parser.parse_args()
    uses = _uses(args.uses)

    # Correctness first: the fast path, the definition and the closed form agree.
    for use in uses[: args.peer]:
        supports = _supports(use)
        table = _shapley.table(supports, N).tolist()
        fast = _shapley.exact(table, N)
        closed = [Fraction(0)] * N
        for mask, rows in supports:
            for i in range(N):
                if mask >> i & 1:
                    closed[i] += Fraction(rows, bin(mask).count("1"))
        if fast != _textbook(table, N) or fast != closed:
            print(f"MISMATCH on {use.use_id}", file=sys.stderr)
            return 1

    start = time.perf_counter()
    split = split_revenue(uses, ShareRule.SHAPLEY)
    split_seconds = time.perf_counter() - start
    if sum(split.amounts.values()) != split.revenue:
        print("shares do not add up to the revenue", file=sys.stderr)
        return 1

    tables = np.stack([_shapley.table(_supports(u), N) for u in uses])
    start = time.perf_counter()
    for first in range(0, len(uses), 512):
        _shapley.exact_batch(tables[first : first + 512], N)
    core_seconds = time.perf_counter() - start

    start = time.perf_counter()
    for use in uses[: args.peer]:
        _textbook(_shapley.table(_supports(use), N).tolist(), N)
    peer_per_use = (time.perf_counter() - start) / max(args.peer, 1)
    peer_seconds = peer_per_use * len(uses)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"uses: {len(uses)}, resources per use: {N}, coalitions per use: {1 << N}")
    print(
        f"split (whole Shapley rule, to the fen): {split_seconds:.2f} s  target <= {TARGET_SECONDS:.0f} s"
    )
    print(f"generic (from full tables of v):        {core_seconds:.2f} s")
    print(
        f"textbook peer (Python fractions):       {peer_seconds:.1f} s, "
        f"scaled from {args.peer} uses; ratio {peer_seconds / split_seconds:.0f}x"
    )
    print(f"revenue {split.revenue} shared exactly among {len(split.amounts)} resources")
    print(f"load average (1, 5, 15 min): {load}; cores: {os.cpu_count()}")
    return 0 if split_seconds <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())

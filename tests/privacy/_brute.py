"""An independent, row-by-row reference for the search: plain Python, no numpy grouping.

It enumerates every node of the lattice, groups records with a dict, applies
the models' textbook definitions and computes the metrics from their
definitions, so that the vectorized engine is checked against something that
shares none of its code.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping, Sequence

import pyarrow as pa

from datacompact.privacy import Hierarchy


def _classes(rows, hierarchies, node):
    classes: dict[tuple[str, ...], list[int]] = {}
    names = list(hierarchies)
    for i, row in enumerate(rows):
        key = tuple(
            hierarchies[c].generalize(row[c], lv) for c, lv in zip(names, node, strict=True)
        )
        classes.setdefault(key, []).append(i)
    return classes


def _ok(members, rows, sensitive, k, l_distinct, l_entropy, t_equal, overall):
    if k is not None and len(members) < k:
        return False
    if sensitive is not None:
        counts = Counter(rows[i][sensitive] for i in members)
        if l_distinct is not None and len(counts) < l_distinct:
            return False
        if l_entropy is not None:
            h = -sum(c / len(members) * math.log(c / len(members)) for c in counts.values())
            if h < math.log(l_entropy) - 1e-9:
                return False
        if t_equal is not None:
            emd = 0.5 * sum(abs(counts.get(v, 0) / len(members) - p) for v, p in overall.items())
            if emd > t_equal + 1e-9:
                return False
    return True


def brute_force(
    table: pa.Table,
    hierarchies: Mapping[str, Hierarchy],
    *,
    suppression: float,
    metric: str = "entropy",
    k: int | None = None,
    l_distinct: int | None = None,
    l_entropy: float | None = None,
    t_equal: float | None = None,
    sensitive: str | None = None,
) -> tuple[float, list[tuple[int, ...]]]:
    """The lowest loss over all accepted nodes, and every node reaching it."""
    rows = table.to_pylist()
    n = len(rows)
    names = list(hierarchies)
    limit = math.floor(suppression * n + 1e-9)
    overall = {}
    if sensitive is not None:
        overall = {v: c / n for v, c in Counter(r[sensitive] for r in rows).items()}
    freq = {c: Counter(r[c] for r in rows) for c in names}
    best = math.inf
    winners: list[tuple[int, ...]] = []
    for node in itertools.product(*(range(hierarchies[c].height + 1) for c in names)):
        classes = _classes(rows, hierarchies, node)
        bad = [
            m
            for m in classes.values()
            if not _ok(m, rows, sensitive, k, l_distinct, l_entropy, t_equal, overall)
        ]
        suppressed = sum(len(m) for m in bad)
        if suppressed > limit:
            continue
        loss = _loss(metric, rows, hierarchies, node, classes, bad, freq, n)
        if loss < best - 1e-9:
            best, winners = loss, [node]
        elif abs(loss - best) <= 1e-9:
            winners.append(node)
    return best, winners


def _loss(metric, rows, hierarchies, node, classes, bad, freq, n) -> float:
    names = list(hierarchies)
    if metric == "entropy":
        total = 0.0
        for c, lv in zip(names, node, strict=True):
            gen = Counter(hierarchies[c].generalize(r[c], lv) for r in rows)
            for r in rows:
                total += -math.log2(freq[c][r[c]] / gen[hierarchies[c].generalize(r[c], lv)])
        return total
    suppressed = sum(len(m) for m in bad)
    good = [m for m in classes.values() if not any(m is b for b in bad)]
    if metric == "discernibility":
        return float(sum(len(m) ** 2 for m in good) + n * suppressed)
    if metric == "aecs":
        return n / (len(good) + (1 if suppressed else 0))
    if metric == "precision":
        heights = [hierarchies[c].height for c in names]
        per = sum(lv / h for lv, h in zip(node, heights, strict=True) if h) / len(names)
        return ((n - suppressed) * per + suppressed) / n
    raise ValueError(metric)


def classes_of(table: pa.Table, columns: Sequence[str]) -> Counter[tuple[str, ...]]:
    return Counter(tuple(r[c] for c in columns) for r in table.to_pylist())

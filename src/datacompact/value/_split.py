"""How one product's revenue is split among the resources its uses touched.

A :class:`Use` is one billable use of a product: the revenue it brought and
the resources it touched, each with its holder and the rows it scanned, and
optionally its *supports*: how many result rows (or groups) needed which set
of resources. It is what the log's query events say about a use, whether the
query read one resource or several.

The rules (:class:`ShareRule`), each giving a use's fraction of its revenue to
each resource it touched, the fractions adding up to one:

* ``shapley`` (the default): the Shapley value of the game whose worth ``v(S)``
  is the number of result rows the resources of ``S`` make possible together:
  the rows whose support lies in ``S``. A use that records no supports, or
  whose supports hold no rows, is the game in which the result needs every
  resource touched (an inner join: without any one of them it returns
  nothing), so they share equally. Exact up to 12 resources; estimated with a
  stated error bound from 13 to 64.
* ``equal``: the same fraction to every resource touched.
* ``rows_scanned``: in proportion to the rows each resource scanned; equal when
  none recorded any (the aggregate modes do not release the count).
* ``weights``: in proportion to the weights the regulator set for the product.

Amounts are exact rationals until the end: each resource's total over all the
uses is rounded down to the fen (分, 0.01 yuan), and the fens left over go one
each to the resources with the largest remainders, ties to the smaller
resource id (the largest-remainder method). The shares therefore add up to the
revenue exactly, and nobody is more than one fen from its exact amount.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

import numpy as np

from datacompact.errors import InvalidInput
from datacompact.value import _shapley

__all__ = ["FEN", "MAX_EXACT", "MAX_RESOURCES", "SAMPLING_DELTA", "SAMPLING_EPSILON"]
__all__ += ["ShareRule", "Split", "Support", "Touched", "Use", "allocate", "fractions_of"]
__all__ += ["split_revenue"]

FEN = Decimal("0.01")
MAX_EXACT = _shapley.MAX_EXACT
MAX_RESOURCES = _shapley.MAX_PLAYERS
#: Beyond MAX_EXACT resources each estimated fraction is within this much of
#: the exact one (a fraction of the use's revenue) ...
SAMPLING_EPSILON = 0.01
#: ... with at least this probability of failing, per use.
SAMPLING_DELTA = 0.01


class ShareRule(StrEnum):
    SHAPLEY = "shapley"
    EQUAL = "equal"
    ROWS_SCANNED = "rows_scanned"
    WEIGHTS = "weights"


def _bad(message: str, field_name: str, **details: object) -> InvalidInput:
    return InvalidInput(message, details={"field": field_name, **details})


def check_money(value: object, name: str) -> Decimal:
    """A non-negative ``Decimal`` with at most two places: an amount in yuan to the fen."""
    if not isinstance(value, Decimal) or not value.is_finite():
        got = type(value).__name__ if not isinstance(value, Decimal) else "a non-finite Decimal"
        raise _bad(f"{name} 须为 Decimal 金额 / expected {name} as a Decimal, got {got}", name)
    if value < 0:
        raise _bad(f"{name} 不能为负 / expected {name} >= 0, got a negative amount", name)
    if value != value.quantize(FEN):
        raise _bad(
            f"{name} 最多两位小数（分）/ expected {name} to the fen, got more than 2 places", name
        )
    return value


@dataclass(frozen=True)
class Touched:
    """One resource a use touched: its holder and the rows it scanned (0 when not released)."""

    resource_id: int
    holder_id: int
    rows_scanned: int = 0

    def __post_init__(self) -> None:
        if self.rows_scanned < 0:
            raise _bad("扫描行数不能为负 / expected rows_scanned >= 0", "rows_scanned")


@dataclass(frozen=True)
class Support:
    """``rows`` result rows (or groups) that exist only when every one of ``resources`` is present."""

    resources: frozenset[int]
    rows: int

    def __post_init__(self) -> None:
        if not self.resources:
            raise _bad("支撑集不能为空 / expected a support naming resources", "supports")
        if self.rows < 0:
            raise _bad("行数不能为负 / expected support rows >= 0", "supports")


@dataclass(frozen=True)
class Use:
    """One billable use of a product: its revenue and what it touched."""

    use_id: str
    revenue: Decimal
    touched: tuple[Touched, ...]
    supports: tuple[Support, ...] = field(default=())

    def __post_init__(self) -> None:
        check_money(self.revenue, "revenue")
        n = len(self.touched)
        if n == 0:
            raise _bad(
                "用途未涉及任何资源 / expected a use touching at least 1 resource, got 0",
                "resources",
                count=0,
            )
        if n > MAX_RESOURCES:
            raise _bad(
                f"资源过多 / expected at most {MAX_RESOURCES} resources per use, got {n}",
                "resources",
                count=n,
                limit=MAX_RESOURCES,
            )
        ids = [t.resource_id for t in self.touched]
        if len(set(ids)) != n:
            raise _bad("资源重复 / expected distinct resources, got a repeated one", "resources")
        known = set(ids)
        for support in self.supports:
            if not support.resources <= known:
                raise _bad(
                    "支撑集含未涉及的资源 / expected supports within the resources touched",
                    "supports",
                )

    @property
    def resource_ids(self) -> tuple[int, ...]:
        return tuple(t.resource_id for t in self.touched)


def _equal(use: Use) -> dict[int, Fraction]:
    return {r: Fraction(1, len(use.touched)) for r in use.resource_ids}


def _proportional(use: Use, weight: Mapping[int, Fraction]) -> dict[int, Fraction]:
    total = sum(weight.values(), Fraction(0))
    if total == 0:
        return _equal(use)
    return {r: weight[r] / total for r in use.resource_ids}


def _supports(use: Use) -> list[tuple[int, int]]:
    """The use's game as bit-set supports over its resources in the order touched."""
    index = {r: i for i, r in enumerate(use.resource_ids)}
    out = [(sum(1 << index[r] for r in s.resources), s.rows) for s in use.supports if s.rows > 0]
    return out or [((1 << len(index)) - 1, 1)]


def sampling_seed(use_id: str) -> int:
    """The seed of a use's sampled orders: the first 8 bytes of SHA-256 of its id."""
    return int.from_bytes(hashlib.sha256(use_id.encode()).digest()[:8], "big")


def _normalise(use: Use, values: Sequence[Fraction]) -> dict[int, Fraction]:
    total = sum(values, Fraction(0))
    return {r: v / total for r, v in zip(use.resource_ids, values, strict=True)}


def fractions_of(
    uses: Sequence[Use], rule: ShareRule, weights: Mapping[int, Decimal] | None = None
) -> list[dict[int, Fraction]]:
    """Each use's fraction of its revenue per resource, the fractions of a use adding up to 1."""
    if rule is ShareRule.WEIGHTS:
        given = weights or {}
        missing = sorted({r for u in uses for r in u.resource_ids if r not in given})
        if missing:
            raise _bad(
                "未为资源设定权重 / expected a regulator's weight for every resource used",
                "weights",
                resource_ids=missing[:20],
            )
        return [_proportional(u, {r: Fraction(given[r]) for r in u.resource_ids}) for u in uses]
    if rule is ShareRule.EQUAL:
        return [_equal(u) for u in uses]
    if rule is ShareRule.ROWS_SCANNED:
        return [
            _proportional(u, {t.resource_id: Fraction(t.rows_scanned) for t in u.touched})
            for u in uses
        ]
    return _shapley_fractions(uses)


def _shapley_fractions(uses: Sequence[Use]) -> list[dict[int, Fraction]]:
    out: list[dict[int, Fraction] | None] = [None] * len(uses)
    by_size: dict[int, list[int]] = defaultdict(list)
    for k, use in enumerate(uses):
        n = len(use.touched)
        if n == 1:
            out[k] = {use.resource_ids[0]: Fraction(1)}
        elif n <= MAX_EXACT:
            by_size[n].append(k)
        else:
            estimate = _shapley.sampled(
                _supports(use),
                n,
                seed=sampling_seed(use.use_id),
                epsilon=SAMPLING_EPSILON,
                delta=SAMPLING_DELTA,
            )
            out[k] = _normalise(use, estimate.values)
    # Uses with as many resources are computed together, in batches that keep memory small.
    for n, members in by_size.items():
        step = max(1, (1 << 21) >> n)
        for start in range(0, len(members), step):
            chunk = members[start : start + step]
            tables = np.zeros((len(chunk), 1 << n), dtype=np.int64)
            for row, k in enumerate(chunk):
                for mask, rows in _supports(uses[k]):
                    tables[row, mask] += rows
            _shapley._zeta(tables, n)
            numerators, lcm = _shapley.exact_batch(tables, n)
            for k, phi in zip(chunk, numerators, strict=True):
                out[k] = _normalise(uses[k], [Fraction(x, lcm) for x in phi])
    return [f for f in out if f is not None]


def allocate(total: Decimal, exact: Mapping[int, Fraction]) -> dict[int, Decimal]:
    """Round exact amounts that add up to ``total`` to the fen, keeping the total exact.

    Largest remainder: everyone gets its amount rounded down, and the fens left
    go one each to the largest remainders, ties to the smaller key.

    >>> allocate(Decimal("1.00"), {1: Fraction(1, 3), 2: Fraction(1, 3), 3: Fraction(1, 3)})
    {1: Decimal('0.34'), 2: Decimal('0.33'), 3: Decimal('0.33')}
    """
    check_money(total, "revenue")
    if sum(exact.values(), Fraction(0)) != Fraction(total):
        raise ValueError("exact amounts must add up to the total")
    fen = {k: v * 100 for k, v in exact.items()}
    floors = {k: v.numerator // v.denominator for k, v in fen.items()}
    left = int(total * 100) - sum(floors.values())
    order = sorted(fen, key=lambda k: (-(fen[k] - floors[k]), k))
    for k in order[:left]:
        floors[k] += 1
    return {k: (Decimal(floors[k]) / 100).quantize(FEN) for k in sorted(floors)}


@dataclass(frozen=True)
class Split:
    """The revenue of some uses, split: per resource its exact and its rounded amount."""

    rule: ShareRule
    revenue: Decimal
    exact: Mapping[int, Fraction]
    amounts: Mapping[int, Decimal]
    holders: Mapping[int, int]
    uses: Mapping[int, int]


def split_revenue(
    uses: Iterable[Use], rule: ShareRule, weights: Mapping[int, Decimal] | None = None
) -> Split:
    """Split the revenue of ``uses`` among the resources they touched under ``rule``."""
    listed = list(uses)
    if not listed:
        raise _bad("没有可分配的用途 / expected at least 1 use, got 0", "uses", count=0)
    holders: dict[int, int] = {}
    counts: dict[int, int] = defaultdict(int)
    for use in listed:
        for t in use.touched:
            if holders.setdefault(t.resource_id, t.holder_id) != t.holder_id:
                raise _bad(
                    "同一资源的持有方不一致 / expected one holder per resource, got two",
                    "resources",
                )
            counts[t.resource_id] += 1
    exact: dict[int, Fraction] = defaultdict(Fraction)
    for use, fractions in zip(listed, fractions_of(listed, rule, weights), strict=True):
        amount = Fraction(use.revenue)
        for resource_id, fraction in fractions.items():
            exact[resource_id] += amount * fraction
    revenue = sum((u.revenue for u in listed), Decimal(0))
    return Split(
        rule=rule,
        revenue=revenue,
        exact=dict(exact),
        amounts=allocate(revenue, exact),
        holders=holders,
        uses=dict(counts),
    )

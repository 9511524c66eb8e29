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

Amounts are exact rationals until each use is rounded: a use's revenue times
each fraction is rounded down to the fen (分, 0.01 yuan), and the fens left
over go one each to the resources with the largest remainders (the
largest-remainder method); equal remainders are ordered by SHA-256 of
``"<use id>:<resource id>"``, so no resource is favoured use after use. A
use's shares add up to its revenue exactly, none is a fen or more from its
exact amount, and a resource's share of a distribution is the sum of its
shares of the uses.
"""

from __future__ import annotations

import hashlib
import math
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
__all__ += ["Parts", "UseShares", "parts_of", "split_revenue"]

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


@dataclass(frozen=True)
class Parts:
    """A use's fractions as integers over one denominator: resource ``r`` gets ``numerators[r] / denominator``.

    Kept as integers so that rounding 10,000 uses needs no rational arithmetic.
    """

    numerators: Mapping[int, int]
    denominator: int

    def fractions(self) -> dict[int, Fraction]:
        return {r: Fraction(x, self.denominator) for r, x in self.numerators.items()}

    def texts(self) -> dict[str, str]:
        """Each fraction in lowest terms as ``p/q``, as the log records it."""
        out = {}
        for r, x in sorted(self.numerators.items()):
            g = math.gcd(x, self.denominator)
            out[str(r)] = f"{x // g}/{self.denominator // g}"
        return out


def _equal(use: Use) -> Parts:
    return Parts(dict.fromkeys(use.resource_ids, 1), len(use.touched))


def _proportional(use: Use, weight: Mapping[int, int]) -> Parts:
    total = sum(weight.values())
    if total == 0:
        return _equal(use)
    return Parts({r: weight[r] for r in use.resource_ids}, total)


def _supports(use: Use) -> list[tuple[int, int]]:
    """The use's game as bit-set supports over its resources in the order touched."""
    index = {r: i for i, r in enumerate(use.resource_ids)}
    out = [(sum(1 << index[r] for r in s.resources), s.rows) for s in use.supports if s.rows > 0]
    return out or [((1 << len(index)) - 1, 1)]


def sampling_seed(use_id: str) -> int:
    """The seed of a use's sampled orders: the first 8 bytes of SHA-256 of its id."""
    return int.from_bytes(hashlib.sha256(use_id.encode()).digest()[:8], "big")


def _normalised(use: Use, numerators: Sequence[int]) -> Parts:
    """Shares over a common denominator (which cancels), as parts of their sum."""
    return Parts(dict(zip(use.resource_ids, numerators, strict=True)), sum(numerators))


def parts_of(
    uses: Sequence[Use], rule: ShareRule, weights: Mapping[int, Decimal] | None = None
) -> list[Parts]:
    """Each use's parts of its revenue per resource, the parts of a use adding up to 1."""
    if rule is ShareRule.WEIGHTS:
        given = weights or {}
        missing = sorted({r for u in uses for r in u.resource_ids if r not in given})
        if missing:
            raise _bad(
                "未为资源设定权重 / expected a regulator's weight for every resource used",
                "weights",
                resource_ids=missing[:20],
            )
        # Weights have at most 6 places: scaled by 10**6 they are integers.
        scaled = {r: int(w.scaleb(6)) for r, w in given.items()}
        return [_proportional(u, {r: scaled[r] for r in u.resource_ids}) for u in uses]
    if rule is ShareRule.EQUAL:
        return [_equal(u) for u in uses]
    if rule is ShareRule.ROWS_SCANNED:
        return [_proportional(u, {t.resource_id: t.rows_scanned for t in u.touched}) for u in uses]
    return _shapley_parts(uses)


def fractions_of(
    uses: Sequence[Use], rule: ShareRule, weights: Mapping[int, Decimal] | None = None
) -> list[dict[int, Fraction]]:
    """Each use's fraction of its revenue per resource, the fractions of a use adding up to 1."""
    return [p.fractions() for p in parts_of(uses, rule, weights)]


def _shapley_parts(uses: Sequence[Use]) -> list[Parts]:
    out: list[Parts | None] = [None] * len(uses)
    by_size: dict[int, list[int]] = defaultdict(list)
    for k, use in enumerate(uses):
        n = len(use.touched)
        if n == 1:
            out[k] = Parts({use.resource_ids[0]: 1}, 1)
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
            # Every estimate is credits over the number of orders: the credits are the parts.
            out[k] = _normalised(
                use,
                [v.numerator * (estimate.permutations // v.denominator) for v in estimate.values],
            )
    # Uses with as many resources are computed together, in batches that keep memory small.
    for n, members in by_size.items():
        step = max(1, (1 << 21) >> n)
        for start in range(0, len(members), step):
            chunk = members[start : start + step]
            # The supports are the game's Harsanyi dividends (see _shapley).
            dividends = np.zeros((len(chunk), 1 << n), dtype=np.int64)
            for row, k in enumerate(chunk):
                for mask, rows in _supports(uses[k]):
                    dividends[row, mask] += rows
            numerators, _lcm = _shapley.from_dividends(dividends, n)
            for k, phi in zip(chunk, numerators, strict=True):
                out[k] = _normalised(uses[k], phi)
    return [f for f in out if f is not None]


def _tie(salt: str, key: int) -> bytes:
    return hashlib.sha256(f"{salt}:{key}".encode()).digest()


def _round(total: Decimal, parts: Parts, salt: str) -> dict[int, Decimal]:
    """Largest remainder in integers: ``total · part`` in fens, rounded down, then the fens left."""
    fens = int(total.scaleb(2))
    floors: dict[int, int] = {}
    remainders: dict[int, int] = {}
    for k, x in parts.numerators.items():
        floors[k], remainders[k] = divmod(fens * x, parts.denominator)
    left = fens - sum(floors.values())
    if left:
        order = sorted(remainders, key=lambda k: (-remainders[k], _tie(salt, k)))
        for k in order[:left]:
            floors[k] += 1
    return {k: Decimal(floors[k]).scaleb(-2) for k in sorted(floors)}


def allocate(
    total: Decimal, exact: Mapping[int, Fraction], *, salt: str = ""
) -> dict[int, Decimal]:
    """Round exact amounts that add up to ``total`` to the fen, keeping the total exact.

    Largest remainder: everyone gets its amount rounded down, and the fens left
    go one each to the largest remainders; equal remainders in the order of
    SHA-256 of ``"<salt>:<key>"``.

    >>> thirds = {1: Fraction(1, 3), 2: Fraction(1, 3), 3: Fraction(1, 3)}
    >>> allocate(Decimal("1.00"), thirds, salt="query:1")
    {1: Decimal('0.33'), 2: Decimal('0.34'), 3: Decimal('0.33')}
    """
    check_money(total, "revenue")
    if total and sum(exact.values(), Fraction(0)) != Fraction(total):
        raise ValueError("exact amounts must add up to the total")
    parts = {k: v / Fraction(total) for k, v in exact.items()} if total else {}
    denominator = math.lcm(*(p.denominator for p in parts.values())) if parts else 1
    numerators = {k: p.numerator * (denominator // p.denominator) for k, p in parts.items()}
    rounded = _round(total, Parts(numerators, denominator), salt)
    return {k: rounded.get(k, Decimal("0.00")) for k in sorted(exact)}


@dataclass(frozen=True)
class UseShares:
    """One use's parts of its revenue per resource, and its shares to the fen."""

    use: Use
    parts: Parts
    amounts: Mapping[int, Decimal]

    @property
    def fractions(self) -> dict[int, Fraction]:
        return self.parts.fractions()


@dataclass(frozen=True)
class Split:
    """The revenue of some uses, split: per use, and per resource over all of them."""

    rule: ShareRule
    revenue: Decimal
    amounts: Mapping[int, Decimal]
    holders: Mapping[int, int]
    uses: Mapping[int, int]
    per_use: tuple[UseShares, ...]


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
    totals: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    per_use = []
    for use, parts in zip(listed, parts_of(listed, rule, weights), strict=True):
        amounts = _round(use.revenue, parts, use.use_id)
        for resource_id, amount in amounts.items():
            totals[resource_id] += amount
        per_use.append(UseShares(use, parts, amounts))
    return Split(
        rule=rule,
        revenue=sum((u.revenue for u in listed), Decimal("0.00")),
        amounts={r: totals[r] for r in sorted(totals)},
        holders=holders,
        uses=dict(counts),
        per_use=tuple(per_use),
    )

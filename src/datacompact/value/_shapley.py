"""The Shapley value, exact and sampled, over games given by their supports.

A game here is a list of *supports* ``(mask, weight)``: ``weight`` units of
value (result rows, result groups) that exist only when every player of
``mask`` (a bit set over players ``0..n-1``) takes part. The characteristic
function is ``v(S) = sum(weight for mask, weight in supports if mask ⊆ S)``:
monotone, ``v(∅) = 0``, and every marginal contribution lies in ``[0, v(N)]``.

:func:`exact` computes the Shapley value of any game given by its full table
``v`` over the ``2**n`` coalitions, for up to :data:`MAX_EXACT` players. It
goes through the Harsanyi dividends ``d`` (the Möbius transform of ``v``):
``φ_i = Σ_{T ∋ i} d(T) / |T|`` (Harsanyi 1963). It equals the textbook sum
of marginal contributions weighted by ``|S|!(n-|S|-1)!/n!`` but stays in
integers: every ``φ_i`` is an integer over ``L = lcm(1..n)``. The arithmetic is numpy ``int64`` when the bound below shows
it cannot overflow, Python integers otherwise; either way the answer is exact.

:func:`sampled` estimates it for more players by averaging marginal
contributions over random orders (Castro, Gómez and Tejada 2009). The number of
orders comes from Hoeffding's inequality with a union bound over the players,
so every estimate is within ``epsilon · v(N)`` of the exact value with
probability at least ``1 - delta``. The orders come from a seeded PCG64
generator, so the estimate can be recomputed from the seed.

>>> [str(x) for x in exact([0, 0, 0, 6], 2)]
['3', '3']
>>> [str(x) for x in exact_from_supports([(0b01, 4), (0b11, 2)], 2)]
['5', '1']

A game given by its supports is a sum of unanimity games, and its Harsanyi
dividends are the supports themselves: ``d(T)`` is the weight of the supports
whose set is ``T``. :func:`from_dividends` starts from them, which is how
:mod:`datacompact.value._split` computes the default rule; :func:`exact`
starts from any table and gets the dividends by the Möbius transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_EXACT", "MAX_PLAYERS", "Estimate", "exact", "exact_batch", "exact_from_supports"]
__all__ += ["from_dividends", "permutations_needed", "sampled", "table"]

#: Exact computation walks all 2**n coalitions: 4,096 at 12 players.
MAX_EXACT = 12
#: Coalitions are bit sets in one 64-bit integer.
MAX_PLAYERS = 64
_INT64_MAX = 2**63 - 1

Supports = Sequence[tuple[int, int]]


def _lcm_to(n: int) -> int:
    return math.lcm(*range(1, n + 1))


def table(supports: Supports, n: int) -> npt.NDArray[np.int64]:
    """The characteristic function over all ``2**n`` coalitions (index = bit set)."""
    out = np.zeros(1 << n, dtype=np.int64)
    for mask, weight in supports:
        out[mask] += weight
    _zeta(out[np.newaxis, :], n)
    return out


def _zeta(v: npt.NDArray[np.int64], n: int) -> None:
    """In place, per row: v[S] <- sum of v[T] over T ⊆ S."""
    k = v.shape[0]
    for i in range(n):
        view = v.reshape(k, -1, 2, 1 << i)
        view[:, :, 1, :] += view[:, :, 0, :]


def _mobius(v: npt.NDArray[np.int64], n: int) -> None:
    """In place, per row: the inverse of :func:`_zeta` (the Harsanyi dividends)."""
    k = v.shape[0]
    for i in range(n):
        view = v.reshape(k, -1, 2, 1 << i)
        view[:, :, 1, :] -= view[:, :, 0, :]


def _members(n: int) -> npt.NDArray[np.int64]:  # the (2**n, n) membership matrix
    """A (2**n, n) matrix: row S has 1 in column i when i ∈ S."""
    masks = np.arange(1 << n, dtype=np.int64)
    return ((masks[:, np.newaxis] >> np.arange(n, dtype=np.int64)) & 1).astype(np.int64)


def exact_batch(tables: npt.NDArray[np.int64], n: int) -> tuple[list[list[int]], int]:
    """Shapley values of many n-player games at once, as integers over a common denominator.

    ``tables`` is a (games, 2**n) array of characteristic functions with
    ``v(∅) = 0``. Returns the numerators per game and player, and ``L``.
    """
    if not 1 <= n <= MAX_EXACT:
        raise ValueError(f"exact Shapley takes 1 to {MAX_EXACT} players, got {n}")
    if tables.ndim != 2 or tables.shape[1] != 1 << n:
        raise ValueError("expected one row of 2**n values per game")
    biggest = int(np.abs(tables).max()) if tables.size else 0
    # |d(T)| <= 2**n · max|v|: below this bound the 2**n dividends, and the sum of
    # their sizes, fit in int64.
    if tables.dtype != object and biggest << (2 * n) <= _INT64_MAX:
        dividends = tables.astype(np.int64, copy=True)
        _mobius(dividends, n)
        return from_dividends(dividends, n)
    lcm = _lcm_to(n)
    per_size = _per_size(n, lcm)
    # Python integers do not overflow: slower, as exact.
    rows = []
    for game in tables.tolist():
        d = list(game)
        for i in range(n):
            bit = 1 << i
            for mask in range(1 << n):
                if mask & bit:
                    d[mask] -= d[mask ^ bit]
        phi = [0] * n
        for mask in range(1, 1 << n):
            share = d[mask] * int(per_size[mask])
            if share:
                for i in range(n):
                    if mask >> i & 1:
                        phi[i] += share
        rows.append(phi)
    return rows, lcm


def _per_size(n: int, lcm: int) -> npt.NDArray[np.int64]:
    sizes = _members(n).sum(axis=1)
    per_size = np.zeros(1 << n, dtype=np.int64)
    per_size[1:] = lcm // sizes[1:]
    return per_size


#: Integers up to 2**53 are exact in float64, and so are sums that stay below it.
_FLOAT_EXACT = 2**53


def from_dividends(dividends: npt.NDArray[np.int64], n: int) -> tuple[list[list[int]], int]:
    """Shapley values from Harsanyi dividends, as integers over ``L = lcm(1..n)``.

    ``φ_i·L = Σ_{T ∋ i} d(T)·L/|T|``. When every partial sum stays below 2**53
    (the sum of all ``|d(T)|·L/|T|`` bounds them), the sums are one float64
    matrix product, exact in that range and done by BLAS; otherwise int64
    reductions, or Python integers beyond int64.
    """
    if not 1 <= n <= MAX_EXACT:
        raise ValueError(f"exact Shapley takes 1 to {MAX_EXACT} players, got {n}")
    lcm = _lcm_to(n)
    per_size = _per_size(n, lcm)
    size = int(np.abs(dividends).sum(axis=1).max(initial=0)) * lcm
    if size < _FLOAT_EXACT:
        as_float = (dividends * per_size).astype(np.float64)
        sums = as_float @ _members(n).astype(np.float64)
        return sums.astype(np.int64).tolist(), lcm
    if size <= _INT64_MAX:
        weighted = dividends * per_size
        k = weighted.shape[0]
        # φ_i·L sums the weighted dividends of the coalitions that hold i (bit i set).
        columns = [
            weighted.reshape(k, -1, 2, 1 << i)[:, :, 1, :].sum(axis=(1, 2)) for i in range(n)
        ]
        return np.stack(columns, axis=1).tolist(), lcm
    rows = []
    for d in dividends.tolist():
        phi = [0] * n
        for mask in range(1, 1 << n):
            share = d[mask] * int(per_size[mask])
            if share:
                for i in range(n):
                    if mask >> i & 1:
                        phi[i] += share
        rows.append(phi)
    return rows, lcm


def exact(values: Sequence[int], n: int) -> list[Fraction]:
    """The Shapley value of the game whose characteristic function is ``values`` (index = bit set)."""
    if len(values) != 1 << n:
        raise ValueError("expected 2**n values")
    big = max((abs(x) for x in values), default=0) > _INT64_MAX
    array = np.array(values, dtype=object if big else np.int64)[np.newaxis, :]
    rows, lcm = exact_batch(array, n)
    return [Fraction(x, lcm) for x in rows[0]]


def exact_from_supports(supports: Supports, n: int) -> list[Fraction]:
    """:func:`exact` of the game given by its supports."""
    return exact(table(supports, n).tolist(), n)


@dataclass(frozen=True)
class Estimate:
    """A sampled Shapley value, with what it takes to recompute it and its error bound.

    Each ``values[i]`` is within ``epsilon · v(N)`` of the exact value with
    probability at least ``1 - delta``.
    """

    values: tuple[Fraction, ...]
    permutations: int
    seed: int
    epsilon: float
    delta: float


def permutations_needed(n: int, epsilon: float, delta: float) -> int:
    """Orders to sample so that all ``n`` estimates are within ``epsilon·v(N)`` w.p. ``1-delta``.

    Hoeffding: one estimate, a mean of ``m`` values in ``[0, v(N)]``, misses by
    ``epsilon·v(N)`` or more with probability at most ``2·exp(-2·m·epsilon²)``;
    the union bound over ``n`` players gives ``m >= ln(2n/delta) / (2·epsilon²)``.

    >>> permutations_needed(13, 0.01, 0.01)
    39317
    """
    return math.ceil(math.log(2 * n / delta) / (2 * epsilon * epsilon))


def sampled(
    supports: Supports, n: int, *, seed: int, epsilon: float = 0.01, delta: float = 0.01
) -> Estimate:
    """Estimate the Shapley value by random orders of the players.

    In an order, player ``i``'s marginal contribution is the weight of the
    supports it completes: those that contain it and whose other members all
    come before it. So each sampled order credits every support to its last
    member.
    """
    if not 1 <= n <= MAX_PLAYERS:
        raise ValueError(f"sampled Shapley takes 1 to {MAX_PLAYERS} players, got {n}")
    m = permutations_needed(n, epsilon, delta)
    rng = np.random.Generator(np.random.PCG64(seed))
    # The rank of each player in each order: argsort of uniform keys is a uniform permutation.
    position = np.argsort(rng.random((m, n)), axis=1).argsort(axis=1)
    credit = [0] * n
    for mask, weight in supports:
        if weight == 0:
            continue
        players = np.array([i for i in range(n) if mask >> i & 1], dtype=np.int64)
        last = players[np.argmax(position[:, players], axis=1)]
        for i, count in enumerate(np.bincount(last, minlength=n).tolist()):
            credit[i] += count * weight
    return Estimate(tuple(Fraction(c, m) for c in credit), m, seed, epsilon, delta)

"""The share rules as pure functions: Shapley exact and sampled, the other rules, the fens."""

from __future__ import annotations

import itertools
import math
import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from datacompact.errors import InvalidInput
from datacompact.store.models import Grant
from datacompact.value import _shapley
from datacompact.value._split import (
    MAX_RESOURCES,
    ShareRule,
    Support,
    Touched,
    Use,
    allocate,
    fractions_of,
    split_revenue,
)
from datacompact.value.contribution import use_of_event


def _brute_force(values: list[int], n: int) -> list[Fraction]:
    """The textbook definition: the mean marginal contribution over all n! orders."""
    phi = [Fraction(0)] * n
    for order in itertools.permutations(range(n)):
        mask = 0
        for i in order:
            phi[i] += values[mask | 1 << i] - values[mask]
            mask |= 1 << i
    return [p / math.factorial(n) for p in phi]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_exact_matches_the_mean_over_all_orders_for_any_game(n: int) -> None:
    rng = random.Random(n)
    for _ in range(5):
        # Any game, not only monotone ones: values of either sign, v(∅) = 0.
        values = [0] + [rng.randint(-50, 200) for _ in range((1 << n) - 1)]
        assert _shapley.exact(values, n) == _brute_force(values, n)


def test_exact_is_exact_beyond_int64() -> None:
    huge = 10**30
    values = [0, huge, 3, huge + 7]
    assert _shapley.exact(values, 2) == _brute_force(values, 2)
    # Large enough for the int64 bound to send it to Python integers.
    values = [0, 2**40, 2**41, 2**42 + 1]
    assert _shapley.exact(values, 2) == _brute_force(values, 2)


@pytest.mark.parametrize("scale", [1, 10**12, 10**15])
def test_each_arithmetic_path_is_exact(scale: int) -> None:
    # Between them, the three scales take every path: float64 sums, int64 sums, Python integers.
    rng = random.Random(scale)
    n = 4
    values = [0] + [rng.randint(0, 100) * scale for _ in range((1 << n) - 1)]
    assert _shapley.exact(values, n) == _brute_force(values, n)
    dividends = np.array([[0, 5 * scale, 7 * scale, -3 * scale]], dtype=np.int64)
    numerators, lcm = _shapley.from_dividends(dividends, 2)
    assert [Fraction(x, lcm) for x in numerators[0]] == [
        Fraction(5 * scale) + Fraction(-3 * scale, 2),
        Fraction(7 * scale) + Fraction(-3 * scale, 2),
    ]


def test_a_resource_without_which_nothing_is_returned_shares_equally() -> None:
    # An inner join of three: no row exists unless all three take part.
    assert _shapley.exact_from_supports([(0b111, 90)], 3) == [Fraction(30)] * 3
    # Resource 0 alone yields 60 rows; with 1 and 2 it yields 30 more.
    phi = _shapley.exact_from_supports([(0b001, 60), (0b111, 30)], 3)
    assert phi == [Fraction(70), Fraction(10), Fraction(10)]
    # A resource in no support is a dummy and gets nothing.
    assert _shapley.exact_from_supports([(0b011, 10)], 3)[2] == 0


def test_supports_give_the_closed_form_of_unanimity_games() -> None:
    rng = random.Random(7)
    n = 12
    supports = [
        (sum(1 << i for i in rng.sample(range(n), rng.randint(1, 5))), rng.randint(0, 1000))
        for _ in range(30)
    ]
    closed = [Fraction(0)] * n
    for mask, rows in supports:
        size = bin(mask).count("1")
        for i in range(n):
            if mask >> i & 1:
                closed[i] += Fraction(rows, size)
    assert _shapley.exact_from_supports(supports, n) == closed


def test_the_sampler_stays_within_its_stated_bound() -> None:
    rng = random.Random(3)
    n = 16
    supports = [
        (sum(1 << i for i in rng.sample(range(n), rng.randint(1, 6))), rng.randint(1, 100))
        for _ in range(25)
    ]
    total = sum(rows for _, rows in supports)
    closed = [Fraction(0)] * n
    for mask, rows in supports:
        for i in range(n):
            if mask >> i & 1:
                closed[i] += Fraction(rows, bin(mask).count("1"))
    estimate = _shapley.sampled(supports, n, seed=42)
    assert estimate.permutations == _shapley.permutations_needed(n, 0.01, 0.01)
    assert sum(estimate.values) == total  # every order hands out v(N) exactly
    worst = max(abs(e - c) for e, c in zip(estimate.values, closed, strict=True))
    assert worst <= Fraction(1, 100) * total
    # The seed makes it recomputable.
    assert _shapley.sampled(supports, n, seed=42).values == estimate.values


def _use(use_id: str, revenue: str, *touched: tuple[int, int, int], supports=()) -> Use:
    return Use(use_id, Decimal(revenue), tuple(Touched(*t) for t in touched), tuple(supports))


def test_a_use_must_touch_between_one_and_the_supported_number_of_resources() -> None:
    with pytest.raises(InvalidInput) as none:
        _use("q", "1.00")
    assert none.value.details["count"] == 0
    too_many = [(i, 1, 0) for i in range(1, MAX_RESOURCES + 2)]
    with pytest.raises(InvalidInput) as caught:
        _use("q", "1.00", *too_many)
    assert caught.value.details == {
        "field": "resources",
        "count": MAX_RESOURCES + 1,
        "limit": MAX_RESOURCES,
    }
    with pytest.raises(ValueError, match="1 to 12"):
        _shapley.exact_batch(_shapley.table([(1, 1)], 1)[None, :], 13)
    with pytest.raises(ValueError, match="1 to 12"):
        _shapley.exact_batch(_shapley.table([], 0)[None, :], 0)


@pytest.mark.parametrize(
    ("revenue", "reason"),
    [(1.5, "float"), (Decimal("1.005"), "places"), (Decimal("-1.00"), "negative")],
)
def test_money_is_a_non_negative_decimal_to_the_fen(revenue: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Use("q", revenue, (Touched(1, 1),))  # type: ignore[arg-type]
    assert caught.value.details["field"] == "revenue", reason


def test_supports_must_name_resources_the_use_touched() -> None:
    with pytest.raises(InvalidInput):
        _use("q", "1.00", (1, 10, 0), supports=[Support(frozenset({2}), 5)])
    with pytest.raises(InvalidInput):
        _use("q", "1.00", (1, 10, 0), (1, 10, 0))


def test_the_fens_add_up_and_go_to_the_largest_remainders() -> None:
    thirds = {3: Fraction(1, 3), 1: Fraction(1, 3), 2: Fraction(1, 3)}
    # Equal remainders: the odd fen goes by SHA-256 of "<salt>:<key>", not to a fixed key.
    winners = set()
    for salt in [f"query:{k}" for k in range(1, 13)]:
        rounded = allocate(Decimal("1.00"), thirds, salt=salt)
        assert sum(rounded.values()) == Decimal("1.00")
        winners |= {k for k, v in rounded.items() if v == Decimal("0.34")}
    assert winners == {1, 2, 3}
    # Unequal remainders: the largest takes it (0.6 fen beats 0.4 fen).
    assert allocate(Decimal("0.01"), {1: Fraction(4, 1000), 2: Fraction(6, 1000)}) == {
        1: Decimal("0.00"),
        2: Decimal("0.01"),
    }
    rng = random.Random(11)
    for _ in range(50):
        total = Decimal(rng.randint(0, 10**6)) / 100
        weights = [Fraction(rng.randint(1, 97)) for _ in range(rng.randint(1, 9))]
        exact = {k: Fraction(total) * w / sum(weights) for k, w in enumerate(weights)}
        rounded = allocate(total, exact)
        assert sum(rounded.values()) == total
        assert all(abs(Fraction(rounded[k]) - exact[k]) < Fraction(1, 100) for k in exact)
        assert all(v == v.quantize(Decimal("0.01")) for v in rounded.values())


def test_each_rule_splits_a_use_its_own_way() -> None:
    use = _use(
        "q",
        "90.00",
        (1, 10, 300),
        (2, 20, 0),
        (3, 30, 600),
        supports=[Support(frozenset({1}), 60), Support(frozenset({1, 2, 3}), 30)],
    )
    (shapley,) = fractions_of([use], ShareRule.SHAPLEY)
    assert shapley == {1: Fraction(7, 9), 2: Fraction(1, 9), 3: Fraction(1, 9)}
    (equal,) = fractions_of([use], ShareRule.EQUAL)
    assert set(equal.values()) == {Fraction(1, 3)}
    (scanned,) = fractions_of([use], ShareRule.ROWS_SCANNED)
    assert scanned == {1: Fraction(1, 3), 2: Fraction(0), 3: Fraction(2, 3)}
    weights = {1: Decimal("1"), 2: Decimal("1"), 3: Decimal("2")}
    (weighted,) = fractions_of([use], ShareRule.WEIGHTS, weights)
    assert weighted == {1: Fraction(1, 4), 2: Fraction(1, 4), 3: Fraction(1, 2)}
    with pytest.raises(InvalidInput) as caught:
        fractions_of([use], ShareRule.WEIGHTS, {1: Decimal("1")})
    assert caught.value.details["resource_ids"] == [2, 3]


def test_rows_scanned_falls_back_to_equal_when_none_were_released() -> None:
    use = _use("q", "10.00", (1, 10, 0), (2, 20, 0))
    assert fractions_of([use], ShareRule.ROWS_SCANNED) == [{1: Fraction(1, 2), 2: Fraction(1, 2)}]


def test_a_split_adds_up_to_the_revenue_to_the_fen() -> None:
    uses = [
        _use("a", "10.00", (1, 10, 0), (2, 20, 0), (3, 30, 0)),
        _use("b", "0.01", (1, 10, 0), (2, 20, 0)),
        _use("c", "3.33", (3, 30, 0)),
    ]
    split = split_revenue(uses, ShareRule.SHAPLEY)
    assert split.revenue == Decimal("13.34")
    assert sum(split.amounts.values()) == Decimal("13.34")
    for shares in split.per_use:
        assert sum(shares.amounts.values()) == shares.use.revenue
        assert sum(shares.fractions.values()) == 1
        for r, amount in shares.amounts.items():
            assert abs(
                Fraction(amount) - Fraction(shares.use.revenue) * shares.fractions[r]
            ) < Fraction(1, 100)
    assert split.uses == {1: 2, 2: 2, 3: 2}
    assert split.holders == {1: 10, 2: 20, 3: 30}
    with pytest.raises(InvalidInput):
        split_revenue([], ShareRule.SHAPLEY)


def test_more_than_twelve_resources_are_sampled_reproducibly() -> None:
    touched = [(i, 100 + i, 0) for i in range(1, 15)]
    use = _use("query:7", "100.00", *touched)
    first = split_revenue([use], ShareRule.SHAPLEY)
    # Sampled, yet the same every time: the seed comes from the use's id.
    assert sum(first.amounts.values()) == Decimal("100.00")
    assert split_revenue([use], ShareRule.SHAPLEY).per_use == first.per_use


def test_a_joint_query_event_shares_among_the_resources_it_read() -> None:
    """A joint grant's query event names its inputs; each read resource is a player."""
    grant = Grant(resource_id=1)  # the one-resource fallback must not be taken
    payload = {
        "rows_scanned": 0,
        "inputs": [
            {"resource_id": 7, "code": "A", "version": 1, "table": "a"},
            {"resource_id": 9, "code": "B", "version": 3, "table": "b"},
        ],
    }
    use = use_of_event("q1", Decimal("1.00"), payload, grant, {7: 70, 9: 90})
    assert [(t.resource_id, t.holder_id) for t in use.touched] == [(7, 70), (9, 90)]
    assert use.supports == ()

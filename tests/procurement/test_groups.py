"""Supplier groups: control by majority and by the largest holding, rings, bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from datacompact.errors import InvalidInput
from datacompact.procurement.groups import Shareholding, controlling_groups

D = Decimal


def holding(holder: str, company: str, stake: str) -> Shareholding:
    return Shareholding(holder, company, D(stake))


def test_majority_control_is_transitive() -> None:
    groups = controlling_groups(
        [holding("top", "mid", "60"), holding("mid", "low", "51"), holding("x", "low", "49")]
    )
    assert groups == {"top": "top", "mid": "top", "low": "top", "x": "x"}


def test_stakes_add_up_across_a_group() -> None:
    # parent holds 30% of target directly and 25% through a subsidiary: 55% together.
    groups = controlling_groups(
        [
            holding("parent", "sub", "70"),
            holding("parent", "target", "30"),
            holding("sub", "target", "25"),
            holding("other", "target", "45"),
        ],
        de_facto=None,
    )
    assert groups["target"] == "parent"
    assert groups["sub"] == "parent"


@pytest.mark.parametrize(
    ("stakes", "de_facto", "controller"),
    [
        ({"a": "50", "b": "50"}, None, None),  # a tie at 50% is nobody's control
        ({"a": "50", "b": "20"}, None, None),  # majority means more than half
        ({"a": "50.01", "b": "49.99"}, None, "a"),
        ({"a": "35", "b": "25", "c": "20"}, D("30"), "a"),  # largest, over 30%
        ({"a": "35", "b": "25", "c": "20"}, None, None),
        ({"a": "30", "b": "25"}, D("30"), None),  # exactly 30% is not over it
        ({"a": "35", "b": "35"}, D("30"), None),  # not strictly the largest
        ({"a": "35", "b": "25"}, D("20"), "a"),
    ],
)
def test_control_thresholds(
    stakes: dict[str, str], de_facto: Decimal | None, controller: str | None
) -> None:
    groups = controlling_groups([holding(h, "co", s) for h, s in stakes.items()], de_facto=de_facto)
    assert groups["co"] == (controller or "co")


def test_majority_links_come_before_relative_control() -> None:
    # x holds 35% of co, but z controls q and r, which hold 60% of co together.
    groups = controlling_groups(
        [
            holding("x", "co", "35"),
            holding("q", "co", "30"),
            holding("r", "co", "30"),
            holding("z", "q", "60"),
            holding("z", "r", "60"),
        ]
    )
    assert groups["co"] == "z"
    assert groups["x"] == "x"


@pytest.mark.parametrize("size", [2, 3, 7])
def test_control_rings_end_and_form_one_group(size: int) -> None:
    ring = [f"c{i}" for i in range(size)]
    edges = [holding(ring[i], ring[(i + 1) % size], "60") for i in range(size)]
    groups = controlling_groups(edges)
    assert len(set(groups.values())) == 1
    assert set(groups) == set(ring)
    assert controlling_groups(reversed(edges)) == groups


def test_a_ring_held_from_outside() -> None:
    groups = controlling_groups(
        [holding("a", "b", "40"), holding("b", "a", "40"), holding("out", "a", "55")]
    )
    assert groups["a"] == "out"
    assert groups["b"] == "out"  # out controls a, whose 40% is the largest stake in b


def test_a_cross_holding_gives_no_control_over_oneself() -> None:
    groups = controlling_groups([holding("p", "s", "80"), holding("s", "p", "60")])
    assert len(set(groups.values())) == 1


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: holding("a", "b", "100.01"), "stake"),
        (lambda: holding("a", "b", "0"), "stake"),
        (lambda: holding("a", "b", "-5"), "stake"),
        (lambda: Shareholding("a", "b", 50.0), "stake"),  # type: ignore[arg-type]
        (lambda: holding("a", "a", "10"), "shareholder_id"),
        (
            lambda: controlling_groups([holding("a", "c", "60"), holding("b", "c", "40.01")]),
            "shareholdings",
        ),
        (
            lambda: controlling_groups([holding("a", "c", "20"), holding("a", "c", "20")]),
            "shareholdings",
        ),
        (lambda: controlling_groups([], de_facto=D("60")), "de_facto"),
    ],
)
def test_bad_input_is_rejected(make: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make()
    assert caught.value.details == {"field": field}
    assert " / " in caught.value.message

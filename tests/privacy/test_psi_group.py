"""The group operations of ECDH-PSI over ristretto255."""

from __future__ import annotations

import pytest

from datacompact.errors import MalformedInput
from datacompact.privacy import psi as group

KEYS = [f"{110105000000000000 + i:018d}" for i in range(50)]


def test_blinding_commutes_and_equal_keys_meet() -> None:
    context = group.new_context()
    a, b = group.new_scalar(), group.new_scalar()
    assert a != b
    ab = group.exponentiate(b, group.blind(context, a, KEYS))
    ba = group.exponentiate(a, group.blind(context, b, KEYS))
    assert ab == ba
    assert len(set(ab)) == len(KEYS)


def test_the_context_separates_runs() -> None:
    one, two = group.new_context(), group.new_context()
    assert group.hash_to_group(one, KEYS[0]) != group.hash_to_group(two, KEYS[0])
    assert group.hash_to_group(one, KEYS[0]) == group.hash_to_group(one, KEYS[0])


def test_workers_give_the_same_points_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(group, "PARALLEL_FROM", 10)
    monkeypatch.setattr(group, "_CHUNK", 7)
    context, scalar = group.new_context(), group.new_scalar()
    assert group.blind(context, scalar, KEYS, workers=2) == group.blind(context, scalar, KEYS)
    points = group.blind(context, scalar, KEYS)
    assert group.exponentiate(scalar, points, workers=2) == group.exponentiate(scalar, points)


@pytest.mark.parametrize("bad", [b"\xff" * 32, b"\x00" * 32, b"\x01" * 32, b"\x01" * 33])
def test_a_string_that_is_no_point_is_refused_by_position(bad: bytes) -> None:
    points = group.blind(group.new_context(), group.new_scalar(), KEYS[:3])
    with pytest.raises(MalformedInput) as caught:
        group.exponentiate(group.new_scalar(), [*points, bad])
    assert caught.value.details["index"] == 3


def test_decoding_checks_length_and_limit() -> None:
    with pytest.raises(MalformedInput):
        group.decode_points(b"\x01" * 33, limit=5)
    with pytest.raises(MalformedInput) as caught:
        group.decode_points(b"\x01" * 64, limit=1)
    assert caught.value.details["count"] == 2
    assert group.decode_points(b"", limit=1) == []


def test_shuffling_keeps_the_elements() -> None:
    assert sorted(group.shuffled(KEYS)) == sorted(KEYS)

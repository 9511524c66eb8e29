"""The group operations of ECDH-PSI over Curve25519 (X25519)."""

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


P = 2**255 - 19
#: u-coordinates of order 1, 2, 4 and 8 on Curve25519 and its twist (0, 1, -1 and
#: the two of order 8): a clamped scalar sends each to the identity, written 0.
SMALL_ORDER = [
    0,
    1,
    P - 1,
    0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0,
    0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F,
]


def _u(value: int) -> bytes:
    return value.to_bytes(32, "little")


@pytest.mark.parametrize(
    "bad",
    [
        *(_u(u) for u in SMALL_ORDER),
        _u(P),  # 0, not reduced
        _u(P + 1),  # 1, not reduced
        b"\xff" * 32,  # the top bit set
        b"\x01" * 33,
        b"\x01" * 31,
    ],
)
def test_a_string_that_is_no_point_of_large_order_is_refused_by_position(bad: bytes) -> None:
    points = group.blind(group.new_context(), group.new_scalar(), KEYS[:3])
    with pytest.raises(MalformedInput) as caught:
        group.exponentiate(group.new_scalar(), [*points, bad])
    assert caught.value.details["index"] == 3
    assert bad.hex() not in caught.value.message


def test_the_small_order_points_are_what_they_claim() -> None:
    # Each is refused by libsodium itself, not only by the canonical check.
    from nacl.bindings import crypto_scalarmult
    from nacl.exceptions import RuntimeError as SodiumError

    for u in SMALL_ORDER:
        with pytest.raises(SodiumError):
            crypto_scalarmult(group.new_scalar(), _u(u))


def test_any_canonical_u_is_accepted_on_the_curve_or_its_twist() -> None:
    # Every 255-bit value below p is a point of the curve or of its twist, and
    # blinding commutes on both: no hash to the curve is needed.
    a, b = group.new_scalar(), group.new_scalar()
    for u in (_u(9), _u(2), b"\x01" * 32, _u(P - 2)):
        (ab,) = group.exponentiate(b, group.exponentiate(a, [u]))
        (ba,) = group.exponentiate(a, group.exponentiate(b, [u]))
        assert ab == ba
        assert int.from_bytes(ab, "little") < P


def _ladder(scalar: bytes, u: bytes) -> bytes:
    """X25519 as RFC 7748 §5 writes it, in Python integers: the reference for the tests."""
    k = bytearray(scalar)
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    n, x1 = int.from_bytes(k, "little"), (int.from_bytes(u, "little") & (2**255 - 1)) % P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (n >> t) & 1
        if swap ^ bit:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b, c, d = (x2 + z2) % P, (x2 - z2) % P, (x3 + z3) % P, (x3 - z3) % P
        aa, bb, da, cb = a * a % P, b * b % P, d * a % P, c * b % P
        e = (aa - bb) % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def test_rfc_7748_test_vector() -> None:
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    expected = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    assert group.exponentiate(scalar, [u])[0].hex() == expected
    assert _ladder(scalar, u).hex() == expected


#: Inputs where carries reach the edges of a 51- or 52-bit limb, or values just
#: below p: Intel's multi-buffer crypto_mb got these wrong when it was measured
#: as a faster backend (docs/fusion.md), so every product is checked on them.
CARRY_EDGES = [
    *(P - i for i in range(2, 40)),
    *(P - 1393 + i for i in range(3)),
    *(2**k - 1 for k in range(52, 255, 17)),
    *(2**k for k in range(51, 255, 51)),
    P - 2**51,
    int("3" + "f" * 61 + "d9", 16),
    int("7" + "f" * 18 + "7" + "f" * 42 + "d9", 16),
]


def test_products_match_the_rfc_ladder_on_carry_edge_inputs() -> None:
    scalar = group.new_scalar()
    points = [_u(u) for u in CARRY_EDGES]
    assert group.exponentiate(scalar, points) == [_ladder(scalar, p) for p in points]


def test_scalars_are_clamped_and_hashes_have_the_top_bit_clear() -> None:
    scalar = group.new_scalar()
    assert len(scalar) == 32
    assert scalar[0] & 7 == 0
    assert scalar[31] & 0xC0 == 0x40
    for key in KEYS:
        assert group.hash_to_group(group.new_context(), key)[31] & 0x80 == 0


def test_decoding_checks_length_and_limit() -> None:
    with pytest.raises(MalformedInput):
        group.decode_points(b"\x01" * 33, limit=5)
    with pytest.raises(MalformedInput) as caught:
        group.decode_points(b"\x01" * 64, limit=1)
    assert caught.value.details["count"] == 2
    assert group.decode_points(b"", limit=1) == []


def test_shuffling_keeps_the_elements() -> None:
    assert sorted(group.shuffled(KEYS)) == sorted(KEYS)

"""The group operations of semi-honest ECDH private set intersection over Curve25519 (X25519).

ECDH-PSI rests on one identity: with a hash ``H`` onto an elliptic curve and
two secret scalars ``a`` and ``b``, ``a·(b·H(x)) = b·(a·H(x))``, and without
``a`` or ``b`` a blinded point says nothing about its key beyond the
decisional Diffie-Hellman assumption. Each party blinds its own keys with its
scalar, sends them, and multiplies the other party's points by its scalar;
equal doubly-blinded points are equal keys.

The group operation is X25519 (RFC 7748), libsodium's ``crypto_scalarmult``
through PyNaCl: the Montgomery ladder on the u-coordinate alone. It was
chosen over ristretto255 (RFC 9496, used until the group operations were
measured in ``benchmarks/fusion``) because it is the cheapest sound variable
base scalar multiplication libsodium offers, about half the cost of
ristretto255's, and needs no map to the group at all:

* **Every 32-byte string is a u-coordinate.** Curve25519 is twist-secure: a
  u that is not on the curve is on its quadratic twist, whose large prime
  subgroup is as hard for discrete logarithms. So hashing to the curve is a
  hash to 255 bits, with no Elligator map (ristretto255's map cost 23 to
  32 µs a key as measured). SecretFlow's ECDH-PSI does the same in its
  default Curve25519 cryptor (``psi/cryptor/ecc_cryptor.cc``: SHA-256 of the
  item is the u-coordinate, masked with ``crypto_scalarmult_curve25519``),
  and offers an Elligator 2 variant beside it. The IETF ECDH-PSI draft
  (draft-ecdh-psi-00) instead maps items with the hash-to-curve methods of
  RFC 9380; on Curve25519 that costs a map a key for what twist security
  already gives: a random point of a group where DDH is believed to hold
  (the curve's or the twist's large prime-order subgroup, after the cofactor
  is cleared).
* **Blinding commutes.** X25519 clamps every scalar (RFC 7748 §5) to a
  multiple of the cofactor 8, and the ladder computes ``u(k·P)`` for a P on
  the curve or on the twist alike. So
  ``X25519(a, X25519(b, u)) == X25519(b, X25519(a, u))``, and the cofactor
  is cleared by the first multiplication: blinded points lie in a
  prime-order subgroup, where DDH holds.
* **Small-order inputs are refused.** The points of order 1, 2, 4 or 8 (on
  the curve and on the twist) become the identity, which the u-only encoding
  writes as zero: libsodium refuses an all-zero result, and so does
  :func:`exponentiate`. A hash lands on one of them with probability about
  2^-250.
* **Encodings are canonical on the wire.** X25519 outputs are reduced modulo
  p = 2^255 - 19, so a point another party sends is refused unless it is 32
  bytes whose little-endian value is below p (which also rules out the top
  bit that RFC 7748 masks): two different strings are never one point.

Per run, as the ECDH-PSI draft and SecretFlow's protocol require:

* **Domain separation.** :func:`hash_to_group` hashes each key with BLAKE2b
  keyed with the run's own random context and personalized with the
  protocol's name and version, to 32 bytes, the top bit cleared. Points of
  two runs never compare equal, so nothing carries from one run to the next.
* **Fresh scalars.** :func:`new_scalar` draws each party's secret for one run.
* **Shuffling.** :func:`shuffled` puts a blinded set in a random order, so the
  order of the points says nothing of the order of the keys.
* **Deduplication** is the caller's, on the normalized keys, before blinding:
  equal keys give equal points, and a repeated point would show a repeat.

OpenMined's PSI library was measured against this one in ``benchmarks/fusion``
and is not used: it works on P-256, and its server never learns which of its
rows matched, which the governed release of attributes needs
(``docs/fusion.md``). Group operations are pure CPU in C; :func:`blind` and
:func:`exponentiate` split large sets over worker processes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from nacl.bindings import crypto_scalarmult
from nacl.exceptions import RuntimeError as SodiumError

from datacompact.errors import MalformedInput

__all__ = [
    "CONTEXT_BYTES",
    "GROUP",
    "POINT_BYTES",
    "blind",
    "decode_points",
    "encode_points",
    "exponentiate",
    "hash_to_group",
    "new_context",
    "new_scalar",
    "shuffled",
]

GROUP = "x25519"
POINT_BYTES = 32
CONTEXT_BYTES = 32
#: The field's prime: a u-coordinate on the wire is its canonical residue, below it.
_P = 2**255 - 19
#: BLAKE2b's personalization (16 bytes): names the protocol and its version in every hash.
_PERSON = b"dc-psi-x25519-v1"
#: Below this many points one process does the work: starting workers costs more.
PARALLEL_FROM = 20_000
_CHUNK = 25_000

T = TypeVar("T")


def new_context() -> bytes:
    """A run's random hashing context (its domain separation tag)."""
    return secrets.token_bytes(CONTEXT_BYTES)


def new_scalar() -> bytes:
    """A fresh secret scalar for one run, clamped as X25519 uses it (RFC 7748 §5).

    libsodium clamps again on every use; clamping here makes the stored
    scalar the one in use: a multiple of 8 in [2^254, 2^255).
    """
    raw = bytearray(secrets.token_bytes(32))
    raw[0] &= 248
    raw[31] &= 127
    raw[31] |= 64
    return bytes(raw)


def hash_to_group(context: bytes, key: str) -> bytes:
    """The u-coordinate of ``key`` in the run of ``context``, 32 bytes, the top bit cleared.

    Every 255-bit u is a point of Curve25519 or of its twist; see the module
    docstring for why that is sound.
    """
    digest = bytearray(
        hashlib.blake2b(key.encode("utf-8"), digest_size=32, key=context, person=_PERSON).digest()
    )
    digest[31] &= 0x7F
    return bytes(digest)


def _blind_chunk(args: tuple[bytes, bytes, Sequence[str]]) -> list[bytes]:
    context, scalar, keys = args
    # A hash of order at most 8 (probability about 2^-250 a key) makes libsodium
    # raise: the run fails rather than send a point that gives the key away.
    return [crypto_scalarmult(scalar, hash_to_group(context, k)) for k in keys]


def _exp_chunk(args: tuple[bytes, int, Sequence[bytes]]) -> list[bytes]:
    scalar, offset, points = args
    out: list[bytes] = []
    for index, point in enumerate(points):
        try:
            out.append(crypto_scalarmult(scalar, point))
        except SodiumError:
            # libsodium refuses an all-zero result: the point has order 1, 2,
            # 4 or 8. The caller learns the position only.
            raise _bad_point(offset + index) from None
    return out


def _bad_point(index: int) -> MalformedInput:
    return MalformedInput(
        "元素编码错误 / malformed element: expected a canonical 32-byte Curve25519 "
        "u-coordinate of large order",
        details={"field": "points", "index": index},
    )


def _map(
    work: Callable[[tuple[object, ...]], list[bytes]],
    head: tuple[object, ...],
    items: Sequence[object],
    workers: int,
) -> list[bytes]:
    """``work`` over ``items``, in one process or in chunks over ``workers`` processes.

    Results come back in the items' order.
    """
    if workers <= 1 or len(items) < PARALLEL_FROM:
        return work((*head, items))
    chunks = [(*head, items[i : i + _CHUNK]) for i in range(0, len(items), _CHUNK)]
    out: list[bytes] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(work, chunks):
            out.extend(part)
    return out


def blind(context: bytes, scalar: bytes, keys: Sequence[str], *, workers: int = 1) -> list[bytes]:
    """``scalar · H(k)`` for every key, in the keys' order."""
    return _map(_blind_chunk, (context, scalar), keys, workers)  # type: ignore[arg-type]


def exponentiate(scalar: bytes, points: Sequence[bytes], *, workers: int = 1) -> list[bytes]:
    """``scalar · P`` for every point, in order; a point that is not one refuses the whole set.

    Refused: a string that is not 32 bytes, a non-canonical encoding (a value
    of p or more, the top bit set included), and a point of small order. The
    error names the first bad position (within its chunk of work for the
    last), never the point itself.
    """
    for index, point in enumerate(points):
        if len(point) != POINT_BYTES or int.from_bytes(point, "little") >= _P:
            raise _bad_point(index)
    if workers <= 1 or len(points) < PARALLEL_FROM:
        return _exp_chunk((scalar, 0, points))
    chunks = [(scalar, i, points[i : i + _CHUNK]) for i in range(0, len(points), _CHUNK)]
    out: list[bytes] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_exp_chunk, chunks):
            out.extend(part)
    return out


def shuffled(items: Iterable[T]) -> list[T]:
    """``items`` in an order drawn from the system's CSPRNG."""
    out = list(items)
    secrets.SystemRandom().shuffle(out)
    return out


def encode_points(points: Sequence[bytes]) -> bytes:
    """Points as one byte string, 32 bytes each (the wire form, base64 in JSON)."""
    return b"".join(points)


def decode_points(data: bytes, *, limit: int) -> list[bytes]:
    """The points of :func:`encode_points`; at most ``limit`` of them.

    Refuses a length that is not a whole number of points. Whether each is a
    canonical point of large order is checked when it is used
    (:func:`exponentiate`).
    """
    if len(data) % POINT_BYTES:
        raise MalformedInput(
            f"元素编码错误 / malformed elements: expected a multiple of {POINT_BYTES} bytes",
            details={"field": "points"},
        )
    count = len(data) // POINT_BYTES
    if count > limit:
        raise MalformedInput(
            f"元素过多 / too many elements: expected at most {limit}, got {count}",
            details={"field": "points", "limit": limit, "count": count},
        )
    return [data[i : i + POINT_BYTES] for i in range(0, len(data), POINT_BYTES)]

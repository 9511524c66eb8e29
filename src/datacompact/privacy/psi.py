"""The group operations of semi-honest ECDH private set intersection over ristretto255.

ECDH-PSI rests on one identity: with a hash ``H`` onto a prime-order group
and two secret scalars ``a`` and ``b``, ``(H(x)^a)^b = (H(x)^b)^a``, and
without ``a`` or ``b`` a blinded point says nothing about its key beyond the
decisional Diffie-Hellman assumption. Each party blinds its own keys with its
scalar, sends them, and raises the other party's points to its scalar; equal
doubly-blinded points are equal keys.

The group is ristretto255 (RFC 9496): prime order, so no cofactor to clear and
no small-subgroup points to accept, and every 32-byte string either decodes to
exactly one group element or is refused. libsodium implements it; ``rbcl``
bundles libsodium and exposes its ristretto255 functions (PyNaCl 1.6 does not
export them). OpenMined's PSI library was measured against this one in
``benchmarks/fusion`` and is not used: it works on P-256 at about twice the
cost per key, and its server never learns which of its rows matched, which the
governed release of attributes needs (``docs/fusion.md``).

Per run, as the ECDH-PSI draft and SecretFlow's protocol require:

* **Domain separation.** :func:`hash_to_group` hashes each key with BLAKE2b
  keyed with the run's own random context, then maps the 64 bytes to the
  group with ristretto255's one-way map (RFC 9496 §4.3.4). Points of two runs
  never compare equal, so nothing carries from one run to the next.
* **Fresh scalars.** :func:`new_scalar` draws each party's secret for one run.
* **Shuffling.** :func:`shuffled` puts a blinded set in a random order, so the
  order of the points says nothing of the order of the keys.
* **Deduplication** is the caller's, on the normalized keys, before blinding:
  equal keys give equal points, and a repeated point would show a repeat.

Group operations are pure CPU in C; :func:`blind` and :func:`exponentiate`
split large sets over worker processes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import rbcl

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

GROUP = "ristretto255"
POINT_BYTES = 32
CONTEXT_BYTES = 32
#: BLAKE2b's personalization: names the protocol and its version in every hash.
_PERSON = b"dc-psi-ristr-v1"
#: Below this many points one process does the work: starting workers costs more.
PARALLEL_FROM = 20_000
_CHUNK = 25_000

T = TypeVar("T")


def new_context() -> bytes:
    """A run's random hashing context (its domain separation tag)."""
    return secrets.token_bytes(CONTEXT_BYTES)


def new_scalar() -> bytes:
    """A fresh, uniformly random, non-zero secret scalar for one run."""
    return bytes(rbcl.crypto_core_ristretto255_scalar_random())


def hash_to_group(context: bytes, key: str) -> bytes:
    """The group element of ``key`` in the run of ``context``, encoded in 32 bytes."""
    digest = hashlib.blake2b(
        key.encode("utf-8"), digest_size=64, key=context, person=_PERSON
    ).digest()
    return bytes(rbcl.crypto_core_ristretto255_from_hash(digest))


def _blind_chunk(args: tuple[bytes, bytes, Sequence[str]]) -> list[bytes]:
    context, scalar, keys = args
    mult = rbcl.crypto_scalarmult_ristretto255
    return [bytes(mult(scalar, hash_to_group(context, k))) for k in keys]


def _exp_chunk(args: tuple[bytes, int, Sequence[bytes]]) -> list[bytes]:
    scalar, offset, points = args
    mult = rbcl.crypto_scalarmult_ristretto255
    out: list[bytes] = []
    for index, point in enumerate(points):
        try:
            out.append(bytes(mult(scalar, point)))
        except RuntimeError:
            # libsodium refuses a string that is no canonical ristretto255
            # encoding, and the identity: the caller learns the position only.
            raise _bad_point(offset + index) from None
    return out


def _bad_point(index: int) -> MalformedInput:
    return MalformedInput(
        "元素编码错误 / malformed element: expected a canonical ristretto255 point "
        "other than the identity",
        details={"field": "points", "index": index},
    )


def _map(
    work: Callable[[tuple[object, ...]], list[bytes]],
    head: tuple[object, ...],
    items: Sequence[object],
    workers: int,
) -> list[bytes]:
    """``work`` over ``items``, in one process or in chunks over ``workers`` processes.

    The chunk's offset is the last element of its head when ``work`` wants it
    (see :func:`_exp_chunk`); results come back in the items' order.
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
    """``H(k)^scalar`` for every key, in the keys' order."""
    return _map(_blind_chunk, (context, scalar), keys, workers)  # type: ignore[arg-type]


def exponentiate(scalar: bytes, points: Sequence[bytes], *, workers: int = 1) -> list[bytes]:
    """``P^scalar`` for every point, in order; a point that is not one refuses the whole set.

    The error names the first bad position within its chunk of work, never
    the point itself.
    """
    for index, point in enumerate(points):
        if len(point) != POINT_BYTES:
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
    group element is checked when it is used (:func:`exponentiate`).
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

"""The requester's side of a private set intersection, run on the requester's own machine.

The platform never sees the requester's keys: :func:`answer_round` hashes
them under the run's context, blinds them with a scalar drawn here for this
run only, shuffles them, and raises the holder's blinded points to the same
scalar. The scalar is dropped when the function returns; the order of the
requester's points stays here, so that :func:`matched_keys` can read an
``intersection`` answer (positions in that order) back as keys.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.fusion.keys import normalize_keys
from datacompact.privacy import psi as group

__all__ = ["RequesterRound", "answer_round", "matched_keys", "requester_keys"]


def requester_keys(
    kind: str, values: Iterable[object], *, skip_malformed: bool = False
) -> tuple[str, ...]:
    """The requester's distinct canonical keys; malformed ones are refused with their count.

    With ``skip_malformed`` they are dropped instead. Repeats are dropped
    either way: they are one key.
    """
    found = normalize_keys(kind, values)
    if found.malformed and not skip_malformed:
        raise InvalidInput(
            f"{found.malformed} 个键格式错误 / {found.malformed} malformed keys of kind {kind}: "
            "fix them, or skip them explicitly",
            details={"field": "keys", "malformed": found.malformed, "kind": kind},
        )
    if not found.keys:
        raise InvalidInput(
            "没有可用的键 / expected at least one well-formed key", details={"field": "keys"}
        )
    return found.keys


@dataclass(frozen=True)
class RequesterRound:
    """The second round's body, and the order of the requester's points (kept here)."""

    holder_points: str
    requester_points: str
    order: tuple[str, ...]


def answer_round(
    *,
    context: str,
    holder_points: str,
    keys: Sequence[str],
    group_name: str = group.GROUP,
    workers: int = 1,
) -> RequesterRound:
    """``{H(y)^b}^a`` in the holder's order and ``{H(x)^a}`` shuffled, for a fresh ``a``.

    ``group_name`` is the group the platform's first answer names: a platform
    on another group (ristretto255 before X25519) is refused rather than
    answered with points that would match nothing.
    """
    if group_name != group.GROUP:
        raise MalformedInput(
            f"平台使用的群为 {group_name}，本客户端为 {group.GROUP}，请升级 / the platform runs "
            f"PSI over {group_name} and this client over {group.GROUP}: use matching versions",
            details={"field": "group", "expected": group.GROUP},
        )
    try:
        run_context = bytes.fromhex(context)
        raw = base64.b64decode(holder_points, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(
            "平台应答格式错误 / malformed first answer: expected hex and base64"
        ) from exc
    if len(run_context) != group.CONTEXT_BYTES:
        raise MalformedInput(
            f"平台应答格式错误 / malformed context: expected {group.CONTEXT_BYTES} bytes"
        )
    theirs = group.decode_points(raw, limit=len(raw) // group.POINT_BYTES)
    scalar = group.new_scalar()
    order = tuple(group.shuffled(keys))
    mine = group.blind(run_context, scalar, order, workers=workers)
    raised = group.exponentiate(scalar, theirs, workers=workers)
    return RequesterRound(
        holder_points=base64.b64encode(group.encode_points(raised)).decode("ascii"),
        requester_points=base64.b64encode(group.encode_points(mine)).decode("ascii"),
        order=order,
    )


def matched_keys(order: Sequence[str], matches: Iterable[int]) -> list[str]:
    """The requester's keys at the matched positions, sorted."""
    picked: list[str] = []
    for position in matches:
        if not 0 <= position < len(order):
            raise MalformedInput(
                "平台应答格式错误 / malformed answer: a match outside the requester's set"
            )
        picked.append(order[position])
    return sorted(picked)

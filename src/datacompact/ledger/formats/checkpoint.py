"""C2SP tlog-checkpoint: the note text that commits to a log's tree head.

The body is at least three non-empty lines (tlog-checkpoint, "Note text"):

1. the origin, a non-empty identifier of the log;
2. the tree size in ASCII decimal, with no leading zero unless it is ``0``;
3. the base64 root hash of the RFC 6962 tree at that size;

then optional, opaque, non-empty extension lines. :meth:`Checkpoint.from_text`
rejects every deviation with a ``MalformedInput`` of the form "expected X, got
Y" and round-trips with :meth:`Checkpoint.to_text`. Signatures live in the
surrounding :class:`~datacompact.ledger.formats.note.Note`; :func:`open_checkpoint`
verifies one and parses its body in a single step.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from datacompact.decimals import parse_decimal
from datacompact.errors import MalformedInput
from datacompact.ledger.formats.merkle import HASH_SIZE, MAX_TREE_SIZE
from datacompact.ledger.formats.note import Note, VerifiedNote, Verifier, decode_base64, verify_note

#: A decimal of 2**63-1 has 19 digits; longer size lines are refused unparsed.
_MAX_SIZE_DIGITS = 19
_MAX_ORIGIN_CHARS = 1024


def parse_size(text: str, what: str) -> int:
    """A non-negative ASCII decimal without leading zeros, at most 2**63-1."""
    try:
        value = int(parse_decimal(text, places=0, max_digits=_MAX_SIZE_DIGITS))
    except ValueError as exc:
        raise MalformedInput(f"expected {what} as ASCII decimal digits, got another form") from exc
    if len(text) > 1 and text[0] == "0":
        raise MalformedInput(f"expected {what} without leading zeros, got a leading zero")
    if value > MAX_TREE_SIZE:
        raise MalformedInput(f"expected {what} at most 2**63-1, got a larger number")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A parsed checkpoint body: origin, tree size, root hash and extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Objects check themselves when built, so a Checkpoint made in code is
        # as trustworthy a serialization source as one parsed from text.
        if not self.origin:
            raise MalformedInput("expected a non-empty origin line, got an empty one")
        if len(self.origin) > _MAX_ORIGIN_CHARS:
            raise MalformedInput(
                f"expected an origin of at most {_MAX_ORIGIN_CHARS} characters, got more"
            )
        for line in (self.origin, *self.extensions):
            if any(ord(ch) < 0x20 for ch in line):
                raise MalformedInput("expected checkpoint lines without controls, got one with")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedInput("expected a tree size between 0 and 2**63-1, got another")
        if len(self.root_hash) != HASH_SIZE:
            raise MalformedInput(
                f"expected {HASH_SIZE}-byte root hash, got {len(self.root_hash)} bytes"
            )
        if any(not line for line in self.extensions):
            raise MalformedInput("expected non-empty extension lines, got an empty one")

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the note text, final newline included)."""
        if not text.endswith("\n"):
            raise MalformedInput("expected a checkpoint ending in a newline, got another ending")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedInput(f"expected at least 3 checkpoint lines, got {len(lines)}")
        origin, size_line, root_line, *extensions = lines
        if not origin:
            raise MalformedInput("expected a non-empty origin line, got an empty one")
        size = parse_size(size_line, "tree size")
        root = decode_base64(root_line, "root hash", HASH_SIZE)
        return cls(origin, size, root, tuple(extensions))

    def to_text(self) -> str:
        """The checkpoint body, newline-terminated; it round-trips with :meth:`from_text`."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint together with the verified note it came in."""

    checkpoint: Checkpoint
    note: VerifiedNote


def open_checkpoint(data: str | bytes | Note, verifiers: Iterable[Verifier]) -> SignedCheckpoint:
    """Verify a signed checkpoint note against known keys, then parse its body.

    The signature is checked first: C2SP signed-note says an unverified text
    must be ignored, so nothing is read from it before that.
    """
    verified = verify_note(data, verifiers)
    return SignedCheckpoint(Checkpoint.from_text(verified.text), verified)

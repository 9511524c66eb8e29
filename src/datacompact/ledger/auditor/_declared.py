"""The auditor's view of a declared loss: a fork the log itself states and bounds.

When the served checkpoint does not extend the mirrored one (smaller, same
size with another root, or a consistency proof that fails), the auditor asks
the log for recovery statements (``<url>/recoveries``). A statement applies
to a mirror of size ``M`` and root ``R`` if, after verifying it
(:func:`datacompact.ledger.formats.statement.verify_statement`):

- its restored size ``B`` is at most ``M`` and its old size ``N`` at least
  ``M`` (a mirror larger than the declared old size saw entries the statement
  does not own up to: that stays a plain fork), and ``R`` equals the old root
  when ``M == N``;
- the served tree extends the first ``B`` mirrored entries: a consistency
  proof from ``B`` (root recomputed from the mirror's own entries) to the
  served checkpoint verifies.

Without ``accept_loss`` the audit then stops with the finding
``declared_loss``, naming exactly what was lost: a fork is a fork, and a
person decides. With it, the log is mirrored again from scratch into a
side folder, the new mirror's first ``B`` entries must equal the old ones
and its entry ``B`` must be the statement; the old mirror is then kept under
``superseded/`` as evidence and the new one takes its place.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datacompact.errors import DataCompactError, MalformedInput, VerificationFailed
from datacompact.ledger.auditor._fetch import Fetcher, Finding, error
from datacompact.ledger.auditor._mirror import Mirror, MirrorState, segment_names
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.merkle import (
    CompactRange,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from datacompact.ledger.formats.note import Ed25519Verifier
from datacompact.ledger.formats.statement import Statement, parse_served
from datacompact.ledger.formats.tiles import TileHashReader

_MAX_RECOVERIES_BYTES = 4 << 20
SUPERSEDED = "superseded"
RECOVERING = "recovering"


@dataclass(frozen=True)
class DeclaredLoss:
    """A verified statement that explains the fork between the mirror and the served tree."""

    statement: Statement
    entry: bytes
    mirrored_size: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.statement.to_dict(), "mirrored_size": self.mirrored_size}

    def message(self) -> str:
        s = self.statement
        return (
            f"日志声明在恢复中丢失了条目 {s.restored_size}..{s.old_size - 1}（共 {s.lost_count} 条）"
            f" / the log declares entries {s.restored_size}..{s.old_size - 1} ({s.lost_count}) "
            f"of its checkpoint of size {s.old_size} lost in a restore; its statement is entry "
            f"{s.index}"
        )


def _statements(fetcher: Fetcher, log: Ed25519Verifier) -> list[tuple[Statement, bytes]]:
    try:
        data = fetcher.get(
            "recoveries",
            what="the recovery statements",
            limit=_MAX_RECOVERIES_BYTES,
            missing=Finding.FORK,
        )
    except VerificationFailed:
        return []  # a log that serves no statements declares nothing
    try:
        items = json.loads(data)["statements"]
        if not isinstance(items, list):
            raise TypeError("statements")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise error(
            MalformedInput, Finding.MALFORMED, "expected a JSON list of recovery statements"
        ) from exc
    found = []
    for item in items:
        try:
            found.append(parse_served(item, log))
        except DataCompactError:
            continue  # a statement that does not verify explains nothing
    return found


def _segment_entries(data: bytes) -> list[bytes]:
    entries = []
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 2], "big")
        entries.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return entries


def mirrored_entries(mirror: Mirror, size: int, count: int) -> list[bytes]:
    """The first ``count`` entries of a committed mirror of ``size`` entries."""
    entries: list[bytes] = []
    for index, name in enumerate(segment_names(size)):
        if len(entries) >= count:
            break
        entry_count = int(name.split(".")[1])
        entries.extend(_segment_entries(mirror.read_segment(index, entry_count)))
    if len(entries) < count:
        raise error(MalformedInput, Finding.STATE, "expected mirrored entries, got fewer")
    return entries[:count]


def _prefix_root(mirror: Mirror, size: int, count: int) -> bytes:
    compact = CompactRange()
    compact.append(leaf_hash(e) for e in mirrored_entries(mirror, size, count))
    return compact.root()


def find(
    fetcher: Fetcher, mirror: Mirror, log: Ed25519Verifier, old: MirrorState, checkpoint: Checkpoint
) -> DeclaredLoss | None:
    """The verified statement that explains this fork, or None (then it is a plain fork)."""
    applicable = [
        (s, entry)
        for s, entry in _statements(fetcher, log)
        if s.restored_size <= old.size <= s.old_size
        and s.index < checkpoint.size
        and (old.size < s.old_size or old.root_hash == s.old_root)
    ]
    if not applicable:
        return None
    found, entry = max(applicable, key=lambda pair: pair[0].index)
    restored = found.restored_size
    if restored:
        root = _prefix_root(mirror, old.size, restored)
        proof = consistency_proof(
            restored, checkpoint.size, TileHashReader(checkpoint.size, fetcher.tile)
        )
        try:
            verify_consistency(
                old_size=restored,
                new_size=checkpoint.size,
                old_root=root,
                new_root=checkpoint.root_hash,
                proof=proof,
            )
        except VerificationFailed:
            return None
    return DeclaredLoss(found, entry, old.size)


def refuse(loss: DeclaredLoss) -> DataCompactError:
    return error(
        VerificationFailed,
        Finding.DECLARED_LOSS,
        loss.message() + "; review it, then run the audit again with --accept-loss",
        recovery=loss.to_dict(),
    )


def side_mirror(state_dir: Path) -> Mirror:
    """An empty mirror beside the old one, for auditing the recovered log from scratch."""
    root = state_dir / RECOVERING
    shutil.rmtree(root, ignore_errors=True)
    (root / "entries").mkdir(parents=True)
    return Mirror(root)


def check_new_mirror(loss: DeclaredLoss, old: Mirror, new: Mirror, new_size: int) -> None:
    """The new mirror keeps the first ``B`` old entries and holds the statement at ``B``."""
    b = loss.statement.restored_size
    before = mirrored_entries(old, loss.mirrored_size, b)
    after = mirrored_entries(new, new_size, b + 1)
    if after[:b] != before:
        raise error(
            VerificationFailed,
            Finding.FORK,
            "expected the recovered log to keep the mirrored entries before the restored size, "
            "got other entries",
        )
    if after[b] != loss.entry:
        raise error(
            VerificationFailed,
            Finding.FORK,
            f"expected the recovery statement at index {b}, got another entry",
        )


def swap(state_dir: Path, loss: DeclaredLoss) -> Path:
    """Keep the old mirror under ``superseded/`` and move the new one into place."""
    kept = state_dir / SUPERSEDED / f"{loss.mirrored_size}-{time.strftime('%Y%m%dT%H%M%S')}"
    kept.mkdir(parents=True)
    for name in ("state.json", "checkpoint", "entries"):
        if (state_dir / name).exists():
            os.replace(state_dir / name, kept / name)
    (kept / "recovery.json").write_text(json.dumps(loss.to_dict(), indent=1), encoding="utf-8")
    side = state_dir / RECOVERING
    # entries first, state.json last: a crash in between leaves no state.json,
    # and the next run audits from scratch again.
    for name in ("entries", "checkpoint", "state.json"):
        os.replace(side / name, state_dir / name)
    shutil.rmtree(side, ignore_errors=True)
    return kept


__all__ = [
    "DeclaredLoss",
    "check_new_mirror",
    "find",
    "refuse",
    "side_mirror",
    "swap",
]

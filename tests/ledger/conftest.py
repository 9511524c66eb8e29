"""Fixtures for the ledger tests: a small in-memory log with a signing key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.merkle import CompactRange, MemoryHashes, leaf_hash, tree_root
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note

LOG_ORIGIN = "example.com/datacompact-test-log"


@dataclass
class MemoryLog:
    """A log kept in memory: entries, stored hashes and a key to sign checkpoints."""

    signer: Ed25519Signer
    origin: str = LOG_ORIGIN
    entries: list[bytes] = field(default_factory=list)
    hashes: MemoryHashes = field(default_factory=MemoryHashes)
    edge: CompactRange = field(default_factory=CompactRange)

    def append(self, count: int) -> None:
        start = len(self.entries)
        new = [f"entry {i}".encode() for i in range(start, start + count)]
        self.entries.extend(new)
        self.hashes.add(self.edge.append(leaf_hash(e) for e in new).nodes)

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(self.origin, size, tree_root(size, self.hashes))

    def signed(self, size: int) -> Note:
        return sign_note(self.checkpoint(size).to_text(), [self.signer])


@pytest.fixture
def memory_log() -> MemoryLog:
    log = MemoryLog(Ed25519Signer.generate(LOG_ORIGIN))
    log.append(40)
    return log

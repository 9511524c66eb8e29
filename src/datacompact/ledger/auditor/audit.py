"""The auditor: mirror a C2SP tlog-tiles log and recompute its tree from the entries.

:func:`audit_log` is what ``datacompact audit`` runs. One run:

1. fetches ``<url>/checkpoint``, verifies the log's Ed25519 signature (the
   origin must be the key's name) and counts the distinct witnesses whose
   C2SP tlog-cosignature verifies over that very checkpoint, requiring the
   quorum;
2. loads the last committed state (:mod:`._mirror`) and refuses a checkpoint
   smaller than the last one seen, or of equal size and another root;
3. when the log grew, checks an RFC 9162 §2.1.4 consistency proof built from
   the served hash tiles;
4. downloads every entry bundle from where the last run stopped (the last,
   partial bundle again, whose old entries must not have changed), hashes
   the leaves (RFC 9162 §2.1.1), extends the saved compact range, and
   compares every served hash tile with the recomputed one;
5. requires the recomputed root to equal the checkpoint's, then commits.

A checkpoint that does not extend the mirrored one is a fork, unless the log
serves a recovery statement that explains it (:mod:`._declared`): then the
finding is ``declared_loss``, naming the lost entries, and only with
``accept_loss`` is the recovered log mirrored afresh (the old mirror kept
under ``superseded/``) and the loss reported in the result.

Nothing from the log is trusted before it is recomputed: the compact range
of the mirrored entries is the only thing carried between runs, so a new
checkpoint verifies only if its tree extends exactly the entries already
mirrored. Every failure is a typed error whose ``details["finding"]`` names
it (see :class:`Finding`); the CLI prints it as one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    MalformedInput,
    VerificationFailed,
)
from datacompact.ledger.auditor import _declared
from datacompact.ledger.auditor._fetch import Fetcher, Finding, error, fetch_in_order, relabel
from datacompact.ledger.auditor._mirror import SEGMENT_ENTRIES, Mirror, MirrorState
from datacompact.ledger.auditor._receipts import check_receipts
from datacompact.ledger.formats.checkpoint import Checkpoint, open_checkpoint
from datacompact.ledger.formats.cosignature import CosignatureVerifier
from datacompact.ledger.formats.merkle import (
    HASH_SIZE,
    CompactRange,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)
from datacompact.ledger.formats.note import Ed25519Verifier, Note
from datacompact.ledger.formats.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    Tile,
    TileHashReader,
    entry_bundles_for_size,
    parse_entry_bundle,
)

__all__ = [
    "DEFAULT_WORKERS",
    "AuditResult",
    "Finding",
    "VerifiedCheckpoint",
    "audit_log",
    "verify_checkpoint",
]

#: Fetching is I/O bound; a few threads keep the connection pool busy while
#: the main thread hashes.
DEFAULT_WORKERS = 6


@dataclass(frozen=True)
class AuditResult:
    """A verified run: the checkpoint it verified and what it mirrored."""

    origin: str
    size: int
    root_hash: bytes
    previous_size: int
    entries_fetched: int
    witnesses: tuple[str, ...]
    quorum: int
    requests: int
    #: the declared loss this run accepted (``accept_loss``), if any
    recovery: dict[str, Any] | None = None
    #: the log indices whose receipts were verified end to end (``receipts``)
    receipts: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for ``--json``."""
        return {
            "recovery": self.recovery,
            "verified": True,
            "origin": self.origin,
            "size": self.size,
            "root": self.root_hash.hex(),
            "previous_size": self.previous_size,
            "entries_fetched": self.entries_fetched,
            "entries_mirrored": self.size,
            "witnesses": list(self.witnesses),
            "quorum": self.quorum,
            "requests": self.requests,
            "receipts_verified": len(self.receipts),
            "receipt_indices": list(self.receipts),
        }


@dataclass(frozen=True)
class VerifiedCheckpoint:
    """A checkpoint whose log signature and witness quorum verified."""

    checkpoint: Checkpoint
    note: str
    witnesses: tuple[str, ...]


def verify_checkpoint(
    data: bytes,
    *,
    log: Ed25519Verifier,
    witnesses: Sequence[CosignatureVerifier],
    quorum: int,
) -> VerifiedCheckpoint:
    """Verify the log signature, the origin and at least ``quorum`` distinct cosignatures.

    As in C2SP tlog-policy, each cosignature is judged alone: one that does
    not verify (a bad signature, or one over another checkpoint) just does
    not count towards the quorum.
    """
    try:
        note = Note.from_text(data)
    except DataCompactError as exc:
        raise relabel(exc, Finding.MALFORMED) from exc
    try:
        signed = open_checkpoint(note, [log])
    except VerificationFailed as exc:
        raise relabel(exc, Finding.BAD_SIGNATURE) from exc
    except DataCompactError as exc:
        raise relabel(exc, Finding.MALFORMED) from exc
    if signed.checkpoint.origin != log.name:
        raise error(
            VerificationFailed,
            Finding.BAD_SIGNATURE,
            "expected the checkpoint origin to be the log key's name, got another origin",
        )
    message = note.text.encode("utf-8")
    counted: set[CosignatureVerifier] = set()
    for sig in note.signatures:
        for witness in witnesses:
            if (sig.name, sig.key_id) == (witness.name, witness.key_id) and witness.verify(
                message, sig.signature
            ):
                counted.add(witness)
    if len(counted) < quorum:
        raise error(
            VerificationFailed,
            Finding.QUORUM,
            f"expected valid cosignatures from {quorum} of {len(witnesses)} witnesses, "
            f"got {len(counted)}",
            witnesses=sorted(w.name for w in counted),
        )
    names = tuple(sorted(w.name for w in counted))
    return VerifiedCheckpoint(signed.checkpoint, note.to_text(), names)


def _tile_mismatch(tile: Tile) -> DataCompactError:
    return error(
        VerificationFailed,
        Finding.ALTERED_TILE,
        f"expected hash tile {tile.level}/{tile.index} to equal the recomputed hashes, "
        "got other hashes",
        tile=tile.path,
    )


def _checked_tile(tile: Tile, data: bytes) -> bytes:
    if len(data) != tile.width * HASH_SIZE:
        raise error(
            MalformedInput,
            Finding.MALFORMED,
            f"expected a {tile.width * HASH_SIZE}-byte hash tile {tile.level}/{tile.index}, "
            f"got {len(data)} bytes",
        )
    return data


@dataclass
class _Run:
    """The mutable state of one run over the new part of the log."""

    fetcher: Fetcher
    mirror: Mirror
    old: MirrorState | None
    size: int
    compact: CompactRange
    #: whether the consistency proof from the served tiles failed
    proof_failed: bool = False
    #: tile level (>= 1) -> recomputed hashes of that level, from the old partial tile on
    upper: dict[int, bytearray] = field(default_factory=dict)
    first_bad_tile: DataCompactError | None = None
    segment: bytearray = field(default_factory=bytearray)
    segment_index: int = 0
    tail_offset: int = 0
    fetched: int = 0

    @property
    def old_size(self) -> int:
        return self.old.size if self.old else 0

    def diverged(self, message: str, finding: Finding, **details: Any) -> DataCompactError:
        # Evidence that the log now shows other entries than the ones mirrored
        # is a fork when the served tiles also fail to prove consistency with
        # the last checkpoint, and an altered entry when they prove it.
        if self.proof_failed:
            return error(
                VerificationFailed,
                Finding.FORK,
                "expected the checkpoint to extend the last one seen, got a tree that does not",
            )
        return error(VerificationFailed, finding, message, **details)


def _check_consistency(run: _Run, root: bytes) -> None:
    """RFC 9162 §2.1.4.2 over a proof built from the served tiles (O(log n) tiles)."""
    assert run.old is not None  # noqa: S101 - called only when an old state exists
    reader = TileHashReader(run.size, run.fetcher.tile)
    try:
        proof = consistency_proof(run.old.size, run.size, reader)
    except MalformedInput as exc:
        raise relabel(exc, Finding.MALFORMED) from exc
    try:
        verify_consistency(
            old_size=run.old.size,
            new_size=run.size,
            old_root=run.old.root_hash,
            new_root=root,
            proof=proof,
        )
    except VerificationFailed:
        # Not decided yet: recomputing the entries tells a fork from lying tiles.
        run.proof_failed = True


def _process_bundle(run: _Run, bundle: Tile, data: bytes, tile_data: bytes) -> None:
    start = bundle.index * TILE_WIDTH
    try:
        entries = parse_entry_bundle(data)
    except MalformedInput as exc:
        raise relabel(exc, Finding.MALFORMED) from exc
    if len(entries) < bundle.width:
        raise run.diverged(
            f"expected {bundle.width} entries in bundle {bundle.index}, got {len(entries)}",
            Finding.MISSING_ENTRY,
            bundle=bundle.path,
        )
    if len(entries) > bundle.width:
        raise error(
            MalformedInput,
            Finding.MALFORMED,
            f"expected {bundle.width} entries in bundle {bundle.index}, got {len(entries)}",
        )
    skip = max(0, run.old_size - start)
    if skip:
        # The old partial bundle is fetched again: what was mirrored must not change.
        tail = run.segment[run.tail_offset :]
        if not data.startswith(tail):
            raise run.diverged(
                f"expected the {skip} mirrored entries of bundle {bundle.index} unchanged, "
                "got other entries",
                Finding.ALTERED_ENTRY,
                bundle=bundle.path,
            )
        del run.segment[run.tail_offset :]
    hashes = [leaf_hash(entry) for entry in entries]
    level0 = Tile(0, bundle.index, bundle.width)
    if b"".join(hashes) != _checked_tile(level0, tile_data) and run.first_bad_tile is None:
        # Decided after the root: if the entries do not hash to the signed
        # root, they are what was altered, not the tile.
        run.first_bad_tile = _tile_mismatch(level0)
    for node in run.compact.append(hashes[skip:]).nodes:
        if node.level and node.level % TILE_HEIGHT == 0:
            run.upper.setdefault(node.level // TILE_HEIGHT, bytearray()).extend(node.hash)
    run.fetched += len(entries) - skip
    _append_segment(run, bundle, data)


def _append_segment(run: _Run, bundle: Tile, data: bytes) -> None:
    run.tail_offset = len(run.segment)
    run.segment += data
    if not bundle.is_partial:
        run.tail_offset = len(run.segment)
    end = bundle.index * TILE_WIDTH + bundle.width
    if end % SEGMENT_ENTRIES == 0:
        # A full segment gets a name no commit references yet, so writing it
        # before the verdict cannot damage the last commit.
        run.mirror.write_segment(run.segment_index, SEGMENT_ENTRIES, bytes(run.segment))
        run.segment_index += 1
        run.segment.clear()
        run.tail_offset = 0


def _check_upper_tiles(run: _Run) -> dict[int, bytes]:
    """Compare every new or grown hash tile above level 0; return the new partial tiles."""
    old_size = run.old_size
    partial: dict[int, bytes] = {}
    level = 1
    while run.size >> (TILE_HEIGHT * level):
        count_new = run.size >> (TILE_HEIGHT * level)
        count_old = old_size >> (TILE_HEIGHT * level)
        base = count_old // TILE_WIDTH * TILE_WIDTH
        known = (run.old.partial_tiles.get(level, b"") if run.old else b"") + bytes(
            run.upper.get(level, b"")
        )
        if len(known) != (count_new - base) * HASH_SIZE:
            raise error(
                MalformedInput, Finding.STATE, "expected saved partial tiles that fit, got others"
            )
        if count_new > count_old:
            for index in range(count_old // TILE_WIDTH, (count_new - 1) // TILE_WIDTH + 1):
                width = min(TILE_WIDTH, count_new - index * TILE_WIDTH)
                tile = Tile(level, index, width)
                offset = (index * TILE_WIDTH - base) * HASH_SIZE
                expected = known[offset : offset + width * HASH_SIZE]
                if _checked_tile(tile, run.fetcher.tile(tile)) != expected:
                    raise _tile_mismatch(tile)
        rest = count_new % TILE_WIDTH
        if rest:
            partial[level] = known[len(known) - rest * HASH_SIZE :]
        level += 1
    return partial


def _load_state(mirror: Mirror, log: Ed25519Verifier) -> MirrorState | None:
    state = mirror.load()
    if state is None:
        return None
    compact = CompactRange(state.size, state.edge)
    if compact.root() != state.root_hash or state.origin != log.name:
        raise error(MalformedInput, Finding.STATE, "expected state of this log, got another")
    try:
        saved = open_checkpoint(state.note, [log]).checkpoint
    except DataCompactError as exc:
        raise error(
            MalformedInput, Finding.STATE, "expected a saved checkpoint signed by the log key"
        ) from exc
    if (saved.size, saved.root_hash) != (state.size, state.root_hash):
        raise error(MalformedInput, Finding.STATE, "expected the saved checkpoint to match")
    return state


def _resume(run: _Run) -> None:
    """Seed the current segment with the committed part of the last one."""
    old = run.old
    run.segment_index = run.old_size // SEGMENT_ENTRIES
    if old is None or old.size % SEGMENT_ENTRIES == 0:
        return
    data = run.mirror.read_segment(run.segment_index, old.size % SEGMENT_ENTRIES)
    if old.tail_offset > len(data):
        raise error(MalformedInput, Finding.STATE, "expected a tail inside the last segment")
    run.segment = bytearray(data)
    run.tail_offset = old.tail_offset


def audit_log(
    *,
    url: str,
    log_key: str,
    state_dir: Path,
    witness_keys: Sequence[str] = (),
    quorum: int | None = None,
    client: httpx.Client | None = None,
    workers: int = DEFAULT_WORKERS,
    timeout: float = 30.0,
    receipts: int = 0,
    accept_loss: bool = False,
) -> AuditResult:
    """Verify the log at ``url`` against ``state_dir`` and extend the mirror.

    ``quorum`` defaults to every given witness. ``client`` lets tests inject
    a transport; without it one keep-alive client is opened and closed here.
    ``receipts`` > 0 also checks that many receipts (``<url>/proof/<index>``,
    served by DataCompact logs, not by every tlog) spread over the tree.
    ``accept_loss`` adopts a recovered log whose declared loss verifies.
    """
    log = Ed25519Verifier.from_vkey(log_key)
    witnesses = list(dict.fromkeys(CosignatureVerifier.from_vkey(k) for k in witness_keys))
    if len(witnesses) != len(witness_keys):
        raise InvalidInput("expected distinct --witness keys, got a repeated key")
    k = len(witnesses) if quorum is None else quorum
    if not 0 <= k <= len(witnesses):
        raise InvalidInput(f"expected a quorum between 0 and {len(witnesses)}, got {k}")
    if workers < 1:
        raise InvalidInput("expected at least one fetch worker, got none")
    if receipts < 0:
        raise InvalidInput(f"expected a receipt count of 0 or more, got {receipts}")
    mirror = Mirror(state_dir)
    own = client is None
    if client is None:
        limits = httpx.Limits(max_connections=workers + 1, max_keepalive_connections=workers + 1)
        client = httpx.Client(timeout=timeout, limits=limits)
    try:
        with mirror.locked():
            fetcher = Fetcher(client, url)
            note = fetcher.checkpoint()
            verified = verify_checkpoint(note, log=log, witnesses=witnesses, quorum=k)
            return _audit(fetcher, mirror, log, verified, k, workers, receipts, accept_loss)
    finally:
        if own:
            client.close()


def _audit(
    fetcher: Fetcher,
    mirror: Mirror,
    log: Ed25519Verifier,
    verified: VerifiedCheckpoint,
    quorum: int,
    workers: int,
    receipts: int,
    accept_loss: bool = False,
) -> AuditResult:
    checkpoint = verified.checkpoint
    old = _load_state(mirror, log)
    compact = CompactRange(old.size, old.edge) if old else CompactRange()
    run = _Run(fetcher, mirror, old, checkpoint.size, compact)
    if old is not None:
        if checkpoint.size > old.size and old.size:
            _check_consistency(run, checkpoint.root_hash)
        if (
            checkpoint.size < old.size
            or (checkpoint.size == old.size and checkpoint.root_hash != old.root_hash)
            or run.proof_failed
        ):
            loss = _declared.find(fetcher, mirror, log, old, checkpoint)
            if loss is not None:
                if not accept_loss:
                    raise _declared.refuse(loss)
                return _adopt(fetcher, mirror, log, verified, quorum, workers, receipts, loss)
        if checkpoint.size < old.size:
            raise error(
                VerificationFailed,
                Finding.FORK,
                f"expected a tree size of at least {old.size}, got {checkpoint.size} (rollback)",
            )
        if checkpoint.size == old.size and checkpoint.root_hash != old.root_hash:
            raise error(
                VerificationFailed,
                Finding.FORK,
                "expected the same root for the same tree size, got another root",
            )
    bundles: list[Tile] = []
    if run.size > run.old_size:
        _resume(run)
        bundles = entry_bundles_for_size(run.size)[run.old_size // TILE_WIDTH :]
    with contextlib.closing(fetch_in_order(fetcher, bundles, workers)) as fetched:
        for bundle, data, tile_data in fetched:
            _process_bundle(run, bundle, data, tile_data)
    if compact.root() != checkpoint.root_hash:
        raise run.diverged(
            "expected the entries to hash to the checkpoint root, got another root",
            Finding.ALTERED_ENTRY,
        )
    if run.first_bad_tile is not None:
        raise run.first_bad_tile
    partial = _check_upper_tiles(run) if bundles else dict(old.partial_tiles if old else {})
    if run.proof_failed:
        # The entries do extend the last checkpoint, so the proof's tiles lied.
        raise error(
            VerificationFailed,
            Finding.ALTERED_TILE,
            "expected hash tiles that prove consistency, got tiles that do not",
        )
    if run.segment and bundles:
        count = run.size - run.segment_index * SEGMENT_ENTRIES
        run.mirror.write_segment(run.segment_index, count, bytes(run.segment))
    state = MirrorState(
        origin=checkpoint.origin,
        size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        edge=tuple(compact.edge_hashes),
        partial_tiles=partial,
        tail_offset=run.tail_offset if bundles else (old.tail_offset if old else 0),
        note=verified.note,
    )
    # Receipts are checked before the commit: a failing run leaves the state as it was.
    checked = check_receipts(fetcher, log, checkpoint, receipts)
    mirror.commit(state)
    return AuditResult(
        origin=checkpoint.origin,
        size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        previous_size=run.old_size,
        entries_fetched=run.fetched,
        witnesses=verified.witnesses,
        quorum=quorum,
        requests=fetcher.requests,
        receipts=checked,
    )


def _adopt(
    fetcher: Fetcher,
    mirror: Mirror,
    log: Ed25519Verifier,
    verified: VerifiedCheckpoint,
    quorum: int,
    workers: int,
    receipts: int,
    loss: _declared.DeclaredLoss,
) -> AuditResult:
    """Mirror the recovered log afresh beside the old mirror, compare, then swap them."""
    side = _declared.side_mirror(mirror.root)
    result = _audit(fetcher, side, log, verified, quorum, workers, receipts)
    _declared.check_new_mirror(loss, mirror, side, result.size)
    _declared.swap(mirror.root, loss)
    return dataclasses.replace(result, previous_size=loss.mirrored_size, recovery=loss.to_dict())

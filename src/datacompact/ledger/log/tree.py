"""The transparency log in the metadata store: appends, stored hashes and proofs.

Appends happen inside the caller's transaction (:mod:`.entries`): the
``ledger_head`` row is locked, the right edge of the tree read from it, the new
complete nodes computed with :class:`~datacompact.ledger.formats.merkle.CompactRange`
and inserted, and the head advanced. Either the domain rows, the entry and its
hashes all commit, or none of them do. Appends and proofs cost O(log n): the
tree is never recomputed.

Leaf hashes are not stored: a leaf hash is SHA-256(0x00 ‖ entry) of the entry
in the same row, so level 0 is read by hashing entries, and ``ledger_nodes``
holds the complete subtrees of level 1 and up. That halves the rows an append
writes, at the cost of one hash per leaf read.

Reads go through :class:`StoredHashes`. A proof first runs against a recording
reader to learn which O(log n) nodes it needs, then fetches them all in one
query and runs again, so a proof is two pure passes and one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import LogBehind, NotFound, StoreUnavailable
from datacompact.ledger.formats import merkle
from datacompact.store import insert_rows, placeholders
from datacompact.store.models import Event, LedgerHead, LedgerNode

T = TypeVar("T")
_ZERO = bytes(merkle.HASH_SIZE)


def lock_head(session: Session) -> LedgerHead:
    """The head row, locked for the rest of the transaction (``SELECT ... FOR UPDATE``)."""
    head = session.execute(
        select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        raise StoreUnavailable(
            "日志头缺失，数据库未正确迁移 / the log head row is missing: the store is not migrated"
        )
    return head


def refuse_if_held(head: LedgerHead) -> None:
    """The one guard of the append path: no append while the log is held.

    A store restored behind a checkpoint the log already published is held
    (``ledger.log.recovery``) until an operator records the loss; appending
    before that would silently reuse indices that auditors already saw.
    """
    if head.held_size is not None:
        raise LogBehind(
            "日志落后于已发布的检查点，运行 datacompact recover 之前拒绝写入 / the log is behind "
            "a checkpoint it already published: writes are refused until an operator runs "
            "`datacompact recover`",
            details={"size": head.size, "published_size": head.held_size},
        )


def read_head(session: Session) -> LedgerHead:
    head = session.get(LedgerHead, 1)
    if head is None:
        raise StoreUnavailable(
            "日志头缺失，数据库未正确迁移 / the log head row is missing: the store is not migrated"
        )
    return head


def _edge(head: LedgerHead) -> list[bytes]:
    size = merkle.HASH_SIZE
    return [head.edge[i : i + size] for i in range(0, len(head.edge), size)]


def append_leaves(session: Session, head: LedgerHead, leaf_hashes: Sequence[bytes]) -> None:
    """Add leaves to the tree under the already locked ``head``; store every new node."""
    if not leaf_hashes:
        return
    compact = merkle.CompactRange(head.size, _edge(head))
    result = compact.append(leaf_hashes)
    insert_rows(
        session,
        LedgerNode.__table__,
        ("level", "idx", "hash"),
        [(n.level, n.index, n.hash) for n in result.nodes if n.level],
    )
    head.size = result.size
    head.edge = b"".join(compact.edge_hashes)
    head.root = result.root


class StoredHashes:
    """A :class:`~datacompact.ledger.formats.merkle.HashReader` over ``ledger_nodes``, with prefetching."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[int, int], bytes] = {}

    def prefetch(self, positions: Iterable[tuple[int, int]]) -> None:
        """Load many hashes in at most two statements per 400 positions.

        Plain SQL on the driver: building the same statement as SQLAlchemy
        expressions costs more than running it, and a proof is two lookups.
        """
        wanted = [p for p in set(positions) if p not in self._cache]
        leaves = [idx for level, idx in wanted if level == 0]
        inner = [p for p in wanted if p[0]]
        connection = self.session.connection()
        for start in range(0, len(leaves), 400):
            seqs = leaves[start : start + 400]
            marks = ", ".join(placeholders(self.session, len(seqs)))
            rows = connection.exec_driver_sql(
                f"SELECT seq, entry FROM events WHERE seq IN ({marks})",  # noqa: S608 - only bound-parameter markers are interpolated
                tuple(seqs),
            )
            for seq, entry in rows:
                self._cache[0, seq] = merkle.leaf_hash(bytes(entry))
        for start in range(0, len(inner), 400):
            pairs = inner[start : start + 400]
            pair_marks = placeholders(self.session, 2 * len(pairs))
            # An OR of exact (level, idx) pairs: SQLite answers it with one
            # primary-key search per pair, whereas a row-value IN scans the table.
            where = " OR ".join(
                f"(level = {pair_marks[2 * i]} AND idx = {pair_marks[2 * i + 1]})"
                for i in range(len(pairs))
            )
            params = tuple(value for pair in pairs for value in pair)
            rows = connection.exec_driver_sql(
                f"SELECT level, idx, hash FROM ledger_nodes WHERE {where}",  # noqa: S608 - only bound-parameter markers are interpolated
                params,
            )
            for level, idx, value in rows:
                self._cache[level, idx] = bytes(value)

    def hash_at(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            self.prefetch([key])
        try:
            return self._cache[key]
        except KeyError as exc:
            raise NotFound(
                "日志中缺少该子树哈希 / expected a stored subtree hash, got none at that position",
                details={"level": level, "index": index},
            ) from exc

    def run(self, compute: Callable[[merkle.HashReader], T]) -> T:
        """Run a pure O(log n) computation with all its reads fetched in one query."""
        recorder = _Recorder()
        compute(recorder)
        self.prefetch(recorder.positions)
        return compute(self)


class _Recorder:
    """A reader that answers zeros and remembers what was asked."""

    def __init__(self) -> None:
        self.positions: list[tuple[int, int]] = []

    def hash_at(self, level: int, index: int) -> bytes:
        self.positions.append((level, index))
        return _ZERO


def inclusion_proof(session: Session, *, index: int, size: int) -> list[bytes]:
    return StoredHashes(session).run(lambda r: merkle.inclusion_proof(index, size, r))


def consistency_proof(session: Session, *, old_size: int, new_size: int) -> list[bytes]:
    return StoredHashes(session).run(lambda r: merkle.consistency_proof(old_size, new_size, r))


def root_at(session: Session, size: int) -> bytes:
    return StoredHashes(session).run(lambda r: merkle.tree_root(size, r))


def hashes_in_level(session: Session, *, level: int, first: int, count: int) -> list[bytes]:
    """``count`` consecutive hashes of one level, for tiles; fewer if not all exist."""
    if level == 0:
        entries = session.scalars(
            select(Event.entry)
            .where(Event.seq >= first, Event.seq < first + count)
            .order_by(Event.seq)
        )
        return [merkle.leaf_hash(entry) for entry in entries]
    rows = session.scalars(
        select(LedgerNode.hash)
        .where(LedgerNode.level == level, LedgerNode.idx >= first, LedgerNode.idx < first + count)
        .order_by(LedgerNode.idx)
    )
    return list(rows)

"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.

The tree is the one of RFC 9162 §2.1.1: ``MTH({}) = SHA-256()``, a leaf hashes
as ``SHA-256(0x00 || entry)`` and an inner node as ``SHA-256(0x01 || left ||
right)``, the left subtree always holding the largest power of two smaller
than the number of leaves.

Storage is abstracted by :class:`HashReader`: the hash of the *complete*
subtree at ``(level, index)``, which covers leaves ``[index * 2**level,
(index + 1) * 2**level)``. Every range that a proof or a root needs is cut into
at most ``2 * log2(n)`` such subtrees, so roots and proofs cost O(log n) reads
and the tree is never recomputed. :class:`CompactRange` keeps the right edge of
the tree in memory and yields, per append, the new complete nodes to store.

Proofs are generated as RFC 9162 §2.1.3.1 (``PATH``) and §2.1.4.1
(``PROOF``/``SUBPROOF``) define them, and verified with the exact algorithms of
§2.1.3.2 and §2.1.4.2. Failed verification raises
:class:`~datacompact.errors.VerificationFailed`; inputs that cannot be a proof
at all raise :class:`~datacompact.errors.MalformedInput`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from datacompact.errors import MalformedInput, NotFound, VerificationFailed

HASH_SIZE = 32
#: No proof in a tree below 2**63 leaves needs more hashes than the tree is
#: high; anything longer is refused before any hashing is done.
MAX_PROOF_HASHES = 64
#: Tree sizes are uint64 on the wire but C2SP timestamps and Go's tlog use
#: int64; staying below 2**63 keeps every party able to represent them.
MAX_TREE_SIZE = 2**63 - 1
#: RFC 9162 §2.1.1: the hash of an empty list is the hash of an empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """``MTH({d0}) = SHA-256(0x00 || d0)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class HashReader(Protocol):
    """Reads the hash of a complete stored subtree; level 0 holds leaf hashes."""

    def hash_at(self, level: int, index: int) -> bytes:
        """The hash of the subtree over leaves ``[index << level, (index + 1) << level)``."""
        ...


@dataclass(slots=True)
class Node:
    """A complete subtree: its level, its index within the level, and its hash.

    Not frozen: appends create two per leaf, and a frozen dataclass's
    ``__init__`` costs several times more. Nothing mutates a node after it is made.
    """

    level: int
    index: int
    hash: bytes


class AppendResult(NamedTuple):
    """What an append produced: the nodes to store, the new size and root."""

    nodes: list[Node]
    size: int
    root: bytes


def check_hash(value: bytes, what: str = "hash") -> bytes:
    """Return ``value`` if it is a 32-byte hash, else raise ``MalformedInput``."""
    if len(value) != HASH_SIZE:
        raise MalformedInput(f"expected {HASH_SIZE}-byte {what}, got {len(value)} bytes")
    return value


def check_size(size: int, what: str = "tree size") -> int:
    """Return ``size`` if it is a representable tree size, else raise ``MalformedInput``."""
    if size < 0 or size > MAX_TREE_SIZE:
        raise MalformedInput(f"expected {what} between 0 and 2**63-1, got one out of range")
    return size


def _check_proof(proof: Sequence[bytes]) -> None:
    # The cap comes first so an oversized proof costs nothing to reject.
    if len(proof) > MAX_PROOF_HASHES:
        raise MalformedInput(f"expected at most {MAX_PROOF_HASHES} proof hashes, got {len(proof)}")
    for item in proof:
        check_hash(item, "proof hash")


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The compact range of ``[start, end)``: its maximal complete subtrees, left to right.

    Any range is covered by at most ``2 * log2(end - start)`` of them.
    """
    if not 0 <= start <= end:
        raise MalformedInput("expected a range with 0 <= start <= end, got an inverted range")
    nodes: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        # The largest subtree that starts at ``pos``: bounded by the alignment
        # of ``pos`` and by what is left of the range.
        level = (pos & -pos).bit_length() - 1 if pos else (end - pos).bit_length() - 1
        while pos + (1 << level) > end:
            level -= 1
        nodes.append((level, pos >> level))
        pos += 1 << level
    return nodes


def subtree_root(start: int, end: int, reader: HashReader) -> bytes:
    """``MTH(D[start:end])`` for a range that is a subtree of the log's tree.

    A range is a subtree when ``start`` is a multiple of the smallest power of
    two not below ``end - start``; every range that RFC 9162 §2.1.3.1 and
    §2.1.4.1 hash is one. Such a range decomposes, largest first, exactly as
    ``MTH`` splits it, so folding its compact range from the right gives its
    root in O(log n) reads.
    """
    if not 0 <= start < end:
        raise MalformedInput("expected a non-empty range with 0 <= start < end, got another")
    width = end - start
    if start % (1 << (width - 1).bit_length()):
        raise MalformedInput("expected a range aligned as a subtree, got an unaligned range")
    nodes = range_nodes(start, end)
    level, index = nodes[-1]
    root = check_hash(reader.hash_at(level, index), "stored hash")
    for level, index in reversed(nodes[:-1]):
        root = node_hash(check_hash(reader.hash_at(level, index), "stored hash"), root)
    return root


def tree_root(size: int, reader: HashReader) -> bytes:
    """The root hash of the tree of ``size`` leaves, in O(log n) reads."""
    check_size(size)
    return subtree_root(0, size, reader) if size else EMPTY_ROOT


def root_from_leaves(entries: Sequence[bytes]) -> bytes:
    """Slow reference: ``MTH(D[n])`` straight from the recursive definition (RFC 9162 §2.1.1).

    It takes entries, not leaf hashes, and recomputes everything; use it in
    tests and audits, never on the request path.
    """
    if not entries:
        return EMPTY_ROOT
    if len(entries) == 1:
        return leaf_hash(entries[0])
    k = _split(len(entries))
    return node_hash(root_from_leaves(entries[:k]), root_from_leaves(entries[k:]))


def inclusion_proof(index: int, size: int, reader: HashReader) -> list[bytes]:
    """``PATH(index, D[size])`` of RFC 9162 §2.1.3.1, in O(log n) reads.

    The recursion is walked top-down and reversed at the end, because PATH lists
    the sibling of the deepest split first.
    """
    check_size(size)
    if not 0 <= index < size:
        raise MalformedInput("expected leaf index < tree size, got an index outside the tree")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_root(start + k, end, reader))
            end = start + k
        else:
            path.append(subtree_root(start, start + k, reader))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, reader: HashReader) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` of RFC 9162 §2.1.4.1, in O(log n) reads.

    The RFC defines it for ``0 < m < n``; for ``m == 0`` and ``m == n`` the proof
    is empty, as C2SP tlog-witness expects for those sizes.
    """
    check_size(new_size, "new tree size")
    check_size(old_size, "old tree size")
    if old_size > new_size:
        raise MalformedInput("expected old tree size <= new tree size, got a larger old size")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end, m, complete_old = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
            if not complete_old:
                proof.append(subtree_root(start, end, reader))
            break
        k = _split(n)
        if m <= k:
            proof.append(subtree_root(start + k, end, reader))
            end = start + k
        else:
            proof.append(subtree_root(start, start + k, reader))
            start, m, complete_old = start + k, m - k, False
    proof.reverse()
    return proof


def root_from_inclusion_proof(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof: steps 1–4 of RFC 9162 §2.1.3.2."""
    check_hash(leaf_hash, "leaf hash")
    check_size(size)
    _check_proof(proof)
    # Step 1.
    if not 0 <= index < size:
        raise MalformedInput("expected leaf index < tree size, got an index outside the tree")
    # Steps 2–3.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            raise VerificationFailed(
                "expected a proof as long as the tree is high, got a longer one"
            )
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # Step 5, first half: sn must have reached 0.
    if sn != 0:
        raise VerificationFailed("expected a proof as long as the tree is high, got a shorter one")
    return r


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof exactly as RFC 9162 §2.1.3.2; raise if it fails."""
    check_hash(root, "root hash")
    computed = root_from_inclusion_proof(leaf_hash=leaf_hash, index=index, size=size, proof=proof)
    if computed != root:
        raise VerificationFailed("expected the proof to lead to the root hash, got another root")


def verify_consistency(
    *,
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Verify a consistency proof exactly as RFC 9162 §2.1.4.2; raise if it fails.

    The RFC covers ``0 < first < second``. Around it: the empty tree is
    consistent with every tree (its root must be :data:`EMPTY_ROOT` and the
    proof empty), and a tree is consistent with itself when the roots match
    and the proof is empty.
    """
    check_hash(old_root, "old root hash")
    check_hash(new_root, "new root hash")
    check_size(old_size, "old tree size")
    check_size(new_size, "new tree size")
    _check_proof(proof)
    if old_size > new_size:
        raise MalformedInput("expected old tree size <= new tree size, got a larger old size")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise VerificationFailed(f"expected an empty proof, got {len(proof)} hashes")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise VerificationFailed("expected the empty tree's root as old root, got another")
        if old_size == new_size and old_root != new_root:
            raise VerificationFailed("expected equal roots for equal sizes, got different roots")
        return
    # Step 1.
    if not proof:
        raise VerificationFailed("expected a non-empty consistency proof, got an empty one")
    path = list(proof)
    # Step 2: when first is a power of two, the old root is itself a node on the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise VerificationFailed(
                "expected a proof as long as the tree is high, got a longer one"
            )
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise VerificationFailed("expected a proof as long as the tree is high, got a shorter one")
    if fr != old_root:
        raise VerificationFailed("expected the proof to lead to the old root, got another root")
    if sr != new_root:
        raise VerificationFailed("expected the proof to lead to the new root, got another root")


class CompactRange:
    """The right edge of the tree: one complete subtree per set bit of the size.

    Appending a leaf pushes a level-0 node and merges equal-level neighbours,
    each merge being a new complete node that the caller stores. That is O(1)
    amortized hashing per leaf; the root is folded from the O(log n) edge
    nodes once per batch.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Build from a size and the hashes of ``range_nodes(0, size)``, largest first."""
        check_size(size)
        nodes = range_nodes(0, size)
        if len(hashes) != len(nodes):
            raise MalformedInput(
                f"expected {len(nodes)} edge hashes for this size, got {len(hashes)}"
            )
        self._size = size
        self._edge: list[Node] = [
            Node(level, index, check_hash(h, "edge hash"))
            for (level, index), h in zip(nodes, hashes, strict=True)
        ]

    @classmethod
    def from_reader(cls, size: int, reader: HashReader) -> CompactRange:
        """Resume from storage: read the O(log n) edge nodes of a tree of ``size`` leaves."""
        check_size(size)
        return cls(size, [reader.hash_at(level, index) for level, index in range_nodes(0, size)])

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def edge_hashes(self) -> list[bytes]:
        """The hashes of ``range_nodes(0, size)``, largest first: what the constructor takes."""
        return [node.hash for node in self._edge]

    def root(self) -> bytes:
        """The current tree root (RFC 9162 §2.1.1), folded from the right edge."""
        if not self._edge:
            return EMPTY_ROOT
        root = self._edge[-1].hash
        for node in reversed(self._edge[:-1]):
            root = node_hash(node.hash, root)
        return root

    def append(self, leaf_hashes: Iterable[bytes]) -> AppendResult:
        """Append leaf hashes; return every new complete node (leaves included) and the root."""
        created: list[Node] = []
        for h in leaf_hashes:
            if self._size >= MAX_TREE_SIZE:
                raise MalformedInput("expected a tree below 2**63-1 leaves, got a full tree")
            node = Node(0, self._size, check_hash(h, "leaf hash"))
            created.append(node)
            self._size += 1
            # Two neighbours of the same level are siblings: the left one is
            # aligned because the edge always mirrors the bits of the size.
            while self._edge and self._edge[-1].level == node.level:
                left = self._edge.pop()
                node = Node(node.level + 1, left.index >> 1, node_hash(left.hash, node.hash))
                created.append(node)
            self._edge.append(node)
        return AppendResult(created, self._size, self.root())


class MemoryHashes:
    """An in-memory :class:`HashReader` fed with :class:`Node` values, for tests and audits."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[int, int], bytes] = {}

    def add(self, nodes: Iterable[Node]) -> None:
        """Store complete nodes, as a database-backed store would."""
        self._hashes.update(((node.level, node.index), node.hash) for node in nodes)

    def hash_at(self, level: int, index: int) -> bytes:
        """The stored hash at ``(level, index)``; ``NotFound`` if it was never stored."""
        try:
            return self._hashes[level, index]
        except KeyError as exc:
            raise NotFound("expected a stored subtree hash, got none at that position") from exc

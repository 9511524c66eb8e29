"""Merkle tree, proofs and verification against RFC 6962/9162 and published vectors."""

from __future__ import annotations

import hashlib
import random

import pytest

from datacompact.errors import MalformedInput, NotFound, VerificationFailed
from datacompact.ledger.formats.merkle import (
    EMPTY_ROOT,
    MAX_PROOF_HASHES,
    CompactRange,
    MemoryHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_from_leaves,
    subtree_root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 reference test leaves used by certificate-transparency and
# transparency-dev/merkle, with the roots published for sizes 1..8.
RFC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
RFC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof) published with the same leaves.
RFC_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
RFC_CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

N = 64
ENTRIES = [f"leaf {i}".encode() for i in range(N + 6)]


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) written as literally as RFC 9162 §2.1.3.1 states it."""
    n = len(entries)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*ref_path(m, entries[:k]), root_from_leaves(entries[k:])]
    return [*ref_path(m - k, entries[k:]), root_from_leaves(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], complete: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) written as literally as RFC 9162 §2.1.4.1 states it."""
    n = len(entries)
    if m == n:
        return [] if complete else [root_from_leaves(entries)]
    k = _split(n)
    if m <= k:
        return [*ref_subproof(m, entries[:k], complete), root_from_leaves(entries[k:])]
    return [*ref_subproof(m - k, entries[k:], False), root_from_leaves(entries[:k])]


@pytest.fixture(scope="module")
def store() -> MemoryHashes:
    hashes = MemoryHashes()
    edge = CompactRange()
    hashes.add(edge.append(leaf_hash(e) for e in ENTRIES).nodes)
    return hashes


@pytest.fixture(scope="module")
def roots() -> list[bytes]:
    return [root_from_leaves(ENTRIES[:n]) for n in range(len(ENTRIES) + 1)]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_from_leaves([]) == EMPTY_ROOT


def test_hashing_uses_rfc_domain_separation() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    left, right = b"\x01" * 32, b"\x02" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_published_roots_of_the_rfc_test_leaves(size: int) -> None:
    assert root_from_leaves(RFC_LEAVES[:size]).hex() == RFC_ROOTS[size - 1]
    hashes, edge = MemoryHashes(), CompactRange()
    hashes.add(edge.append(leaf_hash(e) for e in RFC_LEAVES[:size]).nodes)
    assert tree_root(size, hashes).hex() == RFC_ROOTS[size - 1]
    assert edge.root().hex() == RFC_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), RFC_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    hashes, edge = MemoryHashes(), CompactRange()
    hashes.add(edge.append(leaf_hash(e) for e in RFC_LEAVES[:size]).nodes)
    assert [p.hex() for p in inclusion_proof(index, size, hashes)] == proof
    verify_inclusion(
        leaf_hash=leaf_hash(RFC_LEAVES[index]),
        index=index,
        size=size,
        proof=[bytes.fromhex(p) for p in proof],
        root=bytes.fromhex(RFC_ROOTS[size - 1]),
    )


@pytest.mark.parametrize(("old", "new", "proof"), RFC_CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    hashes, edge = MemoryHashes(), CompactRange()
    hashes.add(edge.append(leaf_hash(e) for e in RFC_LEAVES[:new]).nodes)
    assert [p.hex() for p in consistency_proof(old, new, hashes)] == proof
    verify_consistency(
        old_size=old,
        new_size=new,
        old_root=bytes.fromhex(RFC_ROOTS[old - 1]),
        new_root=bytes.fromhex(RFC_ROOTS[new - 1]),
        proof=[bytes.fromhex(p) for p in proof],
    )


def test_stored_roots_match_the_reference_for_every_size(
    store: MemoryHashes, roots: list[bytes]
) -> None:
    for size in range(len(ENTRIES) + 1):
        assert tree_root(size, store) == roots[size]


def test_every_inclusion_proof_up_to_64_leaves(store: MemoryHashes, roots: list[bytes]) -> None:
    checked = 0
    for size in range(1, N + 1):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            assert proof == ref_path(index, ENTRIES[:size])
            verify_inclusion(
                leaf_hash=leaf_hash(ENTRIES[index]),
                index=index,
                size=size,
                proof=proof,
                root=roots[size],
            )
            checked += 1
    assert checked == N * (N + 1) // 2


def test_every_consistency_proof_up_to_64_leaves(store: MemoryHashes, roots: list[bytes]) -> None:
    for new in range(0, N + 1):
        for old in range(0, new + 1):
            proof = consistency_proof(old, new, store)
            if 0 < old < new:
                assert proof == ref_subproof(old, ENTRIES[:new], True)
            else:
                assert proof == []
            verify_consistency(
                old_size=old, new_size=new, old_root=roots[old], new_root=roots[new], proof=proof
            )


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    changed = list(proof)
    changed[i] = bytes([changed[i][0] ^ 0x08]) + changed[i][1:]
    return changed


def test_tampered_inclusion_proofs_fail(store: MemoryHashes, roots: list[bytes]) -> None:
    for size in range(1, 33):
        for index in range(size):
            proof = inclusion_proof(index, size, store)
            leaf, root = leaf_hash(ENTRIES[index]), roots[size]
            probes = [(leaf, index, size, _flip(proof, i), root) for i in range(len(proof))]
            probes += [
                (leaf, index, size, [*proof, root], root),
                (leaf, index, size, [root, *proof], root),
                (leaf_hash(b"other"), index, size, proof, root),
                (leaf, index, size, proof, EMPTY_ROOT),
                (leaf, index, size * 2, proof, root),
            ]
            if proof:
                probes.append((leaf, index, size, proof[:-1], root))
            if index + 1 < size:
                probes.append((leaf, index + 1, size, proof, root))
            if index > 0:
                probes.append((leaf, index - 1, size, proof, root))
            for lh, i, n, p, r in probes:
                with pytest.raises((VerificationFailed, MalformedInput)):
                    verify_inclusion(leaf_hash=lh, index=i, size=n, proof=p, root=r)


def test_tampered_consistency_proofs_fail(store: MemoryHashes, roots: list[bytes]) -> None:
    for new in range(2, 33):
        for old in range(1, new):
            proof = consistency_proof(old, new, store)
            r1, r2 = roots[old], roots[new]
            probes = [(old, new, r1, r2, _flip(proof, i)) for i in range(len(proof))]
            probes += [
                (old, new, r1, r2, []),
                (old, new, r1, r2, proof[:-1]),
                (old, new, r1, r2, [*proof, r2]),
                (old, new, r1, r2, [r1, *proof]),
                (old, new, r2, r1, proof),
                (old, new, EMPTY_ROOT, r2, proof),
                (old - 1, new, r1, r2, proof),
                # The RFC algorithm only sees the shape of the sizes, so wrong
                # sizes are probed as transparency-dev does: doubled and halved.
                (old, new * 2, r1, r2, proof),
                (old, new // 2, r1, r2, proof),
            ]
            if old + 1 < new:
                probes.append((old + 1, new, r1, r2, proof))
            for m, n, a, b, p in probes:
                with pytest.raises((VerificationFailed, MalformedInput)):
                    verify_consistency(old_size=m, new_size=n, old_root=a, new_root=b, proof=p)


def test_trivial_consistency_edges(roots: list[bytes]) -> None:
    verify_consistency(old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=roots[5], proof=[])
    verify_consistency(old_size=5, new_size=5, old_root=roots[5], new_root=roots[5], proof=[])
    with pytest.raises(VerificationFailed, match="equal roots"):
        verify_consistency(old_size=5, new_size=5, old_root=roots[5], new_root=roots[4], proof=[])
    with pytest.raises(VerificationFailed, match="empty tree"):
        verify_consistency(old_size=0, new_size=5, old_root=roots[5], new_root=roots[5], proof=[])
    with pytest.raises(VerificationFailed, match="empty proof"):
        verify_consistency(
            old_size=0, new_size=5, old_root=EMPTY_ROOT, new_root=roots[5], proof=[EMPTY_ROOT]
        )


def test_malformed_inputs_say_what_was_expected(store: MemoryHashes) -> None:
    root = tree_root(8, store)
    leaf = leaf_hash(ENTRIES[0])
    with pytest.raises(MalformedInput, match="expected 32-byte leaf hash, got 31 bytes"):
        verify_inclusion(leaf_hash=leaf[:31], index=0, size=8, proof=[], root=root)
    with pytest.raises(MalformedInput, match="expected 32-byte root hash, got 33 bytes"):
        verify_inclusion(leaf_hash=leaf, index=0, size=8, proof=[], root=root + b"\x00")
    with pytest.raises(MalformedInput, match="expected 32-byte proof hash, got 0 bytes"):
        verify_inclusion(leaf_hash=leaf, index=0, size=8, proof=[b""], root=root)
    with pytest.raises(MalformedInput, match="index"):
        verify_inclusion(leaf_hash=leaf, index=8, size=8, proof=[], root=root)
    with pytest.raises(MalformedInput, match="index"):
        verify_inclusion(leaf_hash=leaf, index=-1, size=8, proof=[], root=root)
    with pytest.raises(MalformedInput, match=f"at most {MAX_PROOF_HASHES} proof hashes, got 65"):
        verify_inclusion(leaf_hash=leaf, index=0, size=8, proof=[leaf] * 65, root=root)
    with pytest.raises(MalformedInput, match="old tree size <= new tree size"):
        verify_consistency(old_size=9, new_size=8, old_root=root, new_root=root, proof=[])
    with pytest.raises(MalformedInput, match="tree size"):
        verify_consistency(old_size=-1, new_size=8, old_root=root, new_root=root, proof=[])
    with pytest.raises(MalformedInput, match="tree size"):
        tree_root(2**63, store)
    with pytest.raises(MalformedInput):
        inclusion_proof(8, 8, store)
    with pytest.raises(MalformedInput):
        consistency_proof(9, 8, store)


def test_root_from_inclusion_proof_rejects_wrong_lengths(store: MemoryHashes) -> None:
    proof = inclusion_proof(3, 8, store)
    leaf = leaf_hash(ENTRIES[3])
    assert root_from_inclusion_proof(leaf_hash=leaf, index=3, size=8, proof=proof) == tree_root(
        8, store
    )
    with pytest.raises(VerificationFailed, match="shorter"):
        root_from_inclusion_proof(leaf_hash=leaf, index=3, size=8, proof=proof[:2])
    with pytest.raises(VerificationFailed, match="longer"):
        root_from_inclusion_proof(leaf_hash=leaf, index=3, size=8, proof=[*proof, proof[0]])


def test_compact_range_appends_in_batches_match_the_reference() -> None:
    rng = random.Random(6962)
    edge, hashes = CompactRange(), MemoryHashes()
    entries: list[bytes] = []
    stored: set[tuple[int, int]] = set()
    while len(entries) < 300:
        batch = [rng.randbytes(rng.randint(0, 40)) for _ in range(rng.randint(1, 17))]
        result = edge.append(leaf_hash(e) for e in batch)
        entries.extend(batch)
        for node in result.nodes:
            assert (node.level, node.index) not in stored
            stored.add((node.level, node.index))
        hashes.add(result.nodes)
        assert result.size == len(entries)
        assert result.root == root_from_leaves(entries)
    # Every complete subtree of the final tree was handed out exactly once.
    size = len(entries)
    expected = {
        (level, index) for level in range(size.bit_length()) for index in range(size >> level)
    }
    assert stored == expected


def test_compact_range_resumes_from_storage(store: MemoryHashes, roots: list[bytes]) -> None:
    edge = CompactRange.from_reader(37, store)
    assert edge.size == 37
    assert edge.root() == roots[37]
    result = edge.append(leaf_hash(e) for e in ENTRIES[37:50])
    assert result.root == roots[50]
    with pytest.raises(MalformedInput, match="expected 3 edge hashes"):
        CompactRange(37, [EMPTY_ROOT])


def test_range_nodes_cover_ranges_exactly() -> None:
    assert range_nodes(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]
    assert range_nodes(0, 0) == []
    rng = random.Random(9162)
    for _ in range(500):
        start = rng.randint(0, 5000)
        end = start + rng.randint(0, 5000)
        covered: list[int] = []
        nodes = range_nodes(start, end)
        assert len(nodes) <= 2 * max(1, (end - start).bit_length())
        for level, index in nodes:
            covered.extend(range(index << level, (index + 1) << level))
        assert covered == list(range(start, end))


def test_subtree_root_requires_an_aligned_range(store: MemoryHashes) -> None:
    assert subtree_root(8, 14, store) == root_from_leaves(ENTRIES[8:14])
    with pytest.raises(MalformedInput, match="aligned"):
        subtree_root(3, 6, store)
    with pytest.raises(MalformedInput):
        subtree_root(5, 5, store)


def test_missing_stored_hash_is_not_found() -> None:
    with pytest.raises(NotFound):
        MemoryHashes().hash_at(0, 0)


class CountingReader:
    """Answers any position with a synthetic hash and counts the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def hash_at(self, level: int, index: int) -> bytes:
        self.reads += 1
        return hashlib.sha256(f"{level}/{index}".encode()).digest()


@pytest.mark.parametrize("size", [1_000_000, 2**40 + 12345, 2**62 + 7])
def test_proofs_cost_logarithmic_reads(size: int) -> None:
    height = size.bit_length()
    reader = CountingReader()
    inclusion_proof(size // 3, size, reader)
    assert reader.reads <= 2 * height
    reader.reads = 0
    consistency_proof(size // 2 + 1, size, reader)
    assert reader.reads <= 3 * height
    reader.reads = 0
    tree_root(size, reader)
    assert reader.reads <= height

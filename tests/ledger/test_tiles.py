"""C2SP tlog-tiles: path encoding, which tiles exist, tile bytes and entry bundles."""

from __future__ import annotations

from collections import Counter

import pytest

from datacompact.errors import MalformedInput, NotFound, PayloadTooLarge
from datacompact.ledger.formats.merkle import (
    CompactRange,
    MemoryHashes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
)
from datacompact.ledger.formats.tiles import (
    MAX_ENTRY_SIZE,
    Tile,
    TileHashReader,
    encode_entry_bundle,
    encode_index,
    entry_bundles_for_size,
    parse_entry_bundle,
    parse_tile_path,
    split_tile,
    tile_for,
    tile_hashes,
    tiles_for_size,
)


@pytest.mark.parametrize(
    ("index", "encoded"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_encoding(index: int, encoded: str) -> None:
    assert encode_index(index) == encoded


@pytest.mark.parametrize(
    ("tile", "path"),
    [
        (Tile(0, 1234067), "tile/0/x001/x234/067"),
        (Tile(2, 5, 17), "tile/2/005.p/17"),
        (Tile(63, 0, 1), "tile/63/000.p/1"),
        (Tile(0, 1000, entries=True), "tile/entries/x001/000"),
        (Tile(0, 3, 255, entries=True), "tile/entries/003.p/255"),
    ],
)
def test_tile_paths_round_trip(tile: Tile, path: str) -> None:
    assert tile.path == path
    assert parse_tile_path(path) == tile


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tile/0", "tile/<level>/"),
        ("tiles/0/000", "tile/<level>/"),
        ("tile/0/0", "3-digit"),
        ("tile/0/0000", "3-digit"),
        ("tile/0/x01/000", "3-digit"),
        ("tile/0/001/002", "'x' before"),
        ("tile/0/x001", "3-digit"),
        ("tile/0/x000/001", "canonical"),
        ("tile/0/00a", "3-digit"),
        ("tile/0/\uff10\uff10\uff10", "3-digit"),
        ("tile/00/000", "leading zeros"),
        ("tile/-1/000", "decimal tile level"),
        ("tile/64/000", "between 0 and 63"),
        ("tile/x/000", "decimal tile level"),
        ("tile/0/000.p/0", "partial width"),
        ("tile/0/000.p/256", "1-255"),
        ("tile/0/000.p/07", "leading zeros"),
        ("tile/0/000.p/", "partial width"),
        ("tile/0/000.p/1/", "'x' before"),
        ("tile/0/x001/x002/x003/x004/x005/x006/x007/000", "index elements"),
        ("tile/entries/000/", "'x' before"),
    ],
)
def test_bad_tile_paths(path: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_tile_path(path)


def test_tiles_for_the_spec_examples() -> None:
    # c2sp.org/tlog-tiles: a tree of 70,000 leaves has 273 full level-0 tiles,
    # a level-0 partial of width 112, one full level-1 tile, a level-1
    # partial of width 17 and a level-2 partial of width 1.
    counts = Counter((t.level, t.width) for t in tiles_for_size(70_000))
    assert counts == {(0, 256): 273, (0, 112): 1, (1, 256): 1, (1, 17): 1, (2, 1): 1}
    # A tree of 256: one full level-0 tile and a level-1 partial of width 1.
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert entry_bundles_for_size(513) == [
        Tile(0, 0, entries=True),
        Tile(0, 1, entries=True),
        Tile(0, 2, 1, entries=True),
    ]


def test_tile_for_picks_full_or_partial() -> None:
    assert tile_for(0, 300, 70_000) == Tile(0, 1)
    assert tile_for(0, 69_999, 70_000) == Tile(0, 273, 112)
    assert tile_for(1, 272, 70_000) == Tile(1, 1, 17)
    with pytest.raises(NotFound):
        tile_for(0, 70_000, 70_000)


@pytest.fixture(scope="module")
def tree() -> tuple[int, MemoryHashes, list[bytes]]:
    size = 256 * 256 + 256 * 3 + 17
    entries = [i.to_bytes(4, "big") for i in range(size)]
    hashes, edge = MemoryHashes(), CompactRange()
    hashes.add(edge.append(leaf_hash(e) for e in entries).nodes)
    return size, hashes, entries


def test_tile_bytes_layout(tree: tuple[int, MemoryHashes, list[bytes]]) -> None:
    size, hashes, entries = tree
    level0 = tile_hashes(Tile(0, 2), hashes)
    assert len(level0) == 8192
    assert split_tile(level0, 256)[5] == leaf_hash(entries[2 * 256 + 5])
    level1 = tile_hashes(Tile(1, 0), hashes)
    # Each level-1 hash is the root of one full level-0 tile (level 8 of the tree).
    assert split_tile(level1, 256)[3] == hashes.hash_at(8, 3)
    partial = tile_hashes(tile_for(0, size - 1, size), hashes)
    assert len(partial) == 17 * 32
    with pytest.raises(MalformedInput, match="expected a 8192-byte tile, got 8191 bytes"):
        split_tile(level0[:-1], 256)
    with pytest.raises(MalformedInput, match="hash tile"):
        tile_hashes(Tile(0, 0, entries=True), hashes)


def test_a_mirror_recomputes_roots_and_proofs_from_tiles(
    tree: tuple[int, MemoryHashes, list[bytes]],
) -> None:
    size, hashes, _ = tree
    served = {t: tile_hashes(t, hashes) for t in tiles_for_size(size)}
    fetched: list[Tile] = []

    def fetch(tile: Tile) -> bytes:
        fetched.append(tile)
        return served[tile]

    reader = TileHashReader(size, fetch)
    assert tree_root(size, reader) == tree_root(size, hashes)
    for index in (0, 255, 256, 40_000, size - 1):
        assert inclusion_proof(index, size, reader) == inclusion_proof(index, size, hashes)
    assert consistency_proof(1000, size, reader) == consistency_proof(1000, size, hashes)
    assert len(fetched) == len(set(fetched))  # each tile fetched once
    with pytest.raises(NotFound):
        reader.hash_at(0, size)


def test_entry_bundles_round_trip() -> None:
    entries = [b"", b"a", b"\x00" * 300, b"x" * MAX_ENTRY_SIZE]
    bundle = encode_entry_bundle(entries)
    assert bundle[:2] == b"\x00\x00"
    assert bundle[2:4] == b"\x00\x01"
    assert parse_entry_bundle(bundle) == entries
    assert parse_entry_bundle(bundle, 4) == entries
    assert parse_entry_bundle(b"") == []


@pytest.mark.parametrize(
    ("data", "width", "message"),
    [
        (b"\x00", None, "2-byte entry length"),
        (b"\x00\x05abc", None, "expected a 5-byte entry, got 3 bytes left"),
        (b"\x00\x01a", 2, "expected 2 entries in the bundle, got 1"),
        (b"\x00\x00" * 257, None, "at most 256 entries"),
    ],
)
def test_malformed_entry_bundles(data: bytes, width: int | None, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_entry_bundle(data, width)


def test_oversized_entries_and_bundles() -> None:
    with pytest.raises(PayloadTooLarge, match="at most 65535 bytes, got 65536"):
        encode_entry_bundle([b"x" * (MAX_ENTRY_SIZE + 1)])
    with pytest.raises(MalformedInput, match="at most 256 entries"):
        encode_entry_bundle([b""] * 257)


def test_tiles_check_themselves() -> None:
    with pytest.raises(MalformedInput, match="width"):
        Tile(0, 0, 0)
    with pytest.raises(MalformedInput, match="level 0"):
        Tile(1, 0, entries=True)
    with pytest.raises(MalformedInput, match="index"):
        Tile(0, -1)

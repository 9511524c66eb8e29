"""C2SP tlog-tiles: tile paths, tile contents and entry bundles.

A tile at level ``L`` and index ``N`` holds up to 256 consecutive hashes of
Merkle level ``8 * L`` (tlog-tiles, "Merkle Tree"):
``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])`` for ``i < width``.
Full tiles are 256 hashes (8,192 bytes); the rightmost tile of each level may
be partial, of width ``floor(size / 256**L) mod 256``, and empty tiles do not
exist. Paths are ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``,
with ``N`` written in zero-padded 3-digit elements, all but the last prefixed
with ``x`` (``1234067`` → ``x001/x234/067``). Entry bundles are the entries
of a level-0 tile, each prefixed with its big-endian uint16 length ("Log
entries").

Parsing accepts exactly the canonical path of each tile, so one resource has
one name; anything else is a ``MalformedInput``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from datacompact.errors import MalformedInput, NotFound, PayloadTooLarge
from datacompact.ledger.formats.merkle import (
    HASH_SIZE,
    MAX_TREE_SIZE,
    HashReader,
    check_size,
    node_hash,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF
#: Enough 3-digit elements for any index of a tree below 2**63 leaves.
_MAX_INDEX_ELEMENTS = 7


@dataclass(frozen=True)
class Tile:
    """A hash tile (``level`` 0–63) or an entry bundle (``entries=True``, level 0)."""

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise MalformedInput("expected a tile level between 0 and 63, got another")
        if self.entries and self.level != 0:
            raise MalformedInput("expected entry bundles at level 0, got another level")
        if not 0 <= self.index <= MAX_TREE_SIZE >> TILE_HEIGHT:
            raise MalformedInput("expected a tile index within a 2**63 tree, got another")
        if not 1 <= self.width <= TILE_WIDTH:
            raise MalformedInput("expected a tile width between 1 and 256, got another")

    @property
    def is_partial(self) -> bool:
        """Whether the tile holds fewer than 256 hashes or entries."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """The tile's path below the log prefix, e.g. ``tile/0/x001/234.p/7``."""
        kind = "entries" if self.entries else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{kind}/{encode_index(self.index)}{suffix}"

    @property
    def first_hash_index(self) -> int:
        """The index, at Merkle level ``8 * level``, of the tile's first hash."""
        return self.index * TILE_WIDTH


def encode_index(index: int) -> str:
    """``N`` as zero-padded 3-digit path elements, all but the last ``x``-prefixed."""
    if index < 0:
        raise MalformedInput("expected a non-negative tile index, got a negative one")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def _parse_width(text: str) -> int:
    if not text.isascii() or not text.isdigit() or text[0] == "0" or len(text) > 3:
        raise MalformedInput("expected a partial width of 1-255 without leading zeros, got another")
    width = int(text)
    if width >= TILE_WIDTH:
        raise MalformedInput("expected a partial width of 1-255, got a larger one")
    return width


def parse_tile_path(path: str) -> Tile:
    """Parse ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` strictly."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise MalformedInput("expected a path starting 'tile/<level>/', got another")
    kind, rest = parts[1], parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = _parse_width(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    if not 1 <= len(rest) <= _MAX_INDEX_ELEMENTS:
        raise MalformedInput(f"expected 1-{_MAX_INDEX_ELEMENTS} index elements, got {len(rest)}")
    for position, element in enumerate(rest):
        digits = element if position == len(rest) - 1 else element.removeprefix("x")
        if position < len(rest) - 1 and not element.startswith("x"):
            raise MalformedInput("expected 'x' before every index element but the last, got none")
        if len(digits) != 3 or not digits.isascii() or not digits.isdigit():
            raise MalformedInput("expected 3-digit index elements, got another form")
    index = int("".join(element.removeprefix("x") for element in rest))
    if kind == "entries":
        tile = Tile(0, index, width, entries=True)
    else:
        if not kind.isascii() or not kind.isdigit() or (len(kind) > 1 and kind[0] == "0"):
            raise MalformedInput("expected a decimal tile level without leading zeros, got another")
        tile = Tile(int(kind), index, width)
    # The canonical form is unique: "x000/001" or a ".p/256" must not alias a tile.
    if tile.path != path:
        raise MalformedInput("expected the canonical tile path, got a non-canonical spelling")
    # Tree sizes stay below 2**63 (merkle.MAX_TREE_SIZE), so does every hash index.
    if (tile.index + 1) * TILE_WIDTH > MAX_TREE_SIZE:
        raise MalformedInput("expected a tile inside a tree below 2**63 leaves, got one beyond")
    return tile


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile of a tree of ``size`` leaves: full ones, then the partial one, per level."""
    check_size(size)
    tiles: list[Tile] = []
    level = 0
    while level <= MAX_TILE_LEVEL and size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        tiles.extend(Tile(level, n) for n in range(hashes // TILE_WIDTH))
        if hashes % TILE_WIDTH:
            tiles.append(Tile(level, hashes // TILE_WIDTH, hashes % TILE_WIDTH))
        level += 1
    return tiles


def entry_bundles_for_size(size: int) -> list[Tile]:
    """Every entry bundle of a tree of ``size`` leaves, the partial one last."""
    check_size(size)
    bundles = [Tile(0, n, entries=True) for n in range(size // TILE_WIDTH)]
    if size % TILE_WIDTH:
        bundles.append(Tile(0, size // TILE_WIDTH, size % TILE_WIDTH, entries=True))
    return bundles


def tile_for(level: int, index: int, size: int) -> Tile:
    """The tile (full if it exists, else partial) holding hash ``index`` of Merkle level ``8 * level``."""
    check_size(size)
    available = size >> (TILE_HEIGHT * level)
    if not 0 <= index < available:
        raise NotFound("expected a hash inside the tree, got a position beyond its size")
    n = index // TILE_WIDTH
    width = min(TILE_WIDTH, available - n * TILE_WIDTH)
    return Tile(level, n, width)


def tile_hashes(tile: Tile, reader: HashReader) -> bytes:
    """The tile's bytes: its ``width`` hashes of level ``8 * L``, concatenated."""
    if tile.entries:
        raise MalformedInput("expected a hash tile, got an entry bundle")
    level = TILE_HEIGHT * tile.level
    start = tile.first_hash_index
    return b"".join(reader.hash_at(level, start + i) for i in range(tile.width))


def split_tile(data: bytes, width: int) -> list[bytes]:
    """The hashes of a tile's bytes, checking it is exactly ``width`` hashes long."""
    if len(data) != width * HASH_SIZE:
        raise MalformedInput(f"expected a {width * HASH_SIZE}-byte tile, got {len(data)} bytes")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """Concatenate entries, each prefixed by its big-endian uint16 length."""
    out = bytearray()
    for count, entry in enumerate(entries, start=1):
        if len(entry) > MAX_ENTRY_SIZE:
            raise PayloadTooLarge(
                f"expected an entry of at most {MAX_ENTRY_SIZE} bytes, got {len(entry)}"
            )
        if count > TILE_WIDTH:
            raise MalformedInput(f"expected at most {TILE_WIDTH} entries per bundle, got more")
        out += len(entry).to_bytes(2, "big") + entry
    return bytes(out)


def parse_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; with ``width``, require exactly that many entries."""
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(entries) == TILE_WIDTH:
            raise MalformedInput(f"expected at most {TILE_WIDTH} entries per bundle, got more")
        if pos + 2 > len(data):
            raise MalformedInput("expected a 2-byte entry length, got a truncated one")
        length = int.from_bytes(data[pos : pos + 2], "big")
        pos += 2
        if pos + length > len(data):
            raise MalformedInput(
                f"expected a {length}-byte entry, got {len(data) - pos} bytes left"
            )
        entries.append(data[pos : pos + length])
        pos += length
    if width is not None and len(entries) != width:
        raise MalformedInput(f"expected {width} entries in the bundle, got {len(entries)}")
    return entries


class TileHashReader:
    """A :class:`HashReader` over fetched tiles, for mirrors and auditors.

    ``fetch`` returns a tile's bytes; hashes between tile levels are rebuilt by
    hashing inside one tile, as tlog-tiles describes ("Merkle Tree").
    """

    def __init__(self, size: int, fetch: Callable[[Tile], bytes]) -> None:
        self._size = check_size(size)
        self._fetch = fetch
        self._cache: dict[Tile, list[bytes]] = {}

    def _tile(self, tile: Tile) -> list[bytes]:
        if tile not in self._cache:
            self._cache[tile] = split_tile(self._fetch(tile), tile.width)
        return self._cache[tile]

    def hash_at(self, level: int, index: int) -> bytes:
        """The complete subtree hash at ``(level, index)``, from at most one tile."""
        tile_level, height = divmod(level, TILE_HEIGHT)
        first, count = index << height, 1 << height
        if (index + 1) << level > self._size:
            raise NotFound("expected a complete subtree inside the tree, got one beyond it")
        tile = tile_for(tile_level, first + count - 1, self._size)
        hashes = self._tile(tile)
        offset = first - tile.first_hash_index
        layer = hashes[offset : offset + count]
        # A perfect subtree of 2**height tile hashes, folded pairwise.
        while len(layer) > 1:
            layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
        return layer[0]

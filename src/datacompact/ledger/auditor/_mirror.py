"""The auditor's on-disk mirror: entries in segments, and one commit record.

Layout of the state directory (``datacompact audit --state DIR``)::

    DIR/
      lock                  flock'd for the whole run: one audit per directory
      state.json            the commit record, written last; holds the checkpoint note
      checkpoint            a copy of that note for people and other tools
      entries/
        000000.65536        segment 0: entries [0, 65536)
        000001.65536        segment 1: entries [65536, 131072)
        000015.16960        the last segment, partial: 16,960 entries

A segment holds 256 entry bundles (65,536 entries), concatenated exactly as
served: each entry prefixed with its big-endian uint16 length (C2SP
tlog-tiles, "Log entries"). Its name is ``<segment index>.<entry count>``, so a
file that a commit references is never overwritten: a growing last segment is
written under a new name and the old one is removed after the commit.

``state.json`` holds the format version, the last verified signed checkpoint
note (exactly as served), origin, tree size and root, the
compact range of the tree (RFC 9162 right edge, largest subtree first), the
recomputed hashes of the rightmost partial tile of every tile level above 0,
and ``tail_offset``, the byte offset in the last segment where the last,
partial entry bundle starts (it is re-fetched and compared on the next run).

Every file is written as temp file, fsync, ``os.replace``, fsync of the
directory (:func:`~datacompact.ledger.witness.write_atomic`). Segments go
first and ``state.json`` last, so a crash at any point leaves the previous
commit intact; files it does not reference are ignored and swept.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datacompact.errors import Conflict, InvalidInput, MalformedInput
from datacompact.ledger.formats.merkle import HASH_SIZE, check_size, range_nodes
from datacompact.ledger.formats.note import decode_base64
from datacompact.ledger.formats.tiles import TILE_WIDTH
from datacompact.ledger.witness import write_atomic

STATE_FORMAT = 1
#: 256 bundles of 256 entries: a segment is to bundles what a level-1 tile is to hashes.
SEGMENT_ENTRIES = TILE_WIDTH * TILE_WIDTH
_STATE = "state.json"
_CHECKPOINT = "checkpoint"
_ENTRIES = "entries"
_MAX_STATE_BYTES = 1 << 20


def _state_error(what: str) -> MalformedInput:
    return MalformedInput(
        f"expected a readable audit state, got {what}", details={"finding": "state"}
    )


@dataclass(frozen=True)
class MirrorState:
    """What the last successful run verified and committed."""

    origin: str
    size: int
    root_hash: bytes
    edge: tuple[bytes, ...]
    #: tile level (>= 1) -> concatenated hashes of that level's rightmost partial tile
    partial_tiles: dict[int, bytes] = field(default_factory=dict)
    tail_offset: int = 0
    #: the verified signed checkpoint note, exactly as served
    note: str = ""

    def to_json(self) -> bytes:
        """The commit record's bytes."""
        record: dict[str, Any] = {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "size": self.size,
            "root": _b64(self.root_hash),
            "edge": [_b64(h) for h in self.edge],
            "partial_tiles": {str(k): _b64(v) for k, v in sorted(self.partial_tiles.items())},
            "tail_offset": self.tail_offset,
            "checkpoint": self.note,
        }
        return json.dumps(record, indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> MirrorState:
        """Parse a commit record strictly; any deviation is a ``state`` finding."""
        try:
            record = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _state_error("a state.json that is not JSON") from exc
        if not isinstance(record, dict) or record.get("format") != STATE_FORMAT:
            raise _state_error("a state.json of another format")
        try:
            size = check_size(_int(record["size"]))
            edge = tuple(decode_base64(h, "edge hash", HASH_SIZE) for h in record["edge"])
            if len(edge) != len(range_nodes(0, size)):
                raise _state_error("a compact range of the wrong length")
            tiles = {
                _int(int(k)): decode_base64(v, "tile hashes")
                for k, v in dict(record["partial_tiles"]).items()
            }
            return cls(
                origin=str(record["origin"]),
                size=size,
                root_hash=decode_base64(record["root"], "root hash", HASH_SIZE),
                edge=edge,
                partial_tiles=tiles,
                tail_offset=_int(record["tail_offset"]),
                note=str(record["checkpoint"]),
            )
        except (KeyError, TypeError, ValueError, MalformedInput) as exc:
            raise _state_error("a state.json with missing or invalid fields") from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("not a non-negative integer")
    return value


def segment_name(index: int, count: int) -> str:
    """``<segment index, 6 digits>.<entry count>``."""
    return f"{index:06d}.{count}"


def segment_names(size: int) -> list[str]:
    """The segment files a tree of ``size`` leaves is mirrored in."""
    full, rest = divmod(size, SEGMENT_ENTRIES)
    names = [segment_name(i, SEGMENT_ENTRIES) for i in range(full)]
    if rest:
        names.append(segment_name(full, rest))
    return names


class Mirror:
    """The state directory: load the last commit, write segments, commit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries = root / _ENTRIES

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Create the directory and hold its lock; a concurrent audit is a ``Conflict``."""
        try:
            self.entries.mkdir(parents=True, exist_ok=True)
            handle = open(self.root / "lock", "a")  # noqa: SIM115 - entered just below, once opened
        except OSError as exc:
            raise InvalidInput("expected a writable state directory, got one that is not") from exc
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise Conflict("expected no other audit on this state, got one running") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> MirrorState | None:
        """The committed state, or ``None`` before the first commit."""
        try:
            with open(self.root / _STATE, "rb") as handle:
                data = handle.read(_MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _state_error("a state.json that cannot be read") from exc
        if len(data) > _MAX_STATE_BYTES:
            raise _state_error("a state.json larger than 1 MiB")
        return MirrorState.from_json(data)

    def read_segment(self, index: int, count: int) -> bytes:
        """A committed segment's bytes."""
        try:
            return (self.entries / segment_name(index, count)).read_bytes()
        except OSError as exc:
            raise _state_error("a committed entry segment missing or unreadable") from exc

    def write_segment(self, index: int, count: int, data: bytes) -> None:
        """Write one segment durably (it is referenced only once a commit names it)."""
        self._write(self.entries / segment_name(index, count), data)

    def commit(self, state: MirrorState) -> None:
        """Make ``state`` the new commit point, then sweep unreferenced segments."""
        self._write(self.root / _STATE, state.to_json())
        # Only a copy: the note inside state.json is the one that counts, so a
        # crash between these two writes cannot split note from record.
        self._write(self.root / _CHECKPOINT, state.note.encode("utf-8"))
        keep = set(segment_names(state.size))
        for path in self.entries.iterdir():
            if path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            write_atomic(path, data)
        except OSError as exc:
            raise InvalidInput("expected a writable state directory, got a failed write") from exc

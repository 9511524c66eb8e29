"""Fetching for the auditor: one keep-alive client, a small pool, and typed findings.

Every HTTP failure becomes a :class:`~datacompact.errors.DataCompactError`
carrying a :class:`Finding` in ``details["finding"]``: a 404 on an entry bundle
is a missing entry, on a hash tile a missing tile; any other status, or no
answer at all, means the log cannot be reached. No ``httpx`` exception leaves
this module.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from enum import StrEnum
from typing import Any

import httpx

from datacompact.errors import (
    DataCompactError,
    MalformedInput,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.ledger.formats.merkle import HASH_SIZE
from datacompact.ledger.formats.note import MAX_NOTE_BYTES
from datacompact.ledger.formats.tiles import MAX_ENTRY_SIZE, TILE_WIDTH, Tile

#: How many bundles may be fetched ahead of the one being hashed.
PREFETCH = 64
_MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)
_MAX_TILE_BYTES = TILE_WIDTH * HASH_SIZE


class Finding(StrEnum):
    """What an audit found wrong; it is ``details["finding"]`` of the raised error."""

    BAD_SIGNATURE = "bad_signature"
    QUORUM = "quorum"
    FORK = "fork"
    DECLARED_LOSS = "declared_loss"
    MISSING_ENTRY = "missing_entry"
    ALTERED_ENTRY = "altered_entry"
    ALTERED_TILE = "altered_tile"
    MISSING_TILE = "missing_tile"
    BAD_RECEIPT = "bad_receipt"
    MALFORMED = "malformed"
    UNREACHABLE = "unreachable"
    STATE = "state"


_LABELS: dict[Finding, str] = {
    Finding.BAD_SIGNATURE: "签名无效",
    Finding.QUORUM: "见证不足",
    Finding.FORK: "分叉",
    Finding.DECLARED_LOSS: "日志声明条目丢失",
    Finding.MISSING_ENTRY: "条目缺失",
    Finding.ALTERED_ENTRY: "条目被篡改",
    Finding.ALTERED_TILE: "哈希瓦片被篡改",
    Finding.MISSING_TILE: "哈希瓦片缺失",
    Finding.BAD_RECEIPT: "回执无效",
    Finding.MALFORMED: "格式错误",
    Finding.UNREACHABLE: "日志不可达",
    Finding.STATE: "本地状态无效",
}


def _tagged(finding: Finding) -> dict[str, str]:
    label = f"{_LABELS[finding]} / {finding.value.replace('_', ' ')}"
    return {"finding": finding.value, "finding_label": label}


def error(
    cls: type[DataCompactError], finding: Finding, message: str, **details: Any
) -> DataCompactError:
    """An error of class ``cls`` whose ``details["finding"]`` is ``finding``."""
    return cls(message, details={**_tagged(finding), **details})


def relabel(exc: DataCompactError, finding: Finding) -> DataCompactError:
    """Re-label a library error with a finding, keeping its class and message."""
    return type(exc)(exc.message, details={**exc.details, **_tagged(finding)})


class Fetcher:
    """GETs below the log prefix over one keep-alive client, mapping every failure."""

    def __init__(self, client: httpx.Client, url: str) -> None:
        self._client = client
        self._base = url.rstrip("/") + "/"
        self._lock = threading.Lock()
        self.requests = 0

    def get(self, path: str, *, what: str, limit: int, missing: Finding) -> bytes:
        with self._lock:
            self.requests += 1
        try:
            with self._client.stream("GET", self._base + path) as response:
                if response.status_code == 404:
                    raise error(
                        VerificationFailed, missing, f"expected {what} to be served, got HTTP 404"
                    )
                if response.status_code != 200:
                    raise error(
                        StoreUnavailable,
                        Finding.UNREACHABLE,
                        f"expected {what}, got HTTP {response.status_code}",
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise error(
                            MalformedInput,
                            Finding.MALFORMED,
                            f"expected {what} of at most {limit} bytes, got more",
                        )
                return bytes(body)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise error(
                StoreUnavailable, Finding.UNREACHABLE, f"expected {what}, got no response"
            ) from exc

    def checkpoint(self) -> bytes:
        try:
            return self.get(
                "checkpoint", what="the checkpoint", limit=MAX_NOTE_BYTES, missing=Finding.STATE
            )
        except VerificationFailed as exc:
            # No checkpoint at all means no log at this URL, not tampering.
            raise error(
                StoreUnavailable, Finding.UNREACHABLE, "expected a checkpoint, got HTTP 404"
            ) from exc

    def tile(self, tile: Tile) -> bytes:
        if tile.entries:
            return self.get(
                tile.path,
                what=f"entry bundle {tile.index}",
                limit=_MAX_BUNDLE_BYTES,
                missing=Finding.MISSING_ENTRY,
            )
        return self.get(
            tile.path,
            what=f"hash tile {tile.level}/{tile.index}",
            limit=_MAX_TILE_BYTES,
            missing=Finding.MISSING_TILE,
        )


def _fetch_pair(fetcher: Fetcher, bundle: Tile) -> tuple[Tile, bytes, bytes]:
    tile = Tile(0, bundle.index, bundle.width)
    return bundle, fetcher.tile(bundle), fetcher.tile(tile)


def fetch_in_order(
    fetcher: Fetcher, bundles: Sequence[Tile], workers: int
) -> Generator[tuple[Tile, bytes, bytes]]:
    """Fetch bundles and their level-0 tiles in a pool, yielding them in log order."""
    if not bundles:
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit-fetch") as pool:
        pending: deque[Future[tuple[Tile, bytes, bytes]]] = deque()
        todo = iter(bundles)
        try:
            for bundle in todo:
                pending.append(pool.submit(_fetch_pair, fetcher, bundle))
                if len(pending) >= PREFETCH:
                    break
            while pending:
                result = pending.popleft().result()
                following = next(todo, None)
                if following is not None:
                    pending.append(pool.submit(_fetch_pair, fetcher, following))
                yield result
        finally:
            for future in pending:
                future.cancel()

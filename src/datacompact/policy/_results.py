"""Stored results of governed queries: pages and streams without running a query again.

A query's answer is written once, when it executed, as Parquet under
``<home>/results/<grant id>/<query id>.parquet`` (a temporary file, ``fsync``,
then ``os.replace``; mode 0600). Later pages and the CSV or Parquet stream
read that file: fetching a page never runs the SQL again and never charges
the grant again, and since the file is the one answer the receipt's
``result_sha256`` covers, nothing a page shows was not released by that query.

Page tokens are opaque and signed: ``base64url(JSON) "." base64url(HMAC-SHA256)``
over the query id, the offset, the page size and the result's hash, with a
key derived from the platform secret. A token cannot be forged to start
elsewhere, nor moved to another query's result. Results older than the
retention are refused when read, and removed when a later result of the same
grant is stored (each process looks at a grant's folder at most once every
:data:`SWEEP_SECONDS`: the look reads every file's time, and a busy grant
holds thousands). A grant that is never queried again would keep its results
for ever that way, so :func:`sweep_expired` looks at every grant's folder: a
served platform runs it at start-up and then every
:data:`SWEEP_EVERY_SECONDS` (:class:`ResultSweeper`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import io
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.crypto import derive_key
from datacompact.errors import InvalidInput, NotFound
from datacompact.policy.schemas import ResultProtection
from datacompact.sandbox.engine import python_rows

_log = logging.getLogger("datacompact.queries")

RESULTS = "results"
#: Schema metadata keys of a stored result.
_META = b"datacompact.result"
#: Bytes per chunk of a streamed Parquet file.
CHUNK_BYTES = 1 << 16
#: Seconds between two looks of one process for expired results in a grant's folder.
SWEEP_SECONDS = 60.0

#: Seconds between two sweeps of every grant's folder while serving.
SWEEP_EVERY_SECONDS = 600.0

_swept: dict[Path, float] = {}
_swept_lock = threading.Lock()


@dataclass(frozen=True)
class Stored:
    """A stored result as a page reader needs it."""

    path: Path
    rows: int
    truncated: bool
    protection: ResultProtection | None


def result_path(home: Path, grant_id: int, query_id: int) -> Path:
    return home / RESULTS / str(grant_id) / f"{query_id}.parquet"


def store_result(
    home: Path,
    *,
    grant_id: int,
    query_id: int,
    rows: pa.Table,
    truncated: bool,
    protection: ResultProtection | None,
    retention_seconds: float,
) -> Path:
    """Write ``rows`` whole or not at all; remove this grant's results past the retention."""
    folder = home / RESULTS / str(grant_id)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for parent in (home / RESULTS, folder):
        parent.chmod(0o700)
    _expire(folder, retention_seconds)
    meta = {
        "query_id": query_id,
        "truncated": truncated,
        "protection": protection.model_dump() if protection else None,
    }
    table = rows.replace_schema_metadata(
        {**(rows.schema.metadata or {}), _META: json.dumps(meta).encode()}
    )
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".result-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:  # mkstemp: mode 0600
            pq.write_table(table, file)
            file.flush()
            os.fsync(file.fileno())
        target = result_path(home, grant_id, query_id)
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target


def discard_result(home: Path, grant_id: int, query_id: int) -> None:
    with suppress(FileNotFoundError):
        result_path(home, grant_id, query_id).unlink()


def _expire(folder: Path, retention_seconds: float) -> None:
    now = time.monotonic()
    with _swept_lock:
        if now - _swept.get(folder, -math.inf) < SWEEP_SECONDS:
            return
        _swept[folder] = now
    _remove_expired(folder, time.time() - retention_seconds)


def _remove_expired(folder: Path, cutoff: float) -> int:
    """Remove the results in ``folder`` last written before ``cutoff``; how many were removed.

    A temporary file of a write that died with its process is removed on the
    same terms: a live write renames its file within seconds.
    """
    removed = 0
    for pattern in ("*.parquet", ".result-*.tmp"):
        for entry in folder.glob(pattern):
            with suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
    return removed


def sweep_expired(home: Path, *, retention_seconds: float) -> int:
    """Remove every stored result past the retention, in every grant's folder; how many.

    Folders stay, even empty: a query storing its result may have just created
    its grant's folder, and removing it under that write would fail the query.
    """
    base = home / RESULTS
    if not base.is_dir():
        return 0
    cutoff = time.time() - retention_seconds
    removed = 0
    for folder in base.iterdir():
        if folder.is_dir() and not folder.is_symlink():
            removed += _remove_expired(folder, cutoff)
    return removed


class ResultSweeper(threading.Thread):
    """Runs :func:`sweep_expired` every ``interval`` seconds until :meth:`stop`."""

    def __init__(self, home: Path, *, retention_seconds: float, interval: float) -> None:
        super().__init__(name="datacompact-result-sweeper", daemon=True)
        self.home, self.retention_seconds, self.interval = home, retention_seconds, interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                removed = sweep_expired(self.home, retention_seconds=self.retention_seconds)
            except OSError as exc:
                # The schedule must outlive one failure (a folder removed under
                # it, a full disk); the next tick tries again.
                _log.warning("sweep of expired results failed: %s", exc)
                continue
            if removed:
                _log.info("removed %d expired query results", removed)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 5)


def open_result(home: Path, *, grant_id: int, query_id: int, retention_seconds: float) -> Stored:
    """The stored result of a query, or ``NotFound`` when it was never stored or has expired."""
    path = result_path(home, grant_id, query_id)
    try:
        fresh = time.time() - path.stat().st_mtime <= retention_seconds
        metadata = pq.read_metadata(path) if fresh else None
    except (OSError, pa.ArrowInvalid):
        metadata = None
    meta: dict[str, Any] = {}
    if metadata is not None:
        with suppress(ValueError, TypeError):
            meta = json.loads((metadata.metadata or {}).get(_META, b"{}"))
    if metadata is None or meta.get("query_id") != query_id:
        raise NotFound(
            "查询结果已过期或未保存，请重新查询 / the stored result of this query has expired or "
            "was never kept; run the query again",
            details={"query_id": query_id},
        )
    found = meta.get("protection")
    return Stored(
        path=path,
        rows=metadata.num_rows,
        truncated=bool(meta.get("truncated")),
        protection=ResultProtection.model_validate(found) if found else None,
    )


def read_rows(
    stored: Stored, offset: int, limit: int
) -> tuple[list[dict[str, str]], list[list[Any]]]:
    """Columns and the rows ``offset`` to ``offset + limit`` of a stored result."""
    table = pq.read_table(stored.path).slice(offset, limit)
    table = table.replace_schema_metadata(None)
    columns = [{"name": f.name, "type": str(f.type)} for f in table.schema]
    return columns, python_rows(table)


def stream_csv(stored: Stored) -> Iterator[bytes]:
    """The whole result as UTF-8 CSV (header first), one record batch at a time."""
    source = pq.ParquetFile(stored.path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(source.schema_arrow.names)
    for batch in source.iter_batches(batch_size=10_000):
        writer.writerows(python_rows(pa.Table.from_batches([batch])))
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def stream_parquet(stored: Stored) -> Iterator[bytes]:
    """The stored Parquet file itself, in chunks."""
    with stored.path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


def _key(secret: bytes) -> bytes:
    return derive_key(secret, purpose=b"datacompact/result-pages")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def page_token(secret: bytes, *, query_id: int, offset: int, size: int, digest: str) -> str:
    """An opaque token for the page at ``offset`` of one query's result (see the module)."""
    body = json.dumps(
        {"q": query_id, "o": offset, "n": size, "h": digest[:16]}, separators=(",", ":")
    ).encode()
    mac = hmac.new(_key(secret), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def read_token(secret: bytes, token: str, *, query_id: int, digest: str) -> tuple[int, int]:
    """The (offset, size) a token names, or ``InvalidInput`` if it was not issued for this result."""
    invalid = InvalidInput(
        "分页令牌无效 / the page token is not valid for this query's result",
        details={"field": "page_token"},
    )
    try:
        encoded_body, encoded_mac = token.split(".")
        body, mac = _unb64(encoded_body), _unb64(encoded_mac)
    except (ValueError, binascii.Error):
        raise invalid from None
    if not hmac.compare_digest(mac, hmac.new(_key(secret), body, hashlib.sha256).digest()):
        raise invalid
    try:
        fields = json.loads(body)
        offset, size = int(fields["o"]), int(fields["n"])
        ok = fields["q"] == query_id and fields["h"] == digest[:16] and offset >= 0 and size >= 1
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    if not ok:
        raise invalid
    return offset, size

"""Benchmark: a full ``datacompact audit`` of a 1,000,000-entry log from its tiles.

Builds a deterministic log of 1M entries of about 250 bytes, serves its
checkpoint (signed by a log key and cosigned by two witnesses), hash tiles and
entry bundles in C2SP tlog-tiles layout over real HTTP (uvicorn on 127.0.0.1,
in a background thread), then times :func:`~datacompact.ledger.auditor.audit.audit_log`
from an empty state directory, and a second, incremental run after appends.

The server answers from bytes prepared in advance, as a static file server
or CDN in front of a tiles log would; what is timed is the auditor. The
server still shares this process (and its GIL) with the auditor, so the
figure is pessimistic. Target: <= 20 s on the 2-core machine.

Run: ``.venv/bin/python benchmarks/ledger/bench_audit.py [--entries N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

from datacompact.ledger.auditor.audit import audit_log
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.merkle import CompactRange, leaf_hash
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note
from datacompact.ledger.formats.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    encode_entry_bundle,
    entry_bundles_for_size,
    tiles_for_size,
)

TARGET_SECONDS = 20.0
ORIGIN = "bench.example/datacompact-log"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def make_entry(index: int) -> bytes:
    """A deterministic ~250-byte entry shaped like a platform event (hashes, no personal data)."""
    digest = hashlib.sha256(index.to_bytes(8, "big")).hexdigest()
    return (
        f'{{"seq":{index},"type":"grant.decided","actor":"member-{index % 997:04d}",'
        f'"application":"app-{index % 65_521:06d}","decision":"approved",'
        f'"payload_sha256":"{digest}","at":"2025-01-01T00:00:00Z",'
        f'"region":"330100","schema":1,"pad":"{digest[: index % 8]}"}}'
    ).encode()


class Log:
    """The log's served bytes: every tile and bundle of ``size`` entries, prepared up front."""

    def __init__(self) -> None:
        self.signer = Ed25519Signer.generate(ORIGIN)
        self.witnesses = [CosignatureSigner.generate(f"bench.example/w{i}") for i in (1, 2)]
        self.entries: list[bytes] = []
        self.compact = CompactRange()
        #: tile level -> that level's hashes (level 0: leaf hashes)
        self.levels: dict[int, list[bytes]] = {}
        self.files: dict[str, bytes] = {}

    def append(self, count: int) -> None:
        start = len(self.entries)
        new = [make_entry(i) for i in range(start, start + count)]
        self.entries += new
        for node in self.compact.append(leaf_hash(e) for e in new).nodes:
            if node.level % TILE_HEIGHT == 0:
                self.levels.setdefault(node.level // TILE_HEIGHT, []).append(node.hash)
        self._publish()

    def _publish(self) -> None:
        size = len(self.entries)
        files: dict[str, bytes] = {}
        for tile in tiles_for_size(size):
            first = tile.first_hash_index
            files[tile.path] = b"".join(self.levels[tile.level][first : first + tile.width])
        for bundle in entry_bundles_for_size(size):
            first = bundle.index * TILE_WIDTH
            files[bundle.path] = encode_entry_bundle(self.entries[first : first + bundle.width])
        text = Checkpoint(ORIGIN, size, self.compact.root()).to_text()
        note = sign_note(text, [self.signer])
        cosigs = tuple(w.cosign(text, int(time.time())) for w in self.witnesses)
        files["checkpoint"] = Note(text, note.signatures + cosigs).to_text().encode()
        self.files = {f"/ledger/{path}": data for path, data in files.items()}


def make_app(log: Log) -> Callable[[Scope, Callable[[], Awaitable[Message]], Any], Awaitable[None]]:
    """A bare ASGI app answering GETs from ``log.files``: static-file-server cheap."""

    async def app(scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        body = log.files.get(scope["path"])
        status = 200 if body is not None else 404
        body = body if body is not None else b"not found\n"
        headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    t0 = time.perf_counter()
    log = Log()
    log.append(args.entries)
    build = time.perf_counter() - t0
    entry_bytes = sum(len(e) for e in log.entries)
    print(
        f"log: {args.entries:,} entries, {entry_bytes / args.entries:.0f} bytes on average, "
        f"{len(log.files):,} files served, built in {build:.1f} s"
    )

    port = free_port()
    config = uvicorn.Config(
        make_app(log), host="127.0.0.1", port=port, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}/ledger"
    log_key = log.signer.verifier().vkey
    witness_keys = [w.verifier().vkey for w in log.witnesses]
    extra = {} if args.workers is None else {"workers": args.workers}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-audit-") as state:
            t0 = time.perf_counter()
            full = audit_log(
                url=url, state_dir=Path(state), witness_keys=witness_keys, log_key=log_key, **extra
            )
            elapsed = time.perf_counter() - t0
            mirrored = sum(p.stat().st_size for p in Path(state, "entries").iterdir())
            print(
                f"full audit: {elapsed:.2f} s for {full.size:,} entries "
                f"({full.size / elapsed:,.0f} entries/s), {full.requests:,} requests, "
                f"{mirrored / 1e6:.0f} MB mirrored, witnesses {len(full.witnesses)}"
            )
            print(f"target: <= {TARGET_SECONDS:.0f} s; ratio {elapsed / TARGET_SECONDS:.2f}")

            log.append(args.append)
            t0 = time.perf_counter()
            step = audit_log(
                url=url, state_dir=Path(state), witness_keys=witness_keys, log_key=log_key, **extra
            )
            elapsed = time.perf_counter() - t0
            print(
                f"incremental audit: {elapsed:.3f} s for +{step.entries_fetched:,} entries, "
                f"{step.requests:,} requests"
            )
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()

"""Benchmark: a full audit of a 1,000,000-entry log served by ``datacompact serve``.

Unlike ``bench_audit.py`` (a prepared in-memory log, which times the auditor
alone), this fills a real platform store with N events, starts
``datacompact serve`` as a separate process, and times
:func:`~datacompact.ledger.auditor.audit.audit_log` from an empty state directory:
the platform reads every bundle and tile from its store while the auditor
mirrors and recomputes. Target: <= 20 s on the 2-core machine.

Run: ``.venv/bin/python benchmarks/ledger/bench_audit_served.py [--entries N]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _store import fill, new_platform

from datacompact.ledger.auditor.audit import audit_log
from datacompact.ledger.log import checkpoints

TARGET_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    platform = new_platform()
    start = time.perf_counter()
    fill(platform, args.entries, batch=10_000)
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    built = time.perf_counter() - start
    vkey = platform.log_signer.verifier().vkey
    home = platform.settings.home
    platform.close()

    port = _free_port()
    env = {
        **os.environ,
        "DATACOMPACT_HOME": str(home),
        "DATACOMPACT_CHECKPOINT_INTERVAL_SECONDS": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "datacompact", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as state:
            t0 = time.perf_counter()
            result = audit_log(
                url=f"http://127.0.0.1:{port}/ledger", log_key=vkey, state_dir=Path(state)
            )
            elapsed = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(
        f"served audit: {result.size:,} entries (store built in {built:.1f} s) audited in "
        f"{elapsed:.2f} s over {result.requests:,} requests = {result.size / elapsed:,.0f} "
        f"entries/s — {elapsed / TARGET_SECONDS:.2f}× the {TARGET_SECONDS:.0f} s target"
    )


if __name__ == "__main__":
    main()

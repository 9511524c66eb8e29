"""``GET /api/v1/me`` while a client floods the login endpoint, with and without rate limits.

Each login runs an argon2 hash (about 0.1 s of one core). Before the rate
limits, 32 concurrent logins moved the median of ``GET /api/v1/me`` from
13 ms to 491 ms. This builds the demo city (no datasets) in a fresh home on
SQLite, then for each configuration starts ``datacompact serve`` as its own
process and measures ``GET /api/v1/me`` (one client, sequential) first idle,
then while ``--flood`` client threads (in a process of their own, so that
they do not hold the measuring thread's GIL) send wrong-password logins as
fast as they are answered, for ``--seconds`` each:

- ``unlimited``: limits so high and back-off off, as before the limits;
- ``defaults``: the default limits (``docs/operations.md``, "Rate limits").

Printed: p50 and p99 of ``/me`` idle and under the flood, and how many logins
were answered 401 (an argon2 hash ran) and 429 (refused before it).
Target: with the default limits, p50 of ``/me`` under the flood within 3× of
idle.

Run: ``.venv/bin/python benchmarks/api/bench_login_flood.py [--flood N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

TARGET_RATIO = 3.0
UNLIMITED = {
    "DATACOMPACT_RATE_LIMIT_LOGIN_PER_ACCOUNT": "1000000/second",
    "DATACOMPACT_RATE_LIMIT_LOGIN_PER_ADDRESS": "1000000/second",
    "DATACOMPACT_RATE_LIMIT_TOKENS_PER_ADDRESS": "1000000/second",
    "DATACOMPACT_RATE_LIMIT_LOGIN_BACKOFF_SECONDS": "0",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, "DATACOMPACT_HOME": str(home), **extra}
    env.pop("DATACOMPACT_DATABASE_URL", None)
    return env


def _cli(home: Path, *args: str, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    exe = [sys.executable, "-m", "datacompact"]
    return subprocess.Popen(
        [*exe, *args],
        env=_env(home, extra or {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def _me_latencies(base: str, token: str, seconds: float) -> list[float]:
    found = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            client.get("/api/v1/me").raise_for_status()
            found.append((time.perf_counter() - started) * 1000)
    return found


def _flood_thread(base: str, username: str, stop: threading.Event, statuses: Counter[int]) -> None:
    body = {"username": username, "password": "Wrong-Guess-42"}
    with httpx.Client(base_url=base, timeout=60) as client:
        while not stop.is_set():
            try:
                statuses[client.post("/api/v1/auth/token", json=body).status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1


def _flood(base: str, username: str, clients: int, stop: Any, out: Any) -> None:
    """The flooding process: ``clients`` threads until ``stop`` is set; the statuses to ``out``."""
    halt = threading.Event()
    statuses: Counter[int] = Counter()
    threads = [
        threading.Thread(target=_flood_thread, args=(base, username, halt, statuses))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    halt.set()
    for thread in threads:
        thread.join()
    out.put(dict(statuses))


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def measure(home: Path, name: str, extra: dict[str, str], flood: int, seconds: float) -> float:
    credentials = json.loads((home / "demo-credentials.json").read_text())
    token = credentials[0]["token"]
    username = credentials[0]["user"]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _cli(home, "serve", "--port", str(port), extra=extra)
    try:
        _wait(base, server)
        idle = _me_latencies(base, token, seconds)
        stop, out = multiprocessing.Event(), multiprocessing.Queue()
        flooding = multiprocessing.Process(target=_flood, args=(base, username, flood, stop, out))
        flooding.start()
        time.sleep(1.0)
        loaded = _me_latencies(base, token, seconds)
        stop.set()
        statuses: Counter[int] = Counter(out.get(timeout=120))
        flooding.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    ratio = _p(loaded, 50) / _p(idle, 50)
    print(
        f"{name:>10}: /me idle p50 {_p(idle, 50):7.1f} ms p99 {_p(idle, 99):7.1f} ms | "
        f"under {flood} flooding clients p50 {_p(loaded, 50):7.1f} ms p99 {_p(loaded, 99):7.1f} ms "
        f"(×{ratio:.1f}) | logins 401: {statuses[401]}, 429: {statuses[429]}, other: "
        f"{sum(v for k, v in statuses.items() if k not in (401, 429))}",
        flush=True,
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        demo = _cli(home, "demo", "--no-serve", "--scale", "0")
        if demo.wait(timeout=600) != 0:
            raise SystemExit("the demo city could not be built")
        measure(home, "unlimited", UNLIMITED, args.flood, args.seconds)
        ratio = measure(home, "defaults", {}, args.flood, args.seconds)
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"default limits: p50 under the flood ×{ratio:.1f} of idle, {verdict} ≤ ×{TARGET_RATIO}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

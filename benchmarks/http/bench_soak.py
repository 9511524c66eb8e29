"""A steady mixed load for minutes, then kill -9 of a worker and of the whole server.

Starts ``datacompact serve --workers 2`` on a demo city and sends requests at
a fixed rate (open loop: a request is sent on schedule whether or not the
previous ones have answered), mixed as an operator's day would be:

- 50 % reads: ``GET /participants``, ``/resources``, ``/me``, ``/events``;
- 30 % governed queries (an aggregate with an entity threshold);
- 20 % writes: ``POST /tokens``, each acknowledged with a log receipt.

Every ten seconds it samples the workers' resident memory and the latency.
It reports errors (any status but 200/201), RSS growth from the first to the
last sample (target ≤ 10 %), and the p50/p99 of the first and last minute
(no drift).

Then, still under load, it kills one worker with SIGKILL (uvicorn starts a
new one), and after that the whole server (parent and workers) with SIGKILL,
restarts it and checks that every write acknowledged before the kills is in
the log: each receipt's index holds an ``token.issued`` event, ``datacompact
ledger check`` passes, and ``datacompact audit`` of the served log, with a
mirror taken before the kills, is consistent.

Run: ``.venv/bin/python benchmarks/http/bench_soak.py [--seconds 600] [--rate 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import (
    GROUP_BY,
    TAX,
    _bearer,
    _demo_city,
    _env,
    _free_port,
    _grant,
    _wait,
)


def _workers(server: subprocess.Popen[bytes]) -> list[int]:
    """The pids of the server's worker processes (its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == server.pid:
                found.append(int(entry.name))
    return sorted(found)


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Load:
    """Open-loop mixed requests at ``rate`` per second; remembers every receipt."""

    def __init__(self, base: str, rate: float, reader: dict[str, str], query: Any) -> None:
        self.base = base
        self.rate = rate
        self.reader = reader
        self.query = query  # (headers, grant id, table)
        self.latencies: list[tuple[float, float]] = []  # (time, ms)
        self.errors: dict[str, int] = {}
        self.receipts: list[int] = []
        self.stopped = False

    async def _one(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        pick = rng.random()
        started = time.perf_counter()
        try:
            if pick < 0.5:
                path = rng.choice(("/participants", "/resources", "/me", "/events?limit=20"))
                response = await http.get(f"/api/v1{path}", headers=self.reader)
            elif pick < 0.8:
                headers, grant_id, table = self.query
                body = {"grant_id": grant_id, "sql": GROUP_BY.format(t=table)}
                response = await http.post("/api/v1/queries", json=body, headers=headers)
            else:
                response = await http.post(
                    "/api/v1/tokens", json={"label": "soak"}, headers=self.reader
                )
                if response.status_code == 201:
                    self.receipts.append(response.json()["receipt"]["log_index"])
            if response.status_code not in (200, 201):
                key = str(response.status_code)
                self.errors[key] = self.errors.get(key, 0) + 1
        except httpx.HTTPError as exc:
            key = type(exc).__name__
            self.errors[key] = self.errors.get(key, 0) + 1
        self.latencies.append((time.perf_counter(), (time.perf_counter() - started) * 1000))

    async def run(self, seconds: float) -> None:
        rng = random.Random(7)
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=self.base, timeout=60, limits=limits) as http:
            tasks: set[asyncio.Task[None]] = set()
            started = time.perf_counter()
            sent = 0
            while not self.stopped and time.perf_counter() - started < seconds:
                due = started + sent / self.rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                task = asyncio.create_task(self._one(http, rng))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.gather(*tasks)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "no requests"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.0f} ms, p99 {p99:.0f} ms"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("datacompact")
    return subprocess.run(
        [str(exe), *args], env=_env(home), capture_output=True, text=True, check=False
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="a built demo city to reuse (it gets writes)")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        home = args.home or Path(folder) / "home"
        credentials = _demo_city(home, reuse=args.home is not None, scale=args.scale)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"

        # The load is one client issuing tokens far faster than the default
        # per-credential and per-address limits allow (they are for floods):
        # raised here so that every write is a real one.
        env = _env(home) | {
            "DATACOMPACT_RATE_LIMIT_TOKENS_PER_CREDENTIAL": "100000/minute",
            "DATACOMPACT_RATE_LIMIT_TOKENS_PER_ADDRESS": "100000/minute",
        }

        def start() -> subprocess.Popen[bytes]:
            server = subprocess.Popen(
                [str(Path(sys.executable).with_name("datacompact")), "serve", "--port", str(port),
                 "--workers", "2"],
                env=env,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            _wait(base, server, "/readyz")
            return server

        server = start()
        try:
            with httpx.Client(base_url=base, timeout=60) as http:
                query = _grant(
                    http, credentials, "it-shulan.analyst", TAX, ["行业门类", "纳税信用等级"],
                    "aggregates",
                )  # fmt: skip
            reader = _bearer(next(c for c in credentials if c["user"] == "amr.analyst"))
            load = Load(base, args.rate, reader, query)
            rss: list[float] = []

            async def soak() -> None:
                runner = asyncio.create_task(load.run(args.seconds))
                while not runner.done():
                    rss.append(_rss_mb(_workers(server)))
                    await asyncio.wait({runner}, timeout=10)
                await runner

            asyncio.run(soak())
            lat = load.latencies
            t0 = lat[0][0] if lat else 0.0
            first = [ms for t, ms in lat if t - t0 < 60]
            last = [ms for t, ms in lat if t >= lat[-1][0] - 60]
            growth = (rss[-1] - rss[1]) / rss[1] * 100 if len(rss) > 2 else float("nan")
            print(
                f"soak: {len(lat):,} requests in {args.seconds:.0f} s at {args.rate:.0f}/s "
                f"(2 workers, {'PostgreSQL' if os.environ.get('DATACOMPACT_BENCH_DATABASE_URL') else 'SQLite'})"
            )
            print(f"  errors: {load.errors or 'none'}")
            print(
                f"  workers' RSS: {rss[1] if len(rss) > 1 else float('nan'):.0f} MB after 10 s, "
                f"{rss[-1]:.0f} MB at the end ({growth:+.1f} %; target ≤ +10 %)"
            )
            print(f"  first minute {_percentiles(first)}; last minute {_percentiles(last)}")

            # An auditor's mirror before the kills.
            vkey = httpx.get(f"{base}/ledger/key").text.strip()
            mirror = Path(folder) / "mirror"
            audit = ["audit", "--url", f"{base}/ledger", "--key", vkey, "--state", str(mirror)]
            before = _cli(home, *audit)
            print(f"  audit before the kills: exit {before.returncode}")

            # kill -9 of one worker, then of the whole server, under load.
            kill_load = Load(base, args.rate, reader, query)

            async def kills() -> None:
                runner = asyncio.create_task(kill_load.run(60))
                await asyncio.sleep(10)
                victim = _workers(server)[0]
                os.kill(victim, signal.SIGKILL)
                await asyncio.sleep(20)
                os.killpg(server.pid, signal.SIGKILL)
                kill_load.stopped = True
                await runner

            asyncio.run(kills())
            server.wait()
            acknowledged = load.receipts + kill_load.receipts
            server = start()
            with httpx.Client(base_url=base, timeout=60) as http:
                lost = []
                for index in sorted(acknowledged):
                    page = http.get(
                        "/api/v1/events", params={"after": index - 1, "limit": 1}, headers=reader
                    ).json()["data"]
                    if not page or page[0]["index"] != index or page[0]["type"] != "token.issued":
                        lost.append(index)
            check = _cli(home, "ledger", "check", "--json")
            after = _cli(home, *audit)
            print(
                f"kill -9: errors during the kills {kill_load.errors or 'none'} (expected: "
                f"connections cut); {len(acknowledged):,} acknowledged writes, {len(lost)} lost"
            )
            print(f"  ledger check: exit {check.returncode}; audit after restart: exit "
                  f"{after.returncode} {after.stdout.strip()[-200:]}")  # fmt: skip
            if lost or check.returncode or after.returncode or before.returncode:
                raise SystemExit("acknowledged writes lost or the log does not verify")
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)


if __name__ == "__main__":
    main()

"""Governed queries over HTTP against Datasette's raw SQL, in one run.

Both servers hold the same rows: the demo city's register of market entities
(200,000 rows) and its quarterly tax returns (200,000 rows). DataCompact
serves them through ``POST /api/v1/queries`` under grants (bearer token, grant
check, SQL analysis and rewrite, a locked-down DuckDB, the query counted and
logged, timing padded); Datasette (one process, SQLite, no authentication)
runs the same SQL raw through ``/peer.json?sql=``. The same asyncio client
keeps ``--connections`` keep-alive connections busy for ``--seconds`` per
scenario and reports requests per second and latency percentiles.

Scenarios:

- ``filter + top 20``: a filter and the 20 largest by a number (masked records);
- ``GROUP BY``: a filtered count per group (aggregates, entity threshold);
- ``participants list``: ``GET /api/v1/participants`` authenticated (no peer);
- ``healthz``: ``GET /healthz`` (no peer), the server's floor.

Targets with 2 workers on 2 cores: governed queries at least as many
requests per second as Datasette on both queries, p99 ≤ 150 ms at 8
connections; the authenticated list ≥ 300 requests per second.

Run: ``.venv/bin/python benchmarks/http/bench_http.py [--home DIR] [--seconds S]``
(``--home`` reuses a demo city built with ``datacompact demo --no-serve``;
without it one is built at ``--scale`` in a temporary folder). Set
``DATACOMPACT_BENCH_DATABASE_URL`` to an empty PostgreSQL database to run
DataCompact on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import sqlalchemy

REGISTER = "Register of market entities"
TAX = "Quarterly tax returns of enterprises"
TOP20 = (
    'SELECT "企业名称", "法定代表人", "成立日期" FROM {t} '
    'WHERE "登记状态" = \'存续\' ORDER BY "成立日期" DESC LIMIT 20'
)
GROUP_BY = (
    'SELECT "纳税信用等级", count(*) AS n FROM {t} '
    'WHERE "行业门类" = \'制造业\' GROUP BY "纳税信用等级"'
)
P99_TARGET_MS = 150.0
LIST_TARGET_RPS = 300.0


@dataclass(frozen=True)
class Outcome:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mean(self) -> float:
        """Mean latency: by Little's law, connections / (requests per second) in a closed loop."""
        return sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else math.nan

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")

    def line(self, name: str) -> str:
        bad = f", errors {self.errors}" if self.errors else ""
        return (
            f"  {name:<34} {self.rps:8.1f} req/s   mean {self.mean:7.1f} ms   "
            f"p50 {self.pct(0.5):7.1f} ms   "
            f"p99 {self.pct(0.99):7.1f} ms{bad}"
        )


def _workers(server_pid: int) -> list[int]:
    """The server's worker processes: its children (uvicorn spawns one per worker)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    workers = [
        int(pid)
        for pid in children
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    return workers or [server_pid]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of one process, all its threads (DuckDB's) included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _connections(pids: list[int], port: int) -> dict[int, int]:
    """How many established TCP connections to ``port`` each process holds."""
    inodes: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
    held = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                cols = row.split()
                local_port, state, inode = int(cols[1].rsplit(":", 1)[1], 16), cols[3], cols[9]
                if local_port == port and state == "01" and inode in inodes:
                    held[inodes[inode]] += 1
    return held


def _store_backends() -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database (none on SQLite).

    They run on the same cores, so their CPU is part of what a request costs.
    """
    url = os.environ.get("DATACOMPACT_BENCH_DATABASE_URL")
    if not url:
        return []
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as db:
        pids = db.execute(
            sqlalchemy.text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalars()
        found = [int(pid) for pid in pids if Path(f"/proc/{pid}").exists()]
    engine.dispose()
    return found


def _store_cpu(before: dict[int, float]) -> float:
    """CPU seconds the database's server processes used since ``before`` (pid: seconds)."""
    used = 0.0
    for pid in set(before) | set(_store_backends()):
        with contextlib.suppress(OSError):
            used += _cpu_seconds(pid) - before.get(pid, 0.0)
    return used


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "DATACOMPACT_HOME": str(home)}
    env.pop("DATACOMPACT_DATABASE_URL", None)
    if os.environ.get("DATACOMPACT_BENCH_DATABASE_URL"):
        env["DATACOMPACT_DATABASE_URL"] = os.environ["DATACOMPACT_BENCH_DATABASE_URL"]
    return env


def _datacompact(home: Path, *args: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("datacompact")
    return subprocess.Popen([str(exe), *args], env=_env(home))


def _demo_city(home: Path, *, reuse: bool, scale: float) -> list[dict[str, Any]]:
    """Build the demo city in ``home`` unless it is one to reuse; its users' credentials."""
    if not reuse:
        built = _datacompact(home, "demo", "--no-serve", "--scale", str(scale), "--json")
        if built.wait() != 0:
            raise SystemExit("the demo build failed")
    credentials: list[dict[str, Any]] = json.loads(
        (home / "demo-credentials.json").read_text(encoding="utf-8")
    )
    return credentials


def _wait(base: str, server: subprocess.Popen[bytes], path: str = "/healthz") -> float:
    started = time.perf_counter()
    for _ in range(1200):
        if server.poll() is not None:
            raise SystemExit("a server exited")
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit("a server did not start")


def _bearer(entry: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {entry['token']}"}


def _grant(
    http: httpx.Client,
    credentials: list[dict[str, Any]],
    user: str,
    resource: str,
    columns: list[str],
    mode: str,
) -> tuple[dict[str, str], int, str]:
    """Apply for a grant through the API and have every reviewing party approve it."""
    applicant = next(c for c in credentials if c["user"] == user)
    found = http.get("/api/v1/resources", params={"q": resource}, headers=_bearer(applicant))
    shown = next(r for r in found.json()["data"] if r["name_en"] == resource)
    body = {
        "scenario": f"HTTP 基准 / HTTP benchmark: {resource}",
        "purpose": "research",
        "resources": [{"resource_id": shown["id"], "columns": columns}],
        "output": {"mode": mode},
        "duration_days": 1,
        "expected_queries": 1_000_000,
    }
    application = http.post("/api/v1/applications", json=body, headers=_bearer(applicant))
    application.raise_for_status()
    data = application.json()["data"]
    for slot in data["reviewers"]:
        reviewer = next(
            c
            for c in credentials
            if c["participant_id"] in slot["participants"] and c["roles"] == ["reviewer"]
        )
        http.post(
            f"/api/v1/applications/{data['id']}/decisions",
            json={"decision": "approve", "reason": "benchmark"},
            headers=_bearer(reviewer),
        ).raise_for_status()
    (grant_id,) = http.get(f"/api/v1/applications/{data['id']}", headers=_bearer(applicant)).json()[
        "data"
    ]["grants"]
    # The resource's SQL name under a grant: its English name as an identifier.
    table = re.sub(r"[^a-z0-9]+", "_", resource.lower()).strip("_")[:40]
    return _bearer(applicant), grant_id, table


def _parquet_of(home: Path, resource_name: str) -> Path:
    """The registered Parquet file of a demo resource, read from the platform's store."""
    url = os.environ.get("DATACOMPACT_BENCH_DATABASE_URL") or f"sqlite:///{home / 'datacompact.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as db:
        path = db.execute(
            sqlalchemy.text(
                "SELECT v.path FROM resource_versions v JOIN resources r ON r.id = v.resource_id "
                "WHERE r.name_en = :name ORDER BY v.number DESC LIMIT 1"
            ),
            {"name": resource_name},
        ).scalar_one()
    engine.dispose()
    return home / path


def _peer_database(target: Path, tables: dict[str, Path]) -> None:
    """The same rows in one SQLite file for Datasette, one table per resource."""
    with sqlite3.connect(target) as db:
        for name, parquet in tables.items():
            data = pq.read_table(parquet)
            columns = ", ".join(f'"{c}"' for c in data.column_names)
            db.execute(f'CREATE TABLE "{name}" ({columns})')
            marks = ", ".join("?" for _ in data.column_names)
            rows = zip(*(data.column(c).to_pylist() for c in data.column_names), strict=True)
            db.executemany(
                f'INSERT INTO "{name}" VALUES ({marks})',
                (
                    [v if isinstance(v, int | float | str) or v is None else str(v) for v in r]
                    for r in rows
                ),
            )


async def _load(
    base: str,
    connections: int,
    seconds: float,
    send: Callable[[httpx.AsyncClient], Any],
    during: Callable[[], None] | None = None,
) -> Outcome:
    latencies: list[float] = []
    errors: dict[int, int] = {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        for _ in range(connections):  # open the connections before the clock starts
            await send(http)
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await send(http)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    if not errors:
                        print(f"  first error: {response.status_code} {response.text[:300]}")
                    errors[response.status_code] = errors.get(response.status_code, 0) + 1

        async def observe() -> None:
            await asyncio.sleep(seconds / 2)
            if during is not None:
                during()

        started = time.perf_counter()
        await asyncio.gather(observe(), *(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return Outcome(len(latencies), elapsed, latencies, errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, help="a built demo city to reuse")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=("datacompact", "datasette"), default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        home = args.home or Path(folder) / "home"
        credentials = _demo_city(home, reuse=args.home is not None, scale=args.scale)
        peer_db = Path(folder) / "peer.db"
        _peer_database(
            peer_db, {"register": _parquet_of(home, REGISTER), "tax": _parquet_of(home, TAX)}
        )
        results: list[str] = []
        ratios: list[str] = []

        peer: dict[str, Outcome] = {}
        peer_cpu: dict[str, float] = {}
        if args.only != "datacompact":
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            datasette = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "datasette",
                    "serve",
                    str(peer_db),
                    "--port",
                    str(port),
                    "--setting",
                    "sql_time_limit_ms",
                    "20000",
                    "--setting",
                    "default_page_size",
                    "20",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                _wait(base, datasette, "/-/versions.json")
                for name, template in (("filter + top 20", TOP20), ("GROUP BY", GROUP_BY)):
                    table = "register" if template is TOP20 else "tax"
                    params = {"sql": template.format(t=f'"{table}"'), "_shape": "array"}

                    async def send(http: httpx.AsyncClient, p: dict[str, str] = params) -> Any:
                        return await http.get("/peer.json", params=p)

                    load_before = os.getloadavg()[0]
                    cpu_before = _cpu_seconds(datasette.pid)
                    peer[name] = asyncio.run(_load(base, args.connections, args.seconds, send))
                    peer_cpu[name] = (_cpu_seconds(datasette.pid) - cpu_before) / max(
                        peer[name].requests, 1
                    )
                    results.append(
                        peer[name].line(f"Datasette raw SQL: {name}")
                        + f"\n    CPU {1000 * peer_cpu[name]:.1f} ms a request; "
                        f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f}"
                    )
            finally:
                datasette.terminate()
                datasette.wait(timeout=30)

        if args.only != "datasette":
            port = _free_port()
            base = f"http://127.0.0.1:{port}"
            server = _datacompact(
                home, "serve", "--port", str(port), "--workers", str(args.workers)
            )
            try:
                up = _wait(base, server)
                ready = up + _wait(base, server, "/readyz")
                # Every worker ready, not only the one that answered: fresh
                # connections reach each of them.
                for _ in range(4 * args.workers):
                    _wait(base, server, "/readyz")
                results.append(
                    f"  start-up: /healthz answered {up:.2f} s after launch, /readyz {ready:.2f} s"
                )
                with httpx.Client(base_url=base, timeout=60) as http:
                    top = _grant(
                        http,
                        credentials,
                        "it-yunqi.analyst",
                        REGISTER,
                        ["企业名称", "法定代表人", "成立日期", "登记状态"],
                        "masked_records",
                    )
                    grouped = _grant(
                        http,
                        credentials,
                        "it-shulan.analyst",
                        TAX,
                        ["行业门类", "纳税信用等级"],
                        "aggregates",
                    )
                lister = _bearer(credentials[0])
                scenarios: list[tuple[str, Callable[[httpx.AsyncClient], Any]]] = []
                for name, template, (headers, grant_id, table) in (
                    ("filter + top 20", TOP20, top),
                    ("GROUP BY", GROUP_BY, grouped),
                ):
                    body = {"grant_id": grant_id, "sql": template.format(t=table)}

                    async def query(
                        http: httpx.AsyncClient,
                        b: dict[str, Any] = body,
                        h: dict[str, str] = headers,
                    ) -> Any:
                        return await http.post("/api/v1/queries", json=b, headers=h)

                    scenarios.append((name, query))

                async def participants(http: httpx.AsyncClient) -> Any:
                    return await http.get("/api/v1/participants", headers=lister)

                async def healthz(http: httpx.AsyncClient) -> Any:
                    return await http.get("/healthz")

                scenarios += [("participants list", participants), ("healthz", healthz)]
                workers = _workers(server.pid)
                for name, send in scenarios:
                    held: dict[int, int] = {}
                    cpu_before = {pid: _cpu_seconds(pid) for pid in workers}
                    store_before = {pid: _cpu_seconds(pid) for pid in _store_backends()}
                    load_before = os.getloadavg()[0]
                    outcome = asyncio.run(
                        _load(
                            base,
                            args.connections,
                            args.seconds,
                            send,
                            lambda h=held: h.update(_connections(workers, port)),
                        )
                    )
                    cpu = {pid: _cpu_seconds(pid) - cpu_before[pid] for pid in workers}
                    store = _store_cpu(store_before)
                    results.append(outcome.line(f"DataCompact governed: {name}"))
                    if os.environ.get("DATACOMPACT_BENCH_DATABASE_URL"):
                        results.append(
                            f"    PostgreSQL server processes: CPU "
                            f"{1000 * store / max(outcome.requests, 1):.1f} ms a request"
                        )
                    results.append(
                        f"    CPU {1000 * sum(cpu.values()) / max(outcome.requests, 1):.1f} ms "
                        "a request; per worker: "
                        + ", ".join(
                            f"{held.get(pid, 0)} connections and "
                            f"{100 * cpu[pid] / max(sum(cpu.values()), 1e-9):.0f} % of the CPU"
                            for pid in workers
                        )
                        + f"; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}"
                    )
                    if name in peer:
                        ratio = outcome.rps / peer[name].rps
                        # CPU per request, the store's server included: what
                        # a machine shared with other jobs changes least.
                        mine = (sum(cpu.values()) + store) / max(outcome.requests, 1)
                        ratios.append(
                            f"  {name}: {ratio:.2f}× Datasette (target ≥ 1.00×); "
                            f"p99 {outcome.pct(0.99):.0f} ms (target ≤ {P99_TARGET_MS:.0f} ms); "
                            f"CPU a request {1000 * mine:.1f} ms against Datasette's "
                            f"{1000 * peer_cpu[name]:.1f} ms ({peer_cpu[name] / mine:.2f}×)"
                        )
                    if name == "participants list":
                        ratios.append(
                            f"  participants list: {outcome.rps:.0f} req/s "
                            f"(target ≥ {LIST_TARGET_RPS:.0f}; {outcome.rps / LIST_TARGET_RPS:.2f}×)"
                        )
            finally:
                server.terminate()
                server.wait(timeout=60)

    backend = "PostgreSQL" if os.environ.get("DATACOMPACT_BENCH_DATABASE_URL") else "SQLite"
    print(
        f"HTTP, {args.connections} connections, {args.seconds:.0f} s a scenario; DataCompact "
        f"{args.workers} worker(s) on {backend}, Datasette one process on SQLite"
    )
    print("\n".join(results))
    if ratios:
        print("ratios:")
        print("\n".join(ratios))


if __name__ == "__main__":
    main()

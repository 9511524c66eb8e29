"""Small governed queries through the HTTP API, in requests per second (issue 6, Performance).

Builds the demo city (datasets at ``--scale``, 0.01 by default) in a fresh home
on SQLite, starts ``datacompact serve`` as its own process and sends
``--requests`` ``POST /api/v1/queries`` from ``--clients`` concurrent client
threads over keep-alive connections. Each request is the whole path: bearer
authentication, the grant check, SQLGlot analysis and rewrite, a fresh
locked-down DuckDB connection, counting the query and appending its event to
the log. Half the queries are an aggregate with an entity threshold, half a
masked-records lookup. Target: ≥ 200 requests/s on 2 cores, p99 reported.

Run: ``.venv/bin/python benchmarks/sandbox/bench_http.py [--requests N] [--clients C]``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

TARGET_RPS = 200.0
# (applicant, resource, columns, mode, SQL)
QUERIES = (
    (
        "it-shulan.analyst",
        "Quarterly tax returns of enterprises",
        ["行业门类", "纳税信用等级"],
        "aggregates",
        "SELECT 纳税信用等级, count(*) AS n FROM quarterly_tax_returns_of_enterprises "
        "WHERE 行业门类 = '制造业' GROUP BY 纳税信用等级",
    ),
    (
        "it-yunqi.analyst",
        "Register of market entities",
        ["企业名称", "法定代表人", "联系电话", "登记状态"],
        "masked_records",
        "SELECT 企业名称, 法定代表人, 联系电话 FROM register_of_market_entities "
        "WHERE 登记状态 = '存续' LIMIT 5",
    ),
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATACOMPACT_HOME": str(home)}
    env.pop("DATACOMPACT_DATABASE_URL", None)
    if os.environ.get("DATACOMPACT_BENCH_DATABASE_URL"):
        env["DATACOMPACT_DATABASE_URL"] = os.environ["DATACOMPACT_BENCH_DATABASE_URL"]
    exe = Path(sys.executable).with_name("datacompact")
    return subprocess.Popen([str(exe), *args], env=env)


def _wait(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def _bearer(entry: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {entry['token']}"}


def _granted(
    base: str,
    credentials: list[dict[str, Any]],
    user: str,
    resource: str,
    columns: list[str],
    mode: str,
    sql: str,
    *,
    volume: int,
) -> tuple[dict[str, str], int, str]:
    """Apply for ``volume`` queries through the API and have every reviewing party approve."""
    applicant = next(c for c in credentials if c["user"] == user)
    with httpx.Client(base_url=base, timeout=30) as http:
        found = http.get("/api/v1/resources", params={"q": resource}, headers=_bearer(applicant))
        resource_id = next(r["id"] for r in found.json()["data"] if r["name_en"] == resource)
        body = {
            "scenario": f"HTTP 基准 / HTTP benchmark: {resource}",
            "purpose": "research",
            "resources": [{"resource_id": resource_id, "columns": columns}],
            "output": {"mode": mode},
            "duration_days": 1,
            "expected_queries": volume,
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
        shown = http.get(f"/api/v1/applications/{data['id']}", headers=_bearer(applicant))
        (grant_id,) = shown.json()["data"]["grants"]
    return _bearer(applicant), grant_id, sql


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        built = _cli(home, "demo", "--no-serve", "--scale", str(args.scale), "--json")
        if built.wait() != 0:
            raise SystemExit("the demo build failed")
        credentials = json.loads((home / "demo-credentials.json").read_text(encoding="utf-8"))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _cli(home, "serve", "--port", str(port), "--workers", str(args.workers))
        try:
            _wait(base, server)
            calls = [_granted(base, credentials, *q, volume=2 * args.requests) for q in QUERIES]
            latencies: list[float] = []
            failures: list[int] = []
            lock = threading.Lock()
            per_client = args.requests // args.clients

            def client(offset: int) -> None:
                mine: list[float] = []
                bad: list[int] = []
                with httpx.Client(base_url=base, timeout=30) as http:
                    for i in range(per_client):
                        headers, grant_id, sql = calls[(offset + i) % len(calls)]
                        started = time.perf_counter()
                        response = http.post(
                            "/api/v1/queries",
                            json={"grant_id": grant_id, "sql": sql},
                            headers=headers,
                        )
                        mine.append(time.perf_counter() - started)
                        if response.status_code != 200:
                            bad.append(response.status_code)
                with lock:
                    latencies.extend(mine)
                    failures.extend(bad)

            # Warm up: first connections, DuckDB and SQLGlot caches.
            client(0)
            latencies.clear()
            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)

    backend = "PostgreSQL" if os.environ.get("DATACOMPACT_BENCH_DATABASE_URL") else "SQLite"
    done = len(latencies)
    rps = done / elapsed
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(done - 1, int(done * 0.99))] * 1000
    print(
        f"governed queries over HTTP: {done:,} requests from {args.clients} clients, "
        f"{args.workers} server worker(s), {backend}"
    )
    print(
        f"  throughput: {rps:,.1f} requests/s (target ≥ {TARGET_RPS:.0f}/s; ratio {rps / TARGET_RPS:.2f}×)"
    )
    print(f"  latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms; non-200 responses: {len(failures)}")
    if failures:
        raise SystemExit(f"failed requests: {sorted(set(failures))}")


if __name__ == "__main__":
    main()

"""Server render time and page weight of the console, on a filled platform.

- the open catalog (``GET /catalog``) with ``--resources`` resources registered
  (default 1,000): render time p50/p95 over ``--runs`` requests (target
  p95 <= 150 ms), and its page weight: the HTML and every asset it names on the
  first view (target <= 300 KB), the HTML alone on a later view (the assets are
  served ``immutable`` under content-hashed URLs, so a browser keeps them);
- the API's catalog search (``GET /api/v1/resources``, its default page of 50
  and its largest of 500), which ranks the same entries through the same
  service;
- the regulator's supervision dashboard (``GET /supervise``) over a log of
  ``--entries`` entries (default 1,000,000): render time p50/p95 (target
  <= 300 ms).

Render time is measured in process, through the ASGI app started as a served
process starts it (Starlette's test client, with the app's lifespan): routing,
session, the service calls, the store and the template, not the network. The
load average of the machine is printed before and after, since the figures
depend on what else runs.

Run: ``.venv/bin/python benchmarks/console/bench_console.py [--resources N] [--entries N]``
(set ``DATACOMPACT_BENCH_DATABASE_URL`` to an empty PostgreSQL database to
measure on PostgreSQL).
"""

from __future__ import annotations

import argparse
import atexit
import csv
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient
from stdnum.cn import uscc

from datacompact.api import create_app
from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import ResourceBase
from datacompact.config import Settings
from datacompact.events import EventType, NewEvent, record_events
from datacompact.ledger.log import checkpoints, tree
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.registry import lookup, participants
from datacompact.registry.schemas import Decision, ParticipantCreate
from datacompact.store.models import Member

PASSWORD = "correct horse battery"


def _participant(kind: str, stem: str, username: str) -> ParticipantCreate:
    return ParticipantCreate.model_validate(
        {
            "kind": kind,
            "name": f"基准{username}",
            "uscc": stem + uscc.calc_check_digit(stem),
            "region_code": "330106",
            "admin": {"username": username, "display_name": "管理员", "password": PASSWORD},
        }
    )


def _admin(platform: Platform, username: str) -> Principal:
    with platform.db.read() as session:
        member = session.query(Member).filter_by(username=username).one()
        participant = lookup.participant(session, member.participant_id)
        return Principal.member(
            member_id=member.id,
            participant_id=participant.id,
            participant_kind=participant.kind,
            roles=frozenset({Role.ADMIN}),
            governance=platform.settings.governance_mode,
        )


def build(database_url: str | None, resources: int) -> Platform:
    root = Path(tempfile.mkdtemp(prefix="dc-bench-console-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    platform = Platform(Settings(home=root / "home", database_url=database_url))
    platform.initialize()
    mode = platform.settings.governance_mode
    with platform.db.write() as session:
        participants.bootstrap_platform(
            session=session,
            secret=platform.secret,
            governance=mode,
            data=_participant("regulator", "11330100MB0000001", "bench.regulator"),
        )
    regulator = _admin(platform, "bench.regulator")
    with platform.db.write() as session:
        department = participants.register_participant(
            session=session,
            actor=Principal.anonymous(mode),
            secret=platform.secret,
            data=_participant("government_department", "11330100MB0000002", "bench.department"),
        ).value
        participants.decide_participant(
            session=session,
            actor=regulator,
            participant_id=department.id,
            decision=Decision.APPROVE,
            reason="benchmark",
        )
    holder = _admin(platform, "bench.department")
    data = root / "rows.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["区县", "数量"])
        for i in range(5):
            writer.writerow([f"区{i}", str(i)])
    started = time.perf_counter()
    for i in range(resources):
        catalog.register_resource(
            db=platform.db,
            home=platform.settings.home,
            actor=holder,
            data=ResourceBase.model_validate(
                {
                    "name": f"基准数据资源 {i:04d}",
                    "name_en": f"Benchmark resource {i:04d}",
                    "description": "用于控制台渲染基准 / for the console's render benchmark",
                    "themes": [f"主题{i % 12}"],
                    "tags": ["基准"],
                    "update_frequency": ("daily", "monthly", "yearly")[i % 3],
                    "share_type": ("unconditional", "conditional")[i % 2],
                    "open_type": ("open", "conditional_open")[i % 2],
                }
            ),
            file=data,
        )
    print(f"registered {resources} resources in {time.perf_counter() - started:.1f} s")
    return platform


def fill_log(platform: Platform, entries: int, batch: int = 5000) -> None:
    """Append synthetic events until the log holds ``entries``, then sign a checkpoint."""
    with platform.db.read() as session:
        have = tree.read_head(session).size
    actor = Principal(label="member:1", governance=platform.settings.governance_mode)
    started = time.perf_counter()
    done = have
    while done < entries:
        n = min(batch, entries - done)
        with platform.db.write() as session:
            record_events(
                session,
                actor=actor,
                events=[
                    NewEvent(EventType.TOKEN_ISSUED, "token", done + i, {"member_id": 1})
                    for i in range(n)
                ],
            )
        done += n
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    print(f"log filled to {done:,} entries in {time.perf_counter() - started:.1f} s")


def timed(client: TestClient, path: str, runs: int) -> tuple[float, float, bytes]:
    body = b""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        body = response.content
    return statistics.median(times), statistics.quantiles(times, n=20)[18], body


def sign_in(client: TestClient, username: str) -> None:
    form = client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post(
        "/signin",
        data={"csrf": token.group(1), "username": username, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    if done.status_code != 303:
        raise SystemExit(f"sign-in failed: {done.status_code}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    url = os.environ.get("DATACOMPACT_BENCH_DATABASE_URL")
    print(f"store: {'PostgreSQL' if url else 'SQLite'}; load average before: {os.getloadavg()}")
    platform = build(url, args.resources)
    client = TestClient(
        create_app(platform), base_url="http://localhost", headers={"Accept-Language": "en"}
    )
    # Start the app as a served process does (its lifespan: start-up sweeps, the
    # checkpoint scheduler, the collector's frozen start-up heap).
    client.__enter__()
    client.get("/catalog")  # warm the templates and the caches once
    p50, p95, html = timed(client, "/catalog", args.runs)
    assets = re.findall(rb'(?:src|href)="(/static/[0-9a-f]{16}/[^"]+)"', html)
    weight = len(html) + sum(len(client.get(a.decode()).content) for a in assets)
    found = re.search(r"(\d[\d,]*) resources found", client.get("/catalog").text)
    print(
        f"catalog ({found.group(1) if found else '?'} resources found): "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 <= 150 ms)"
    )
    print(
        f"catalog page weight: first view {weight / 1024:.1f} KB (HTML {len(html) / 1024:.1f} KB "
        f"+ {len(assets)} assets), later views {len(html) / 1024:.1f} KB (target <= 300 KB)"
    )
    for path in ("/api/v1/resources", "/api/v1/resources?limit=500"):
        client.get(path)
        p50, p95, _body = timed(client, path, args.runs)
        print(f"API {path}: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    fill_log(platform, args.entries)
    sign_in(client, "bench.regulator")
    client.get("/supervise")
    p50, p95, html = timed(client, "/supervise", max(10, args.runs // 2))
    entries = re.search(rb"<dt>[^<]+</dt><dd>([^<]+)</dd>", html.split(b'id="log-health"', 1)[1])
    print(
        f"supervision dashboard over {entries.group(1).decode() if entries else '?'} log entries: "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (target <= 300 ms)"
    )
    print(f"load average after: {os.getloadavg()}")
    client.__exit__(None, None, None)
    platform.close()


if __name__ == "__main__":
    main()

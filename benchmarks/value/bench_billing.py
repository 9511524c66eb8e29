"""``audit billing`` over one month of metered uses: recompute every line from the log.

The log holds one operator's price list (an API charged per thousand calls, a
PSI service per run, a query service per query, with ceilings and prices
changed in the month), 1,000 grants (one in five public-interest, so free)
and ``--uses`` metered uses in the current month. The operator issues its
statement (timed apart), then the audit replays the log, recomputes every
line and compares it with the stored statement. Target on the 2-core
reference machine: <= 30 s for 1,000,000 uses.

    .venv/bin/python benchmarks/value/bench_billing.py [--uses N]

Set DATACOMPACT_BENCH_DATABASE_URL to a fresh PostgreSQL database to measure it too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger"))

from _store import new_platform, pg_url

from datacompact.clock import CST, utcnow
from datacompact.events import EventType, NewEvent, record_events
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.store.models import Participant
from datacompact.value import statements

TARGET_SECONDS = 30.0
GRANTS = 1_000
BATCH = 5_000
OPERATOR, REGULATOR = 1, 2
USCC = ("91330106MA2B00001A", "11330100MB0000001B")


def _principal(platform: Platform, participant: int, kind: str, role: Role) -> Principal:
    return Principal.member(
        member_id=participant,
        participant_id=participant,
        participant_kind=kind,
        roles=frozenset({role}),
        governance=platform.settings.governance_mode,
    )


def _setup(platform: Platform) -> list[NewEvent]:
    with platform.db.write() as session:
        for pid, kind, uscc in (
            (OPERATOR, "jv_platform", USCC[0]),
            (REGULATOR, "regulator", USCC[1]),
        ):
            session.add(
                Participant(
                    id=pid,
                    kind=kind,
                    name=f"p{pid}",
                    uscc=uscc,
                    region_code="330100",
                    status="approved",
                )
            )
    events = []
    items = (
        (1, "api", "call_volume", "thousand_calls", "2.5000"),
        (2, "psi_service", "service_count", "service", "12.3450"),
        (3, "query_service", "service_count", "service", "8.0000"),
    )
    for item_id, kind, form, unit, price in items:
        events.append(
            NewEvent(
                EventType.PRICE_ITEM_LISTED,
                "price_item",
                item_id,
                {
                    "item_id": item_id,
                    "operator_id": OPERATOR,
                    "code": kind,
                    "kind": kind,
                    "form": form,
                    "unit": unit,
                    "resource_id": 1 if kind == "query_service" else None,
                    "version": 1,
                    "ceiling": None,
                    "price": "0.0000",
                },
            )
        )
        events.append(
            NewEvent(
                EventType.PRICE_SET,
                "price_item",
                item_id,
                {
                    "item_id": item_id,
                    "version": 2,
                    "ceiling": "20.0000",
                    "price": price,
                    "reason": "",
                },
            )
        )
    return events


def _append(platform: Platform, actor: Principal, events: list[NewEvent]) -> None:
    for start in range(0, len(events), BATCH):
        with platform.db.write() as session:
            record_events(session, actor=actor, events=events[start : start + BATCH])


def fill(platform: Platform, uses: int) -> None:
    operator = _principal(platform, OPERATOR, "jv_platform", Role.ADMIN)
    _append(platform, operator, _setup(platform))
    for g in range(1, GRANTS + 1):
        applicant = _principal(platform, 100 + g, "enterprise", Role.ANALYST)
        purpose = "public_service" if g % 5 == 0 else "credit_assessment"
        _append(
            platform,
            applicant,
            [NewEvent(EventType.APPLICATION_SUBMITTED, "application", g, {"purpose": purpose})],
        )
    _append(
        platform,
        operator,
        [
            NewEvent(EventType.GRANT_ISSUED, "grant", g, {"application_id": g, "resource_id": 1})
            for g in range(1, GRANTS + 1)
        ],
    )
    batch: list[NewEvent] = []
    for n in range(uses):
        if n == uses // 2:
            # A price change in the middle of the month: later uses take the new version.
            batch.append(
                NewEvent(
                    EventType.PRICE_SET,
                    "price_item",
                    1,
                    {
                        "item_id": 1,
                        "version": 3,
                        "ceiling": "20.0000",
                        "price": "1.9999",
                        "reason": "",
                    },
                )
            )
        grant = 1 + n % GRANTS
        if n % 10 == 0:
            batch.append(
                NewEvent(
                    EventType.QUERY_EXECUTED,
                    "query",
                    n,
                    {"grant_id": grant, "sql_sha256": "0" * 64},
                )
            )
        else:
            item = 1 if n % 10 < 7 else 2
            quantity = "0.002" if item == 1 else "1"
            batch.append(
                NewEvent(
                    EventType.USAGE_RECORDED,
                    "grant",
                    grant,
                    {"item_id": item, "grant_id": grant, "quantity": quantity},
                )
            )
        if len(batch) >= BATCH:
            _append(platform, operator, batch)
            batch = []
    _append(platform, operator, batch)


def run(label: str, url: str | None, uses: int) -> None:
    platform = new_platform(url)
    started = time.perf_counter()
    fill(platform, uses)
    filled = time.perf_counter() - started
    period = utcnow().astimezone(CST).strftime("%Y-%m")
    operator = _principal(platform, OPERATOR, "jv_platform", Role.ADMIN)
    auditor = _principal(platform, REGULATOR, "regulator", Role.AUDITOR)
    started = time.perf_counter()
    with platform.db.write() as session:
        issued = statements.issue_statement(
            session=session, actor=operator, period=period, now=datetime(2099, 1, 1, tzinfo=UTC)
        ).value
    issuing = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    with platform.db.read() as session:
        audit = statements.audit_billing(session=session, actor=auditor, period=period)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert audit.ok, audit.first_mismatch
    assert audit.lines == uses == issued.line_count, (audit.lines, issued.line_count)
    assert audit.total == issued.total
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{label:10} audit billing: {uses:,} metered uses in {elapsed:.2f} s "
        f"({uses / elapsed:,.0f} lines/s, {cpu:.2f} s of CPU in this process), "
        f"total {issued.total} — "
        f"{TARGET_SECONDS / elapsed:.2f}× the {TARGET_SECONDS:.0f} s target; "
        f"issuing the statement {issuing:.2f} s; filling the log {filled:.1f} s; "
        f"load average {load}"
    )
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uses", type=int, default=1_000_000)
    args = parser.parse_args()
    run("sqlite", None, args.uses)
    url = pg_url()
    if url:
        run("postgresql", url, args.uses)
    else:
        print("postgresql skipped: set DATACOMPACT_BENCH_DATABASE_URL to measure it")


if __name__ == "__main__":
    main()

"""Resources, ended grants and executed queries written straight to the store.

A query's ``query.executed`` event is recorded exactly as the sandbox's path
records it; a query over several resources carries the ``resources`` and
``supports`` lists the share rules read.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from datacompact.catalog.codes import make_code
from datacompact.clock import utcnow
from datacompact.events import EventType, NewEvent, record_events
from datacompact.permissions import Principal
from datacompact.store.models import Application, Grant, GrantQuery, Member, Participant, Resource

from ..conftest import World


def resource(session: Session, holder_id: int, code: str, name: str = "测试资源") -> int:
    """A resource of ``holder_id``; ``code`` only tells the test's resources apart."""
    holder = session.get_one(Participant, holder_id)
    sequence = 900_000 + int(hashlib.sha256(code.encode()).hexdigest(), 16) % 99_999
    row = Resource(
        code=make_code(region="330106", holder_uscc=holder.uscc, sequence=sequence).text,
        holder_id=holder_id,
        name=name,
        update_frequency="monthly",
        share_type="conditional",
        open_type="not_open",
    )
    session.add(row)
    session.flush()
    return row.id


def grant(
    session: Session, *, resource_id: int, holder_id: int, grantee_id: int, ended: bool = True
) -> int:
    member = session.query(Member).filter_by(participant_id=grantee_id).first()
    assert member is not None
    application = Application(
        applicant_id=grantee_id,
        member_id=member.id,
        scenario="测试 / test",
        purpose="public_service",
        requests=[{"resource_id": resource_id, "columns": ["a"]}],
        output={"mode": "aggregates"},
        duration_days=30,
        expected_queries=10,
        reviewers=[],
        status="approved",
    )
    session.add(application)
    session.flush()
    row = Grant(
        application_id=application.id,
        resource_id=resource_id,
        holder_id=holder_id,
        grantee_id=grantee_id,
        agreement={},
        expires_at=utcnow() + (timedelta(days=-1) if ended else timedelta(days=30)),
        max_queries=10,
    )
    session.add(row)
    session.flush()
    return row.id


def executed(
    session: Session,
    world: World,
    *,
    grant_id: int,
    grantee_id: int,
    rows_scanned: int = 0,
    extra: dict[str, Any] | None = None,
) -> int:
    """An executed query under the grant, with its ``query.executed`` event."""
    row = GrantQuery(
        grant_id=grant_id,
        grantee_id=grantee_id,
        sql="SELECT 1",
        sql_sha256="0" * 64,
        status="executed",
        engine="duckdb",
        rows_scanned=rows_scanned,
    )
    session.add(row)
    session.flush()
    payload = {
        "grant_id": grant_id,
        "sql_sha256": row.sql_sha256,
        "columns": {},
        "rows_scanned": rows_scanned,
        "result_sha256": "1" * 64,
        **(extra or {}),
    }
    sandbox = Principal(label="sandbox", governance=world.platform.settings.governance_mode)
    (event,) = record_events(
        session,
        actor=sandbox,
        events=[NewEvent(EventType.QUERY_EXECUTED, "query", row.id, payload)],
    )
    row.log_index = event.seq
    return row.id

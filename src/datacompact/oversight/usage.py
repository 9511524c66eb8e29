"""Governed-query usage for the regulator: queries per resource, holder and grantee over time,
refusals by rule, and the ε and query count each grant has spent.

The figures are counts over the platform's own query records
(``grant_queries``), which the regulator may already read grant by grant
(``query.read``); this only adds them up. It reads no SQL text and no result.
Grouping is done by the database (one ``GROUP BY`` per table), so the cost
follows the number of grants and days, not of queries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact.clock import CST, utcnow
from datacompact.errors import InvalidInput
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Grant, GrantQuery, Participant, Resource

STATUSES = ("executed", "refused", "failed")


class UsageRow(BaseModel):
    """Queries under one key (a resource, a holder or a grantee), by outcome."""

    id: int
    name: str
    executed: int = 0
    refused: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.executed + self.refused + self.failed


class UsageDay(BaseModel):
    day: date
    executed: int = 0
    refused: int = 0
    failed: int = 0


class RefusalCount(BaseModel):
    rule: str
    count: int


class GrantSpend(BaseModel):
    grant_id: int
    resource_id: int
    resource_name: str
    grantee_id: int
    grantee_name: str
    status: str
    queries_used: int
    max_queries: int
    epsilon_spent: str


class UsageReport(BaseModel):
    days: int
    since: date
    by_resource: list[UsageRow]
    by_holder: list[UsageRow]
    by_grantee: list[UsageRow]
    daily: list[UsageDay]
    refusals: list[RefusalCount]
    grants: list[GrantSpend]


def _day_of(moment: datetime) -> date:
    return moment.astimezone(CST).date()


def usage(*, session: Session, actor: Principal, days: int = 30) -> UsageReport:
    """The last ``days`` days of governed queries (China Standard Time days), for the regulator."""
    authorize(
        actor=actor,
        action=Actions.QUERY_AUDIT,
        resource=PartyResource(
            participant_id=None, reviewers=frozenset(approved_of_kind(session, ("regulator",)))
        ),
    )
    if not 1 <= days <= 366:
        raise InvalidInput(
            "统计天数须在 1–366 天 / expected days between 1 and 366", details={"field": "days"}
        )
    today = _day_of(utcnow())
    since_day = today - timedelta(days=days - 1)
    since = datetime(since_day.year, since_day.month, since_day.day, tzinfo=CST)
    counted = GrantQuery.status.in_(STATUSES)
    recent = GrantQuery.created_at >= since
    # One row per grant and outcome: the grants tie each to its resource, holder and grantee.
    per_grant = session.execute(
        select(GrantQuery.grant_id, GrantQuery.status, func.count())
        .where(counted, recent)
        .group_by(GrantQuery.grant_id, GrantQuery.status)
    ).all()
    grant_rows = {
        g.id: g
        for g in session.execute(
            select(
                Grant.id,
                Grant.resource_id,
                Grant.holder_id,
                Grant.grantee_id,
                Grant.status,
                Grant.queries_used,
                Grant.max_queries,
                Grant.epsilon_spent,
            )
        ).all()
    }
    names: dict[int, str] = dict(session.execute(select(Participant.id, Participant.name)).all())
    resources: dict[int, str] = dict(session.execute(select(Resource.id, Resource.name)).all())
    tables: dict[str, dict[int, UsageRow]] = {"resource": {}, "holder": {}, "grantee": {}}
    for grant_id, status, count in per_grant:
        grant = grant_rows.get(grant_id)
        if grant is None:
            continue
        for table, key, label in (
            ("resource", grant.resource_id, resources.get(grant.resource_id, "")),
            ("holder", grant.holder_id, names.get(grant.holder_id, "")),
            ("grantee", grant.grantee_id, names.get(grant.grantee_id, "")),
        ):
            row = tables[table].setdefault(key, UsageRow(id=key, name=label))
            setattr(row, status, getattr(row, status) + int(count))
    # Per day: the database groups by UTC hour (portable across SQLite and PostgreSQL),
    # and the hours are folded into China Standard Time days here.
    hour = func.strftime("%Y-%m-%d %H", GrantQuery.created_at)
    if session.get_bind().dialect.name == "postgresql":
        hour = func.to_char(GrantQuery.created_at, "YYYY-MM-DD HH24")
    daily: dict[date, UsageDay] = {
        since_day + timedelta(days=i): UsageDay(day=since_day + timedelta(days=i))
        for i in range(days)
    }
    for stamp, status, count in session.execute(
        select(hour, GrantQuery.status, func.count())
        .where(counted, recent)
        .group_by(hour, GrantQuery.status)
    ).all():
        day = _day_of(datetime.strptime(str(stamp), "%Y-%m-%d %H").replace(tzinfo=UTC))
        entry = daily.get(day)
        if entry is not None:
            setattr(entry, status, getattr(entry, status) + int(count))
    refusals = [
        RefusalCount(rule=rule or "other", count=int(count))
        for rule, count in session.execute(
            select(GrantQuery.rule, func.count())
            .where(GrantQuery.status == "refused", recent)
            .group_by(GrantQuery.rule)
            .order_by(func.count().desc(), GrantQuery.rule)
        ).all()
    ]
    spends = sorted(
        (
            GrantSpend(
                grant_id=g.id,
                resource_id=g.resource_id,
                resource_name=resources.get(g.resource_id, ""),
                grantee_id=g.grantee_id,
                grantee_name=names.get(g.grantee_id, ""),
                status=g.status,
                queries_used=g.queries_used,
                max_queries=g.max_queries,
                epsilon_spent=str(Decimal(g.epsilon_spent or "0")),
            )
            for g in grant_rows.values()
        ),
        key=lambda s: (-Decimal(s.epsilon_spent), -s.queries_used, s.grant_id),
    )

    def ranked(table: str) -> list[UsageRow]:
        return sorted(tables[table].values(), key=lambda r: (-r.total, r.id))

    return UsageReport(
        days=days,
        since=since_day,
        by_resource=ranked("resource"),
        by_holder=ranked("holder"),
        by_grantee=ranked("grantee"),
        daily=[daily[d] for d in sorted(daily)],
        refusals=refusals,
        grants=spends,
    )


__all__ = ["GrantSpend", "RefusalCount", "UsageDay", "UsageReport", "UsageRow", "usage"]

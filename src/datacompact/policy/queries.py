"""Governed queries under a grant: check, run in the sandbox, count, log, answer with a receipt.

:func:`run_query` is the only way data leaves a resource row by row or in
aggregate. It works in three steps so that a long query holds no lock:

1. a read transaction loads the grant, authorizes the grantee and builds the
   sandbox's view of it (``_grant_view``);
2. outside any transaction, the sandbox analyzes, rewrites and executes the
   SQL (:func:`datacompact.sandbox.run_query`), and ε for a DP release is
   reserved against the budget read in step 1;
3. a write transaction locks the grant and checks it again (status, expiry,
   query count, budget), so a suspension, a revocation or another query that
   committed meanwhile wins: the result is dropped and the query refused
   ("for queries in flight too", issue 6 §2). Only then is the query counted,
   its ε charged and its ``query.executed`` event logged.

A query refused by a rule is logged too (``query.refused``, with the rule and
the hash of the SQL, never a data value), so the regulator sees attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy import _extracts
from datacompact.policy._grant_view import grant_view
from datacompact.policy.agreement import GrantTerms, check_use, parse_agreement
from datacompact.policy.schemas import OverlapPublic, QueryPublic, QueryResult
from datacompact.privacy.masking import derive_key
from datacompact.registry.participants import approved_of_kind
from datacompact.sandbox import DuckDBEngine, Engine, GrantView, Result, govern, overlap
from datacompact.sandbox.plan import Plan, sha256_text
from datacompact.store._base import utcnow
from datacompact.store.models import (
    Application,
    Grant,
    GrantQuery,
    Resource,
    ResourceVersion,
)
from datacompact.store.session import Database

log = logging.getLogger("datacompact.queries")

Recheck = Callable[[Session], Principal]
#: Errors that refuse a query and are logged as such; others (not found,
#: forbidden) say nothing about the grant's use and are not.
_REFUSALS = (PolicyViolation, InvalidInput, MalformedInput, PayloadTooLarge)


def pseudonym_key(secret: bytes) -> bytes:
    """The sandbox's pseudonym key; each grant derives its own from it (HKDF, ``grant:<id>``)."""
    return derive_key(secret, "datacompact/sandbox-pseudonyms")


@dataclass
class _Reservation:
    """The grant's ε account for one query: what was left at step 1, and what the query took."""

    left: float
    taken: float = 0.0

    @property
    def remaining(self) -> float:
        return max(self.left - self.taken, 0.0)

    def charge(self, epsilon: float) -> None:
        if epsilon > self.remaining + 1e-12:
            raise PolicyViolation(
                f"隐私预算不足 / the query needs ε={epsilon:g} but only "
                f"ε={self.remaining:g} of the grant's budget is left",
                details={"rule": "grant.budget", "remaining": self.remaining},
            )
        self.taken += epsilon


@dataclass(frozen=True)
class _Snapshot:
    grant_id: int
    grantee_id: int
    terms: GrantTerms
    view: GrantView
    queries_used: int
    epsilon_spent: float
    #: What the view was built from (see :func:`_resource_stamp`).
    stamp: tuple[object, ...]


def _resource_stamp(session: Session, resource_id: int) -> tuple[object, ...]:
    """What a grant's view depends on in its resource: its row as last updated, its latest version.

    Grades, grade decisions, sharing and open-data flags all update the row's
    ``updated_at``; a new version is a new id. One small query, so that the
    locked commit of every query stays short.
    """
    row = session.execute(
        select(
            Resource.updated_at,
            Resource.grade,
            Resource.grade_status,
            select(func.max(ResourceVersion.id))
            .where(ResourceVersion.resource_id == resource_id)
            .scalar_subquery(),
        ).where(Resource.id == resource_id)
    ).one_or_none()
    return tuple(row) if row is not None else ()


def _parties(grant: Grant) -> PartyResource:
    return PartyResource(
        participant_id=grant.grantee_id, parties=frozenset({grant.grantee_id, grant.holder_id})
    )


def _load(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    grant = session.get(Grant, grant_id, with_for_update=lock)
    if grant is None:
        raise NotFound("授权不存在 / grant not found", details={"grant_id": grant_id})
    return grant


def _check_status(grant: Grant) -> None:
    if grant.status != "active":
        raise PolicyViolation(
            f"授权已{'暂停' if grant.status == 'suspended' else '撤销'} / the grant is "
            f"{grant.status}: no queries run under it",
            details={"rule": f"grant.{grant.status}", "grant_id": grant.id},
        )


def _regulator_approved(session: Session, grant: Grant) -> bool:
    application = session.get(Application, grant.application_id)
    reviewers = application.reviewers if application is not None else []
    return any(s["party"] == "regulator" and s["decision"] == "approve" for s in reviewers)


def _view_of(session: Session, grant: Grant, terms: GrantTerms, home: Path) -> GrantView:
    """The sandbox view of ``grant`` on its resource as the store holds it now."""
    resource = session.get(Resource, grant.resource_id)
    # Only the latest version: a resource may have many, each with its profile.
    version = session.scalar(
        select(ResourceVersion)
        .where(ResourceVersion.resource_id == grant.resource_id)
        .order_by(ResourceVersion.number.desc())
        .limit(1)
    )
    if resource is None or version is None:
        raise NotFound("数据资源不存在 / resource not found", details={"grant_id": grant.id})
    return grant_view(
        grant=grant,
        terms=terms,
        resource=resource,
        version=version,
        home=home,
        regulator_approved=_regulator_approved(session, grant),
    )


def _snapshot(session: Session, grant: Grant, home: Path) -> _Snapshot:
    _check_status(grant)
    terms = parse_agreement(grant.agreement)
    view = _view_of(session, grant, terms, home)
    return _Snapshot(
        grant.id,
        grant.grantee_id,
        terms,
        view,
        grant.queries_used,
        float(grant.epsilon_spent),
        _resource_stamp(session, grant.resource_id),
    )


def _check(snapshot: _Snapshot, plan: Plan, *, used: int, spent: float, epsilon: float) -> None:
    check_use(
        snapshot.terms,
        now=utcnow(),
        queries_so_far=used,
        epsilon_spent=spent,
        columns=sorted({c for cols in plan.touched.values() for c in cols}),
        # A k-anonymous grant's SQL runs on masked records; what leaves is the extract.
        mode="k_anonymous" if snapshot.view.mode == "k_anonymous" else plan.mode,
        epsilon=epsilon,
    )


def run_query(
    *,
    db: Database,
    home: Path,
    secret: bytes,
    actor: Principal,
    grant_id: int,
    sql: str,
    epsilon: float | None = None,
    engine: Engine | None = None,
    recheck: Recheck | None = None,
) -> Recorded[QueryResult]:
    """Run ``sql`` under grant ``grant_id`` for ``actor``; see the module docstring."""
    engine_name = engine.name if engine else DuckDBEngine.name
    with db.read() as session:
        grant = _load(session, grant_id)
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        parties = (grant.id, grant.grantee_id)
        try:
            snapshot = _snapshot(session, grant, home)
        except _REFUSALS as exc:
            refused: DataCompactError | None = exc
        else:
            refused = None
    if refused is not None:
        _record_refusal(db, actor, parties, sql, refused, engine_name)
        raise refused
    try:
        result, plan, runner = _execute(snapshot, sql, epsilon, engine, secret)
        with db.write() as session:
            actor = recheck(session) if recheck else actor
            return _commit(session, actor, snapshot, plan, result, runner, sql)
    except _REFUSALS as exc:
        _record_refusal(db, actor, parties, sql, exc, engine_name)
        raise


def _execute(
    snapshot: _Snapshot, sql: str, epsilon: float | None, engine: Engine | None, secret: bytes
) -> tuple[Result, Plan, str]:
    """Analyze, rewrite and run ``sql`` under the snapshot's view, outside any transaction."""
    view = snapshot.view
    if epsilon is not None:
        view = GrantView(
            grant_id=view.grant_id,
            tables=view.tables,
            epsilon_per_query=epsilon,
            max_contributions=view.max_contributions,
        )
    extract = view.mode == "k_anonymous"
    if extract:
        _extracts.check_row_level(sql)
    plan = govern(sql, _extracts.sql_view(view) if extract else view)
    if extract:
        _extracts.check_no_identifiers(plan)
    planned = view.epsilon_per_query if plan.dp_aggregates else 0.0
    _check(
        snapshot, plan, used=snapshot.queries_used, spent=snapshot.epsilon_spent, epsilon=planned
    )
    budget = _Reservation(left=(snapshot.terms.epsilon or 0.0) - snapshot.epsilon_spent)
    runner = engine or DuckDBEngine(pseudonym_key=pseudonym_key(secret))
    result = runner.execute(plan, budget=budget)
    if extract:
        result = _extracts.k_anonymous(result, k=snapshot.terms.output.k or 10)
    return result, plan, runner.name


def _commit(
    session: Session,
    actor: Principal,
    snapshot: _Snapshot,
    plan: Plan,
    result: Result,
    engine: str,
    sql: str,
) -> Recorded[QueryResult]:
    grant = _load(session, snapshot.grant_id, lock=True)
    authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
    _check_status(grant)
    # The resource as it is now: a grade raised or put under review, or a new
    # version while the query ran mean other masks or thresholds, so this
    # result must not leave.
    if _resource_stamp(session, grant.resource_id) != snapshot.stamp:
        raise PolicyViolation(
            "查询期间资源已变更，请重新查询 / the resource changed while the query ran; "
            "run it again",
            details={"rule": "resource.changed", "grant_id": grant.id},
        )
    spent = float(grant.epsilon_spent)
    # The grant as it is now, not as step 1 saw it: other queries may have
    # used the last count or the last ε meanwhile.
    _check(snapshot, plan, used=grant.queries_used, spent=spent, epsilon=result.epsilon_spent)
    grant.queries_used += 1
    grant.epsilon_spent = str(Decimal(grant.epsilon_spent) + Decimal(repr(result.epsilon_spent)))
    columns = {t: sorted(c) for t, c in sorted(result.columns_touched.items())}
    row = GrantQuery(
        grant_id=grant.id,
        grantee_id=grant.grantee_id,
        member_id=actor.member_id,
        sql=sql,
        sql_sha256=result.sql_sha256,
        status="executed",
        engine=engine,
        columns=columns,
        rows_scanned=result.rows_scanned,
        result_rows=result.rows.num_rows,
        result_sha256=result.result_sha256,
        epsilon=repr(result.epsilon_spent),
    )
    session.add(row)
    session.flush()
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.QUERY_EXECUTED,
                "query",
                row.id,
                {
                    "grant_id": grant.id,
                    "sql_sha256": result.sql_sha256,
                    "columns": columns,
                    "rows_scanned": result.rows_scanned,
                    "result_sha256": result.result_sha256,
                    "epsilon": repr(result.epsilon_spent),
                    "engine": engine,
                },
            )
        ],
    )
    row.log_index = event.seq
    terms = snapshot.terms
    answer = QueryResult(
        query=view(row),
        columns=[{"name": f.name, "type": str(f.type)} for f in result.rows.schema],
        rows=[list(r.values()) for r in result.rows.to_pylist()],
        truncated=result.truncated,
        queries_left=terms.max_queries - grant.queries_used,
        epsilon_left=None
        if terms.epsilon is None
        else max(terms.epsilon - float(grant.epsilon_spent), 0.0),
    )
    return Recorded(answer, event.seq)


def _record_refusal(
    db: Database,
    actor: Principal,
    parties: tuple[int, int],
    sql: str,
    exc: DataCompactError,
    engine: str,
) -> None:
    """Log a refused query: the rule it broke and the hash of its SQL, in its own transaction."""
    rule = str(exc.details.get("rule") or exc.code)[:64]
    grant_id, grantee_id = parties
    try:
        with db.write() as session:
            row = GrantQuery(
                grant_id=grant_id,
                grantee_id=grantee_id,
                member_id=actor.member_id,
                sql=sql,
                sql_sha256=sha256_text(sql),
                status="refused",
                rule=rule,
                engine=engine,
            )
            session.add(row)
            session.flush()
            (event,) = record_events(
                session,
                actor=actor,
                events=[
                    NewEvent(
                        EventType.QUERY_REFUSED,
                        "query",
                        row.id,
                        {"grant_id": grant_id, "sql_sha256": row.sql_sha256, "rule": rule},
                    )
                ],
            )
            row.log_index = event.seq
    except DataCompactError:
        # The refusal stands whether or not it could be logged.
        log.exception("could not log a refused query on grant %s", grant_id)


def list_queries(
    *,
    session: Session,
    actor: Principal,
    grant_id: int,
    limit: int = 100,
    before: int | None = None,
) -> list[QueryPublic]:
    """A grant's queries, newest first: for the grantee, the holder and the regulator."""
    grant = _load(session, grant_id)
    authorize(actor=actor, action=Actions.QUERY_READ, resource=_parties(grant))
    statement = select(GrantQuery).where(GrantQuery.grant_id == grant_id)
    if before is not None:
        statement = statement.where(GrantQuery.id < before)
    rows = session.scalars(statement.order_by(GrantQuery.id.desc()).limit(limit))
    return [view(r) for r in rows]


def get_query(*, session: Session, actor: Principal, query_id: int) -> QueryPublic:
    row = session.get(GrantQuery, query_id)
    if row is None:
        raise NotFound("查询记录不存在 / query not found", details={"query_id": query_id})
    grant = _load(session, row.grant_id)
    authorize(actor=actor, action=Actions.QUERY_READ, resource=_parties(grant))
    return view(row)


def find_overlaps(
    *,
    session: Session,
    actor: Principal,
    days: int = 30,
    threshold: float = 0.8,
    limit: int = 10_000,
) -> list[OverlapPublic]:
    """Near-duplicate query pairs of the last ``days`` (differencing attacks), for the regulator.

    Only executed queries count (a refused one released nothing), at most the
    ``limit`` newest. Pairs never cross grantees but do cross one grantee's
    grants (:mod:`datacompact.sandbox.overlap`).
    """
    authorize(
        actor=actor,
        action=Actions.QUERY_AUDIT,
        resource=PartyResource(
            participant_id=None, reviewers=frozenset(approved_of_kind(session, ("regulator",)))
        ),
    )
    since = utcnow() - timedelta(days=days)
    rows = session.execute(
        select(
            GrantQuery.id,
            GrantQuery.grant_id,
            GrantQuery.grantee_id,
            GrantQuery.sql,
            GrantQuery.created_at,
        )
        .where(GrantQuery.status == "executed", GrantQuery.created_at >= since)
        .order_by(GrantQuery.id.desc())
        .limit(limit)
    )
    records = [
        overlap.QueryRecord(query_id=i, grant_id=str(g), grantee=str(p), sql=sql, at=at)
        for i, g, p, sql, at in rows
    ]
    return [
        OverlapPublic(
            first_query_id=f.first_id,
            second_query_id=f.second_id,
            grant_ids=[int(g) for g in f.grant_ids],
            grantee_id=int(f.grantee),
            kind=f.kind,
            similarity=f.similarity,
            columns=list(f.columns),
            reason=f.reason,
        )
        for f in overlap.find_overlaps(records, threshold=threshold)
    ]


def view(row: GrantQuery) -> QueryPublic:
    return QueryPublic(
        id=row.id,
        grant_id=row.grant_id,
        status=row.status,
        rule=row.rule,
        engine=row.engine,
        sql_sha256=row.sql_sha256,
        columns=row.columns,
        rows_scanned=row.rows_scanned,
        result_rows=row.result_rows,
        result_sha256=row.result_sha256,
        epsilon=float(row.epsilon),
        log_index=row.log_index,
        created_at=row.created_at,
    )

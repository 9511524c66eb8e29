"""Governed queries under grants: analyze, charge, run in the sandbox, log, answer with a receipt.

:func:`run_query` is the only way data leaves a resource row by row or in
aggregate. Differential-privacy systems charge before they look, and so does
this one: what a query costs must not depend on what the data make it do.

1. **Analysis** (a read transaction, then no transaction): the grant is
   loaded and authorized, the sandbox's view of it is built
   (``_grant_view``), ε is checked against the grant's per-query range, and
   the SQL is analyzed and rewritten (:func:`datacompact.sandbox.govern`).
   A refusal here reads no data; it is free, logged as ``query.refused``
   with the rule it broke, and rate-limited per grant (:class:`QueryPolicy`).
2. **Charge** (a write transaction holding the grant's row lock): status,
   expiry, the query count and the ε budget are checked against the grant as
   it is now, then the query is counted, its ε taken, and a ``running`` row
   written. From here on, nothing gives the charge back.
3. **Execution** (no transaction, no lock): the engine runs the plan.
4. **Outcome** (a write transaction): the grant, the member and the
   resource are checked again; a suspension, a revocation or a change of the
   resource while the query ran drops the result. The row becomes
   ``executed`` (``query.executed``: the hashes of SQL and result, and what
   was charged) or ``failed`` (``query.failed``: what was charged, never
   why). Every failure answers :class:`~datacompact.errors.QueryFailed`, the
   same message and status whatever happened; under every mode stricter
   than plain records the time from the charge to the answer is padded to a
   multiple of :attr:`QueryPolicy.time_quantum` (``docs/sandbox.md``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from datacompact.catalog.resources import RESOURCES_DIR, latest_version
from datacompact.clock import utcnow
from datacompact.config import GovernanceMode, Settings
from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
    QueryFailed,
    RateLimited,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy import _extracts, _results
from datacompact.policy._grant_view import PartInput, grant_view, joint_grant_view, table_names
from datacompact.policy._parts import holders, parts, resource_ids
from datacompact.policy._protection import protection
from datacompact.policy._release_store import RELEASES, ensure_release
from datacompact.policy.agreement import GrantTerms, check_epsilon, check_use, parse_agreement
from datacompact.policy.schemas import (
    OverlapPublic,
    QueryPublic,
    QueryResult,
    ResultPage,
    ResultProtection,
)
from datacompact.privacy.masking import derive_key
from datacompact.ratelimits import RateLimits
from datacompact.registry import lookup
from datacompact.registry.participants import approved_of_kind
from datacompact.sandbox import (
    DuckDBEngine,
    Engine,
    EpsilonAccount,
    GrantView,
    Result,
    check_capabilities,
    govern,
    overlap,
)
from datacompact.sandbox.engine import python_rows
from datacompact.sandbox.plan import Plan, sha256_text
from datacompact.store.models import (
    Application,
    Grant,
    GrantQuery,
    Resource,
    ResourceVersion,
)
from datacompact.store.session import Database, ReadCache

log = logging.getLogger("datacompact.queries")

Recheck = Callable[[Session], Principal]
#: Errors that refuse a query at analysis and are logged as such; others (not
#: found, forbidden) say nothing about the grant's use and are not.
_REFUSALS = (PolicyViolation, InvalidInput, MalformedInput, PayloadTooLarge)
#: The one answer of a query that failed after it was charged.
FAILED_MESSAGE = "查询失败 / the query failed"


@dataclass(frozen=True)
class QueryPolicy:
    """Operator settings of governed queries (``DATACOMPACT_SANDBOX_*``).

    ``refusals_per_minute`` bounds the free analysis-time refusals per grant:
    a refusal reads no data, but each one lands on the log, and an unlimited
    free probe of the analyzer is still a probe. They are counted in
    ``limits`` (a moving window of one minute per grant): the platform's
    :attr:`~datacompact.platform.Platform.rate_limits` when served, or the
    policy's own counters. ``time_quantum`` (seconds) pads the time from a
    query's charge to its answer to a multiple of it under every mode
    stricter than plain records, so that small differences in execution time
    (one record more or less behind a predicate) do not show; 0 turns padding
    off.
    """

    refusals_per_minute: int = 30
    time_quantum: float = 0.05
    #: Rows of the answer's first page and of each later page.
    page_rows: int = 1000
    #: Seconds a stored result stays readable page by page.
    result_retention: float = 24 * 3600.0
    limits: RateLimits = field(default_factory=RateLimits, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, limits: RateLimits | None = None) -> QueryPolicy:
        return cls(
            refusals_per_minute=settings.sandbox_refusals_per_minute,
            time_quantum=settings.sandbox_time_quantum_ms / 1000,
            page_rows=settings.query_page_rows,
            result_retention=settings.query_result_retention_hours * 3600.0,
            limits=limits or RateLimits(settings.rate_limit_storage_uri),
        )

    @property
    def refusal_rate(self) -> str:
        return f"{self.refusals_per_minute}/minute"


def pseudonym_key(secret: bytes) -> bytes:
    """The sandbox's pseudonym key; each grant derives its own from it (HKDF, ``grant:<id>``)."""
    return derive_key(secret, "datacompact/sandbox-pseudonyms")


@dataclass(frozen=True)
class _Snapshot:
    grant_id: int
    grantee_id: int
    terms: GrantTerms
    view: GrantView
    version_id: int
    queries_used: int
    epsilon_spent: float
    #: What the view was built from (see :func:`_resource_stamp`).
    stamp: tuple[object, ...]
    #: A joint grant's terms per table (a single grant's are ``terms``).
    table_terms: tuple[tuple[str, GrantTerms], ...] = ()
    #: A joint grant's inputs: each resource and version, for the receipt.
    inputs: tuple[tuple[tuple[str, object], ...], ...] = ()


@dataclass(frozen=True)
class _Prepared:
    """An analyzed query, ready to be charged and run."""

    plan: Plan
    #: The grant's output mode (a k-anonymous grant's SQL runs as records on its release).
    mode: str
    #: The ε this query is charged (0 unless it is a DP release).
    epsilon: float
    #: The δ of a DP release's noisy choice of groups (0 unless it has groups).
    delta: float = 0.0
    #: What the answer will say about its suppression, noise and generalization.
    protection: ResultProtection | None = None


def _resource_stamp(session: Session, resource_id: int) -> tuple[object, ...]:
    """What a grant's view depends on in its resource: its row as last updated, its latest version.

    Grades, grade decisions, sharing and open-data flags all update the row's
    ``updated_at``; a new version is a new id. One small query, so that the
    locked transactions of every query stay short.
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
        participant_id=grant.grantee_id, parties=frozenset({grant.grantee_id, *holders(grant)})
    )


def _load(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    grant = session.get(Grant, grant_id, with_for_update=lock)
    if grant is None:
        raise NotFound("授权不存在 / grant not found", details={"grant_id": grant_id})
    return grant


def _check_status(grant: Grant) -> None:
    if grant.status == "needs_review":
        # About the resource's columns, not its rows: it says nothing of any record.
        raise PolicyViolation(
            "授权待复核：资源的新版本删除或改变了授权的列，复核前不能查询 / the grant needs "
            "review: a new version of the resource removed or retyped columns it grants; "
            "no queries run under it until the holder reinstates it",
            details={"rule": "grant.needs_review", "grant_id": grant.id},
        )
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


class _Derived(NamedTuple):
    """What a grant's snapshot derives from its agreement and its resource, not its counters."""

    terms: GrantTerms
    view: GrantView
    version_id: int
    stamp: tuple[object, ...]
    table_terms: tuple[tuple[str, GrantTerms], ...] = ()
    inputs: tuple[tuple[tuple[str, object], ...], ...] = ()


def _stamps(session: Session, grant: Grant) -> tuple[object, ...]:
    """The stamps of every resource of ``grant`` (one tuple for a single grant, as before)."""
    ids = resource_ids(grant)
    if not grant.parts:
        return _resource_stamp(session, ids[0])
    return tuple(_resource_stamp(session, i) for i in ids)


def _derive_joint(session: Session, grant: Grant, home: Path) -> _Derived:
    """A joint grant's view: each part on the latest version of its resource."""
    inputs = []
    for part in parts(grant):
        version = latest_version(session, part.resource.id)
        if version is None:
            raise NotFound("数据资源不存在 / resource not found", details={"grant_id": grant.id})
        inputs.append(PartInput(part.terms, part.resource, version))
    view = joint_grant_view(
        grant=grant,
        inputs=inputs,
        home=home,
        regulator_approved=_regulator_approved(session, grant),
    )
    names = table_names([i.resource for i in inputs])
    return _Derived(
        inputs[0].terms,
        view,
        inputs[0].version.id,
        _stamps(session, grant),
        tuple((names[i.resource.id], i.terms) for i in inputs),
        tuple(
            (
                ("resource_id", i.resource.id),
                ("code", i.resource.code),
                ("version", i.version.number),
                ("table", names[i.resource.id]),
            )
            for i in inputs
        ),
    )


def _derive(session: Session, grant: Grant, home: Path) -> _Derived:
    if grant.parts:
        return _derive_joint(session, grant, home)
    terms = parse_agreement(grant.agreement)
    resource = session.get(Resource, grant.resource_id)
    # Only the latest version: a resource may have many, each with its profile.
    version = latest_version(session, grant.resource_id)
    if resource is None or version is None:
        raise NotFound("数据资源不存在 / resource not found", details={"grant_id": grant.id})
    view = grant_view(
        grant=grant,
        terms=terms,
        resource=resource,
        version=version,
        home=home,
        regulator_approved=_regulator_approved(session, grant),
    )
    return _Derived(terms, view, version.id, _resource_stamp(session, grant.resource_id))


def _derived_key(grant: Grant, home: Path) -> tuple[object, ...]:
    """Every input of :func:`_derive` that the grant's row holds, its agreement in full."""
    agreement = json.dumps(grant.agreement, sort_keys=True, ensure_ascii=False, default=str)
    return (
        "policy.grant_view",
        grant.id,
        grant.resource_id,
        grant.application_id,
        grant.grantee_id,
        grant.holder_id,
        str(home),
        agreement,
    )


def _snapshot(
    session: Session, grant: Grant, home: Path, views: ReadCache | None = None
) -> _Snapshot:
    """The grant, its terms and its sandbox view on the resource as the store holds it now.

    The terms, the view and the resource's stamp change only with logged
    events (a grade, a decision, a new version, a new agreement), so ``views``
    may serve them from an earlier snapshot that still holds. The grant's row
    itself, with its status and its counters, is read every time, and the
    charge checks the counters and the stamp again under the grant's lock.
    """
    _check_status(grant)
    if views is None:
        derived = _derive(session, grant, home)
    else:
        derived = views.get(
            session, _derived_key(grant, home), lambda: _derive(session, grant, home)
        )
    return _Snapshot(
        grant.id,
        grant.grantee_id,
        derived.terms,
        derived.view,
        derived.version_id,
        grant.queries_used,
        float(grant.epsilon_spent),
        derived.stamp,
        derived.table_terms,
        derived.inputs,
    )


def _check(snapshot: _Snapshot, query: _Prepared, *, used: int, spent: float) -> None:
    if snapshot.table_terms:
        # A joint grant: each table the query reads against its own permission.
        # A table it does not read is checked for what the whole grant shares
        # (expiry, count, budget) under its own mode.
        for table, terms in snapshot.table_terms:
            read = table in query.plan.touched
            check_use(
                terms,
                now=utcnow(),
                queries_so_far=used,
                epsilon_spent=spent,
                columns=sorted(query.plan.touched.get(table, ())),
                mode=query.mode if read else terms.output.mode,
                epsilon=query.epsilon,
            )
        return
    check_use(
        snapshot.terms,
        now=utcnow(),
        queries_so_far=used,
        epsilon_spent=spent,
        columns=sorted({c for cols in query.plan.touched.values() for c in cols}),
        mode=query.mode,
        epsilon=query.epsilon,
    )


#: The rule name of the per-grant limit on refusals (its key in the counters and in errors).
REFUSAL_RULE = "grant.refusal_rate"


def _check_refusal_rate(policy: QueryPolicy, grant_id: int) -> None:
    """Refuse to analyze once a grant's refusals of the last minute reach the limit."""
    limit, key = policy.refusals_per_minute, str(grant_id)
    if not policy.limits.room(REFUSAL_RULE, policy.refusal_rate, key):
        raise RateLimited(
            f"该授权一分钟内已有 {limit} 次查询被拒绝，请稍后再试 / {limit} queries under this "
            "grant were refused in the last minute; try again later",
            details={
                "rule": REFUSAL_RULE,
                "limit": limit,
                "retry_after": policy.limits.retry_after(REFUSAL_RULE, policy.refusal_rate, key),
            },
        )


def _refused(policy: QueryPolicy, grant_id: int) -> None:
    """Count a refusal against its grant's limit."""
    policy.limits.count(REFUSAL_RULE, policy.refusal_rate, str(grant_id))


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
    policy: QueryPolicy | None = None,
    views: ReadCache | None = None,
    restrict: Callable[[GrantView], GrantView] | None = None,
) -> Recorded[QueryResult]:
    """Run ``sql`` under grant ``grant_id`` for ``actor``; see the module docstring.

    ``views`` may serve the grant's terms and sandbox view from an earlier
    read that still holds (:func:`_snapshot`); the grant is authorized and
    charged as it is now whatever it serves. ``restrict`` narrows the view's
    rows (a private set intersection's matches, :mod:`datacompact.fusion`):
    every rule of the grant still applies to what is left. A k-anonymous
    grant's release covers its whole resource, so it takes no restriction.
    """
    policy = policy or QueryPolicy()
    runner = engine or DuckDBEngine(pseudonym_key=pseudonym_key(secret))
    with db.read() as session:
        grant = _load(session, grant_id)
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        _check_refusal_rate(policy, grant.id)
        parties = (grant.id, grant.grantee_id)
        refused: DataCompactError | None = None
        try:
            snapshot = _snapshot(session, grant, home, views)
            if restrict is not None:
                if snapshot.view.mode == "k_anonymous":
                    raise PolicyViolation(
                        "k-匿名授权的发布不能按行收窄 / a k-anonymous grant's release covers its "
                        "whole resource; it cannot be narrowed to some rows",
                        details={"rule": "grant.k_anonymous_restricted", "grant_id": grant.id},
                    )
                snapshot = replace(snapshot, view=restrict(snapshot.view))
        except _REFUSALS as exc:
            refused = exc
    if refused is not None:
        _refused(policy, grant_id)
        _record_refusal(db, actor, parties, sql, refused, runner.name)
        raise refused
    try:
        query = _prepare(snapshot, sql, epsilon, runner)
        # Unsynced: nothing of the query leaves before _finish's synced commit,
        # which makes this charge durable with it.
        with db.write_unsynced() as session:
            actor = recheck(session) if recheck else actor
            query_id = _charge(session, actor, snapshot, query, sql, runner.name)
    except _REFUSALS as exc:
        _refused(policy, grant_id)
        _record_refusal(db, actor, parties, sql, exc, runner.name)
        raise
    # Charged: from here on every outcome is logged and nothing is given back.
    started = time.monotonic()
    result: Result | None = None
    failure: Exception | None = None
    try:
        plan = query.plan
        if query.mode == "k_anonymous":
            # Reads data (the first query on a version computes the release):
            # only after the charge, so every outcome of it is this query's.
            plan = replace(
                plan,
                grant=ensure_release(
                    db=db,
                    home=home,
                    grant_id=snapshot.grant_id,
                    version_id=snapshot.version_id,
                    view=snapshot.view,
                    engine=runner,
                    k=snapshot.terms.output.k or 10,
                    actor=actor,
                ),
            )
        budget = EpsilonAccount(total=query.epsilon) if query.epsilon > 0 else None
        result = runner.execute(plan, budget=budget)
        # Stored before the outcome is recorded, so that every page of an
        # executed query can be read; dropped again if the outcome is a failure.
        _results.store_result(
            home,
            grant_id=snapshot.grant_id,
            query_id=query_id,
            rows=result.rows,
            truncated=result.truncated,
            protection=query.protection,
            retention_seconds=policy.result_retention,
        )
    except Exception as exc:  # every failure after the charge is one outcome
        log.warning("query %s failed: %s", query_id, _brief(exc))
        failure, result = exc, None
    try:
        recorded = _finish(
            db, actor, snapshot, query, query_id, result, recheck, _Paging(secret, policy.page_rows)
        )
    finally:
        if query.mode != "records":
            _pad(started, policy.time_quantum)
    if recorded is None:
        _results.discard_result(home, snapshot.grant_id, query_id)
        if isinstance(failure, QueryFailed) and query.mode == "records":
            raise failure  # plain records may say which engine error it was
        raise QueryFailed(FAILED_MESSAGE) from None
    return recorded


def sweep_results(*, home: Path, settings: Settings) -> int:
    """Remove every stored result past ``settings``' retention; how many were removed."""
    return _results.sweep_expired(
        home, retention_seconds=settings.query_result_retention_hours * 3600.0
    )


def results_sweeper(
    *, home: Path, settings: Settings, interval: float = _results.SWEEP_EVERY_SECONDS
) -> _results.ResultSweeper:
    """A thread (not started) that runs :func:`sweep_results` every ``interval`` seconds."""
    return _results.ResultSweeper(
        home,
        retention_seconds=settings.query_result_retention_hours * 3600.0,
        interval=interval,
    )


def sandbox_data_dirs(home: Path) -> list[Path]:
    """The folders of the files governed queries read: resource versions and k-anonymous releases."""
    return [home / RESOURCES_DIR, home / RELEASES]


def _brief(exc: BaseException) -> str:
    """One bounded line for the server log (a RecursionError's text alone ran to 400 KB)."""
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _pad(started: float, quantum: float) -> None:
    """Sleep until the time since ``started`` is a whole number of quanta (at least one)."""
    if quantum <= 0:
        return
    elapsed = time.monotonic() - started
    time.sleep(max(math.ceil(elapsed / quantum), 1) * quantum - elapsed)


def _prepare(
    snapshot: _Snapshot,
    sql: str,
    epsilon: float | None,
    engine: Engine,
) -> _Prepared:
    """Analyze and rewrite ``sql`` under the snapshot's view, outside any transaction.

    Everything here is a function of the SQL, the grant and the resource's
    metadata, never of the rows the query would read (a k-anonymous grant's
    query is analyzed on the shape of its release): a refusal here may name
    its rule.
    """
    view = snapshot.view
    mode = view.mode
    dp = mode == "dp_aggregates"
    if epsilon is not None and not dp:
        raise InvalidInput(
            "只有差分隐私授权的查询才能指定 ε / epsilon applies only to queries under a "
            "dp_aggregates grant; this grant releases another output mode",
            details={"rule": "epsilon.not_dp", "field": "epsilon"},
        )
    if dp:
        view = replace(view, epsilon_per_query=check_epsilon(snapshot.terms, epsilon))
    if mode == "k_anonymous":
        # Analyzed on the release's shape; the release itself is read after the charge.
        view = _extracts.analysis_view(sql, view)
    plan = govern(sql, view)
    if snapshot.table_terms:
        # A joint grant: the strictest mode among the tables this query reads
        # (a query of the applicant's own table alone keeps its own mode).
        mode = plan.mode
    check_capabilities(engine, plan)
    dp_release = bool(plan.dp_aggregates)
    epsilon = view.epsilon_per_query if dp_release else 0.0
    delta = plan.dp_delta if dp_release else 0.0
    query = _Prepared(
        plan=plan,
        mode=mode,
        epsilon=epsilon,
        delta=delta,
        protection=protection(plan, mode, epsilon=epsilon, delta=delta),
    )
    _check(snapshot, query, used=snapshot.queries_used, spent=snapshot.epsilon_spent)
    return query


def _charge(
    session: Session,
    actor: Principal,
    snapshot: _Snapshot,
    query: _Prepared,
    sql: str,
    engine: str,
) -> int:
    """Count the query and take its ε from the grant as it is now; the ``running`` row's id."""
    grant = _load(session, snapshot.grant_id, lock=True)
    authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
    _check_status(grant)
    _check_resource(session, grant, snapshot)
    # The grant as it is now, not as the analysis saw it: other queries may
    # have used the last count or the last ε meanwhile.
    _check(snapshot, query, used=grant.queries_used, spent=float(grant.epsilon_spent))
    grant.queries_used += 1
    grant.epsilon_spent = str(Decimal(grant.epsilon_spent) + Decimal(repr(query.epsilon)))
    row = GrantQuery(
        grant_id=grant.id,
        grantee_id=grant.grantee_id,
        member_id=actor.member_id,
        sql=sql,
        sql_sha256=query.plan.sql_hash,
        status="running",
        engine=engine,
        columns={t: sorted(c) for t, c in sorted(query.plan.touched.items())},
        epsilon=repr(query.epsilon),
        delta=repr(query.delta),
        inputs=[dict(i) for i in snapshot.inputs] if snapshot.inputs else None,
    )
    session.add(row)
    session.flush()
    return row.id


def _check_resource(session: Session, grant: Grant, snapshot: _Snapshot) -> None:
    # A grade raised or put under review, or a new version, mean other masks
    # or thresholds than the plan was built with.
    if _stamps(session, grant) != snapshot.stamp:
        raise PolicyViolation(
            "资源已变更，请重新查询 / the resource changed since the query was analyzed; "
            "run it again",
            details={"rule": "resource.changed", "grant_id": grant.id},
        )


def _outcome(row: GrantQuery) -> dict[str, object]:
    """What every outcome event of a charged query says: what it was and what it cost.

    Under a joint grant it also names every input resource and the version
    read, so the receipt of a joint query is its lineage.
    """
    payload: dict[str, object] = {
        "grant_id": row.grant_id,
        "sql_sha256": row.sql_sha256,
        "columns": row.columns,
        "epsilon": row.epsilon,
        "delta": row.delta,
        "engine": row.engine,
    }
    if row.inputs:
        payload["inputs"] = row.inputs
    return payload


def _finish(
    db: Database,
    actor: Principal,
    snapshot: _Snapshot,
    query: _Prepared,
    query_id: int,
    result: Result | None,
    recheck: Recheck | None,
    paging: _Paging,
) -> Recorded[QueryResult] | None:
    """Log the outcome of a charged query: the answer, or None when it failed."""
    with db.write() as session:
        grant = _load(session, snapshot.grant_id, lock=True)
        row = session.get(GrantQuery, query_id, with_for_update=True)
        if row is None or row.status != "running":
            # Closed as interrupted meanwhile (a query held for minutes): that outcome stands.
            return None
        if result is not None:
            try:
                # The grant, the member and the resource as they are now: the
                # result of a query whose grant was revoked in flight must not leave.
                actor = recheck(session) if recheck else actor
                authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
                _check_status(grant)
                _check_resource(session, grant, snapshot)
            except DataCompactError as exc:
                log.warning("query %s dropped after it ran: %s", query_id, _brief(exc))
                result = None
        payload = _outcome(row)
        if result is None:
            row.status = "failed"
            event_type = EventType.QUERY_FAILED
        else:
            row.status = "executed"
            row.rows_scanned = result.rows_scanned
            row.result_rows = result.rows.num_rows
            row.result_sha256 = result.result_sha256
            payload |= {"rows_scanned": result.rows_scanned, "result_sha256": result.result_sha256}
            event_type = EventType.QUERY_EXECUTED
        (event,) = record_events(
            session, actor=actor, events=[NewEvent(event_type, "query", row.id, payload)]
        )
        row.log_index = event.seq
        if result is None:
            return None
        terms = snapshot.terms
        total = result.rows.num_rows
        answer = QueryResult(
            query=view(row),
            columns=[{"name": f.name, "type": str(f.type)} for f in result.rows.schema],
            rows=python_rows(result.rows.slice(0, paging.size)),
            truncated=result.truncated,
            queries_left=terms.max_queries - grant.queries_used,
            epsilon_left=None
            if terms.epsilon is None
            else max(terms.epsilon - float(grant.epsilon_spent), 0.0),
            total_rows=total,
            row_limit=query.plan.limits.max_result_rows,
            next_page_token=paging.token(row.id, paging.size, total, result.result_sha256),
            protection=query.protection,
        )
        return Recorded(answer, event.seq)


@dataclass(frozen=True)
class _Paging:
    """The key of page tokens and the rows per page."""

    secret: bytes
    size: int

    def token(self, query_id: int, offset: int, total: int, digest: str) -> str | None:
        """The token of the page at ``offset``, or None when no row is left there."""
        if offset >= total:
            return None
        return _results.page_token(
            self.secret, query_id=query_id, offset=offset, size=self.size, digest=digest
        )


def result_page(
    *,
    session: Session,
    home: Path,
    secret: bytes,
    actor: Principal,
    query_id: int,
    page_token: str | None = None,
    policy: QueryPolicy | None = None,
) -> ResultPage:
    """A page of an executed query's stored result, for whoever may run queries under its grant.

    Reads the result written when the query executed: nothing runs, nothing is
    charged. Without a token, the first page. The grant must still be active:
    what has not left yet does not leave under a suspended or revoked grant.
    """
    policy = policy or QueryPolicy()
    row, stored = _stored(session, home, actor, query_id, policy)
    digest = row.result_sha256 or ""
    offset, size = 0, policy.page_rows
    if page_token is not None:
        offset, size = _results.read_token(secret, page_token, query_id=row.id, digest=digest)
    columns, rows = _results.read_rows(stored, offset, size)
    paging = _Paging(secret, size)
    return ResultPage(
        query_id=row.id,
        columns=columns,
        rows=rows,
        offset=offset,
        total_rows=stored.rows,
        truncated=stored.truncated,
        next_page_token=paging.token(row.id, offset + size, stored.rows, digest),
        protection=stored.protection,
    )


def result_stream(
    *,
    session: Session,
    home: Path,
    actor: Principal,
    query_id: int,
    fmt: str,
    policy: QueryPolicy | None = None,
) -> tuple[Iterator[bytes], int, bool]:
    """The whole stored result of a query as CSV or Parquet bytes, its row count and ``truncated``.

    Checked (grant, permission, stored file) before the first byte, so a
    refusal is an error response and never a half-sent stream.
    """
    if fmt not in ("csv", "parquet"):
        raise InvalidInput(
            "格式须为 json、csv 或 parquet / expected format json, csv or parquet",
            details={"field": "format"},
        )
    _row, stored = _stored(session, home, actor, query_id, policy or QueryPolicy())
    chunks = _results.stream_csv(stored) if fmt == "csv" else _results.stream_parquet(stored)
    return chunks, stored.rows, stored.truncated


def _stored(
    session: Session, home: Path, actor: Principal, query_id: int, policy: QueryPolicy
) -> tuple[GrantQuery, _results.Stored]:
    row = session.get(GrantQuery, query_id)
    if row is None:
        raise NotFound("查询记录不存在 / query not found", details={"query_id": query_id})
    grant = _load(session, row.grant_id)
    authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
    _check_status(grant)
    if row.status != "executed":
        raise NotFound(
            "该查询没有结果（被拒绝或失败）/ this query has no result: it was refused or failed",
            details={"query_id": query_id},
        )
    stored = _results.open_result(
        home, grant_id=row.grant_id, query_id=row.id, retention_seconds=policy.result_retention
    )
    return row, stored


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


#: A query still ``running`` after this long belongs to a process that died:
#: far beyond the sandbox's time limit, so a live worker's query is never taken.
STALE_AFTER = timedelta(minutes=10)


def close_interrupted(*, db: Database, governance: GovernanceMode) -> int:
    """Mark queries a dead process left ``running`` as ``failed``, each with its event.

    Each served process calls it when it starts. Such a query was charged and
    may have read data, so it stays charged, and its outcome must reach the log.
    """
    actor = Principal(label="sandbox", governance=governance)
    with db.write() as session:
        rows = session.scalars(
            select(GrantQuery)
            .where(GrantQuery.status == "running", GrantQuery.created_at < utcnow() - STALE_AFTER)
            .with_for_update()
        ).all()
        for row in rows:
            row.status = "failed"
            (event,) = record_events(
                session,
                actor=actor,
                events=[NewEvent(EventType.QUERY_FAILED, "query", row.id, _outcome(row))],
            )
            row.log_index = event.seq
    return len(rows)


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
            grantee_name=lookup.participant_name(session, int(f.grantee)),
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
        delta=float(row.delta),
        log_index=row.log_index,
        created_at=row.created_at,
        inputs=row.inputs,
    )

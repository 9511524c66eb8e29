"""Private set intersection under a grant: a requester's key set against a holder's key column.

The platform plays the holder's side inside the holder's domain (the
resource's files never leave it); the requester plays its own side on its
own machine (``datacompact psi run``), so its keys never reach the platform.
Two rounds of semi-honest ECDH-PSI over Curve25519 (X25519)
(:mod:`datacompact.privacy.psi`), with secret scalars ``b`` (holder) and
``a`` (requester), both fresh per run:

1. :func:`open_psi`: the requester names the grant, the mode, the key
   column, its kind and the size of its set. The grant is authorized and
   **charged one use** before any key is read (``psi.opened``). The holder's
   column is normalized (:mod:`.keys`), deduplicated, hashed to the group under
   the run's own context, blinded with ``b`` and shuffled: the answer is
   ``{H(y)^b}`` in a random order.
2. :func:`exchange_psi`: the requester sends ``{H(y)^b}^a`` in the order it
   received them and ``{H(x)^a}`` for its own keys. The platform raises the
   latter to ``b`` and matches: equal points are equal keys. It learns which
   of the holder's rows and which of the requester's positions matched,
   never a requester key it did not hold. The requester learns what its mode
   releases (``PsiResult``); the run ends ``executed`` (``psi.executed``, the
   receipt) or ``failed`` (``psi.failed``), the charge kept either way.

The run's secret is sealed in its row between the rounds and erased when the
second round starts, so a replayed round finds nothing to answer with.
What each party learns in each mode is tabled in ``docs/fusion.md``.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.catalog.resources import latest_version
from datacompact.clock import utcnow
from datacompact.config import Settings
from datacompact.errors import (
    Conflict,
    DataCompactError,
    InvalidInput,
    MalformedInput,
    NotFound,
    PolicyViolation,
)
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.fusion._runs import (
    Claimed,
    check_distinct,
    holder_keys,
    matched_keys,
    open_state,
    read_points,
    release_attributes,
    run_view,
    seal_state,
    shuffle_order,
)
from datacompact.fusion.keys import canonical_key
from datacompact.fusion.schemas import PsiOpened, PsiResult, PsiRunPublic
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.policy import queries
from datacompact.policy.agreement import GrantTerms, check_use, parse_agreement
from datacompact.privacy import psi as group
from datacompact.sandbox import Engine
from datacompact.store.models import Grant, PsiRun
from datacompact.store.session import Database

__all__ = [
    "PsiPolicy",
    "exchange_psi",
    "get_run",
    "list_runs",
    "open_psi",
]

log = logging.getLogger("datacompact.psi")

#: Grant output modes under which each PSI mode may run. ``intersection``
#: tells the requester, key by key, whether the holder has a record of it: a
#: per-record release, so only record modes allow it. ``cardinality`` is an
#: aggregate of distinct entities, withheld below the grant's threshold; no
#: noise is added, so grants that promise differential privacy refuse it.
#: ``attributes`` runs the grant's own governed query on the matched rows.
_ALLOWED = {
    "cardinality": frozenset({"records", "masked_records", "aggregates", "k_anonymous"}),
    "intersection": frozenset({"records", "masked_records"}),
    "attributes": frozenset({"records", "masked_records", "aggregates", "dp_aggregates"}),
}
#: The entity threshold of an aggregate grant that names none (the sandbox's default).
DEFAULT_MIN_GROUP = 10


@dataclass(frozen=True)
class PsiPolicy:
    """Operator settings of private set intersection (``DATACOMPACT_PSI_*``)."""

    #: The most keys either side of one run may have.
    max_set_size: int = 1_000_000
    #: Worker processes for the group operations of a large set.
    workers: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> PsiPolicy:
        return cls(max_set_size=settings.psi_max_set_size, workers=settings.psi_workers)


def _parties(grant: Grant) -> PartyResource:
    return PartyResource(
        participant_id=grant.grantee_id, parties=frozenset({grant.grantee_id, grant.holder_id})
    )


def _load_grant(session: Session, grant_id: int, *, lock: bool = False) -> Grant:
    grant = session.get(Grant, grant_id, with_for_update=lock)
    if grant is None:
        raise NotFound("授权不存在 / grant not found", details={"grant_id": grant_id})
    return grant


def _check_active(grant: Grant) -> None:
    if grant.status != "active":
        raise PolicyViolation(
            f"授权状态为 {grant.status}，不能进行隐私求交 / the grant is {grant.status}: "
            "no private set intersection runs under it",
            details={"rule": f"grant.{grant.status}", "grant_id": grant.id},
        )
    if grant.parts:
        # A run matches one holder's column; a joint grant's holders join inside the sandbox.
        raise PolicyViolation(
            "联合授权不支持隐私求交，请在联合查询中关联 / private set intersection runs under a "
            "one-resource grant; under a joint grant, join the resources in a query",
            details={"rule": "psi.joint_grant", "grant_id": grant.id},
        )


def _check_psi_terms(terms: GrantTerms, grant: Grant, mode: str, key_column: str) -> None:
    """The agreement must name the key column for PSI, and its output mode allow the PSI mode."""
    if key_column not in terms.psi_keys:
        raise PolicyViolation(
            "授权协议不允许在该列上做隐私求交 / the grant's agreement does not allow private "
            "set intersection on this column (dcp:psiKey)",
            details={"rule": "grant.psi_key", "grant_id": grant.id, "column": key_column},
        )
    if terms.output.mode.value not in _ALLOWED[mode]:
        raise PolicyViolation(
            f"授权的输出方式 {terms.output.mode.value} 不允许 {mode} 模式的隐私求交 / the "
            f"grant's output mode {terms.output.mode.value} does not allow PSI mode {mode}",
            details={"rule": "grant.psi_mode", "grant_id": grant.id, "mode": mode},
        )


def _check_terms(terms: GrantTerms, grant: Grant, key_column: str) -> None:
    """Expiry and count, as for any governed query: a PSI run is one use of the grant."""
    check_use(
        terms,
        now=utcnow(),
        queries_so_far=grant.queries_used,
        epsilon_spent=float(grant.epsilon_spent),
        columns=[key_column],
        mode=terms.output.mode,
    )


def open_psi(
    *,
    db: Database,
    home: Path,
    secret: bytes,
    actor: Principal,
    grant_id: int,
    mode: str,
    key_column: str,
    key_kind: str,
    declared_size: int,
    policy: PsiPolicy | None = None,
) -> Recorded[PsiOpened]:
    """Round one: authorize and charge the run, then answer the holder's blinded keys, shuffled."""
    policy = policy or PsiPolicy()
    if mode not in _ALLOWED:
        raise InvalidInput(
            "隐私求交模式无效 / invalid mode: expected cardinality, intersection or attributes",
            details={"field": "mode"},
        )
    if not 1 <= declared_size <= policy.max_set_size:
        raise InvalidInput(
            f"集合规模无效 / invalid declared_size: expected 1 to {policy.max_set_size}",
            details={"field": "declared_size", "limit": policy.max_set_size},
        )
    canonical_key(key_kind, "")  # refuses an unknown kind before anything is read
    with db.read() as session:
        grant = _load_grant(session, grant_id)
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        _check_active(grant)
        terms = parse_agreement(grant.agreement)
        _check_psi_terms(terms, grant, mode, key_column)
        _check_terms(terms, grant, key_column)
        version = latest_version(session, grant.resource_id)
        if version is None:
            raise NotFound("数据资源不存在 / resource not found", details={"grant_id": grant.id})
    # Outside any transaction: a million keys take seconds to normalize.
    keys, malformed = holder_keys(home, version, key_column, key_kind)
    if len(keys) > policy.max_set_size:
        raise PolicyViolation(
            f"持有方键数超过上限 {policy.max_set_size} / the holder's column has more keys "
            "than one run takes",
            details={"rule": "psi.holder_too_large", "limit": policy.max_set_size},
        )
    with db.write() as session:
        # The grant and the resource as they are now, under the grant's lock.
        grant = _load_grant(session, grant_id, lock=True)
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        _check_active(grant)
        terms = parse_agreement(grant.agreement)
        _check_psi_terms(terms, grant, mode, key_column)
        _check_terms(terms, grant, key_column)
        now_latest = latest_version(session, grant.resource_id)
        if now_latest is None or now_latest.id != version.id:
            raise PolicyViolation(
                "资源已变更，请重新求交 / the resource changed meanwhile; run it again",
                details={"rule": "resource.changed", "grant_id": grant.id},
            )
        grant.queries_used += 1
        context = group.new_context()
        run = PsiRun(
            grant_id=grant.id,
            grantee_id=grant.grantee_id,
            member_id=actor.member_id,
            mode=mode,
            key_column=key_column,
            key_kind=key_kind,
            version_id=version.id,
            status="open",
            declared_size=declared_size,
            holder_size=len(keys),
            holder_malformed=malformed,
            context=context.hex(),
        )
        session.add(run)
        session.flush()
        scalar, seed = group.new_scalar(), secrets.token_bytes(32)
        run.state = seal_state(secret, run.id, scalar, seed)
        (event,) = record_events(
            session,
            actor=actor,
            events=[NewEvent(EventType.PSI_OPENED, "psi", run.id, _opened_payload(run))],
        )
        run.log_index = event.seq
        run_id = run.id
    blinded = group.blind(context, scalar, keys, workers=policy.workers)
    shuffled = [blinded[i] for i in shuffle_order(seed, len(blinded))]
    return Recorded(
        PsiOpened(
            run_id=run_id,
            mode=mode,
            group=group.GROUP,
            key_kind=key_kind,
            context=context.hex(),
            declared_size=declared_size,
            holder_size=len(keys),
            holder_points=base64.b64encode(group.encode_points(shuffled)).decode("ascii"),
        ),
        event.seq,
    )


def _opened_payload(run: PsiRun) -> dict[str, Any]:
    return {
        "grant_id": run.grant_id,
        "mode": run.mode,
        "key_column": run.key_column,
        "key_kind": run.key_kind,
        "declared_size": run.declared_size,
        "holder_size": run.holder_size,
        "holder_malformed": run.holder_malformed,
    }


def _claim(db: Database, secret: bytes, actor: Principal, run_id: int) -> Claimed:
    """Take the run's secret out of its row: a second call of round two finds none."""
    with db.write() as session:
        run = session.get(PsiRun, run_id, with_for_update=True)
        if run is None:
            raise NotFound("隐私求交不存在 / PSI run not found", details={"run_id": run_id})
        grant = _load_grant(session, run.grant_id)
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        if run.status != "open" or run.state is None:
            raise Conflict(
                "该隐私求交的第二轮已经提交过 / this PSI run's second round was already "
                "answered; open a new run",
                details={"rule": "psi.replayed", "run_id": run_id},
            )
        scalar, seed = open_state(secret, run.id, run.state)
        run.state = None
        terms = parse_agreement(grant.agreement)
        return Claimed(
            run.id,
            grant.id,
            run.mode,
            run.key_column,
            run.key_kind,
            run.version_id,
            run.declared_size,
            run.holder_size,
            scalar,
            seed,
            _threshold(terms),
        )


def _threshold(terms: GrantTerms) -> int | None:
    """The least cardinality released under the grant's mode: as the sandbox's group threshold."""
    if terms.output.mode.value in ("records", "masked_records"):
        return None
    return terms.output.min_group_size or terms.output.k or DEFAULT_MIN_GROUP


def exchange_psi(
    *,
    db: Database,
    home: Path,
    secret: bytes,
    actor: Principal,
    run_id: int,
    holder_points: str,
    requester_points: str,
    sql: str | None = None,
    engine: Engine | None = None,
    policy: PsiPolicy | None = None,
    query_policy: queries.QueryPolicy | None = None,
) -> Recorded[PsiResult]:
    """Round two: match, then release what the run's mode allows; see the module docstring."""
    policy = policy or PsiPolicy()
    claimed = _claim(db, secret, actor, run_id)
    requester_size: int | None = None
    try:
        if (sql is None) != (claimed.mode != "attributes"):
            raise InvalidInput(
                "只有 attributes 模式需要 SQL / sql is expected in mode attributes and only there",
                details={"field": "sql"},
            )
        theirs = read_points(requester_points, "requester_points", claimed.declared_size)
        requester_size = len(theirs)
        ours = read_points(holder_points, "holder_points", claimed.holder_size)
        if len(ours) != claimed.holder_size:
            raise MalformedInput(
                f"持有方元素数不符 / malformed holder_points: expected {claimed.holder_size} "
                f"points, got {len(ours)}",
                details={"field": "holder_points"},
            )
        check_distinct(theirs, "requester_points")
        check_distinct(ours, "holder_points")
        # The holder's points raised by the requester are only compared with
        # points of the platform's own making: one that is no group element
        # matches nothing. The requester's are raised here, and libsodium
        # refuses any that is not a canonical
        # u-coordinate of large order.
        try:
            doubled = group.exponentiate(claimed.scalar, theirs, workers=policy.workers)
        except MalformedInput as exc:
            raise MalformedInput(
                exc.message, details={**exc.details, "field": "requester_points"}
            ) from None
        matched = set(doubled).intersection(ours)
        matches = [i for i, point in enumerate(doubled) if point in matched]
        return _release(
            db,
            home,
            secret,
            actor,
            claimed,
            ours,
            matched,
            matches,
            requester_size,
            sql,
            engine,
            query_policy,
        )
    except BaseException:
        # Charged in round one: every end of the run is logged, and nothing is given back.
        _fail(db, actor, claimed, requester_size)
        raise


def _release(
    db: Database,
    home: Path,
    secret: bytes,
    actor: Principal,
    claimed: Claimed,
    ours: Sequence[bytes],
    doubled_set: set[bytes],
    matches: list[int],
    requester_size: int,
    sql: str | None,
    engine: Engine | None,
    query_policy: queries.QueryPolicy | None,
) -> Recorded[PsiResult]:
    size = len(matches)
    withheld = False
    answer = PsiResult(
        run_id=claimed.run_id,
        mode=claimed.mode,
        requester_size=requester_size,
        holder_size=claimed.holder_size,
        result_size=size,
    )
    query_id: int | None = None
    # The size of the intersection is a count of entities: under a grant with
    # a threshold it is told only at or above it, in either mode that tells it.
    threshold = claimed.min_group
    if claimed.mode != "intersection" and threshold is not None and size < threshold:
        withheld = True
        answer = answer.model_copy(update={"result_size": None, "withheld": True})
    if claimed.mode == "intersection":
        answer = answer.model_copy(update={"matches": matches})
    elif claimed.mode == "attributes":
        keys = matched_keys(db, home, claimed, ours, doubled_set)
        recorded = release_attributes(
            db, home, secret, actor, claimed, keys, sql or "", engine, query_policy
        )
        query_id = recorded.value.query.id
        answer = answer.model_copy(update={"query": recorded.value})
    return _finish(db, actor, claimed, answer, size, withheld, query_id)


def _finish(
    db: Database,
    actor: Principal,
    claimed: Claimed,
    answer: PsiResult,
    size: int,
    withheld: bool,
    query_id: int | None,
) -> Recorded[PsiResult]:
    with db.write() as session:
        grant = _load_grant(session, claimed.grant_id, lock=True)
        run = session.get(PsiRun, claimed.run_id, with_for_update=True)
        if run is None:
            raise NotFound("隐私求交不存在 / PSI run not found")
        # A grant suspended or revoked while the run matched: nothing leaves.
        authorize(actor=actor, action=Actions.QUERY_RUN, resource=_parties(grant))
        _check_active(grant)
        run.status = "executed"
        run.requester_size = answer.requester_size
        run.result_size = size
        run.query_id = query_id
        payload = _opened_payload(run) | {
            "requester_size": answer.requester_size,
            # The log says what the requester was told: a withheld size stays withheld.
            "result_size": None if withheld else size,
            "withheld": withheld,
            "query_id": query_id,
        }
        (event,) = record_events(
            session,
            actor=actor,
            events=[NewEvent(EventType.PSI_EXECUTED, "psi", run.id, payload)],
        )
        run.log_index = event.seq
        return Recorded(answer, event.seq)


def _fail(db: Database, actor: Principal, claimed: Claimed, requester_size: int | None) -> None:
    try:
        with db.write() as session:
            run = session.get(PsiRun, claimed.run_id, with_for_update=True)
            if run is None or run.status != "open":
                return
            run.status = "failed"
            run.requester_size = requester_size
            payload = _opened_payload(run) | {"requester_size": requester_size}
            (event,) = record_events(
                session,
                actor=actor,
                events=[NewEvent(EventType.PSI_FAILED, "psi", run.id, payload)],
            )
            run.log_index = event.seq
    except DataCompactError:
        log.exception("could not log a failed PSI run %s", claimed.run_id)


def list_runs(*, session: Session, actor: Principal, grant_id: int) -> list[PsiRunPublic]:
    """A grant's PSI runs, newest first: for the grantee, the holder and the regulator."""
    grant = _load_grant(session, grant_id)
    authorize(actor=actor, action=Actions.QUERY_READ, resource=_parties(grant))
    rows = session.scalars(
        select(PsiRun).where(PsiRun.grant_id == grant_id).order_by(PsiRun.id.desc()).limit(100)
    )
    return [run_view(r) for r in rows]


def get_run(*, session: Session, actor: Principal, run_id: int) -> PsiRunPublic:
    run = session.get(PsiRun, run_id)
    if run is None:
        raise NotFound("隐私求交不存在 / PSI run not found", details={"run_id": run_id})
    grant = _load_grant(session, run.grant_id)
    authorize(actor=actor, action=Actions.QUERY_READ, resource=_parties(grant))
    return run_view(run)

"""The regulator's supervision dashboard: query usage, refusals, overlaps, ε per grant,
vendor concentration, lock-in and continuity alerts, and the log's health.

Each part is one service call, authorized there as the API's route is:
:func:`~datacompact.oversight.usage.usage` and
:func:`~datacompact.policy.queries.find_overlaps` (``query.audit``,
``GET /api/v1/queries/overlaps``), :func:`~datacompact.oversight.alerts.alerts`
(``alert.read``, ``GET /api/v1/alerts``). A member the services refuse gets
the API's refusal as a page. Every chart is drawn from the table beside it
(``static/charts.js`` reads the table), so what a chart shows is always
readable as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from datacompact.clock import utcnow
from datacompact.console._forms import logged_index, object_id, parsed, posted
from datacompact.console._log import Signer, _signers
from datacompact.console._web import Console, Context, redirect, writing
from datacompact.errors import InvalidInput, Unauthenticated
from datacompact.ledger.log import checkpoints, tree
from datacompact.oversight import alerts as alert_service
from datacompact.oversight import transparency, usage
from datacompact.policy import grants, queries
from datacompact.policy.schemas import GrantStatusIn

#: The periods the dashboard offers, in days.
PERIODS = (7, 30, 90, 365)


@dataclass(frozen=True)
class LogHealth:
    size: int
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    checkpoint_age_seconds: int | None
    witnessed: bool | None
    quorum: str | None
    witnesses: list[str]
    signers: list[Signer]

    @property
    def last_cosigned(self) -> datetime | None:
        times = [s.cosigned_at for s in self.signers if s.cosigned_at is not None]
        return max(times) if times else None


def log_health(ctx: Context) -> LogHealth:
    """The log's size, its newest checkpoint's age and cosignatures (all public)."""
    platform = ctx.platform
    policy = platform.witness_policy
    with platform.db.read() as session:
        head = tree.read_head(session)
        row = checkpoints.latest(session)
        size = head.size
        found = (
            (row.size, row.created_at, row.note, list(row.cosigners), row.witnessed)
            if row
            else None
        )
    if found is None:
        return LogHealth(size, None, None, None, None, None, [], [])
    checkpoint_size, created, note, cosigners, witnessed = found
    return LogHealth(
        size=size,
        checkpoint_size=checkpoint_size,
        checkpoint_at=created,
        checkpoint_age_seconds=int((utcnow() - created).total_seconds()),
        witnessed=witnessed if policy is not None else None,
        quorum=policy.quorum_text() if policy is not None else None,
        witnesses=sorted(policy.witnesses) if policy is not None else [],
        signers=_signers(note, cosigners),
    )


def _days(request: Request) -> int:
    text = request.query_params.get("days", "30")
    if not text.isdigit() or int(text) not in PERIODS:
        raise InvalidInput("参数 days 无效 / invalid value for days", details={"field": "days"})
    return int(text)


def dashboard(request: Request, ctx: Context, console: Console) -> Response:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    days = _days(request)
    actor = ctx.principal
    with ctx.platform.db.read() as session:
        report = usage.usage(session=session, actor=actor, days=days)
        overlaps = queries.find_overlaps(session=session, actor=actor, days=days)
        alerts = alert_service.alerts(session=session, actor=actor)
        public = transparency.public_projects(session=session)
    # Where an alert can be acted on: the project of an award (from the public listing).
    award_project = {
        lot.award.id: project.id for project in public for lot in project.lots if lot.award
    }
    return console.renderer.render(
        ctx,
        "supervise/dashboard.html",
        days=days,
        periods=PERIODS,
        report=report,
        overlaps=overlaps,
        alerts=alerts,
        award_project=award_project,
        health=log_health(ctx),
    )


#: The most queries the grant page lists, newest first.
GRANT_QUERIES = 100


def grant_page(request: Request, ctx: Context, console: Console) -> Response:
    """A grant, its recent queries and, for the parties that may, the status form."""
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    grant_id = object_id(request, "grant_id")
    with ctx.platform.db.read() as session:
        grant = grants.get_grant(session=session, actor=ctx.principal, grant_id=grant_id)
        recent = queries.list_queries(
            session=session, actor=ctx.principal, grant_id=grant_id, limit=GRANT_QUERIES
        )
    return console.renderer.render(
        ctx,
        "supervise/grant.html",
        g=grant,
        recent=recent,
        logged=logged_index(request),
    )


def grant_status(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    grant_id = object_id(request, "grant_id")
    body = parsed(
        GrantStatusIn, {"decision": form.get("decision", ""), "reason": form.get("reason")}
    )
    with writing(ctx) as (session, actor):
        recorded = grants.set_grant_status(
            session=session,
            actor=actor,
            grant_id=grant_id,
            decision=body.decision,
            reason=body.reason,
        )
    return redirect(f"/supervise/grants/{grant_id}?logged={recorded.log_index}")

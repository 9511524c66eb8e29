"""The reviewer's pages: the inbox, an application to decide on, and the member's own decisions.

Thin views over the services the API's routes call: the inbox is
:func:`datacompact.oversight.inbox.inbox` (``GET /api/v1/inbox``), a
decision is ``review_application``, ``decide_participant`` or
``decide_mode`` (the ``.../decisions`` routes), each with its reason. The
governance mode's order is the services' own: a decision out of turn is
refused there, and the page shows that refusal.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from datacompact.console._forms import logged_index, object_id, parsed, posted
from datacompact.console._web import Console, Context, redirect, writing
from datacompact.errors import Unauthenticated
from datacompact.oversight import decisions
from datacompact.oversight import inbox as inbox_service
from datacompact.policy import applications
from datacompact.policy.schemas import ReviewIn
from datacompact.procurement import projects
from datacompact.procurement.schemas import ModeDecisionIn
from datacompact.registry import participants
from datacompact.registry.schemas import DecisionIn

#: The most inbox items and past decisions one page lists.
ROWS = 200


def _signed_in(ctx: Context) -> None:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")


def inbox_page(request: Request, ctx: Context, console: Console) -> Response:
    _signed_in(ctx)
    with ctx.platform.db.read() as session:
        page = inbox_service.inbox(session=session, actor=ctx.principal, limit=ROWS)
        mine = decisions.my_decisions(session=session, actor=ctx.principal, limit=ROWS)
    return console.renderer.render(
        ctx,
        "review/inbox.html",
        items=page.items,
        total=page.total,
        decided=mine,
        logged=logged_index(request),
    )


def application_page(request: Request, ctx: Context, console: Console) -> Response:
    _signed_in(ctx)
    application_id = object_id(request, "application_id")
    with ctx.platform.db.read() as session:
        found = applications.get_application(
            session=session, actor=ctx.principal, application_id=application_id
        )
    mine = any(ctx.principal.participant_id in t.participants for t in found.awaiting)
    return console.renderer.render(
        ctx,
        "review/application.html",
        a=found,
        my_turn=mine and found.status == "pending",
        logged=logged_index(request),
    )


def decide_application(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    application_id = object_id(request, "application_id")
    body = parsed(ReviewIn, {"decision": form.get("decision", ""), "reason": form.get("reason")})
    with writing(ctx) as (session, actor):
        recorded = applications.review_application(
            session=session,
            actor=actor,
            application_id=application_id,
            decision=body.decision,
            reason=body.reason,
        )
    return redirect(f"/review/applications/{application_id}?logged={recorded.log_index}")


def decide_registration(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    participant_id = object_id(request, "participant_id")
    body = parsed(DecisionIn, {"decision": form.get("decision", ""), "reason": form.get("reason")})
    with writing(ctx) as (session, actor):
        recorded = participants.decide_participant(
            session=session,
            actor=actor,
            participant_id=participant_id,
            decision=body.decision,
            reason=body.reason,
        )
    return redirect(f"/review?logged={recorded.log_index}")


def decide_mode(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    project_id = object_id(request, "project_id")
    body = parsed(
        ModeDecisionIn, {"decision": form.get("decision", ""), "reason": form.get("reason")}
    )
    with writing(ctx) as (session, actor):
        recorded = projects.decide_mode(
            session=session,
            actor=actor,
            project_id=project_id,
            decision=body.decision,
            reason=body.reason,
        )
    return redirect(f"/review?logged={recorded.log_index}")

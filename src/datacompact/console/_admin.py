"""The participant admin's page: the participant's profile and contacts, its qualifications
with their evidence hashes, its members and roles, and each member's tokens.

Thin views over :mod:`datacompact.registry` (the calls of the API's
``/participants/{id}``, ``/participants/{id}/members``, ``/members/{id}/roles``,
``/members/{id}/deactivate`` and ``/tokens`` routes), for the signed-in
member's own participant. The services decide who may read or change what:
a member who is not an admin gets the refusal the API gives.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from datacompact.console._forms import logged_index, object_id, parsed, posted
from datacompact.console._web import Console, Context, form_items, redirect, writing
from datacompact.errors import Forbidden, Unauthenticated
from datacompact.permissions import Role
from datacompact.registry import members, participants, qualifications, tokens
from datacompact.registry.schemas import MemberPublic, MemberRolesUpdate, TokenPublic


def admin_page(request: Request, ctx: Context, console: Console) -> Response:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    actor = ctx.principal
    participant_id = actor.participant_id
    if participant_id is None:
        raise Forbidden("须以参与方成员身份操作 / expected a member of a participant")
    with ctx.platform.db.read() as session:
        rows = members.list_members(session=session, actor=actor, participant_id=participant_id)
        people = [MemberPublic.model_validate(m) for m in rows]
        profile = participants.get_participant(
            session=session, actor=actor, participant_id=participant_id
        )
        held = qualifications.list_qualifications(
            session=session, actor=actor, participant_id=participant_id
        )
        issued = {
            m.id: [
                TokenPublic.model_validate(t)
                for t in tokens.list_tokens(session=session, actor=actor, member_id=m.id)
            ]
            for m in people
        }
    return console.renderer.render(
        ctx,
        "admin/participant.html",
        p=profile,
        people=people,
        held=held,
        issued=issued,
        all_roles=[r.value for r in Role],
        logged=logged_index(request),
    )


def set_roles(request: Request, ctx: Context, console: Console) -> Response:
    posted(request, ctx)
    member_id = object_id(request, "member_id")
    form = form_items(request)
    chosen = [value for name, value in form if name == "roles"]
    body = parsed(MemberRolesUpdate, {"roles": chosen})
    with writing(ctx) as (session, actor):
        recorded = members.set_member_roles(
            session=session, actor=actor, member_id=member_id, roles=body.roles
        )
    return redirect(f"/admin?logged={recorded.log_index}")


def deactivate(request: Request, ctx: Context, console: Console) -> Response:
    posted(request, ctx)
    member_id = object_id(request, "member_id")
    with writing(ctx) as (session, actor):
        recorded = members.deactivate_member(session=session, actor=actor, member_id=member_id)
    return redirect(f"/admin?logged={recorded.log_index}")

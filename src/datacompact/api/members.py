"""Routes for members and API tokens (thin: parse, call one service, render)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import (
    MAX_ID,
    Credentials,
    ObjectId,
    platform_of,
    reading,
    receipt,
    writing,
)
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.registry import members as member_service
from datacompact.registry import tokens as token_service
from datacompact.registry.schemas import (
    LoginIn,
    MemberCreate,
    MemberPublic,
    MemberRolesUpdate,
    TokenCreate,
    TokenIssued,
    TokenPublic,
)
from datacompact.store.models import ApiToken, Member

router = APIRouter(tags=["members"], responses=documented(*AUTHENTICATED))


def _member(member: Member) -> dict[str, Any]:
    return MemberPublic.model_validate(member).model_dump(mode="json")


def _issued(token: ApiToken, value: str) -> dict[str, Any]:
    public = TokenPublic.model_validate(token).model_dump()
    return TokenIssued(**public, token=value).model_dump(mode="json")


@router.post(
    "/participants/{participant_id}/members", status_code=201, summary="新增成员 / add a member"
)
def create_member(
    participant_id: ObjectId, body: MemberCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = member_service.create_member(
            session=session, actor=actor, participant_id=participant_id, data=body
        )
        return receipt(_member(recorded.value), recorded.log_index)


@router.get("/participants/{participant_id}/members", summary="成员列表 / list members")
def list_members(
    participant_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = member_service.list_members(
            session=session, actor=actor, participant_id=participant_id
        )
        return {"data": [_member(m) for m in rows]}


@router.put("/members/{member_id}/roles", summary="设置角色 / set a member's roles")
def set_roles(
    member_id: ObjectId, body: MemberRolesUpdate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = member_service.set_member_roles(
            session=session, actor=actor, member_id=member_id, roles=body.roles
        )
        return receipt(_member(recorded.value), recorded.log_index)


@router.post("/members/{member_id}/deactivate", summary="停用成员 / deactivate a member")
def deactivate(member_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = member_service.deactivate_member(
            session=session, actor=actor, member_id=member_id
        )
        return receipt(_member(recorded.value), recorded.log_index)


@router.get("/me", summary="当前身份 / who am I")
def me(request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        member = session.get(Member, actor.member_id)
        assert member is not None  # noqa: S101 - authenticate() just loaded it in this session
        return {
            "data": {
                **_member(member),
                "participant_kind": actor.participant_kind,
                "effective_roles": sorted(actor.roles),
                "governance_mode": actor.governance.value,
            }
        }


@router.post("/auth/token", status_code=201, summary="用密码换取令牌 / log in for a token")
def login(body: LoginIn, request: Request) -> dict[str, Any]:
    platform = platform_of(request)
    recorded = token_service.login(
        db=platform.db,
        governance=platform.settings.governance_mode,
        username=body.username,
        password=body.password,
        label=body.label,
        ttl=timedelta(days=platform.settings.token_ttl_days),
    )
    token, value = recorded.value
    return receipt(_issued(token, value), recorded.log_index)


@router.post("/tokens", status_code=201, summary="签发令牌 / issue a token")
def issue(body: TokenCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    settings = platform_of(request).settings
    with writing(request, credentials) as (session, actor):
        recorded = token_service.issue_token(
            session=session,
            actor=actor,
            label=body.label,
            scopes=body.scopes,
            ttl=timedelta(days=body.ttl_days or settings.token_ttl_days),
            member_id=body.member_id,
        )
        token, value = recorded.value
        return receipt(_issued(token, value), recorded.log_index)


@router.get("/tokens", summary="令牌列表 / list tokens")
def list_tokens(
    request: Request,
    credentials: Credentials,
    member_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = token_service.list_tokens(session=session, actor=actor, member_id=member_id)
        return {"data": [TokenPublic.model_validate(t).model_dump(mode="json") for t in rows]}


@router.delete("/tokens/{token_id}", summary="吊销令牌 / revoke a token")
def revoke(token_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = token_service.revoke_token(session=session, actor=actor, token_id=token_id)
        return receipt(
            TokenPublic.model_validate(recorded.value).model_dump(mode="json"), recorded.log_index
        )

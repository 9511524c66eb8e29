"""Routes for applications and grants (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import MAX_ID, Credentials, ObjectId, reading, receipt, writing
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.policy import applications, grants
from datacompact.policy.schemas import (
    ApplicationAmend,
    ApplicationCreate,
    GrantStatusIn,
    ReviewIn,
    WithdrawIn,
)

State = Literal["pending", "changes_requested", "approved", "rejected", "withdrawn"]

router = APIRouter(tags=["applications"], responses=documented(*AUTHENTICATED))


@router.post("/applications", status_code=201, summary="提交使用申请 / apply for one scenario")
def submit(body: ApplicationCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = applications.submit_application(session=session, actor=actor, data=body)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/applications", summary="申请列表与待审 / list applications, or those awaiting you")
def list_all(
    request: Request,
    credentials: Credentials,
    awaiting: Literal["me"] | None = Query(
        None, description="me：轮到本人处理的 / only those on which you can act now"
    ),
    state: State | None = None,
    applicant: int | None = Query(None, ge=1, le=MAX_ID, description="申请方 / applicant's id"),
    resource: int | None = Query(None, ge=1, le=MAX_ID, description="数据资源 / resource id"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = applications.list_applications(
            session=session,
            actor=actor,
            awaiting_me=awaiting == "me",
            state=state,
            applicant=applicant,
            resource=resource,
            limit=limit,
            offset=offset,
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.get("/applications/{application_id}", summary="申请详情 / show an application")
def show(application_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = applications.get_application(
            session=session, actor=actor, application_id=application_id
        )
        return {"data": found.model_dump(mode="json")}


@router.post(
    "/applications/{application_id}/decisions",
    summary="审核申请 / approve, reject or ask for changes",
)
def decide(
    application_id: ObjectId, body: ReviewIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = applications.review_application(
            session=session,
            actor=actor,
            application_id=application_id,
            decision=body.decision,
            reason=body.reason,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/applications/{application_id}/revisions",
    summary="按审核意见修改申请（新修订版）/ amend an application sent back for changes",
)
def amend(
    application_id: ObjectId, body: ApplicationAmend, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = applications.amend_application(
            session=session, actor=actor, application_id=application_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/applications/{application_id}/revisions",
    summary="申请的历次修订 / the earlier revisions of an application",
)
def revisions(
    application_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = applications.list_revisions(
            session=session, actor=actor, application_id=application_id
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.post(
    "/applications/{application_id}/withdrawal", summary="撤回申请 / withdraw an application"
)
def withdraw(
    application_id: ObjectId, body: WithdrawIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = applications.withdraw_application(
            session=session, actor=actor, application_id=application_id, reason=body.reason
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/grants", summary="本方授权 / grants held or granted by your participant")
def list_grants(request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = grants.list_grants(session=session, actor=actor)
        return {"data": [g.model_dump(mode="json") for g in rows]}


@router.get("/grants/{grant_id}", summary="授权详情（ODRL 协议）/ a grant and its ODRL agreement")
def show_grant(grant_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = grants.get_grant(session=session, actor=actor, grant_id=grant_id)
        return {"data": found.model_dump(mode="json")}


@router.post(
    "/grants/{grant_id}/status", summary="暂停、恢复或撤销授权 / suspend, reinstate, revoke"
)
def grant_status(
    grant_id: ObjectId, body: GrantStatusIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = grants.set_grant_status(
            session=session,
            actor=actor,
            grant_id=grant_id,
            decision=body.decision,
            reason=body.reason,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)

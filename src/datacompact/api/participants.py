"""Routes of the participant registry (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import (
    MAX_ID,
    TOKEN_OPTIONAL,
    Credentials,
    ObjectId,
    platform_of,
    reading_published,
    receipt,
    views_of,
    writing,
)
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.permissions import Principal
from datacompact.registry import participants as service
from datacompact.registry import qualifications
from datacompact.registry.schemas import (
    ContactsUpdate,
    DecisionIn,
    ParticipantCreate,
    ParticipantKind,
    ParticipantStatus,
    QualificationCreate,
)

router = APIRouter(
    prefix="/participants", tags=["participants"], responses=documented(*AUTHENTICATED)
)


@router.post("", status_code=201, summary="申请注册 / apply to register a participant")
def register(body: ParticipantCreate, request: Request) -> dict[str, Any]:
    platform = platform_of(request)
    with platform.db.write() as session:
        recorded = service.register_participant(
            session=session,
            actor=Principal.anonymous(platform.settings.governance_mode),
            secret=platform.secret,
            data=body,
        )
        return receipt(
            service.private_view(recorded.value).model_dump(mode="json"), recorded.log_index
        )


@router.get("", summary="参与方列表 / list participants", openapi_extra=TOKEN_OPTIONAL)
def list_all(
    request: Request,
    credentials: Credentials,
    kind: ParticipantKind | None = None,
    status: ParticipantStatus | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    """无需令牌即可读取已批准参与方的公开信息 / anyone may list approved participants' profiles."""
    with reading_published(request, credentials) as (session, actor):
        rows = service.list_participants(
            session=session,
            actor=actor,
            kind=kind,
            status=status,
            limit=limit,
            offset=offset,
            views=views_of(request),
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.get(
    "/{participant_id}", summary="参与方详情 / show a participant", openapi_extra=TOKEN_OPTIONAL
)
def show(participant_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    """无需令牌即可读取已批准参与方的公开信息 / anyone may read an approved participant's profile."""
    with reading_published(request, credentials) as (session, actor):
        view = service.get_participant(session=session, actor=actor, participant_id=participant_id)
        return {"data": view.model_dump(mode="json")}


@router.post("/{participant_id}/decisions", summary="审批或变更状态 / decide on a participant")
def decide(
    participant_id: ObjectId, body: DecisionIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = service.decide_participant(
            session=session,
            actor=actor,
            participant_id=participant_id,
            decision=body.decision,
            reason=body.reason,
        )
        return receipt(
            service.public_view(recorded.value).model_dump(mode="json"), recorded.log_index
        )


@router.put("/{participant_id}/contacts", summary="更新联系人 / replace the contacts")
def put_contacts(
    participant_id: ObjectId, body: ContactsUpdate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = service.update_contacts(
            session=session, actor=actor, participant_id=participant_id, contacts=body.contacts
        )
        return receipt(
            service.private_view(recorded.value).model_dump(mode="json"), recorded.log_index
        )


@router.post(
    "/{participant_id}/qualifications", status_code=201, summary="登记资质 / add a qualification"
)
def add_qualification(
    participant_id: ObjectId, body: QualificationCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = qualifications.add_qualification(
            session=session, actor=actor, participant_id=participant_id, data=body
        )
        return receipt(
            qualifications.view(recorded.value).model_dump(mode="json"), recorded.log_index
        )


@router.get(
    "/{participant_id}/qualifications",
    summary="资质列表 / list qualifications",
    openapi_extra=TOKEN_OPTIONAL,
)
def list_qualifications(
    participant_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    """无需令牌即可读取已批准参与方的资质 / anyone may list an approved participant's qualifications."""
    with reading_published(request, credentials) as (session, actor):
        rows = qualifications.list_qualifications(
            session=session, actor=actor, participant_id=participant_id
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}

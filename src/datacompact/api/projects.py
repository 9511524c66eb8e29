"""Routes for cooperation projects: projects, lots, tenders, bids (thin: parse, call, render)."""

from __future__ import annotations

import base64
import binascii
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
from datacompact.errors import MalformedInput
from datacompact.procurement import lots, projects, tenders
from datacompact.procurement.schemas import (
    AwardIn,
    BidCreate,
    ExceptionCreate,
    LotCancelIn,
    LotCreate,
    MeetingCreate,
    ModeDecisionIn,
    ModeProposalIn,
    ProjectCreate,
    ResourceLinkIn,
    ScoreIn,
    TenderCreate,
)

router = APIRouter(tags=["projects"], responses=documented(*AUTHENTICATED))


def _done(recorded: Any) -> dict[str, Any]:
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post("/projects", status_code=201, summary="创建合作项目 / create a cooperation project")
def create(body: ProjectCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(projects.create_project(session=session, actor=actor, data=body))


@router.get("/projects", summary="合作项目列表 / list cooperation projects")
def list_projects(
    request: Request,
    credentials: Credentials,
    owner_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = projects.list_projects(session=session, actor=actor, owner_id=owner_id)
        return {"data": [p.model_dump(mode="json") for p in rows]}


@router.get("/projects/{project_id}", summary="项目详情 / show a project")
def show(project_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = projects.get_project(session=session, actor=actor, project_id=project_id)
        return {"data": found.model_dump(mode="json")}


@router.post("/projects/{project_id}/resources", summary="关联数据资源 / link catalog resources")
def link(
    project_id: ObjectId, body: ResourceLinkIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            projects.link_resources(
                session=session, actor=actor, project_id=project_id, resource_ids=body.resource_ids
            )
        )


@router.post("/projects/{project_id}/mode", summary="重新提出合作模式 / propose another mode")
def propose_mode(
    project_id: ObjectId, body: ModeProposalIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            projects.propose_mode(
                session=session,
                actor=actor,
                project_id=project_id,
                mode=body.mode.value,
                reason=body.reason,
            )
        )


@router.post(
    "/projects/{project_id}/mode-decisions", summary="审批合作模式 / approve or reject the mode"
)
def decide_mode(
    project_id: ObjectId, body: ModeDecisionIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            projects.decide_mode(
                session=session,
                actor=actor,
                project_id=project_id,
                decision=body.decision,
                reason=body.reason,
            )
        )


@router.post(
    "/projects/{project_id}/meetings", status_code=201, summary="记录联席会议 / record a meeting"
)
def meeting(
    project_id: ObjectId, body: MeetingCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            projects.record_meeting(session=session, actor=actor, project_id=project_id, data=body)
        )


@router.post("/projects/{project_id}/lots", status_code=201, summary="新增标段 / add a lot")
def create_lot(
    project_id: ObjectId, body: LotCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            lots.create_lot(session=session, actor=actor, project_id=project_id, data=body)
        )


@router.get("/lots/{lot_id}", summary="标段详情 / show a lot")
def show_lot(lot_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        return {
            "data": lots.get_lot(session=session, actor=actor, lot_id=lot_id).model_dump(
                mode="json"
            )
        }


@router.post("/lots/{lot_id}/cancellation", summary="取消标段 / cancel a lot not yet awarded")
def cancel_lot(
    lot_id: ObjectId, body: LotCancelIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            lots.cancel_lot(session=session, actor=actor, lot_id=lot_id, reason=body.reason)
        )


@router.get("/lots/{lot_id}/matches", summary="任务匹配 / rank enterprises for a lot")
def matches(lot_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        ranking = lots.match_lot(session=session, actor=actor, lot_id=lot_id)
        return {"data": ranking.model_dump(mode="json")}


@router.post(
    "/lots/{lot_id}/exceptions", status_code=201, summary="批准规则例外 / grant a rule exception"
)
def exception(
    lot_id: ObjectId, body: ExceptionCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            lots.grant_exception(
                session=session,
                actor=actor,
                lot_id=lot_id,
                supplier_id=body.supplier_id,
                rule=body.rule,
                reason=body.reason,
            )
        )


@router.post("/lots/{lot_id}/tender", status_code=201, summary="发布招标 / tender a lot")
def publish(
    lot_id: ObjectId, body: TenderCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(tenders.publish_tender(session=session, actor=actor, lot_id=lot_id, data=body))


@router.get("/tenders/{tender_id}", summary="招标详情 / show a tender")
def show_tender(tender_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = tenders.get_tender(session=session, actor=actor, tender_id=tender_id)
        return {"data": found.model_dump(mode="json")}


@router.post(
    "/tenders/{tender_id}/bids", status_code=201, summary="投标（密封）/ submit a sealed bid"
)
def bid(
    tender_id: ObjectId, body: BidCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    try:
        document = base64.b64decode(body.document, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(
            f"投标文件须为 base64 / expected the document as base64, got {len(body.document)} "
            "characters that do not decode",
            details={"field": "document"},
        ) from exc
    secret = platform_of(request).secret
    with writing(request, credentials) as (session, actor):
        return _done(
            tenders.submit_bid(
                session=session,
                actor=actor,
                secret=secret,
                tender_id=tender_id,
                price=body.price,
                document=document,
                bidder_id=body.bidder_id,
            )
        )


@router.post("/tenders/{tender_id}/opening", summary="开标 / open the bids after the deadline")
def opening(tender_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    secret = platform_of(request).secret
    with writing(request, credentials) as (session, actor):
        return _done(
            tenders.open_bids(session=session, actor=actor, secret=secret, tender_id=tender_id)
        )


@router.post("/bids/{bid_id}/scores", status_code=201, summary="评分 / score a bid")
def score(
    bid_id: ObjectId, body: ScoreIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(tenders.score_bid(session=session, actor=actor, bid_id=bid_id, data=body))


@router.post("/tenders/{tender_id}/award", summary="定标 / award the lot")
def award(
    tender_id: ObjectId, request: Request, credentials: Credentials, body: AwardIn | None = None
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        return _done(
            tenders.award_tender(
                session=session,
                actor=actor,
                tender_id=tender_id,
                bid_id=body.bid_id if body else None,
            )
        )

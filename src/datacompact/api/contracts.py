"""Routes for contracts, acceptance, alerts and the public transparency listing (thin).

``router`` needs a bearer token and is mounted under ``/api/v1``; ``public``
needs none and is mounted at the root, beside ``/ledger``: procurement
records, like the log, are for anyone to audit.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from datacompact.api._deps import (
    MAX_ID,
    Credentials,
    ObjectId,
    platform_of,
    reading,
    receipt,
    writing,
)
from datacompact.projects import alerts as alert_service
from datacompact.projects import contracts, ocds, transparency
from datacompact.projects.contract_schemas import ContractCreate, HandoverIn, SlaReportIn

router = APIRouter(tags=["contracts"])
public = APIRouter(prefix="/public", tags=["transparency"])

_SLA_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SlaReportIn.model_json_schema()},
            "text/csv": {"schema": {"type": "string", "description": "period,kpi,value"}},
        },
    }
}


async def _sla_report(request: Request) -> SlaReportIn:
    # JSON or CSV by Content-Type; the body is already capped by the BodyLimit middleware.
    media_type = request.headers.get("content-type", "application/json")
    return contracts.parse_sla_report(await request.body(), media_type)


@router.post(
    "/contracts", status_code=201, summary="依中标签订合同 / sign a contract from an award"
)
def sign(body: ContractCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contracts.sign_contract(session=session, actor=actor, data=body)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/contracts", summary="合同列表 / contracts, with KPIs measured against targets")
def list_contracts(
    request: Request,
    credentials: Credentials,
    project_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = contracts.list_contracts(session=session, actor=actor, project_id=project_id)
        return {"data": [c.model_dump(mode="json") for c in rows]}


@router.get("/contracts/{contract_id}", summary="合同详情 / a contract, its KPIs and reports")
def show(contract_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = contracts.get_contract(session=session, actor=actor, contract_id=contract_id)
        return {"data": found.model_dump(mode="json")}


@router.put("/contracts/{contract_id}/handover", summary="交接包 / the handover package received")
def handover(
    contract_id: ObjectId, body: HandoverIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contracts.update_handover(
            session=session, actor=actor, contract_id=contract_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/contracts/{contract_id}/sla-reports",
    status_code=201,
    summary="报送运维 SLA（JSON 或 CSV）/ report one period's O&M SLA figures, JSON or CSV",
    openapi_extra=_SLA_BODY,
)
def report_sla(
    contract_id: ObjectId,
    body: Annotated[SlaReportIn, Depends(_sla_report)],
    request: Request,
    credentials: Credentials,
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contracts.report_sla(
            session=session, actor=actor, contract_id=contract_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/contracts/{contract_id}/milestones/{milestone_id}/acceptance",
    summary="验收付款节点（指标须达标）/ accept a milestone once its KPIs are met",
)
def accept_milestone(
    contract_id: ObjectId, milestone_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contracts.accept_milestone(
            session=session, actor=actor, contract_id=contract_id, milestone_id=milestone_id
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/contracts/{contract_id}/acceptance",
    summary="合同终验 / final acceptance: every milestone accepted, every KPI met",
)
def accept(contract_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contracts.accept_contract(session=session, actor=actor, contract_id=contract_id)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/alerts", summary="集中度、锁定与运维接续预警 / concentration, lock-in, continuity alerts"
)
def alerts(
    request: Request,
    credentials: Credentials,
    max_share: Annotated[Decimal, Query(gt=0, le=1)] = alert_service.DEFAULT_MAX_SHARE,
    hhi_threshold: Annotated[Decimal, Query(ge=0, le=10_000)] = alert_service.DEFAULT_HHI_THRESHOLD,
    horizon_days: Annotated[int, Query(ge=0, le=3650)] = alert_service.DEFAULT_HORIZON_DAYS,
    today: Annotated[date | None, Query(description="评估日期 / as of this day")] = None,
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        report = alert_service.alerts(
            session=session,
            actor=actor,
            today=today,
            max_share=max_share,
            hhi_threshold=hhi_threshold,
            horizon_days=horizon_days,
        )
        return {"data": report.model_dump(mode="json")}


@public.get("/projects", summary="公开项目清单 / unclassified projects, lots, awards, contracts")
def public_projects(request: Request) -> dict[str, Any]:
    with platform_of(request).db.read() as session:
        rows = transparency.public_projects(session=session)
        return {"data": [p.model_dump(mode="json") for p in rows]}


@public.get(
    "/ocds/release-package.json",
    summary="OCDS 1.1.5 发布包（含标段扩展）/ OCDS release package with the lots extension",
)
def release_package(request: Request) -> Response:
    platform = platform_of(request)
    with platform.db.read() as session:
        package = transparency.release_package(
            session=session, base_url=platform.settings.public_base_url
        )
    return Response(ocds.to_json(package), media_type="application/json")

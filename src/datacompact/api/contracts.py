"""Routes for contracts, deliverables, acceptance, alerts and the public listing (thin).

``router`` needs a bearer token and is mounted under ``/api/v1``; ``public``
needs none and is mounted at the root, beside ``/ledger``: procurement
records, like the log, are for anyone to audit.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from datacompact.api._deps import (
    BINARY,
    MAX_ID,
    Credentials,
    ObjectId,
    platform_of,
    reading,
    receipt,
    writing,
)
from datacompact.api._errors import AUTHENTICATED, PUBLIC, documented, documented_beside
from datacompact.delivery import contracts, deliverables
from datacompact.delivery.schemas import (
    SHA256_PATTERN,
    ContractCreate,
    DeliverableIn,
    EscrowReleaseIn,
    HandoverIn,
    SlaReportIn,
)
from datacompact.oversight import alerts as alert_service
from datacompact.oversight import ocds, transparency
from datacompact.schemas_base import IsoDate

router = APIRouter(tags=["contracts"], responses=documented(*AUTHENTICATED))
public = APIRouter(prefix="/public", tags=["transparency"], responses=documented(*PUBLIC))

Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN, description="SHA-256, 64 lowercase hex")]

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


@router.post(
    "/contracts/{contract_id}/deliverables",
    status_code=201,
    summary="交付开源代码、开放数据或托管关键代码 / deposit a deliverable (key code into escrow)",
)
def deposit(
    contract_id: ObjectId, body: DeliverableIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    content = deliverables.parse_content(body.content)
    platform = platform_of(request)
    with writing(request, credentials) as (session, actor):
        recorded = deliverables.deposit(
            session=session,
            actor=actor,
            home=platform.settings.home,
            secret=platform.secret,
            contract_id=contract_id,
            kind=body.kind,
            name=body.name,
            content=content,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/contracts/{contract_id}/deliverables",
    summary="合同交付物（仅元数据）/ a contract's deliverables, metadata only",
)
def list_deliverables(
    contract_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = deliverables.list_deliverables(session=session, actor=actor, contract_id=contract_id)
        return {"data": [d.model_dump(mode="json") for d in rows]}


@router.post(
    "/contracts/{contract_id}/deliverables/{sha256}/release",
    summary="调取托管代码（合同终止或接续风险）/ release escrowed key code, logged with a reason",
)
def release_escrow(
    contract_id: ObjectId,
    sha256: Sha256,
    body: EscrowReleaseIn,
    request: Request,
    credentials: Credentials,
) -> dict[str, Any]:
    platform = platform_of(request)
    with writing(request, credentials) as (session, actor):
        recorded = deliverables.release_escrow(
            session=session,
            actor=actor,
            home=platform.settings.home,
            secret=platform.secret,
            contract_id=contract_id,
            sha256=sha256,
            reason=body.reason,
        )
        data = {
            "contract_id": contract_id,
            "sha256": sha256,
            "content": base64.b64encode(recorded.value).decode("ascii"),
        }
        return receipt(data, recorded.log_index)


@router.get(
    "/alerts", summary="集中度、锁定与运维接续预警 / concentration, lock-in, continuity alerts"
)
def alerts(
    request: Request,
    credentials: Credentials,
    max_share: Annotated[Decimal, Query(gt=0, le=1)] = alert_service.DEFAULT_MAX_SHARE,
    hhi_threshold: Annotated[Decimal, Query(ge=0, le=10_000)] = alert_service.DEFAULT_HHI_THRESHOLD,
    horizon_days: Annotated[int, Query(ge=0, le=3650)] = alert_service.DEFAULT_HORIZON_DAYS,
    today: Annotated[IsoDate | None, Query(description="评估日期 / as of this day")] = None,
    include_single: Annotated[
        bool,
        Query(
            description="单一合同的业主或领域也预警 / alert on owners and domains with one award too"
        ),
    ] = False,
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        report = alert_service.alerts(
            session=session,
            actor=actor,
            today=today,
            max_share=max_share,
            hhi_threshold=hhi_threshold,
            horizon_days=horizon_days,
            include_single=include_single,
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


def _attachment(name: str) -> str:
    # RFC 6266 §4.3: an ASCII fallback, then the UTF-8 name (RFC 8187) for Chinese names.
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@public.get(
    "/deliverables/{contract_id}/{sha256}",
    summary="下载开放交付物（开源代码、开放数据）/ download an open deliverable, no token needed",
    response_class=Response,
    responses=documented_beside("application/octet-stream", BINARY, *PUBLIC),
)
def public_deliverable(contract_id: ObjectId, sha256: Sha256, request: Request) -> Response:
    platform = platform_of(request)
    with platform.db.read() as session:
        name, content = deliverables.public_file(
            session=session, home=platform.settings.home, contract_id=contract_id, sha256=sha256
        )
    return Response(
        content,
        media_type="application/octet-stream",
        headers={"Content-Disposition": _attachment(name), "X-Content-Type-Options": "nosniff"},
    )

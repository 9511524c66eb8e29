"""Routes for the price list, statements, revenue caps and the billing audit (thin).

``router`` needs a bearer token and is mounted under ``/api/v1``; ``public``
needs none and is mounted at the root: the price list is published
(收费公示) for anyone to read, like the procurement records.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from datacompact.api._deps import (
    MAX_ID,
    TEXT,
    Credentials,
    ObjectId,
    platform_of,
    reading,
    receipt,
    writing,
)
from datacompact.api._errors import AUTHENTICATED, PUBLIC, documented, documented_beside
from datacompact.permissions import Principal
from datacompact.value import charging, metering, prices, revenue, statements
from datacompact.value.schemas import (
    PERIOD_PATTERN,
    MisuseIn,
    PriceChange,
    PriceItemCreate,
    PurposeClassIn,
    RevenueCapIn,
    StatementIn,
    UsageIn,
)

router = APIRouter(tags=["billing"], responses=documented(*AUTHENTICATED))
public = APIRouter(prefix="/public", tags=["transparency"], responses=documented(*PUBLIC))

Period = Annotated[str, Path(pattern=PERIOD_PATTERN, description="YYYY-MM")]
Year = Annotated[int, Path(ge=2000, le=2999)]


@public.get("/prices", summary="公示的产品和服务收费标准 / the published price list")
def price_list(
    request: Request,
    operator_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    platform = platform_of(request)
    with platform.db.read() as session:
        anonymous = Principal.anonymous(platform.settings.governance_mode)
        rows = prices.price_list(session=session, actor=anonymous, operator_id=operator_id)
        return {"data": [r.model_dump(mode="json") for r in rows]}


@public.get("/prices/{item_id}", summary="收费项目及其历次版本 / a price item and its versions")
def price_item(item_id: ObjectId, request: Request) -> dict[str, Any]:
    platform = platform_of(request)
    with platform.db.read() as session:
        anonymous = Principal.anonymous(platform.settings.governance_mode)
        item = prices.get_item(session=session, actor=anonymous, item_id=item_id)
        return {"data": item.model_dump(mode="json")}


@router.post("/prices", status_code=201, summary="登记产品或服务 / list a product or service")
def list_item(body: PriceItemCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = prices.list_item(session=session, actor=actor, data=body)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post("/prices/{item_id}/ceiling", summary="制定上限收费标准 / set the ceiling price")
def set_ceiling(
    item_id: ObjectId, body: PriceChange, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = prices.set_ceiling(session=session, actor=actor, item_id=item_id, change=body)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post("/prices/{item_id}/price", summary="确定具体收费标准 / set the operator's price")
def set_price(
    item_id: ObjectId, body: PriceChange, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = prices.set_price(session=session, actor=actor, item_id=item_id, change=body)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/grants/{grant_id}/purpose-class",
    summary="认定授权用途为公益或经营 / class a grant's use public-interest or commercial",
)
def assign_purpose_class(
    grant_id: ObjectId, body: PurposeClassIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = charging.assign_purpose_class(
            session=session, actor=actor, grant_id=grant_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/grants/{grant_id}/misuse",
    status_code=201,
    summary="登记公益授权下的经营使用 / report a commercial use under a public-interest grant",
)
def report_misuse(
    grant_id: ObjectId, body: MisuseIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = charging.report_misuse(
            session=session, actor=actor, grant_id=grant_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/billing/usage",
    status_code=201,
    summary="计量一次使用（隐私求交、接口调用、连接时长）/ meter a PSI run, API calls or time",
)
def record_usage(body: UsageIn, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = metering.record_usage(session=session, actor=actor, data=body)
        return receipt(recorded.value, recorded.log_index)


@router.post(
    "/billing/statements", status_code=201, summary="出具月度账单 / issue a month's statement"
)
def issue_statement(
    body: StatementIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = statements.issue_statement(session=session, actor=actor, period=body.period)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/billing/statements/{operator_id}/{period}",
    summary="月度账单（JSON 或 CSV）/ a month's statement, JSON or CSV",
    responses=documented_beside("text/csv", TEXT, *AUTHENTICATED),
)
def get_statement(
    operator_id: ObjectId,
    period: Period,
    request: Request,
    credentials: Credentials,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    with reading(request, credentials) as (session, actor):
        statement = statements.get_statement(
            session=session, actor=actor, operator_id=operator_id, period=period, user_id=user_id
        )
    if format == "csv":
        return Response(statements.statement_csv(statement), media_type="text/csv; charset=utf-8")
    return {"data": statement.model_dump(mode="json")}


@router.get(
    "/billing/audit", summary="依日志复算账单 / recompute a month's statements from the log"
)
def audit_billing(
    request: Request,
    credentials: Credentials,
    period: Annotated[str, Query(pattern=PERIOD_PATTERN, description="YYYY-MM")],
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        result = statements.audit_billing(session=session, actor=actor, period=period)
        return {"data": result.model_dump(mode="json")}


@router.post(
    "/billing/caps/{operator_id}",
    status_code=201,
    summary="核定最高准许收入 / set an operator's maximum permitted revenue for a year",
)
def set_revenue_cap(
    operator_id: ObjectId, body: RevenueCapIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = revenue.set_revenue_cap(
            session=session, actor=actor, operator_id=operator_id, data=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/billing/revenue/{operator_id}/{year}",
    summary="收入与最高准许收入 / revenue against the permitted revenue, with the alert",
)
def revenue_status(
    operator_id: ObjectId, year: Year, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        status = revenue.revenue_status(
            session=session, actor=actor, operator_id=operator_id, year=year
        )
        return {"data": status.model_dump(mode="json")}


@router.get(
    "/billing/reports/{operator_id}/{year}",
    summary="年度经营情况报告 / the annual operating report",
)
def annual_report(
    operator_id: ObjectId, year: Year, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        report = revenue.annual_report(
            session=session, actor=actor, operator_id=operator_id, year=year
        )
        return {"data": report.model_dump(mode="json")}


@router.post(
    "/billing/reports/{year}",
    status_code=201,
    summary="报送年度经营情况报告 / file the annual operating report",
)
def file_annual_report(year: Year, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = revenue.file_annual_report(session=session, actor=actor, year=year)
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)

"""Routes for governed queries (thin: parse, call one service, render).

``POST /queries`` answers with the rows and a receipt: the index of the
query's log entry. ``GET /queries/{id}`` adds the inclusion proof once a
signed checkpoint covers that entry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from datacompact.api._deps import (
    BINARY,
    MAX_ID,
    Credentials,
    ObjectId,
    authenticated,
    platform_of,
    reading,
    receipt,
    recheck,
    views_of,
)
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.errors import InvalidInput
from datacompact.ledger.log import checkpoints
from datacompact.policy import queries
from datacompact.policy.schemas import QueryIn

router = APIRouter(tags=["queries"], responses=documented(*AUTHENTICATED))


@router.post("/queries", summary="在授权下运行受治理的 SQL / run governed SQL under a grant")
def run(body: QueryIn, request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    recorded = queries.run_query(
        db=platform.db,
        home=platform.settings.home,
        secret=platform.secret,
        actor=authenticated(request, credentials),
        grant_id=body.grant_id,
        sql=body.sql,
        epsilon=body.epsilon,
        engine=platform.sandbox,
        recheck=recheck(request, credentials),
        policy=queries.QueryPolicy.from_settings(platform.settings, platform.rate_limits),
        views=views_of(request),
    )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/queries", summary="授权的查询记录 / the query log of a grant")
def list_queries(
    request: Request,
    credentials: Credentials,
    grant_id: int = Query(ge=1, le=MAX_ID),
    before: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = queries.list_queries(
            session=session, actor=actor, grant_id=grant_id, before=before, limit=limit
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.get("/queries/overlaps", summary="近似重复查询（差分攻击线索）/ near-duplicate query pairs")
def overlaps(
    request: Request,
    credentials: Credentials,
    days: int = Query(30, ge=1, le=366),
    threshold: float = Query(0.8, gt=0, le=1),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = queries.find_overlaps(session=session, actor=actor, days=days, threshold=threshold)
        return {"data": [f.model_dump(mode="json") for f in found]}


@router.get("/queries/{query_id}", summary="查询记录与回执证明 / a query and its receipt proof")
def show(query_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    with reading(request, credentials) as (session, actor):
        found = queries.get_query(session=session, actor=actor, query_id=query_id)
        proof = None
        if found.log_index is not None:
            proof = checkpoints.covering_receipt(
                session, index=found.log_index, policy=platform.witness_policy
            )
        return {
            "data": found.model_dump(mode="json"),
            "receipt": {"log_index": found.log_index, "proof": proof},
        }


#: Media types of the whole-result streams, by ``format``.
STREAMS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
_ACCEPTED = {"text/csv": "csv", "application/vnd.apache.parquet": "parquet"}


def _format(requested: str | None, accept: str) -> str:
    """``format`` if given, else the first streamable type ``Accept`` names, else JSON."""
    if requested is not None:
        return requested
    for part in accept.split(","):
        found = _ACCEPTED.get(part.split(";")[0].strip().lower())
        if found:
            return found
    return "json"


@router.get(
    "/queries/{query_id}/rows",
    summary="查询结果的分页或 CSV/Parquet 流 / a page of a query's result, or all of it as a stream",
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": BINARY},
            }
        }
    },
)
def rows(
    query_id: ObjectId,
    request: Request,
    credentials: Credentials,
    page_token: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
    format: Annotated[Literal["json", "csv", "parquet"] | None, Query()] = None,
) -> dict[str, Any] | StreamingResponse:
    """Read the stored result: nothing runs again and nothing is charged again."""
    platform = platform_of(request)
    chosen = _format(format, request.headers.get("accept", ""))
    policy = queries.QueryPolicy.from_settings(platform.settings, platform.rate_limits)
    with reading(request, credentials) as (session, actor):
        if chosen == "json":
            page = queries.result_page(
                session=session,
                home=platform.settings.home,
                secret=platform.secret,
                actor=actor,
                query_id=query_id,
                page_token=page_token,
                policy=policy,
            )
            return {"data": page.model_dump(mode="json")}
        if page_token is not None:
            raise InvalidInput(
                "CSV 与 Parquet 流总是完整结果，不接受分页令牌 / a CSV or Parquet stream is always "
                "the whole result; it takes no page_token",
                details={"field": "page_token"},
            )
        chunks, total, truncated = queries.result_stream(
            session=session,
            home=platform.settings.home,
            actor=actor,
            query_id=query_id,
            fmt=chosen,
            policy=policy,
        )
    suffix = "csv" if chosen == "csv" else "parquet"
    return StreamingResponse(
        chunks,
        media_type=STREAMS[chosen],
        headers={
            "Content-Disposition": f'attachment; filename="query-{query_id}.{suffix}"',
            "X-Total-Rows": str(total),
            "X-Truncated": "true" if truncated else "false",
        },
    )

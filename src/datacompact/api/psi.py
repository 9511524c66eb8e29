"""Routes for private set intersection (thin: parse, call one service, render).

Two rounds, each a POST that answers with a receipt: ``POST /psi/runs``
opens and charges a run and answers the holder's blinded keys;
``POST /psi/exchange`` answers what the run's mode releases. The second
round's body holds two sets of points and has a body limit of its own
(:func:`exchange_body_limit`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import (
    MAX_ID,
    Credentials,
    ObjectId,
    authenticated,
    platform_of,
    reading,
    receipt,
)
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.config import Settings
from datacompact.fusion import psi
from datacompact.fusion.schemas import PsiExchangeIn, PsiOpenIn
from datacompact.policy import queries

router = APIRouter(tags=["psi"], responses=documented(*AUTHENTICATED))

#: The path of the second round, whose body limit follows the largest set.
EXCHANGE_PATH = "/psi/exchange"


def exchange_body_limit(settings: Settings) -> int:
    """Two sets of 32-byte points in base64, at the largest set size, and room for the rest."""
    points = 2 * 4 * -(-settings.psi_max_set_size * 32 // 3)
    return points + settings.max_request_bytes


@router.post(
    "/psi/runs", summary="开始隐私求交（第一轮）/ open a private set intersection (round 1)"
)
def open_run(body: PsiOpenIn, request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    recorded = psi.open_psi(
        db=platform.db,
        home=platform.settings.home,
        secret=platform.secret,
        actor=authenticated(request, credentials),
        grant_id=body.grant_id,
        mode=body.mode,
        key_column=body.key_column,
        key_kind=body.key_kind,
        declared_size=body.declared_size,
        policy=psi.PsiPolicy.from_settings(platform.settings),
    )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    EXCHANGE_PATH, summary="隐私求交第二轮 / the second round of a private set intersection"
)
def exchange(body: PsiExchangeIn, request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    recorded = psi.exchange_psi(
        db=platform.db,
        home=platform.settings.home,
        secret=platform.secret,
        actor=authenticated(request, credentials),
        run_id=body.run_id,
        holder_points=body.holder_points,
        requester_points=body.requester_points,
        sql=body.sql,
        engine=platform.sandbox,
        policy=psi.PsiPolicy.from_settings(platform.settings),
        query_policy=queries.QueryPolicy.from_settings(platform.settings, platform.rate_limits),
    )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/psi/runs", summary="授权的隐私求交记录 / the PSI runs of a grant")
def list_runs(
    request: Request, credentials: Credentials, grant_id: int = Query(ge=1, le=MAX_ID)
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = psi.list_runs(session=session, actor=actor, grant_id=grant_id)
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.get("/psi/runs/{run_id}", summary="一次隐私求交 / one PSI run")
def show(run_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = psi.get_run(session=session, actor=actor, run_id=run_id)
        return {"data": found.model_dump(mode="json")}

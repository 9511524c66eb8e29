"""The route of the inbox: what awaits the calling member (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import MAX_ID, Credentials, reading
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.oversight import inbox as service

router = APIRouter(tags=["inbox"], responses=documented(*AUTHENTICATED))


@router.get(
    "/inbox",
    summary="本人待办：待审申请、待改申请、注册与合作模式审批 / what awaits you",
)
def inbox(
    request: Request,
    credentials: Credentials,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_ID),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        page = service.inbox(session=session, actor=actor, limit=limit, offset=offset)
        return {"data": [i.model_dump(mode="json") for i in page.items], "total": page.total}

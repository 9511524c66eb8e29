"""The automatic grant of open data (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from datacompact.api._deps import Credentials, ObjectId, receipt, writing
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.policy.open_data import open_data_grant

router = APIRouter(tags=["applications"], responses=documented(*AUTHENTICATED))


@router.post(
    "/resources/{resource_id}/open-grant",
    status_code=201,
    summary="开放数据自动授权（无需审批）/ the automatic grant of open data, no approval needed",
    responses={200: {"description": "已有有效的自动授权 / an active automatic grant, returned"}},
)
def take(
    resource_id: ObjectId, request: Request, response: Response, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = open_data_grant(session=session, actor=actor, resource_id=resource_id)
    if not recorded.value.issued:
        response.status_code = 200
    data = recorded.value.grant.model_dump(mode="json")
    return receipt({**data, "issued": recorded.value.issued}, recorded.log_index)

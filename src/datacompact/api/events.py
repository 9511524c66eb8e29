"""Routes for the event stream and the governance rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from datacompact.api._deps import MAX_INDEX, Credentials, platform_of, reading
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.events import list_events
from datacompact.ledger.formats.entry import format_time
from datacompact.ledger.formats.merkle import leaf_hash

router = APIRouter(tags=["events"], responses=documented(*AUTHENTICATED))


@router.get("/events", summary="事件日志 / the event log, in log order")
def events(
    request: Request,
    credentials: Credentials,
    after: int = Query(
        -1, ge=-1, le=MAX_INDEX, description="Return events with an index above this."
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = list_events(session=session, actor=actor, after=after, limit=limit)
        return {
            "data": [
                {
                    "index": e.seq,
                    "type": e.type,
                    "time": format_time(e.occurred_at),
                    "actor": e.actor,
                    "actor_participant": e.actor_participant_id,
                    "object": {"type": e.object_type, "id": e.object_id},
                    "payload_sha256": e.payload_sha256,
                    "leaf_hash": leaf_hash(e.entry).hex(),
                }
                for e in rows
            ]
        }


@router.get("/governance", summary="治理模式与规则 / the governance mode and its rules")
def governance(request: Request) -> dict[str, Any]:
    return {"data": platform_of(request).rules.to_dict()}

"""The transparency log over HTTP, in the C2SP tlog-tiles layout.

Mounted at ``/ledger`` (no token: the log holds no personal data, and anyone
must be able to audit it):

- ``GET /ledger/key``: the log's verifier key string
- ``GET /ledger/checkpoint``: the published checkpoint with its cosignatures
- ``GET /ledger/tile/<L>/<N>[.p/<W>]``: hash tiles
- ``GET /ledger/tile/entries/<N>[.p/<W>]``: entry bundles
- ``GET /ledger/proof/<index>``: a receipt: checkpoint plus inclusion proof
- ``GET /ledger/bundle/<index>``: the same as one self-contained file: the
  entry, its proof, the log-signed checkpoint, the cosignatures, the log's
  origin and key (``datacompact verify receipt`` checks it offline)
- ``GET /ledger/recoveries``: every recovery statement (entries declared lost
  after a restore) with its entry, payload and salt, for auditors

Full tiles never change, so they are served as immutable; the checkpoint is
not cacheable. Reads never sign: ``serve`` signs at start and on its schedule,
and ``POST /api/v1/ledger/checkpoints`` signs on demand for a member.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select

from datacompact.api._deps import (
    BINARY,
    MAX_INDEX,
    TEXT,
    Credentials,
    LogIndex,
    platform_of,
    reading,
)
from datacompact.api._errors import AUTHENTICATED, PUBLIC, documented, documented_beside
from datacompact.errors import NotFound
from datacompact.ledger import log
from datacompact.ledger.formats import tiles
from datacompact.ledger.formats.note import Note
from datacompact.ledger.formats.receipt import witness_status
from datacompact.ledger.log import checkpoints, recovery
from datacompact.permissions import Actions, LedgerResource, authorize
from datacompact.store.models import Event

public = APIRouter(prefix="/ledger", tags=["ledger"], responses=documented(*PUBLIC))
api = APIRouter(prefix="/ledger", tags=["ledger"], responses=documented(*AUTHENTICATED))

_TEXT = "text/plain; charset=utf-8"
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_NO_STORE = {"Cache-Control": "no-store"}


@public.get(
    "/key",
    summary="日志验证公钥 / the log's verifier key",
    response_class=PlainTextResponse,
    responses=documented_beside("text/plain", TEXT, *PUBLIC),
)
def key(request: Request) -> Response:
    signer = platform_of(request).log_signer
    return Response(signer.verifier().vkey + "\n", media_type=_TEXT)


@public.get(
    "/checkpoint",
    summary="最新检查点 / the published checkpoint",
    response_class=PlainTextResponse,
    responses=documented_beside("text/plain", TEXT, *PUBLIC),
)
def checkpoint(request: Request) -> Response:
    platform = platform_of(request)
    with platform.db.read() as session:
        row = checkpoints.published(session, platform.witness_policy)
        if row is None:
            raise NotFound("尚未签发检查点 / no checkpoint has been signed yet")
        return Response(row.note, media_type=_TEXT, headers=_NO_STORE)


@public.get(
    "/tile/{path:path}",
    summary="瓦片 / a hash tile or entry bundle",
    response_class=Response,
    responses=documented_beside("application/octet-stream", BINARY, *PUBLIC),
)
def tile(path: str, request: Request) -> Response:
    spec = tiles.parse_tile_path("tile/" + path)
    platform = platform_of(request)
    first = spec.index * tiles.TILE_WIDTH
    with platform.db.read() as session:
        if spec.entries:
            rows = list(
                session.scalars(
                    select(Event.entry)
                    .where(Event.seq >= first, Event.seq < first + spec.width)
                    .order_by(Event.seq)
                )
            )
            body = tiles.encode_entry_bundle(rows) if len(rows) == spec.width else None
        else:
            hashes = log.hashes_in_level(
                session, level=spec.level * 8, first=first, count=spec.width
            )
            body = b"".join(hashes) if len(hashes) == spec.width else None
    if body is None:
        raise NotFound("瓦片不存在 / no such tile in the log yet", details={"path": spec.path})
    return Response(body, media_type="application/octet-stream", headers=_IMMUTABLE)


@public.get("/proof/{index}", summary="回执：检查点与包含证明 / receipt with inclusion proof")
def proof(
    index: LogIndex,
    request: Request,
    size: int | None = Query(
        None, ge=1, le=MAX_INDEX, description="Prove against the signed checkpoint of this size."
    ),
) -> dict[str, Any]:
    platform = platform_of(request)
    with platform.db.read() as session:
        receipt = checkpoints.receipt(
            session, index=index, size=size, policy=platform.witness_policy
        )
    return {**receipt, "log_key": platform.log_signer.verifier().vkey}


@public.get(
    "/bundle/{index}",
    summary="回执包：条目、证明、检查点与副署 / self-contained receipt bundle",
)
def bundle(
    index: LogIndex,
    request: Request,
    size: int | None = Query(
        None, ge=1, le=MAX_INDEX, description="Prove against the signed checkpoint of this size."
    ),
) -> JSONResponse:
    platform = platform_of(request)
    with platform.db.read() as session:
        found = checkpoints.receipt_bundle(
            session,
            index=index,
            size=size,
            policy=platform.witness_policy,
            log_key=platform.log_signer.verifier(),
        )
    # A download: saved as a file, then checked offline by `datacompact verify receipt`.
    disposition = f'attachment; filename="receipt-{index}.json"'
    return JSONResponse(found, headers={**_NO_STORE, "Content-Disposition": disposition})


@public.get("/recoveries", summary="恢复声明 / statements of entries lost in a restore")
def recoveries(request: Request) -> dict[str, Any]:
    with platform_of(request).db.read() as session:
        return {"statements": recovery.served_statements(session)}


@api.post("/checkpoints", status_code=201, summary="立即签发检查点 / sign a checkpoint now")
def sign_now(request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    with reading(request, credentials) as (_session, actor):
        authorize(actor=actor, action=Actions.LEDGER_CHECKPOINT, resource=LedgerResource())
    row = platform.checkpoint()
    status = witness_status(platform.witness_policy, Note.from_text(row.note))
    return {
        "data": {
            "tree_size": row.size,
            "root_hash": row.root.hex(),
            "checkpoint": row.note,
            **status,
        }
    }

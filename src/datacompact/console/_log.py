"""The log explorer: the published checkpoint and its cosignatures, an entry with its
inclusion proof, and the page that verifies a receipt in the browser.

The log holds no personal data and is public (``/ledger`` on the API); these
pages read it through the same functions as the API's ledger routes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from datacompact.clock import utcnow
from datacompact.console._web import Console, Context
from datacompact.errors import DataCompactError, InvalidInput, NotFound
from datacompact.ledger.formats.checkpoint import Checkpoint as CheckpointBody
from datacompact.ledger.formats.cosignature import split_timestamped
from datacompact.ledger.formats.note import Note
from datacompact.ledger.log import checkpoints
from datacompact.schemas_base import MAX_INDEX


@dataclass(frozen=True)
class Signer:
    name: str
    cosigned_at: datetime | None  # a witness's cosignature time; None for the log's own
    age_seconds: int | None


def _signers(note_text: str, cosigners: list[str]) -> list[Signer]:
    note = Note.from_text(note_text)
    now = utcnow()
    found = []
    for signature in note.signatures:
        when = None
        if signature.name in cosigners:
            try:
                stamp, _sig = split_timestamped(signature.signature)
                when = datetime.fromtimestamp(stamp, tz=UTC)
            except DataCompactError:
                when = None
        age = int((now - when).total_seconds()) if when else None
        found.append(Signer(signature.name, when, age))
    return found


def log_page(request: Request, ctx: Context, console: Console) -> Response:
    platform = ctx.platform
    with platform.db.read() as session:
        row = checkpoints.published(session, platform.witness_policy)
        if row is None:
            raise NotFound("尚未签发检查点 / no checkpoint has been signed yet")
        note, cosigners, witnessed, created = (
            row.note,
            list(row.cosigners),
            row.witnessed,
            row.created_at,
        )
    body = CheckpointBody.from_text(Note.from_text(note).text)
    return console.renderer.render(
        ctx,
        "log.html",
        note=note,
        body=body,
        root_hex=body.root_hash.hex(),
        signers=_signers(note, cosigners),
        witnessed=witnessed,
        has_witnesses=platform.witness_policy is not None,
        signed_at=created,
        log_key=platform.log_signer.verifier().vkey,
    )


def _index(request: Request) -> int:
    text = str(request.path_params.get("index", ""))
    if not text.isdigit() or int(text) >= MAX_INDEX:
        raise InvalidInput("日志序号无效 / invalid log index", details={"field": "index"})
    return int(text)


def _receipt(ctx: Context, index: int) -> dict[str, object]:
    platform = ctx.platform
    with platform.db.read() as session:
        receipt = checkpoints.receipt(
            session, index=index, size=None, policy=platform.witness_policy
        )
    return {**receipt, "log_key": platform.log_signer.verifier().vkey}


def entry_page(request: Request, ctx: Context, console: Console) -> Response:
    index = _index(request)
    receipt = _receipt(ctx, index)
    return console.renderer.render(
        ctx,
        "entry.html",
        receipt=receipt,
        index=index,
        command=offline_command(ctx, index),
        has_witnesses=ctx.platform.witness_policy is not None,
    )


def checkpoint_text(request: Request, ctx: Context, console: Console) -> Response:
    """The checkpoint an entry's receipt proves against, as a file."""
    receipt = _receipt(ctx, _index(request))
    return Response(
        str(receipt["checkpoint"]),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="checkpoint.txt"'},
    )


def bundle_of(ctx: Context, index: int) -> dict[str, Any]:
    """The self-contained receipt bundle of an entry, as ``GET /ledger/bundle/<index>`` gives it."""
    platform = ctx.platform
    with platform.db.read() as session:
        return checkpoints.receipt_bundle(
            session,
            index=index,
            size=None,
            policy=platform.witness_policy,
            log_key=platform.log_signer.verifier(),
        )


def receipt_json(request: Request, ctx: Context, console: Console) -> Response:
    """An entry's receipt bundle as a file, for ``datacompact verify receipt``."""
    index = _index(request)
    return Response(
        json.dumps(bundle_of(ctx, index), indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="receipt-{index}.json"'},
    )


def offline_command(ctx: Context, index: int) -> str:
    """The exact command that verifies an entry's receipt bundle without the server."""
    command = (
        f"datacompact verify receipt receipt-{index}.json"
        f" --log-key '{ctx.platform.log_signer.verifier().vkey}'"
    )
    if ctx.platform.witness_policy is not None:
        command += " --witness-policy witness.policy"
    return command


def verify_page(request: Request, ctx: Context, console: Console) -> Response:
    """Paste a receipt, or open one by index; the browser checks it (static/verify.js)."""
    index_text = request.query_params.get("index", "")
    bundle = None
    if index_text:
        if not index_text.isdigit() or int(index_text) >= MAX_INDEX:
            raise InvalidInput("日志序号无效 / invalid log index", details={"field": "index"})
        bundle = bundle_of(ctx, int(index_text))
    return console.renderer.render(
        ctx,
        "verify.html",
        receipt=bundle,
        receipt_json=json.dumps(bundle, indent=2, ensure_ascii=False) if bundle else "",
        command=offline_command(ctx, int(index_text)) if bundle else "",
        has_witnesses=ctx.platform.witness_policy is not None,
        log_key=ctx.platform.log_signer.verifier().vkey,
    )

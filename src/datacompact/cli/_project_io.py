"""Shared plumbing of the ``datacompact projects`` commands: run one service call, print it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datacompact.cli._context import actor_for, open_platform
from datacompact.cli._output import emit, handled
from datacompact.errors import InvalidInput

if TYPE_CHECKING:
    from datacompact.events import Recorded
    from datacompact.platform import Platform

Id = Annotated[int, typer.Argument(min=1)]
PROJECT_COLUMNS = ("id", "name", "owner_id", "budget", "grade", "mode", "mode_status")


def emit_recorded(recorded: Recorded[Any], as_json: bool) -> None:
    emit(
        {**recorded.value.model_dump(mode="json"), "log_index": recorded.log_index}, as_json=as_json
    )


def run(
    token: str | None,
    as_json: bool,
    call: Any,
    *,
    write: bool = True,
    columns: tuple[str, ...] | None = None,
) -> None:
    """Open the platform, authenticate inside the transaction, call the service, print."""
    with handled(as_json):
        platform: Platform = open_platform()
        try:
            transaction = platform.db.write() if write else platform.db.read()
            with transaction as session:
                actor = actor_for(platform, session, token)
                result = call(session, actor, platform)
        finally:
            # Release the pool at once: a CLI process opens the store for one call.
            platform.close()
        if write:
            emit_recorded(result, as_json)
        else:
            emit(result, as_json=as_json, columns=columns)


def json_option(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{what} 须为 JSON / expected {what} as JSON", details={"field": what}
        ) from exc

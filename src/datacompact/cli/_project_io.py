"""Arguments and options shared by the ``datacompact projects`` commands."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from datacompact.errors import InvalidInput

Id = Annotated[int, typer.Argument(min=1)]
PROJECT_COLUMNS = (
    "id",
    "name",
    "owner_id",
    "owner_name",
    "budget",
    "grade",
    "mode",
    "mode_status",
)


def json_option(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{what} 须为 JSON / expected {what} as JSON", details={"field": what}
        ) from exc

"""Form posts for the role pages: the CSRF check, ids from the path, and the API's schemas.

A console form is validated by the same Pydantic schema as the API route's
body (``ReviewIn``, ``DecisionIn``, ...), so a field the API refuses is
refused here with the same rule; the error names the field, never echoes
the value.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from datacompact.console._account import check_csrf
from datacompact.console._web import CSRF_FIELD, FORM_KEY, Context
from datacompact.errors import InvalidCharacter, InvalidInput, NotFound
from datacompact.schemas_base import INVALID_CHARACTER, MAX_ID

Model = TypeVar("Model", bound=BaseModel)


def posted(request: Request, ctx: Context) -> dict[str, str]:
    """The post's fields, once its CSRF token is checked."""
    form = request.scope.get(FORM_KEY)
    values = form if isinstance(form, dict) else {}
    check_csrf(ctx, values)
    return {k: v for k, v in values.items() if k != CSRF_FIELD}


def parsed(schema: type[Model], values: dict[str, object]) -> Model:
    """``values`` as ``schema`` validates them (the API's rule), or InvalidInput naming the field."""
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        # As the API's translation of a body it refuses: the fields and kinds, never the values.
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        fields = ", ".join(".".join(p["loc"]) or "form" for p in problems)
        if any(p["type"] == INVALID_CHARACTER for p in problems):
            raise InvalidCharacter(
                "文本含有控制字符或非字符 / expected text without NUL, control characters, "
                f"surrogates or noncharacters in {fields}",
                details={"errors": problems},
            ) from None
        raise InvalidInput(
            f"请求内容无效 / invalid request: check {fields}", details={"errors": problems}
        ) from None


def object_id(request: Request, name: str) -> int:
    """A numeric id from the path; anything else is a page that does not exist."""
    text = str(request.path_params[name])
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise NotFound("页面不存在 / no such page")
    return int(text)


def logged_index(request: Request) -> int | None:
    """The ``logged`` query parameter: the log index of the change just made, to show."""
    logged = request.query_params.get("logged", "")
    return int(logged) if logged.isdigit() and len(logged) < 19 else None

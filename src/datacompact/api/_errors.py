"""The API's one mapping from errors to the JSON error envelope.

``{"error": {"code": ..., "message": ..., "details": {...}}}`` for every
failure: our own errors, request validation, unknown routes, and anything
unexpected (logged server-side, reported as ``internal_error`` with no
detail, so no stack trace or data value reaches the client).

:func:`documented` is the OpenAPI side of the same contract: the error
statuses an operation may answer, each with the envelope's schema, for the
routers' ``responses=``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from datacompact.api._access_log import REQUEST_ID_KEY
from datacompact.errors import (
    DataCompactError,
    InvalidCharacter,
    InvalidInput,
    MalformedInput,
    NotFound,
    RateLimited,
    UnknownField,
)
from datacompact.schemas_base import INVALID_CHARACTER, first_non_character

log = logging.getLogger("datacompact.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}


class ErrorBody(BaseModel):
    code: str = Field(description="机器可读错误码 / machine-readable code, see docs/errors.md")
    message: str = Field(description="中文在前、英文在后 / zh-CN first, then English")
    details: dict[str, Any] = Field(description="字段、限制、类别 / fields, limits, kinds")


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


_MEANING = {
    400: "请求无效 / invalid input: validation, unknown field, malformed JSON or identifier",
    401: "未认证 / no bearer token, or one unknown, expired or revoked",
    403: "无权限 / the actor may not do this (details.reason says why)",
    404: "未找到 / no such object, or the actor may not know it exists",
    409: "冲突 / the request contradicts the current state",
    413: "请求体过大 / the request body is over the limit",
    415: "类型不支持 / a body or file of a type this route does not take",
    422: "无法处理 / invalid characters in text, a failed verification or a failed query",
    429: "请求过多 / too many requests; details.retry_after says when to retry",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the envelope's schema."""
    return {
        status: {"model": ErrorEnvelope, "description": _MEANING[status]}
        for status in sorted(statuses)
    }


def documented_beside(
    media_type: str, schema: dict[str, Any], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route whose success is not JSON: its body, and JSON errors.

    FastAPI would document an error ``model`` in the route's own media type
    (a Turtle or plain-text error); the envelope is JSON whatever the route.
    The envelope's schema is in the document through the JSON routes.
    """
    envelope_schema = {"$ref": "#/components/schemas/ErrorEnvelope"}
    errors: dict[int | str, dict[str, Any]] = {
        status: {
            "description": _MEANING[status],
            "content": {"application/json": {"schema": envelope_schema}},
        }
        for status in sorted(statuses)
    }
    return {200: {"content": {media_type: {"schema": schema}}}, **errors}


#: What any route may answer: bad input, bad text, a body over the limit, a rate limit.
ANY = (400, 413, 422, 429)
#: Routes that need a bearer token, on top of :data:`ANY`.
AUTHENTICATED = (*ANY, 401, 403, 404, 409)
#: Anonymous reads of objects by their key (the log, the public listings).
PUBLIC = (*ANY, 404)


def envelope(error: DataCompactError) -> JSONResponse:
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = error.details.get("retry_after")
    if isinstance(error, RateLimited) and isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(error.to_envelope(), status_code=error.status, headers=headers or None)


def _problem(err: Any) -> dict[str, Any]:
    """Where and what kind; a key made of refused characters (an unknown field) is one itself."""
    loc = [str(part) for part in err.get("loc", ())]
    kind = err.get("type", "")
    if any(first_non_character(part) is not None for part in loc):
        kind = INVALID_CHARACTER
        loc = [part if first_non_character(part) is None else "?" for part in loc]
    return {"loc": loc, "type": kind}


def translate_validation(exc: RequestValidationError) -> DataCompactError:
    """Pick the most specific class; keep locations and kinds, drop the offending values."""
    problems = [_problem(err) for err in exc.errors()]
    kinds = {p["type"] for p in problems}
    if INVALID_CHARACTER in kinds:
        fields = [".".join(p["loc"]) for p in problems if p["type"] == INVALID_CHARACTER]
        return InvalidCharacter(
            "文本含有控制字符或非字符 / expected text without NUL, control characters, "
            f"surrogates or noncharacters in {', '.join(fields)}",
            details={"errors": problems},
        )
    if "json_invalid" in kinds:
        return MalformedInput(
            "请求体不是合法 JSON / expected a JSON request body, got malformed JSON",
            details={"errors": problems},
        )
    if "extra_forbidden" in kinds:
        fields = [".".join(p["loc"][1:]) for p in problems if p["type"] == "extra_forbidden"]
        return UnknownField(
            f"未知字段 / unknown field(s): {', '.join(fields)}",
            details={"errors": problems},
        )
    fields = [".".join(p["loc"]) for p in problems]
    return InvalidInput(
        f"请求内容无效 / invalid request: check {', '.join(fields)}",
        details={"errors": problems},
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DataCompactError)
    async def _ours(_request: Request, exc: DataCompactError) -> JSONResponse:
        return envelope(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return envelope(translate_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return envelope(NotFound("路径不存在 / no such endpoint"))
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail), "details": {}}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception(
            "unhandled error on %s %s (request %s)",
            request.method,
            request.url.path,
            request.scope.get(REQUEST_ID_KEY, "-"),
        )
        return envelope(DataCompactError("内部错误 / internal error"))

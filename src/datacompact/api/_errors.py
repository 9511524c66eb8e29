"""The API's one mapping from errors to the JSON error envelope.

``{"error": {"code": ..., "message": ..., "details": {...}}}`` for every
failure: our own errors, request validation, unknown routes, and anything
unexpected (logged server-side, reported as ``internal_error`` with no
detail, so no stack trace or data value reaches the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from datacompact.api._access_log import REQUEST_ID_KEY
from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    MalformedInput,
    NotFound,
    RateLimited,
    UnknownField,
)

log = logging.getLogger("datacompact.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable"}


def envelope(error: DataCompactError) -> JSONResponse:
    headers: dict[str, str] = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = error.details.get("retry_after")
    if isinstance(error, RateLimited) and isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(error.to_envelope(), status_code=error.status, headers=headers or None)


def translate_validation(exc: RequestValidationError) -> DataCompactError:
    """Pick the most specific class; keep locations and kinds, drop the offending values."""
    problems: list[dict[str, Any]] = [
        {"loc": [str(part) for part in err.get("loc", ())], "type": err.get("type", "")}
        for err in exc.errors()
    ]
    kinds = {p["type"] for p in problems}
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

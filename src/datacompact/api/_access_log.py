"""The access log: one JSON line per request on the ``datacompact.access`` logger.

Each line holds the request id, the method, the route template (the matched
route's path format, ``/api/v1/participants/{participant_id}``, never the
raw path with its ids), the status, the duration in milliseconds and the
authenticated member and participant ids, if any::

    {"ts": "2026-12-07T14:30:01.123Z", "request_id": "5b0c…", "method": "GET",
     "route": "/api/v1/me", "status": 200, "duration_ms": 12.81,
     "member_id": 7, "participant_id": 3}

Never a token, a query string, a header value or a body. The request id is
the caller's ``X-Request-ID`` when it is sane (1–128 characters of
``[A-Za-z0-9._:+/=-]``), else a new random one; it is returned in the
response's ``X-Request-ID`` header either way. ``datacompact serve`` writes
the log to stderr (:func:`configure`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacompact.permissions import Principal

log = logging.getLogger("datacompact.access")

_SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
#: Scope keys shared with the routes (``_deps``) and the metrics.
PRINCIPAL_KEY = "datacompact.principal"
REQUEST_ID_KEY = "datacompact.request_id"
ROUTE_KEY = "datacompact.route"
#: The route label of a request no route matched (an unknown path).
UNMATCHED = "(unmatched)"


def note_principal(scope: Scope, principal: Principal) -> None:
    """Remember who a request authenticated as, for its access-log line."""
    scope[PRINCIPAL_KEY] = (principal.member_id, principal.participant_id)


class RouteTemplates:
    """The path format of the route a request is for, from the app's routes.

    FastAPI leaves in ``scope["route"]`` the route as its router declared it,
    without the prefix the router was included under, so the template is
    found here from the path: the route whose full path and method match, or
    one whose path matches (a 405), or ``(unmatched)``. The table is built at
    the first request, when every router has been included.
    """

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        # The app's own list: routes included after the middleware was added are in it.
        self.routes = routes
        self._table: list[tuple[re.Pattern[str], frozenset[str], str]] | None = None

    def _built(self) -> list[tuple[re.Pattern[str], frozenset[str], str]]:
        if self._table is None:
            table = []
            for context in iter_route_contexts(self.routes):
                if context.path is None:
                    continue
                regex, path_format, _ = compile_path(context.path)
                table.append((regex, frozenset(context.methods or ()), path_format))
            self._table = table
        return self._table

    def __call__(self, scope: Scope) -> str:
        known = scope.get(ROUTE_KEY)
        if isinstance(known, str):
            return known
        path, method = scope.get("path", ""), scope.get("method", "")
        found = None
        for regex, methods, path_format in self._built():
            if regex.match(path):
                if not methods or method in methods:
                    found = path_format
                    break
                found = found or path_format
        scope[ROUTE_KEY] = found = found or UNMATCHED
        return found


def request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` if it is sane, else a new one."""
    for key, value in scope.get("headers", []):
        if key == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def line(scope: Scope, *, route: str, status: int, seconds: float) -> str:
    member_id, participant_id = scope.get(PRINCIPAL_KEY, (None, None))
    record: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "request_id": scope.get(REQUEST_ID_KEY),
        "method": str(scope.get("method", ""))[:16],
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "member_id": member_id,
        "participant_id": participant_id,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class AccessLog:
    """Times each HTTP request and logs its line once the response is complete."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.template = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = scope[REQUEST_ID_KEY] = request_id(scope)
        status = 500  # if the app fails before answering, the server answers 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        finally:
            if log.isEnabledFor(logging.INFO):
                route = self.template(scope)
                elapsed = time.perf_counter() - started
                log.info(line(scope, route=route, status=status, seconds=elapsed))


def configure(stream: Any = None) -> None:
    """Send the access log, one bare JSON line per record, to ``stream`` (stderr by default).

    Called by ``datacompact serve`` in each server process; does nothing if
    the operator's logging configuration already gave the logger a handler.
    """
    if log.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

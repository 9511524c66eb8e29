"""A request-body size limit enforced before any parsing.

A declared ``Content-Length`` over the limit is refused at once; a chunked
body is counted as it streams and cut off the moment it passes the limit, so
an oversized upload never fills memory.

A route that streams its body to disk under a limit of its own (the inbox
upload) is given that limit here instead, so that this one stays the outer
bound of every request.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacompact.api._errors import envelope
from datacompact.errors import PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"请求体过大 / expected a request body of at most {limit} bytes, got more",
        details={"limit": limit},
    )


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"].rstrip("/"), self.default)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    await envelope(_too_large(limit))(scope, receive, send)
                    return
        seen = 0
        exceeded = False
        answered = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _too_large(limit)
            return message

        async def guarded(message: Message) -> None:
            # FastAPI turns any error raised while it reads the body into its own
            # 400 "error parsing the body"; once the limit is passed, the client
            # gets the 413 envelope instead of whatever the app made of it.
            nonlocal answered
            if not exceeded:
                await send(message)
            elif not answered:
                answered = True
                await envelope(_too_large(limit))(scope, receive, send)

        try:
            await self.app(scope, counted, guarded)
        except PayloadTooLarge:
            # Raised by ``counted`` and not handled by the app: answer it here.
            if not answered:
                answered = True
                await envelope(_too_large(limit))(scope, receive, send)

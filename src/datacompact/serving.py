"""What ``datacompact serve`` runs in each worker: a process that is up at once.

Importing the API, opening the store and migrating it take seconds (more on
a loaded machine). A server that is silent meanwhile looks dead to a process
supervisor, which may restart it in a loop. :func:`app_from_settings`
therefore returns a small ASGI application that loads the platform in a
background thread and, until it is ready:

* answers ``GET /healthz`` (the process is alive) with ``200``;
* answers ``GET /readyz`` and every other request with ``503 starting`` and
  ``Retry-After: 1``, in the API's error envelope;
* reports a failed start-up (a store that cannot be reached or migrated) the
  same way with ``503 not_ready``, and keeps the process alive for the
  operator to read it.

Once the platform is ready, every request goes to the real application,
whose own lifespan (the first checkpoint, the staging sweep, closing queries
a dead process left running, the checkpoint schedule) has run.

This module imports only the standard library at import time; keep it so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from datacompact import __version__

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MIGRATION_LOCK = ".migrate.lock"


def _migrate_once(home: Path, migrate: Callable[[], object]) -> None:
    """Run ``migrate`` under an exclusive lock in the home: workers start together."""
    import fcntl

    fd = os.open(home / MIGRATION_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        migrate()
    finally:
        os.close(fd)  # closing releases the lock


def load_app() -> ASGIApp:
    """Open the platform from the environment, migrate its store, and build the API."""
    from datacompact.api import configure_access_log, create_app
    from datacompact.config import get_settings
    from datacompact.platform import Platform

    configure_access_log()
    platform = Platform(get_settings())
    _migrate_once(platform.settings.home, platform.initialize)
    app: ASGIApp = create_app(platform)
    return app


class _Lifespan:
    """Drives an ASGI application's lifespan protocol from the outside."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: str | None = None
        self._task: asyncio.Future[None] | None = None

    async def _receive(self) -> Message:
        return await self._events.get()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind.startswith("lifespan.startup"):
            if kind.endswith("failed"):
                self._failure = str(message.get("message", "startup failed"))
            self._started.set()
        elif kind.startswith("lifespan.shutdown"):
            self._stopped.set()

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.ensure_future(self._app(scope, self._receive, self._send))
        await self._events.put({"type": "lifespan.startup"})
        await self._started.wait()
        if self._failure is not None:
            raise RuntimeError(self._failure)

    async def stop(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._events.put({"type": "lifespan.shutdown"})
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=30)


class BootApp:
    """The worker's application: answers at once, serves the platform once it is loaded."""

    def __init__(self, load: Callable[[], ASGIApp] = load_app) -> None:
        self._load = load
        self._app: ASGIApp | None = None
        self._lifespan: _Lifespan | None = None
        self._failure: tuple[str, str] | None = None
        self._booting: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._app is not None

    async def _boot(self) -> None:
        try:
            app = await asyncio.to_thread(self._load)
            lifespan = _Lifespan(app)
            await lifespan.start()
        except Exception as exc:  # reported through /readyz, never a crash loop
            log.exception("start-up failed")
            code = getattr(exc, "code", "not_ready")
            message = getattr(exc, "message", "平台启动失败 / the platform failed to start")
            self._failure = (str(code), str(message))
            return
        self._lifespan = lifespan
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if self._app is not None:
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # websockets: none are served
        await self._answer_while_starting(scope, send)

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Not awaited: the server accepts connections while the platform loads.
                self._booting = asyncio.create_task(self._boot())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._booting is not None and not self._booting.done():
                    with suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(self._booting), timeout=60)
                if self._lifespan is not None:
                    await self._lifespan.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _answer_while_starting(self, scope: Scope, send: Send) -> None:
        path = scope.get("path", "")
        if path == "/healthz" and scope.get("method") in ("GET", "HEAD"):
            await _json(send, 200, {"status": "ok", "version": __version__, "ready": False})
            return
        if self._failure is not None:
            code, message = self._failure
            body: dict[str, Any] = {"error": {"code": code, "message": message, "details": {}}}
            if path == "/readyz":
                body = {"status": "not_ready", "error": {"code": code, "message": message}}
            await _json(send, 503, body)
            return
        message = "服务正在启动，请稍后重试 / the service is starting; retry shortly"
        starting: dict[str, Any] = {
            "error": {"code": "starting", "message": message, "details": {}}
        }
        if path == "/readyz":
            starting = {"status": "starting"}
        await _json(send, 503, starting, retry_after=1)


async def _json(send: Send, status: int, body: dict[str, Any], *, retry_after: int = 0) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def app_from_settings() -> BootApp:
    """The factory each server worker calls (``uvicorn --factory``)."""
    return BootApp()

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

With several workers, :func:`balanced_loop_factory` gives each worker an
event loop that shares the connections out evenly (see
:class:`BalancedLoop`).

This module imports only the standard library at import time; keep it so.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import mmap
import os
import select
import struct
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


#: The environment variable through which ``datacompact serve`` names the
#: workers' connection board (see :class:`ConnectionBoard`).
BOARD_ENV = "DATACOMPACT_SERVE_BOARD"


class ConnectionBoard:
    """How many connections each worker of one server holds, in a file they all map.

    The file has :attr:`SLOTS` slots of (process id, open connections). A worker
    claims the first slot whose byte it can lock (``lockf``), and holds that lock
    while it lives: the kernel releases it when the process dies, even under
    ``kill -9``, so a slot whose lock is free belongs to nobody, whatever numbers
    it still holds, and a restarted worker takes it over.
    """

    SLOTS = 64
    _SLOT = struct.Struct("=qq")

    def __init__(self, path: Path) -> None:
        size = self.SLOTS * self._SLOT.size
        # One descriptor for the process's lifetime: closing any descriptor of
        # the file would drop every lock this process holds on it.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)
        self._map = mmap.mmap(self._fd, size)
        self.slot: int | None = None
        for slot in range(self.SLOTS):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
            except OSError:
                continue
            self.slot = slot
            self._SLOT.pack_into(self._map, slot * self._SLOT.size, os.getpid(), 0)
            break

    def publish(self, connections: int) -> None:
        """Record this worker's open connections."""
        if self.slot is not None:
            self._SLOT.pack_into(self._map, self.slot * self._SLOT.size, os.getpid(), connections)

    def _alive(self, slot: int) -> bool:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
        except OSError:
            return True  # another process holds the slot
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, slot)
        return False

    def others(self) -> list[int]:
        """The open connections of every other live worker."""
        found = []
        for slot in range(self.SLOTS):
            pid, connections = self._SLOT.unpack_from(self._map, slot * self._SLOT.size)
            if slot != self.slot and pid and self._alive(slot):
                found.append(connections)
        return found


class BalancedLoop(asyncio.SelectorEventLoop):
    """An event loop whose listening sockets take a connection only when it is their turn.

    uvicorn's workers share one listening socket, and asyncio accepts every
    pending connection each time the socket wakes its loop. A client that
    opens its keep-alive connections in a burst therefore lands them all on
    whichever worker woke first, and keeps them there: one worker does the
    work while the other idles. This loop accepts one connection per wake-up,
    and passes its turn while it holds more connections than the least loaded
    other live worker on the :class:`ConnectionBoard`, so that worker (woken
    by the same connection) takes it. It passes for at most
    :attr:`MAX_DEFER` seconds in a row: a worker that is stuck, or busy
    starting, delays a connection by that much, never refuses it. (A live
    worker's loop can wait tens of milliseconds for the GIL or for a core on
    a loaded machine; a shorter wait lets the busier worker keep the
    connection, and a keep-alive connection stays where it lands.)

    (``SO_REUSEPORT`` sockets, one per worker, would spread connections by a
    hash of their addresses instead: evenly over many clients, unevenly over
    a handful of keep-alive connections, and a dying worker resets the
    connections still queued on its socket. A shared socket keeps them for
    the worker that is left.)
    """

    DEFER_STEP = 0.002
    MAX_DEFER = 0.25
    PUBLISH_EVERY = 0.1

    def __init__(self, board: ConnectionBoard) -> None:
        super().__init__()
        self._board = board
        self._servers: list[Any] = []
        self._deferred_since: float | None = None
        self.call_soon(self._publish_periodically)

    def _open_connections(self) -> int:
        # asyncio's Server counts the transports it has open (``_active_count``).
        return sum(int(getattr(server, "_active_count", 0)) for server in self._servers)

    def _publish_periodically(self) -> None:
        self._board.publish(self._open_connections())
        self.call_later(self.PUBLISH_EVERY, self._publish_periodically)

    def _should_defer(self) -> bool:
        others = self._board.others()
        if not others or self._open_connections() <= min(others):
            self._deferred_since = None
            return False
        now = self.time()
        if self._deferred_since is None:
            self._deferred_since = now
        if now - self._deferred_since < self.MAX_DEFER:
            return True
        self._deferred_since = None
        return False

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: Any,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *rest: Any,
    ) -> None:
        if server is not None and server not in self._servers:
            self._servers.append(server)
        if self._should_defer():
            self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
            self.call_later(
                self.DEFER_STEP,
                self._resume,
                protocol_factory,
                sock,
                sslcontext,
                server,
                backlog,
                *rest,
            )
            return
        # One connection, not the whole backlog: the next one is the other workers' turn.
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, 1, *rest
        )
        self._board.publish(self._open_connections() + 1)

    def _resume(self, protocol_factory: Any, sock: Any, *args: Any) -> None:
        server = args[1]
        if sock.fileno() == -1 or (server is not None and not server.is_serving()):
            return  # the server closed meanwhile
        if not _pending(sock):
            # Another worker took the connection: the next one's wait starts afresh.
            self._deferred_since = None
        self._start_serving(protocol_factory, sock, *args)  # type: ignore[attr-defined]


def _pending(sock: Any) -> bool:
    """Whether a connection waits on the listening socket ``sock``."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def balanced_loop_factory() -> asyncio.AbstractEventLoop:
    """uvicorn's ``--loop`` for ``datacompact serve --workers N`` (N > 1): a worker's loop."""
    board_path = os.environ.get(BOARD_ENV)
    if not board_path:
        return asyncio.SelectorEventLoop()
    return BalancedLoop(ConnectionBoard(Path(board_path)))

"""The serving wrapper: alive at once, 503 until the platform is loaded, then the real API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import MutableMapping
from typing import Any

from datacompact.errors import StoreUnavailable
from datacompact.serving import BootApp


async def _request(app: BootApp, path: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    await app(scope, receive, send)
    start, body = sent[0], sent[1]
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body["body"])


class _Lifespan:
    """Sends a server's lifespan messages to an application."""

    def __init__(self, app: BootApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        self.task = asyncio.create_task(
            self.app({"type": "lifespan"}, self.inbox.get, self.outbox.put)
        )
        await self.inbox.put({"type": "lifespan.startup"})
        assert (await self.outbox.get())["type"] == "lifespan.startup.complete"

    async def stop(self) -> None:
        await self.inbox.put({"type": "lifespan.shutdown"})
        assert (await self.outbox.get())["type"] == "lifespan.shutdown.complete"
        await self.task


def _inner_app(events: list[str]):
    """A stand-in for the API: records its lifespan and answers 200 with the path."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].split(".")[1]
                events.append(kind)
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        body = json.dumps({"served": scope["path"]}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def test_answers_healthz_at_once_and_503_until_loaded_then_serves_the_api() -> None:
    loaded = threading.Event()
    events: list[str] = []

    def load():
        loaded.wait(10)
        return _inner_app(events)

    async def scenario() -> None:
        app = BootApp(load)
        lifespan = _Lifespan(app)
        await lifespan.start()
        status, _, body = await _request(app, "/healthz")
        assert (status, body["ready"]) == (200, False)
        status, headers, body = await _request(app, "/api/v1/participants")
        assert status == 503
        assert body["error"]["code"] == "starting"
        assert headers["retry-after"] == "1"
        status, _, body = await _request(app, "/readyz")
        assert (status, body) == (503, {"status": "starting"})
        loaded.set()
        for _ in range(200):
            if app.ready:
                break
            await asyncio.sleep(0.01)
        assert app.ready
        assert events == ["startup"]
        status, _, body = await _request(app, "/api/v1/participants")
        assert (status, body) == (200, {"served": "/api/v1/participants"})
        await lifespan.stop()
        assert events == ["startup", "shutdown"]

    asyncio.run(scenario())


def test_a_failed_start_is_reported_without_details_and_the_process_stays_up() -> None:
    def load():
        raise StoreUnavailable(
            "元数据存储不可用 / the metadata store is unavailable",
            details={"driver_error": "OperationalError", "url": "postgresql://secret@db"},
        )

    async def scenario() -> None:
        app = BootApp(load)
        lifespan = _Lifespan(app)
        await lifespan.start()
        for _ in range(200):
            status, _, body = await _request(app, "/readyz")
            if body.get("status") == "not_ready":
                break
            await asyncio.sleep(0.01)
        assert status == 503
        assert body["error"]["code"] == "store_unavailable"
        assert "secret" not in json.dumps(body)
        status, _, _ = await _request(app, "/healthz")
        assert status == 200
        status, _, body = await _request(app, "/api/v1/me")
        assert status == 503
        assert body["error"]["code"] == "store_unavailable"
        await lifespan.stop()

    asyncio.run(scenario())


class _OtherWorkerIdle:
    """A board on which one other live worker holds no connection."""

    def publish(self, connections: int) -> None:
        pass

    def others(self) -> list[int]:
        return [0]


def test_a_busier_worker_waits_its_turn_and_each_connection_waits_afresh() -> None:
    import socket
    import time

    from datacompact.serving import BalancedLoop

    class Loop(BalancedLoop):
        MAX_DEFER = 0.3

    loop = Loop(_OtherWorkerIdle())  # type: ignore[arg-type]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    accepted: list[float] = []
    clients: list[socket.socket] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(time.monotonic())
        await reader.read()  # held open until the client closes
        writer.close()

    def connect() -> float:
        clients.append(socket.create_connection(("127.0.0.1", port)))
        return time.monotonic()

    async def scenario() -> None:
        await asyncio.start_server(handle, sock=listener)
        connect()
        await asyncio.sleep(0.1)
        assert len(accepted) == 1  # as many as the other worker (none): taken at once

        connect()  # now this worker holds more: its turn passes to the other one
        await asyncio.sleep(0.1)
        assert len(accepted) == 1
        stolen, _ = listener.accept()  # the other worker takes it
        await asyncio.sleep(0.4)  # longer than MAX_DEFER since the wait began
        assert len(accepted) == 1

        asked = connect()  # a new connection waits its own full turn, not the stale one's
        await asyncio.sleep(0.1)
        assert len(accepted) == 1
        await asyncio.sleep(0.4)
        assert len(accepted) == 2  # nobody else took it: accepted after MAX_DEFER
        assert accepted[1] - asked >= Loop.MAX_DEFER * 0.9
        stolen.close()

    try:
        loop.run_until_complete(scenario())
    finally:
        for client in clients:
            client.close()
        loop.run_until_complete(asyncio.sleep(0.05))
        loop.close()
        listener.close()

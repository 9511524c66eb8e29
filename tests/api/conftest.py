"""In-process API client over the minimal world."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import func, select

from datacompact.api import create_app
from datacompact.api._credentials import VerifiedTokens
from datacompact.api._freshness import ChangeWatch, Views
from datacompact.events import EventType, record_event
from datacompact.ledger.log import checkpoints
from datacompact.platform import Platform
from datacompact.registry.tokens import token_digest
from datacompact.store.models import (
    ApiToken,
    Contact,
    Event,
    Member,
    Participant,
    ParticipantKey,
    Shareholder,
)

from ..conftest import SharedWorld, World

COUNTED = (Participant, Member, ParticipantKey, ApiToken, Contact, Shareholder, Event)


class ApiClient:
    """A synchronous face on ``httpx.AsyncClient(transport=httpx.ASGITransport(app))``.

    Each request runs in its own event loop, so the tests stay plain functions.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return anyio.run(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


class SharedApp:
    """One app per module and store, over a :class:`SharedWorld` rolled back before each test.

    An app costs a few tenths of a CPU-second (FastAPI builds every route's
    validators on its first request), more than most API tests; the tests of
    a module share one, and each starts from the saved world as if both were new.
    """

    def __init__(self, shared: SharedWorld) -> None:
        self.shared = shared
        platform = shared.platform
        # A served platform signs a checkpoint at start (the app's lifespan, which
        # in-process clients do not run); do the same so the public log reads work.
        checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
        self.client = ApiClient(create_app(platform))
        self.saved = shared.save()

    def reset(self) -> World:
        """Roll the world back, and make the app forget what earlier tests did."""
        self.shared.restore(self.saved)
        forget(self.client.app)
        return self.shared.world


def forget(app: FastAPI) -> None:
    """Forget what an app keeps between requests: verified tokens, kept views, counts.

    For an app kept over a rolled-back store: its caches key on the log's
    size, which goes back with the store, so they would trust what they read
    in a log that no longer exists. They start afresh as ``create_app`` builds them.
    """
    watch = ChangeWatch()
    app.state.verified_tokens = VerifiedTokens(watch)
    app.state.views = Views(watch)
    metrics = app.state.metrics
    for family in (metrics.requests, metrics.latency, metrics.ingestion):
        family.clear()


@pytest.fixture
def client(world: World, backend: str, _shared_apps: dict[str, SharedApp]) -> ApiClient:
    """A client of the module's app over ``world``; tests that change the app build their own."""
    return _shared_apps[backend].client


def bearer(world: World, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[key]}"}


def log_query_outcome(world: World) -> None:
    """Append a query's outcome to the log, the one kind of event that changes nothing kept."""
    with world.platform.db.write() as session:
        record_event(
            session,
            actor=world.principal("enterprise.analyst"),
            type=EventType.QUERY_EXECUTED,
            object_type="query",
            object_id=1,
            payload={},
        )


def row_counts(platform: Platform) -> dict[str, int]:
    """Rows per table that a registration or token issue would touch."""
    with platform.db.read() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in COUNTED
        }


def last_seq(platform: Platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.max(Event.seq))) or 0


def token_id(platform: Platform, value: str) -> int:
    with platform.db.read() as session:
        found = session.scalar(
            select(ApiToken.id).where(ApiToken.token_sha256 == token_digest(value))
        )
    assert found is not None
    return found


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) the app serves, HEAD aside."""
    return {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path is not None
        for method in (route.methods or set()) - {"HEAD"}
    }

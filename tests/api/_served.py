"""An app over the test world with settings of the test's choosing, called from any address."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx

from datacompact.api import create_app
from datacompact.config import Settings
from datacompact.platform import Platform

from ..conftest import World


class AddressedClient:
    """Like ``ApiClient``, but each request may come from a socket peer of its own."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.app = create_app(platform)

    def request(
        self, method: str, url: str, *, address: str = "127.0.0.1", **kwargs: Any
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(address, 40123))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return anyio.run(send)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


class Served:
    """Builds apps over ``world``'s store and home with other settings; closes them after."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.platforms: list[Platform] = []

    def __call__(self, **settings: Any) -> AddressedClient:
        base = self.world.platform.settings
        platform = Platform(Settings(home=base.home, database_url=base.database_url, **settings))
        self.platforms.append(platform)
        return AddressedClient(platform)


def serving(world: World) -> Iterator[Served]:
    """The body of each test module's ``served`` fixture."""
    factory = Served(world)
    yield factory
    for platform in factory.platforms:
        platform.close()

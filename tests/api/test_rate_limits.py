"""Rate limits: logins, self-registrations and token minting are refused before any work.

A refusal is ``429 rate_limited`` in the envelope with ``Retry-After``; it
runs no argon2 hash, opens no transaction and writes no log entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datacompact.api._ratelimit import client_address, networks
from datacompact.config import Settings
from datacompact.errors import ConfigurationError
from datacompact.platform import Platform
from datacompact.ratelimits import RateLimits
from datacompact.registry import members, tokens

from ..conftest import World, valid_uscc
from ._endpoints import PASSWORD, _query_body, new_registration
from ._served import AddressedClient, Served, serving
from .conftest import bearer, last_seq, row_counts

LOGIN = "/api/v1/auth/token"
WRONG = "Wrong-Guess-42"


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    yield from serving(world)


class Clock:
    """``time.time`` of the rate-limit counters, moved by hand."""

    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    import limits.storage.memory

    import datacompact.ratelimits

    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(datacompact.ratelimits, "time", fake)
    return fake


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification a login runs, by the password's kind (never the password)."""
    seen: list[str] = []
    real = members.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        seen.append("right" if password == PASSWORD else "wrong")
        return real(password_hash, password)

    monkeypatch.setattr(tokens, "verify_password", counted)
    return seen


def login(
    client: AddressedClient, username: str, password: str = PASSWORD, address: str = "127.0.0.1"
) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password}, address=address)


def assert_limited(response: Any, rule: str) -> int:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"]["rule"] == rule
    retry_after = int(response.headers["Retry-After"])
    assert retry_after == error["details"]["retry_after"] >= 1
    return retry_after


NO_BACKOFF: dict[str, Any] = {"rate_limit_login_backoff_seconds": 0}


def test_logins_per_account_stop_before_argon2_and_the_log(
    served: Any, world: World, hashes: list[str]
) -> None:
    client = served(rate_limit_login_per_account="3/minute", **NO_BACKOFF)
    for _ in range(3):
        assert login(client, "enterprise.admin", WRONG).status_code == 401
    before, seq = row_counts(world.platform), last_seq(world.platform)
    # Even the right password is not checked once the account's window is full.
    retry = assert_limited(login(client, "enterprise.admin"), "login.account")
    assert 55 <= retry <= 60
    assert hashes == ["wrong"] * 3
    assert (row_counts(world.platform), last_seq(world.platform)) == (before, seq)
    # Another account from the same address is not affected.
    assert login(client, "enterprise2.admin").status_code == 201


def test_logins_per_address(served: Any, hashes: list[str]) -> None:
    client = served(rate_limit_login_per_address="2/minute", **NO_BACKOFF)
    assert login(client, "enterprise.admin", WRONG).status_code == 401
    assert login(client, "enterprise2.admin", WRONG).status_code == 401
    assert_limited(login(client, "regulator.admin"), "login.address")
    assert hashes == ["wrong", "wrong"]
    assert login(client, "regulator.admin", address="10.9.8.7").status_code == 201


def test_failed_logins_back_off_exponentially_until_a_success(
    served: Any, world: World, clock: Clock, hashes: list[str]
) -> None:
    client = served(
        rate_limit_login_backoff_seconds=1,
        rate_limit_login_backoff_max_seconds=8,
        rate_limit_login_per_account="1000/minute",
        rate_limit_login_per_address="1000/minute",
        rate_limit_tokens_per_address="1000/minute",
    )
    seq = last_seq(world.platform)
    for wait in (1, 2, 4, 8, 8):
        assert login(client, "enterprise.admin", WRONG).status_code == 401
        checked = len(hashes)
        # Locked: not even the right password is checked, and nothing is logged.
        assert assert_limited(login(client, "enterprise.admin"), "login.backoff.address") == wait
        assert len(hashes) == checked
        clock.now += wait - 0.5
        assert assert_limited(login(client, "enterprise.admin"), "login.backoff.address") == 1
        clock.now += 0.6
    assert last_seq(world.platform) == seq
    # The account is backed off from every address, the address for every account.
    assert login(client, "enterprise.admin", WRONG).status_code == 401
    assert_limited(login(client, "enterprise.admin", address="10.1.1.1"), "login.backoff.account")
    assert_limited(login(client, "enterprise2.admin"), "login.backoff.address")
    clock.now += 8.1
    # A success resets both: the next failure waits one second again.
    assert login(client, "enterprise.admin").status_code == 201
    assert login(client, "enterprise.admin", WRONG).status_code == 401
    assert assert_limited(login(client, "enterprise.admin"), "login.backoff.address") == 1


def test_a_malformed_login_counts_against_its_address_only(served: Any) -> None:
    client = served(rate_limit_login_per_address="2/minute", **NO_BACKOFF)
    assert client.post(LOGIN, content=b"{not json").status_code == 400
    assert client.post(LOGIN, json={"username": 7, "password": "x"}).status_code == 400
    assert_limited(login(client, "enterprise.admin"), "login.address")


def test_self_registration_per_address(served: Any, world: World) -> None:
    client = served(rate_limit_registration_per_address="2/hour")
    first = new_registration(username="first.admin", uscc=valid_uscc("91330106MA2D00002"))
    assert client.post("/api/v1/participants", json=first).status_code == 201
    assert client.post("/api/v1/participants", json={"kind": "nonsense"}).status_code == 400
    before, seq = row_counts(world.platform), last_seq(world.platform)
    third = new_registration(username="third.admin", uscc=valid_uscc("91330106MA2D00003"))
    retry = assert_limited(client.post("/api/v1/participants", json=third), "registration.address")
    assert 3590 <= retry <= 3600
    assert (row_counts(world.platform), last_seq(world.platform)) == (before, seq)
    assert client.post("/api/v1/participants", json=third, address="::1").status_code == 201


def test_token_minting_per_credential_and_per_address(served: Any, world: World) -> None:
    client = served(
        rate_limit_tokens_per_credential="2/minute", rate_limit_tokens_per_address="4/minute"
    )
    analyst = bearer(world, "enterprise.analyst")
    for _ in range(2):
        assert client.post("/api/v1/tokens", json={}, headers=analyst).status_code == 201
    seq = last_seq(world.platform)
    assert_limited(client.post("/api/v1/tokens", json={}, headers=analyst), "tokens.credential")
    assert last_seq(world.platform) == seq
    other = bearer(world, "enterprise.auditor")
    assert client.post("/api/v1/tokens", json={}, headers=other).status_code == 201
    # A login mints a token too: the address's fourth and last one this minute.
    assert login(client, "enterprise.admin").status_code == 201
    assert_limited(client.post("/api/v1/tokens", json={}, headers=other), "tokens.address")
    assert_limited(login(client, "enterprise2.admin"), "tokens.address")
    assert client.post("/api/v1/tokens", json={}, headers=other, address="10.0.0.2").is_success


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(served: Any) -> None:
    settings: dict[str, Any] = {"rate_limit_login_per_address": "1/minute", **NO_BACKOFF}
    direct = served(**settings)

    def via(client: AddressedClient, forwarded: str, address: str = "127.0.0.1") -> int:
        response = client.post(
            LOGIN,
            json={"username": "nobody", "password": WRONG},
            headers={"X-Forwarded-For": forwarded},
            address=address,
        )
        return response.status_code

    # Not trusted: the header is the client's own claim and is ignored.
    assert via(direct, "10.0.0.1") == 401
    assert via(direct, "10.0.0.2") == 429
    proxied = served(trusted_proxies=["127.0.0.1"], **settings)
    assert via(proxied, "10.0.0.1") == 401
    assert via(proxied, "10.0.0.2") == 401
    assert via(proxied, "10.0.0.1") == 429
    # A spoofed entry left of the proxy's is not believed.
    assert via(proxied, "10.0.0.3, 10.0.0.1") == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # untrusted peer
        ("10.0.0.1", None, "10.0.0.1"),  # trusted, no header
        ("10.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.9", "198.51.100.1"),  # two proxies
        ("10.0.0.1", "10.0.0.7, 10.0.0.9", "10.0.0.7"),  # all trusted: the farthest
        ("10.0.0.1", "198.51.100.1, not-an-ip", "10.0.0.1"),  # garbage from the proxy's side
        ("10.0.0.1", " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    scope = {"type": "http", "client": (peer, 1), "headers": headers}
    assert client_address(scope, networks(["10.0.0.0/8"])) == expected


def test_settings_refuse_bad_rates_and_addresses() -> None:
    with pytest.raises(ValueError, match="expected a rate"):
        Settings(rate_limit_login_per_account="ten a minute")
    with pytest.raises(ValueError, match="expected IP addresses or networks"):
        Settings(trusted_proxies=["proxy.example.cn"])
    parsed = Settings.model_validate({"trusted_proxies": "127.0.0.1, 10.0.0.0/8"})
    assert parsed.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]


def test_a_storage_without_its_client_library_is_a_configuration_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RateLimits("redis://:secret-password@localhost:6379")
    assert "secret-password" not in caught.value.message
    platform = Platform(Settings(home=tmp_path, rate_limit_storage_uri="nosuch://x"))
    with pytest.raises(ConfigurationError):
        _ = platform.rate_limits


def test_query_refusals_per_grant_answer_429_with_retry_after(served: Any, world: World) -> None:
    client = served(sandbox_refusals_per_minute=2, sandbox_time_quantum_ms=0)
    body = _query_body(world, "enterprise")
    refused = {**body, "sql": "SELECT no_such_column FROM nowhere"}
    headers = bearer(world, "enterprise.admin")
    for _ in range(2):
        assert client.post("/api/v1/queries", json=refused, headers=headers).status_code in (
            400,
            403,
        )
    seq = last_seq(world.platform)
    retry = assert_limited(
        client.post("/api/v1/queries", json=body, headers=headers), "grant.refusal_rate"
    )
    assert 55 <= retry <= 60
    assert last_seq(world.platform) == seq

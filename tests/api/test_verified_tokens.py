"""The cache of verified tokens never serves a revoked token or a lost permission.

Every test reads once (remembering the principal), changes what decides it,
and reads again at once: through the same application, through a second
application on the same store (another worker), or after a change made
outside the API (the command line).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from datacompact import clock
from datacompact.api import _credentials, _freshness, create_app
from datacompact.registry import members, participants, tokens
from datacompact.registry.schemas import Decision

from ..conftest import World
from .conftest import ApiClient, bearer, log_query_outcome, token_id

LIST = "/api/v1/participants"


def _hits(client: ApiClient) -> int:
    hits: int = client.app.state.verified_tokens.hits
    return hits


def test_a_verified_token_is_remembered(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    assert _hits(client) == 0
    assert client.get(LIST, headers=headers).status_code == 200
    assert client.get(f"{LIST}/{world.ids['enterprise']}", headers=headers).status_code == 200
    assert _hits(client) == 2


def test_a_revoked_token_is_refused_at_once(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    assert client.get(LIST, headers=headers).status_code == 200  # served from the cache
    value = world.tokens["enterprise.analyst"]
    revoked = client.delete(f"/api/v1/tokens/{token_id(world.platform, value)}", headers=headers)
    assert revoked.status_code == 200
    refused = client.get(LIST, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"


def test_a_revocation_past_a_long_gap_of_events_is_refused_at_once(
    client: ApiClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More new events than the cache reads in one go: it starts afresh.
    monkeypatch.setattr(_freshness, "MAX_SCAN", 0)
    test_a_revoked_token_is_refused_at_once(client, world)


def test_a_token_revoked_by_another_worker_is_refused_at_once(
    client: ApiClient, world: World
) -> None:
    other = ApiClient(create_app(world.platform))  # its own cache, the same store
    headers = bearer(world, "enterprise.analyst")
    for app in (client, other):
        assert app.get(LIST, headers=headers).status_code == 200
        assert app.get(LIST, headers=headers).status_code == 200
    value = world.tokens["enterprise.analyst"]
    admin = bearer(world, "enterprise.admin")
    revoked = other.delete(f"/api/v1/tokens/{token_id(world.platform, value)}", headers=admin)
    assert revoked.status_code == 200
    assert client.get(LIST, headers=headers).json()["error"]["code"] == "token_revoked"
    assert other.get(LIST, headers=headers).json()["error"]["code"] == "token_revoked"


def test_a_token_revoked_outside_the_api_is_refused_at_once(
    client: ApiClient, world: World
) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    value = world.tokens["enterprise.analyst"]
    with world.platform.db.write() as session:
        tokens.revoke_token(
            session=session,
            actor=world.principal("enterprise.admin"),
            token_id=token_id(world.platform, value),
        )
    assert client.get(LIST, headers=headers).status_code == 401


def test_a_deactivated_member_is_refused_at_once(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    with world.platform.db.write() as session:
        members.deactivate_member(
            session=session,
            actor=world.principal("enterprise.admin"),
            member_id=world.members["enterprise.analyst"],
        )
    refused = client.get(LIST, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["reason"] == "member_inactive"


def test_a_suspended_participant_is_refused_at_once(client: ApiClient, world: World) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    with world.platform.db.write() as session:
        participants.decide_participant(
            session=session,
            actor=world.principal("regulator.admin"),
            participant_id=world.ids["enterprise"],
            decision=Decision.SUSPEND,
            reason="audit finding",
        )
    refused = client.get(LIST, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["reason"] == "participant_not_approved"


def test_a_remembered_token_expires_on_time(
    client: ApiClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    later = clock.utcnow() + timedelta(days=2)  # the world's tokens live one day
    monkeypatch.setattr(_credentials, "utcnow", lambda: later)
    refused = client.get(LIST, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_expired"


def test_query_outcomes_keep_tokens_remembered_and_other_events_do_not(
    client: ApiClient, world: World
) -> None:
    headers = bearer(world, "enterprise.analyst")
    assert client.get(LIST, headers=headers).status_code == 200
    log_query_outcome(world)
    assert client.get(LIST, headers=headers).status_code == 200
    assert _hits(client) == 1
    with world.platform.db.write() as session:
        tokens.issue_token(
            session=session,
            actor=world.principal("enterprise.admin"),
            label="another",
            scopes=None,
            ttl=timedelta(hours=1),
        )
    assert client.get(LIST, headers=headers).status_code == 200
    assert _hits(client) == 1  # verified afresh
    assert client.get(LIST, headers=headers).status_code == 200
    assert _hits(client) == 2

"""A worker keeps a grant's terms and sandbox view between queries, never its counters.

Over HTTP on both stores: the second query of a grant is analyzed on the view
the worker kept, yet counted and charged in its own transaction; a logged
change of the resource (a raised grade) or of the grant (a suspension) takes
effect on the very next query, whichever path or worker made it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datacompact.api import create_app
from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeCode, GradeDecisionIn
from datacompact.registry import tokens
from datacompact.sandbox import Engine, Result
from datacompact.sandbox.plan import Plan
from datacompact.store.models import Grant

from ..conftest import BACKENDS, PgServer, Saved, SharedWorld, Template, World, shared_world
from ..policy.test_queries import _grant, _set_status, register_roster
from .conftest import ApiClient, bearer, log_query_outcome, token_id

SQL = "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额 LIMIT 5"


class Served:
    def __init__(self, shared: SharedWorld, resource_id: int, grant_id: int) -> None:
        self.shared, self.resource_id, self.grant_id = shared, resource_id, grant_id
        self.saved: Saved = shared.save()
        self.client = ApiClient(create_app(shared.world.platform))

    @property
    def world(self) -> World:
        return self.shared.world

    def query(self, client: ApiClient | None = None) -> Any:
        return (client or self.client).post(
            "/api/v1/queries",
            json={"grant_id": self.grant_id, "sql": SQL},
            headers=bearer(self.world, "enterprise.analyst"),
        )

    def hits(self) -> int:
        hits: int = self.client.app.state.views.hits
        return hits

    def used(self) -> int:
        with self.world.platform.db.read() as session:
            grant = session.get(Grant, self.grant_id)
            assert grant is not None
            return grant.queries_used


@pytest.fixture(scope="module", params=BACKENDS)
def _served(
    request: pytest.FixtureRequest,
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[Served]:
    shared = shared_world(str(request.param), _templates, tmp_path_factory, pg_server)
    world = shared.world
    resource_id = register_roster(world, tmp_path_factory.mktemp("roster"))
    grant_id = _grant(world, resource_id, columns=["区县", "金额"])
    world.platform.settings.sandbox_time_quantum_ms = 0
    yield Served(shared, resource_id, grant_id)
    shared.close()


@pytest.fixture
def served(_served: Served) -> Served:
    _served.shared.restore(_served.saved)
    # A fresh worker for each test: nothing kept from the state before the restore.
    _served.client = ApiClient(create_app(_served.world.platform))
    return _served


def _raise_grade(world: World, resource_id: int) -> None:
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=world.principal("department.data_steward"),
            resource_id=resource_id,
            decision=GradeDecisionIn(
                decision="override", grade=GradeCode.IMPORTANT, reason="涉及全市救助对象"
            ),
        )


def test_the_view_is_kept_and_every_query_is_still_charged(served: Served) -> None:
    used = served.used()
    first = served.query()
    assert first.status_code == 200, first.text
    kept = served.hits()
    second = served.query()
    assert second.status_code == 200, second.text
    assert served.hits() == kept + 1  # analyzed on the kept view
    assert second.json()["data"]["rows"] == first.json()["data"]["rows"]
    assert served.used() == used + 2
    assert second.json()["data"]["queries_left"] == first.json()["data"]["queries_left"] - 1
    assert second.json()["receipt"]["log_index"] > first.json()["receipt"]["log_index"]


def test_query_outcomes_keep_the_view(served: Served) -> None:
    assert served.query().status_code == 200
    kept = served.hits()
    log_query_outcome(served.world)
    assert served.query().status_code == 200
    assert served.hits() == kept + 1


def test_a_raised_grade_takes_effect_on_the_next_query(served: Served) -> None:
    assert served.query().status_code == 200
    assert served.query().status_code == 200
    kept, used = served.hits(), served.used()
    _raise_grade(served.world, served.resource_id)
    refused = served.query()
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"]["rule"] == "grade.important"
    assert served.used() == used  # refused at analysis: nothing charged
    assert served.hits() == kept  # analyzed on the resource as it is now


def test_a_change_made_by_another_worker_shows_at_once(served: Served) -> None:
    other = ApiClient(create_app(served.world.platform))  # its own kept views, the same store
    for client in (served.client, other):
        assert served.query(client).status_code == 200
        assert served.query(client).status_code == 200
    _set_status(served.world, served.grant_id, "suspend")
    for client in (served.client, other):
        refused = served.query(client)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["details"]["rule"] == "grant.suspended"
    _set_status(served.world, served.grant_id, "reinstate")
    _raise_grade(served.world, served.resource_id)
    for client in (served.client, other):
        refused = served.query(client)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["details"]["rule"] == "grade.important"


class _RevokingEngine:
    """The platform's engine, which has the analyst's token revoked while the query runs."""

    def __init__(self, inner: Engine, world: World) -> None:
        self._inner, self._world = inner, world

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def execute(self, plan: Plan, **options: Any) -> Result:
        value = self._world.tokens["enterprise.analyst"]
        with self._world.platform.db.write() as session:
            tokens.revoke_token(
                session=session,
                actor=self._world.principal("enterprise.admin"),
                token_id=token_id(self._world.platform, value),
            )
        return self._inner.execute(plan, **options)


def test_a_token_revoked_while_the_query_runs_drops_its_result(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = served.world.platform
    assert served.query().status_code == 200  # the token is remembered, the view kept
    used = served.used()
    monkeypatch.setitem(vars(platform), "sandbox", _RevokingEngine(platform.sandbox, served.world))
    failed = served.query()
    assert failed.status_code == 422, failed.text
    assert failed.json()["error"]["code"] == "query_failed"
    assert served.used() == used + 1  # charged, and nothing given back
    assert served.query().status_code == 401

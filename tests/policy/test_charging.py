"""Every execution is charged; only analysis-time refusals are free, and they are rate-limited.

The query count and the ε of a DP release are taken in a
locked transaction *before* the SQL runs and kept whatever happens next
(success, an engine failure, a revocation or a regrade in flight); every
failure after the charge is one generic outcome, logged as ``query.failed``
with what it cost. ε has a per-query floor and ceiling, and ``epsilon`` on a
grant that is not DP is an error. All of it on both store backends.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import pytest
from sqlalchemy import select, update

from datacompact.errors import InvalidInput, PolicyViolation, QueryFailed, RateLimited
from datacompact.events import EventType
from datacompact.policy import queries
from datacompact.sandbox import DuckDBEngine, Result
from datacompact.sandbox.plan import Plan
from datacompact.store.models import Event, Grant, GrantQuery, Resource

from ..conftest import World
from .test_queries import _grant, _grant_row, _run, _set_status
from .test_queries import _roster_worlds as _roster_worlds  # fixtures
from .test_queries import resource_id as resource_id
from .test_queries import world as world

AGG = "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县"


def _events(world: World, kind: EventType) -> list[dict[str, Any]]:
    with world.platform.db.read() as session:
        rows = session.scalars(select(Event).where(Event.type == kind.value).order_by(Event.seq))
        return [dict(r.payload) for r in rows]


def _statuses(world: World, grant_id: int) -> list[str]:
    with world.platform.db.read() as session:
        return list(
            session.scalars(
                select(GrantQuery.status)
                .where(GrantQuery.grant_id == grant_id)
                .order_by(GrantQuery.id)
            )
        )


class _FailingEngine(DuckDBEngine):
    """An engine whose execution fails with ``error`` after the query was charged."""

    def __init__(self, world: World, error: Exception) -> None:
        super().__init__(pseudonym_key=queries.pseudonym_key(world.platform.secret))
        self.error = error

    def execute(self, plan: Plan, *, budget: Any = None) -> Result:
        raise self.error


class _DuringEngine(DuckDBEngine):
    """Runs the query, and ``then`` happens while it runs."""

    def __init__(self, world: World, then: Any) -> None:
        super().__init__(pseudonym_key=queries.pseudonym_key(world.platform.secret))
        self.then = then

    def execute(self, plan: Plan, *, budget: Any = None) -> Result:
        result = super().execute(plan, budget=budget)
        self.then()
        return result


def _failed(world: World, grant_id: int, sql: str, **options: Any) -> QueryFailed:
    with pytest.raises(QueryFailed) as caught:
        _run(world, grant_id, sql, **options)
    return caught.value


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom 110105"), OSError("arrow"), MemoryError(), RecursionError("deep")],
    ids=["runtime", "os", "memory", "recursion"],
)
def test_a_failure_after_the_charge_is_charged_generic_and_logged(
    world: World, resource_id: int, error: Exception
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    failed = _failed(world, grant_id, AGG, engine=_FailingEngine(world, error))
    assert (failed.message, failed.details, failed.status) == (
        queries.FAILED_MESSAGE,
        {},
        422,
    )
    assert _grant_row(world, grant_id).queries_used == 1
    assert _statuses(world, grant_id) == ["failed"]
    (event,) = _events(world, EventType.QUERY_FAILED)
    assert event["grant_id"] == grant_id
    assert event["epsilon"] == "0.0"
    assert "110105" not in str(event)
    assert not _events(world, EventType.QUERY_EXECUTED)


def test_a_failed_dp_query_keeps_its_epsilon(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="dp_aggregates", columns=["区县"], epsilon=1.0)
    _failed(world, grant_id, AGG, epsilon=0.25, engine=_FailingEngine(world, RuntimeError("x")))
    row = _grant_row(world, grant_id)
    assert row.queries_used == 1
    assert float(row.epsilon_spent) == pytest.approx(0.25)
    (event,) = _events(world, EventType.QUERY_FAILED)
    assert event["epsilon"] == "0.25"


def test_a_revocation_in_flight_drops_the_result_and_keeps_the_charge(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    engine = _DuringEngine(world, lambda: _set_status(world, grant_id, "revoke"))
    failed = _failed(world, grant_id, AGG, engine=engine)
    assert failed.details == {}
    assert _grant_row(world, grant_id).queries_used == 1
    assert _statuses(world, grant_id) == ["failed"]
    assert not _events(world, EventType.QUERY_EXECUTED)


def test_a_regrade_in_flight_drops_the_result_and_keeps_the_charge(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id)

    def regrade() -> None:
        with world.platform.db.write() as session:
            session.execute(
                update(Resource).where(Resource.id == resource_id).values(grade_status="proposed")
            )

    _failed(world, grant_id, "SELECT 金额 FROM relief_roster", engine=_DuringEngine(world, regrade))
    assert _grant_row(world, grant_id).queries_used == 1
    assert _statuses(world, grant_id) == ["failed"]


def test_failures_look_the_same_whatever_happened(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    answers = set()
    for error in (RuntimeError("a"), TimeoutError(), ValueError("c")):
        failed = _failed(world, grant_id, AGG, engine=_FailingEngine(world, error))
        answers.add((type(failed), failed.message, repr(failed.details), failed.status))
    revoke = _DuringEngine(world, lambda: _set_status(world, grant_id, "suspend"))
    failed = _failed(world, grant_id, AGG, engine=revoke)
    answers.add((type(failed), failed.message, repr(failed.details), failed.status))
    assert len(answers) == 1


@pytest.mark.parametrize(
    ("epsilon", "rule"),
    [
        (5e-324, "epsilon.invalid"),  # subnormal: OpenDP's calibration would overflow
        (1e-300, "epsilon.range"),
        (0.001, "epsilon.range"),
        (1.5, "epsilon.invalid"),
        (math.inf, "epsilon.invalid"),
        (math.nan, "epsilon.invalid"),
    ],
)
def test_epsilon_outside_the_grant_range_is_refused_free(
    world: World, resource_id: int, epsilon: float, rule: str | None
) -> None:
    grant_id = _grant(world, resource_id, mode="dp_aggregates", columns=["区县"], epsilon=2.0)
    with pytest.raises((InvalidInput, PolicyViolation)) as caught:
        _run(world, grant_id, AGG, epsilon=epsilon)
    assert caught.value.details["rule"] == rule
    row = _grant_row(world, grant_id)
    assert (row.queries_used, float(row.epsilon_spent)) == (0, 0.0)
    assert _statuses(world, grant_id) == ["refused"]


def test_epsilon_on_a_grant_that_is_not_dp_is_an_error(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    with pytest.raises(InvalidInput) as caught:
        _run(world, grant_id, AGG, epsilon=0.5)
    assert caught.value.details["rule"] == "epsilon.not_dp"
    assert _grant_row(world, grant_id).queries_used == 0


def test_refusals_at_analysis_are_free_but_rate_limited(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    policy = queries.QueryPolicy(refusals_per_minute=3, time_quantum=0)
    for _ in range(3):
        with pytest.raises(PolicyViolation):
            _run(world, grant_id, "SELECT 姓名 FROM relief_roster", policy=policy)
    with pytest.raises(RateLimited) as caught:
        _run(world, grant_id, AGG, policy=policy)
    assert caught.value.status == 429
    assert caught.value.details["retry_after"] == 60
    assert _grant_row(world, grant_id).queries_used == 0
    assert _statuses(world, grant_id) == ["refused"] * 3  # the limited request is not logged
    # Another grant is not affected.
    other = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    assert _run(world, other, AGG, policy=policy).rows


def test_answers_of_non_records_modes_are_padded_to_the_quantum(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    policy = queries.QueryPolicy(time_quantum=0.4)
    started = time.monotonic()
    _run(world, grant_id, AGG, policy=policy)
    assert time.monotonic() - started >= 0.4
    records = _grant(world, resource_id, mode="masked_records")
    started = time.monotonic()
    _run(world, records, "SELECT 区县 FROM relief_roster LIMIT 1", policy=policy)
    # Masked records are padded too: only plain records are not.
    assert time.monotonic() - started >= 0.4


def test_queries_a_dead_process_left_running_are_closed_as_failed(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id)
    _run(world, grant_id, "SELECT 金额 FROM relief_roster LIMIT 1")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with world.platform.db.write() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        for created in (long_ago, dt.datetime.now(dt.UTC)):
            session.add(
                GrantQuery(
                    grant_id=grant_id,
                    grantee_id=grant.grantee_id,
                    sql="SELECT 1",
                    sql_sha256="0" * 64,
                    status="running",
                    engine="duckdb",
                    epsilon="0.0",
                    created_at=created,
                )
            )
    governance = world.platform.settings.governance_mode
    assert queries.close_interrupted(db=world.platform.db, governance=governance) == 1
    assert _statuses(world, grant_id) == ["executed", "failed", "running"]
    assert len(_events(world, EventType.QUERY_FAILED)) == 1
    assert queries.close_interrupted(db=world.platform.db, governance=governance) == 0

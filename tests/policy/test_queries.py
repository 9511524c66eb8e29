"""Governed queries under grants, in the store, on both backends.

Checks that the grant's columns, masks and output mode are
enforced, every query is counted and logged with its receipt, and expiry,
suspension, revocation (also of a query in flight), the query count and the
privacy budget stop queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import Forbidden, PolicyViolation, QueryFailed
from datacompact.events import EventType
from datacompact.policy import applications, grants, queries
from datacompact.policy.schemas import ApplicationCreate, QueryResult
from datacompact.sandbox import DuckDBEngine, Result
from datacompact.sandbox.plan import Plan
from datacompact.store.models import Event, Grant, GrantQuery, Resource

from ..conftest import PgServer, Saved, SharedWorld, Template, World, shared_world

# 40 people in four districts: 15, 15, 5 and 5 of them.
DISTRICTS = ["西湖区"] * 15 + ["上城区"] * 15 + ["滨江区"] * 5 + ["萧山区"] * 5


SURNAMES = "张王李赵刘陈杨黄"
GIVEN = ["伟", "芳", "秀英", "建国", "丽"]


def _resident_id(k: int) -> str:
    stem = f"330106{1960 + k:04d}0{1 + k % 9}1{k % 10}{101 + k:03d}"
    return stem + ric.calc_check_digit(stem + "0")  # it reads all but the last character


PEOPLE = [
    (SURNAMES[k % 8] + GIVEN[k // 8], _resident_id(k), f"139{k:08d}", DISTRICTS[k], 100 + k)
    for k in range(40)
]
CSV = "姓名,身份证号,手机号,区县,金额\n" + "".join(
    f"{n},{i},{p},{d},{a}\n" for n, i, p, d, a in PEOPLE
)
ALL_COLUMNS = ["姓名", "身份证号", "手机号", "区县", "金额"]


@dataclass
class RosterWorld:
    """A module's shared minimal world on one store: saved bare, and with the roster."""

    shared: SharedWorld
    bare: Saved
    with_roster: Saved
    resource_id: int


@pytest.fixture(scope="module")
def _roster_worlds(
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[dict[str, RosterWorld]]:
    built: dict[str, RosterWorld] = {}
    yield built
    for roster in built.values():
        roster.shared.close()


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    backend: str,
    _roster_worlds: dict[str, RosterWorld],
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> World:
    """The minimal world, with the roster registered if the test asks for ``resource_id``.

    Registering the roster (ingestion, profiling, PII detection) cost more than
    most tests here; it is done once per module and store, and each test
    starts from a restored copy of that state, as fresh as its own world.
    """
    if backend not in _roster_worlds:
        shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
        bare = shared.save()
        rid = register_roster(shared.world, tmp_path_factory.mktemp("roster"))
        _roster_worlds[backend] = RosterWorld(shared, bare, shared.save(), rid)
    roster = _roster_worlds[backend]
    roster.shared.restore(
        roster.with_roster if "resource_id" in request.fixturenames else roster.bare
    )
    return roster.shared.world


@pytest.fixture
def resource_id(
    backend: str, world: World, _roster_worlds: dict[str, RosterWorld], tmp_path: Path
) -> int:
    """The roster's id; its source file is in ``tmp_path`` as ``people.csv``, as registered."""
    (tmp_path / "people.csv").write_text(CSV, encoding="utf-8")
    return _roster_worlds[backend].resource_id


def register_roster(world: World, folder: Path) -> int:
    """The relief roster, registered by the department's steward with its grade confirmed."""
    file = folder / "people.csv"
    file.write_text(CSV, encoding="utf-8")
    steward = world.principal("department.data_steward")
    rid = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": "救助对象名册", "name_en": "Relief roster"}),
        file=file,
    ).value.id
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=steward,
            resource_id=rid,
            decision=GradeDecisionIn(decision="confirm"),
        )
    return rid


def _grant(
    world: World,
    resource_id: int,
    *,
    mode: str = "masked_records",
    columns: list[str] | None = None,
    queries_allowed: int = 100,
    epsilon: float | None = None,
) -> int:
    body: dict[str, Any] = {
        "scenario": "救助资格核验 / verify relief eligibility",
        "purpose": "public_service",
        "resources": [{"resource_id": resource_id, "columns": columns or ALL_COLUMNS}],
        "output": {"mode": mode, **({"k": 10} if mode == "k_anonymous" else {})},
        "duration_days": 30,
        "expected_queries": queries_allowed,
    }
    if epsilon is not None:
        body["epsilon"] = epsilon
    with world.platform.db.write() as session:
        application_id = applications.submit_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            data=ApplicationCreate.model_validate(body),
        ).value.id
    for reviewer in ("department.reviewer", "regulator.reviewer"):
        with world.platform.db.write() as session:
            applications.review_application(
                session=session,
                actor=world.principal(reviewer),
                application_id=application_id,
                decision="approve",
                reason="材料齐全 / documents complete",
            )
    with world.platform.db.read() as session:
        found = session.scalar(select(Grant.id).where(Grant.application_id == application_id))
    assert found is not None
    return found


def _run(world: World, grant_id: int, sql: str, **options: Any) -> QueryResult:
    return queries.run_query(
        db=world.platform.db,
        home=world.platform.settings.home,
        secret=world.platform.secret,
        actor=world.principal(options.pop("as_", "enterprise.analyst")),
        grant_id=grant_id,
        sql=sql,
        **options,
    ).value


def _grant_row(world: World, grant_id: int) -> Grant:
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        session.expunge(grant)
        return grant


def _refused(world: World, grant_id: int, sql: str, **options: Any) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as caught:
        _run(world, grant_id, sql, **options)
    return caught.value


def test_masked_records_are_masked_counted_and_logged(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    answer = _run(world, grant_id, "SELECT 身份证号, 手机号, 金额 FROM relief_roster ORDER BY 金额")
    assert [c["name"] for c in answer.columns] == ["身份证号", "手机号", "金额"]
    assert len(answer.rows) == 40
    first_id, first_phone, _ = answer.rows[0]
    assert first_id != PEOPLE[0][1]
    assert len(first_id) == 32
    assert first_phone == "139****0000"
    raw = {v for person in PEOPLE for v in person[:3]}
    assert not raw & {v for row in answer.rows for v in row}
    assert answer.queries_left == 99

    with world.platform.db.read() as session:
        row = session.get(GrantQuery, answer.query.id)
        assert row is not None
        assert row.status == "executed"
        event = session.scalar(select(Event).where(Event.seq == answer.query.log_index))
        assert event is not None
        assert event.type == EventType.QUERY_EXECUTED.value
        payload = event.payload
        assert session.get(Grant, grant_id).queries_used == 1  # type: ignore[union-attr]
    assert payload["sql_sha256"] == answer.query.sql_sha256
    assert payload["result_sha256"] == answer.query.result_sha256
    assert payload["columns"] == {"relief_roster": ["手机号", "身份证号", "金额"]}
    assert payload["rows_scanned"] == 40
    assert payload["grant_id"] == grant_id


def test_a_raw_identifier_in_a_predicate_matches_nothing(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    answer = _run(
        world, grant_id, f"SELECT 金额 FROM relief_roster WHERE 身份证号 = '{PEOPLE[3][1]}'"
    )
    assert answer.rows == []


def test_an_ungranted_column_is_refused_and_the_refusal_logged(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id, columns=["区县", "金额"])
    error = _refused(world, grant_id, "SELECT 姓名 FROM relief_roster")
    assert "姓名" in str(error)
    assert "not granted" in str(error)
    with world.platform.db.read() as session:
        row = session.scalar(select(GrantQuery).where(GrantQuery.grant_id == grant_id))
        assert row is not None
        assert row.status == "refused"
        assert row.rule
        event = session.scalar(select(Event).where(Event.seq == row.log_index))
        assert event is not None
        assert event.type == EventType.QUERY_REFUSED.value
        assert session.get(Grant, grant_id).queries_used == 0  # type: ignore[union-attr]


def test_aggregates_suppress_groups_of_few_people(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    answer = _run(
        world, grant_id, "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县 ORDER BY 区县"
    )
    assert sorted(answer.rows) == [["上城区", 15], ["西湖区", 15]]
    error = _refused(world, grant_id, "SELECT 区县, 金额 FROM relief_roster")
    assert error.details["rule"]


def test_errors_are_generic_and_name_no_value(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    # Under masked records a cast cannot fail on a value (it becomes TRY_CAST) ...
    answer = _run(world, grant_id, "SELECT CAST(区县 AS INTEGER) AS n FROM relief_roster")
    assert {row[0] for row in answer.rows} == {None}
    # ... and what still fails says nothing but "the query failed".
    with pytest.raises(QueryFailed) as caught:
        _run(world, grant_id, "SELECT 区县 FROM relief_roster WHERE 区县 > 1")
    assert caught.value.message == queries.FAILED_MESSAGE
    assert caught.value.details == {}
    assert _grant_row(world, grant_id).queries_used == 2


def test_the_query_count_runs_out(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, queries_allowed=2)
    for _ in range(2):
        _run(world, grant_id, "SELECT 金额 FROM relief_roster LIMIT 1")
    assert _refused(world, grant_id, "SELECT 金额 FROM relief_roster").details["rule"] == (
        "grant.count"
    )


def test_the_privacy_budget_runs_out(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="dp_aggregates", columns=["区县"], epsilon=1.0)
    sql = "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县"
    first = _run(world, grant_id, sql, epsilon=0.6)
    assert first.query.epsilon == pytest.approx(0.6)
    assert first.epsilon_left == pytest.approx(0.4)
    assert _refused(world, grant_id, sql, epsilon=0.6).details["rule"] == "grant.budget"
    assert float(_grant_row(world, grant_id).epsilon_spent) == pytest.approx(0.6)
    _run(world, grant_id, sql, epsilon=0.4)
    assert float(_grant_row(world, grant_id).epsilon_spent) == pytest.approx(1.0)


def test_an_expired_grant_answers_nothing(
    world: World, resource_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_id = _grant(world, resource_id)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    monkeypatch.setattr(queries, "utcnow", lambda: later)
    error = _refused(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert error.details["rule"] == "grant.expired"


def _set_status(world: World, grant_id: int, decision: str) -> None:
    with world.platform.db.write() as session:
        grants.set_grant_status(
            session=session,
            actor=world.principal("department.reviewer"),
            grant_id=grant_id,
            decision=decision,
            reason="监督检查 / inspection",
        )


def test_suspension_stops_queries_and_reinstatement_resumes_them(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id)
    _set_status(world, grant_id, "suspend")
    error = _refused(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert error.details["rule"] == "grant.suspended"
    _set_status(world, grant_id, "reinstate")
    assert _run(world, grant_id, "SELECT 金额 FROM relief_roster LIMIT 1").rows


class _RevokingEngine(DuckDBEngine):
    """Runs the query, and the holder revokes the grant while it runs."""

    def __init__(self, world: World, grant_id: int) -> None:
        super().__init__(pseudonym_key=queries.pseudonym_key(world.platform.secret))
        self.world, self.grant_id = world, grant_id

    def execute(self, plan: Plan, *, budget: Any = None) -> Result:
        result = super().execute(plan, budget=budget)
        _set_status(self.world, self.grant_id, "revoke")
        return result


def test_a_revocation_stops_a_query_in_flight(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    with pytest.raises(QueryFailed):
        _run(
            world,
            grant_id,
            "SELECT 金额 FROM relief_roster",
            engine=_RevokingEngine(world, grant_id),
        )
    with world.platform.db.read() as session:
        # Charged before it ran, and the charge stands; the result never left.
        assert session.get(Grant, grant_id).queries_used == 1  # type: ignore[union-attr]
        executed = session.scalar(select(Event).where(Event.type == EventType.QUERY_EXECUTED.value))
        assert executed is None
        failed = session.scalar(select(Event).where(Event.type == EventType.QUERY_FAILED.value))
        assert failed is not None


def test_a_grade_under_review_pauses_queries(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    with world.platform.db.write() as session:
        resource = session.get(Resource, resource_id)
        assert resource is not None
        resource.grade_status = "proposed"
    error = _refused(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert error.details["rule"] == "resource.grade_unconfirmed"


def test_only_the_grantee_queries(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    with pytest.raises(Forbidden):
        _run(world, grant_id, "SELECT 金额 FROM relief_roster", as_="department.analyst")


def test_query_log_and_receipt_proof(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    answer = _run(world, grant_id, "SELECT 金额 FROM relief_roster LIMIT 3")
    with world.platform.db.read() as session:
        listed = queries.list_queries(
            session=session, actor=world.principal("department.auditor"), grant_id=grant_id
        )
    assert [q.id for q in listed] == [answer.query.id]
    world.platform.checkpoint()
    from datacompact.ledger.log import checkpoints

    with world.platform.db.read() as session:
        proof = checkpoints.covering_receipt(
            session, index=answer.query.log_index or 0, policy=None
        )
    assert proof is not None
    assert proof["index"] == answer.query.log_index


def test_the_regulator_sees_near_duplicate_queries(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    base = "SELECT 区县, count(*) AS n FROM relief_roster WHERE 金额 > 100 GROUP BY 区县"
    _run(world, grant_id, base)
    _run(world, grant_id, base.replace("WHERE 金额 > 100", "WHERE 金额 > 100 AND 金额 <> 117"))
    _run(world, grant_id, "SELECT count(*) AS n FROM relief_roster")
    with world.platform.db.read() as session:
        found = queries.find_overlaps(session=session, actor=world.principal("regulator.auditor"))
        with pytest.raises(Forbidden):
            queries.find_overlaps(session=session, actor=world.principal("enterprise.admin"))
    assert [(f.kind, f.grant_ids, f.columns) for f in found] == [
        ("predicate_difference", [grant_id], ["金额"])
    ]
    assert "117" not in found[0].reason


def test_a_k_anonymous_grant_releases_a_k_anonymous_extract(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="k_anonymous")
    answer = _run(world, grant_id, "SELECT 区县, 金额 FROM relief_roster")
    classes: dict[tuple[str, str], int] = {}
    for row in answer.rows:
        classes[tuple(row)] = classes.get(tuple(row), 0) + 1
    assert classes
    assert min(classes.values()) >= 10
    assert len(answer.rows) >= 38  # at most 5 % suppressed
    assert not {str(p[4]) for p in PEOPLE} & {row[1] for row in answer.rows}  # amounts generalized
    error = _refused(world, grant_id, "SELECT 身份证号, 区县 FROM relief_roster")
    assert error.details["rule"] == "k_anonymous.identifier"
    # A LIMIT picks rows by position, which is a fact about the other rows.
    error = _refused(world, grant_id, "SELECT 区县 FROM relief_roster LIMIT 3")
    assert error.details["rule"] == "k_anonymous.row_level"


def test_a_k_anonymous_grant_takes_row_level_sql_only(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id, mode="k_anonymous")
    for sql in (
        # One person's exact amount on every row would be trivially k-anonymous.
        "SELECT 区县, (SELECT max(金额) FROM relief_roster WHERE 区县 = '萧山区') AS v "
        "FROM relief_roster",
        "SELECT 区县, max(金额) OVER () AS v FROM relief_roster",
        "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县",
        "SELECT DISTINCT 区县 FROM relief_roster",
        "WITH t AS (SELECT 区县 FROM relief_roster) SELECT 区县 FROM t",
    ):
        assert _refused(world, grant_id, sql).details["rule"] == "k_anonymous.row_level", sql
    error = _refused(world, grant_id, "SELECT 手机号, 区县 FROM relief_roster")
    assert error.details["rule"] == "k_anonymous.identifier"
    # Predicates select rows of the stored release by their generalized labels.
    everything = _run(world, grant_id, "SELECT 区县, 金额 FROM relief_roster")
    labelled = _run(
        world,
        grant_id,
        "SELECT 区县, CASE WHEN 金额 >= '[120' THEN 'high' ELSE 'low' END AS v FROM relief_roster",
    )
    assert len(labelled.rows) == len(everything.rows)


def test_refusals_before_the_query_runs_are_logged_too(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    _set_status(world, grant_id, "suspend")
    _refused(world, grant_id, "SELECT 金额 FROM relief_roster")
    with world.platform.db.read() as session:
        row = session.scalar(select(GrantQuery).where(GrantQuery.grant_id == grant_id))
    assert row is not None
    assert (row.status, row.rule) == ("refused", "grant.suspended")


class _RegradingEngine(DuckDBEngine):
    """Runs the query while a data steward puts the resource's grade under review."""

    def __init__(self, world: World, resource_id: int) -> None:
        super().__init__(pseudonym_key=queries.pseudonym_key(world.platform.secret))
        self.world, self.resource_id = world, resource_id

    def execute(self, plan: Plan, *, budget: Any = None) -> Result:
        result = super().execute(plan, budget=budget)
        with self.world.platform.db.write() as session:
            resource = session.get(Resource, self.resource_id)
            assert resource is not None
            resource.grade_status = "proposed"
        return result


def test_a_grade_put_under_review_stops_a_query_in_flight(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    engine = _RegradingEngine(world, resource_id)
    with pytest.raises(QueryFailed):
        _run(world, grant_id, "SELECT 金额 FROM relief_roster", engine=engine)
    # Run again, the query meets the grade under review itself, at analysis.
    error = _refused(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert error.details["rule"] == "resource.grade_unconfirmed"
    assert _grant_row(world, grant_id).queries_used == 1

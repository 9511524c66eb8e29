"""Multi-holder scenarios and joint governed SQL, in the store, on both backends.

A bank (``enterprise``) applies for one scenario joining the department's
relief roster with another enterprise's loan ledger. Each holder approves its
part, one grant with one ODRL permission per resource is issued, and queries
under it join the two on keyed pseudonyms of the resident ID. Entity
thresholds count distinct people on each side of the join, so one person's
many loans (fan-out) cannot lift a group past the threshold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft201909Validator
from pydantic import ValidationError
from referencing import Registry
from referencing import Resource as SchemaResource
from sqlalchemy import select

from datacompact.catalog import export, resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutOfTurn,
    PolicyViolation,
    QueryFailed,
)
from datacompact.events import EventType
from datacompact.fusion.psi import open_psi
from datacompact.permissions import Principal
from datacompact.policy import applications, grants, queries
from datacompact.policy.agreement import agreement_parts
from datacompact.policy.schemas import ApplicationAmend, ApplicationCreate, QueryResult
from datacompact.sandbox import DuckDBEngine, Result
from datacompact.sandbox.plan import Plan
from datacompact.store.models import Event, Grant, GrantQuery

from ..api.conftest import last_seq
from ..conftest import PgServer, Saved, SharedWorld, Template, World, shared_world
from .test_queries import ALL_COLUMNS, CSV, PEOPLE

SCHEMA_PATH = (
    Path(__file__).parents[1] / "fixtures" / "standards" / "dsp-2025-1" / "contract-schema.json"
)
# Loans of people 0..29 (西湖区 0-14, 上城区 15-29), one each, at branch 城东;
# person 3 has 12 more at 城西; person 35 (萧山区, a district of 5) has 40.
LOANS = (
    [(PEOPLE[k][1], 1000 + k, "城东") for k in range(30)]
    + [(PEOPLE[3][1], 50, "城西")] * 12
    + [(PEOPLE[35][1], 10, "城东")] * 40
)
LOAN_CSV = "身份证号,贷款金额,网点\n" + "".join(f"{i},{a},{b}\n" for i, a, b in LOANS)
JOIN = "FROM relief_roster r JOIN loan_ledger l ON r.身份证号 = l.身份证号"


@dataclass
class JointWorld:
    shared: SharedWorld
    saved: Saved
    roster: int
    loans: int


@pytest.fixture(scope="module")
def _joint_worlds() -> Iterator[dict[str, JointWorld]]:
    built: dict[str, JointWorld] = {}
    yield built
    for joint in built.values():
        joint.shared.close()


def _register(world: World, holder: str, folder: Path, name: str, name_en: str, csv: str) -> int:
    file = folder / f"{name_en.replace(' ', '_')}.csv"
    file.write_text(csv, encoding="utf-8")
    steward = world.principal(f"{holder}.data_steward")
    rid = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": name, "name_en": name_en}),
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


@pytest.fixture
def joint(
    backend: str,
    _joint_worlds: dict[str, JointWorld],
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> JointWorld:
    if backend not in _joint_worlds:
        shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
        folder = tmp_path_factory.mktemp("joint")
        roster = _register(shared.world, "department", folder, "救助对象名册", "Relief roster", CSV)
        loans = _register(shared.world, "enterprise2", folder, "贷款台账", "Loan ledger", LOAN_CSV)
        _joint_worlds[backend] = JointWorld(shared, shared.save(), roster, loans)
    found = _joint_worlds[backend]
    found.shared.restore(found.saved)
    return found


def _body(j: JointWorld, mode: str = "aggregates", **extra: Any) -> dict[str, Any]:
    return {
        "scenario": "信贷风险与救助核验 / credit risk checked against relief",
        "purpose": "public_service",
        "resources": [
            {"resource_id": j.roster, "columns": ALL_COLUMNS},
            {"resource_id": j.loans, "columns": ["身份证号", "贷款金额", "网点"]},
        ],
        "output": {"mode": mode},
        "duration_days": 30,
        "expected_queries": 100,
        "joint": True,
        **extra,
    }


def _apply(world: World, body: dict[str, Any], as_: str = "enterprise.analyst") -> int:
    with world.platform.db.write() as session:
        return applications.submit_application(
            session=session, actor=world.principal(as_), data=ApplicationCreate.model_validate(body)
        ).value.id


def _decide(world: World, application_id: int, reviewer: str) -> str:
    with world.platform.db.write() as session:
        return applications.review_application(
            session=session,
            actor=world.principal(reviewer),
            application_id=application_id,
            decision="approve",
            reason="同意 / agreed",
        ).value.status


def _joint_grant(j: JointWorld, mode: str = "aggregates") -> int:
    world = j.shared.world
    application_id = _apply(world, _body(j, mode))
    for reviewer in ("department.reviewer", "enterprise2.reviewer", "regulator.reviewer"):
        _decide(world, application_id, reviewer)
    with world.platform.db.read() as session:
        ids = session.scalars(select(Grant.id).where(Grant.application_id == application_id)).all()
    assert len(ids) == 1
    return ids[0]


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


def _set_status(world: World, grant_id: int, decision: str, by: str) -> None:
    with world.platform.db.write() as session:
        grants.set_grant_status(
            session=session,
            actor=world.principal(by),
            grant_id=grant_id,
            decision=decision,
            reason="测试 / test",
        )


def _validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], SchemaResource.from_contents(schema)
    )
    return Draft201909Validator(
        {"$ref": f"{schema['$id']}#/definitions/Agreement"}, registry=registry
    )


def test_each_holder_approves_its_part_and_one_agreement_is_issued(joint: JointWorld) -> None:
    world = joint.shared.world
    application_id = _apply(world, _body(joint))
    with world.platform.db.read() as session:
        found = applications.get_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            application_id=application_id,
        )
    assert found.joint is True
    # Both holders review first (the mode's order), then the regulator.
    assert {s["party"] for s in found.reviewers} == {"holder", "regulator"}
    with pytest.raises(OutOfTurn):  # the holders have not decided yet
        _decide(world, application_id, "regulator.reviewer")
    assert _decide(world, application_id, "enterprise2.reviewer") == "pending"
    assert _decide(world, application_id, "department.reviewer") == "pending"
    assert _decide(world, application_id, "regulator.reviewer") == "approved"
    with world.platform.db.read() as session:
        (grant,) = session.scalars(select(Grant).where(Grant.application_id == application_id))
        agreement = grant.agreement
        issued = session.scalar(
            select(Event).where(
                Event.type == EventType.GRANT_ISSUED.value, Event.object_id == str(grant.id)
            )
        )
        assert issued is not None
        assert issued.payload["resources"] == [joint.roster, joint.loans]
        public = {
            who: grants.get_grant(session=session, actor=world.principal(who), grant_id=grant.id)
            for who in ("enterprise.analyst", "department.admin", "enterprise2.admin")
        }
    assert [e.message for e in _validator().iter_errors(agreement)] == []
    assert len(agreement["permission"]) == 2
    parts = agreement_parts(json.loads(json.dumps(agreement)))
    assert [p.target.rsplit(":", 1)[1] for p in parts] == [
        p["target"].rsplit(":", 1)[1] for p in agreement["permission"]
    ]
    assert {p.assigner for p in parts} == {
        agreement["permission"][0]["assigner"],
        agreement["permission"][1]["assigner"],
    }
    view = public["enterprise2.admin"]
    assert [p.table for p in view.parts] == ["relief_roster", "loan_ledger"]
    assert view.parts[1].column_constraints["身份证号"] == "join_only"


def test_single_resource_applications_still_issue_one_grant_per_resource(
    joint: JointWorld,
) -> None:
    world = joint.shared.world
    body = _body(joint)
    del body["joint"]
    application_id = _apply(world, body)
    for reviewer in ("department.reviewer", "enterprise2.reviewer", "regulator.reviewer"):
        _decide(world, application_id, reviewer)
    with world.platform.db.read() as session:
        issued = session.scalars(select(Grant).where(Grant.application_id == application_id)).all()
        assert [g.resource_id for g in issued] == [joint.roster, joint.loans]
        assert all(not g.parts and len(g.agreement["permission"]) == 1 for g in issued)


def test_a_joint_application_needs_two_resources(joint: JointWorld) -> None:
    body = _body(joint)
    body["resources"] = body["resources"][:1]
    with pytest.raises(InvalidInput):
        _apply(joint.shared.world, body)
    # No k-anonymous part: such a release is never joined in SQL.
    anonymous = _body(joint)
    anonymous["resources"][1]["output"] = {"mode": "k_anonymous", "k": 10}
    with pytest.raises(InvalidInput):
        _apply(joint.shared.world, anonymous)
    with joint.shared.world.platform.db.read() as session:
        assert not session.scalars(select(Grant)).all()


def test_a_join_counts_distinct_people_on_each_side_so_fan_out_cannot_lift_a_group(
    joint: JointWorld,
) -> None:
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    answer = _run(
        world,
        grant_id,
        f"SELECT r.区县, COUNT(*) AS n, SUM(l.贷款金额) AS total {JOIN} GROUP BY r.区县 ORDER BY r.区县",
    )
    rows = {r[0]: r[1:] for r in answer.rows}
    # 萧山区 has 40 joined rows but one person: suppressed.
    assert set(rows) == {"上城区", "西湖区"}
    assert rows["西湖区"][0] == 15 + 12
    assert rows["上城区"] == [15, sum(1000 + k for k in range(15, 30))]
    # One person isolated by the other side's attribute stays suppressed, however many rows.
    assert (
        _run(
            world,
            grant_id,
            f"SELECT r.区县, COUNT(*) AS n {JOIN} WHERE l.网点 = '城西' GROUP BY r.区县",
        ).rows
        == []
    )
    # The one person of 萧山区 with loans: suppressed, however the other side is filtered.
    assert _run(world, grant_id, f"SELECT COUNT(*) AS n {JOIN} WHERE r.区县 = '萧山区'").rows == []


def test_differencing_across_the_two_sides_of_a_join_is_flagged(joint: JointWorld) -> None:
    """Two counts that differ by one person through the *other* table's predicate.

    Both pass the thresholds (14 and 15 people), so the regulator's overlap
    audit, which compares the queries' canonical forms across the join, is
    what catches the pair.
    """
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    base = f"SELECT r.区县, COUNT(*) AS n {JOIN} WHERE l.网点 = '城东' AND r.区县 = '上城区'"
    first = _run(world, grant_id, f"{base} GROUP BY r.区县")
    second = _run(world, grant_id, f"{base} AND l.贷款金额 <> 1029 GROUP BY r.区县")
    assert first.rows == [["上城区", 15]]
    assert second.rows == [["上城区", 14]]
    with world.platform.db.read() as session:
        found = queries.find_overlaps(session=session, actor=world.principal("regulator.auditor"))
    pairs = {(f.first_query_id, f.second_query_id) for f in found}
    assert (first.query.id, second.query.id) in pairs


def test_the_receipt_names_every_input_resource_and_version(joint: JointWorld) -> None:
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    answer = _run(world, grant_id, f"SELECT r.区县, COUNT(*) AS n {JOIN} GROUP BY r.区县")
    assert answer.query.inputs is not None
    assert [(i["resource_id"], i["version"], i["table"]) for i in answer.query.inputs] == [
        (joint.roster, 1, "relief_roster"),
        (joint.loans, 1, "loan_ledger"),
    ]
    with world.platform.db.read() as session:
        event = session.scalar(select(Event).where(Event.seq == answer.query.log_index))
        assert event is not None
        assert event.type == EventType.QUERY_EXECUTED.value
        assert event.payload["inputs"] == answer.query.inputs
        assert event.payload["columns"] == {
            "loan_ledger": ["身份证号"],
            "relief_roster": ["区县", "身份证号"],
        }


def test_join_keys_are_pseudonyms_that_link_within_a_grant_only(joint: JointWorld) -> None:
    world = joint.shared.world
    first, second = _joint_grant(joint, "masked_records"), _joint_grant(joint, "masked_records")
    sql = f"SELECT r.身份证号 AS a, l.身份证号 AS b {JOIN} WHERE l.网点 = '城东' ORDER BY r.金额"
    one, two = _run(world, first, sql), _run(world, second, sql)
    assert len(one.rows) == 30 + 40
    assert all(a == b and len(a) == 32 for a, b in one.rows)
    raw = {p[1] for p in PEOPLE}
    assert not raw & {v for row in one.rows for v in row}
    # The same people under another grant: no pseudonym matches.
    assert not {r[0] for r in one.rows} & {r[0] for r in two.rows}
    # A raw identifier in a predicate matches nothing on either side.
    assert (
        _run(world, first, f"SELECT l.贷款金额 {JOIN} WHERE l.身份证号 = '{PEOPLE[0][1]}'").rows
        == []
    )


def test_a_table_outside_the_grant_is_refused(joint: JointWorld) -> None:
    world = joint.shared.world
    body = _body(joint)
    body["resources"] = body["resources"][1:]
    del body["joint"]
    application_id = _apply(world, body)
    for reviewer in ("enterprise2.reviewer", "regulator.reviewer"):
        _decide(world, application_id, reviewer)
    with world.platform.db.read() as session:
        grant_id = session.scalar(select(Grant.id).where(Grant.application_id == application_id))
    assert grant_id is not None
    with pytest.raises(PolicyViolation) as refused:
        _run(world, grant_id, f"SELECT COUNT(*) AS n {JOIN}")
    assert refused.value.details == {"rule": "table_not_granted", "table": "relief_roster"}
    with world.platform.db.read() as session:
        row = session.scalar(select(GrantQuery).where(GrantQuery.grant_id == grant_id))
        assert row is not None
        assert row.status == "refused"


def test_any_holder_suspending_its_part_stops_the_whole_grant(joint: JointWorld) -> None:
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    sql = "SELECT r.区县, COUNT(*) AS n FROM relief_roster r GROUP BY r.区县"
    _set_status(world, grant_id, "suspend", "enterprise2.admin")
    # Even a query reading only the other holder's table stops.
    with pytest.raises(PolicyViolation) as refused:
        _run(world, grant_id, sql)
    assert refused.value.details["rule"] == "grant.suspended"
    # Only the holder that suspended it lifts the suspension.
    with pytest.raises(Forbidden):
        _set_status(world, grant_id, "reinstate", "department.admin")
    _set_status(world, grant_id, "reinstate", "enterprise2.admin")
    assert _run(world, grant_id, sql).rows
    _set_status(world, grant_id, "revoke", "department.admin")
    with pytest.raises(PolicyViolation):
        _run(world, grant_id, sql)
    with pytest.raises(InvalidTransition):
        _set_status(world, grant_id, "reinstate", "department.admin")
    # The grantee never manages its own grant.
    with pytest.raises(Forbidden):
        _set_status(world, grant_id, "suspend", "enterprise.admin")


class _RevokingEngine(DuckDBEngine):
    """Runs the query while one holder of the joint grant revokes it."""

    def __init__(self, world: World, grant_id: int, by: str) -> None:
        super().__init__(pseudonym_key=queries.pseudonym_key(world.platform.secret))
        self.world, self.grant_id, self.by = world, grant_id, by

    def execute(self, plan: Plan, *, budget: Any = None) -> Result:
        result = super().execute(plan, budget=budget)
        _set_status(self.world, self.grant_id, "revoke", self.by)
        return result


def test_a_revocation_by_either_holder_stops_a_joint_query_in_flight(joint: JointWorld) -> None:
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    with pytest.raises(QueryFailed):
        _run(
            world,
            grant_id,
            f"SELECT r.区县, COUNT(*) AS n {JOIN} GROUP BY r.区县",
            engine=_RevokingEngine(world, grant_id, "enterprise2.admin"),
        )
    with world.platform.db.read() as session:
        row = session.scalar(select(GrantQuery).where(GrantQuery.grant_id == grant_id))
        assert row is not None
        assert row.status == "failed"
        grant = session.get(Grant, grant_id)
        assert grant is not None
        assert grant.queries_used == 1
        assert grant.status == "revoked"


# The bank's own applicants: people 0..19 of the roster and 10 strangers, private to it.
STRANGERS = [f"11010119800101{k:03d}" for k in range(10)]
OWN_CSV = "身份证号,申请编号,申请档次\n" + "".join(
    f"{i},A{n:04d},{'高' if n % 2 else '低'}\n"
    for n, i in enumerate([PEOPLE[k][1] for k in range(20)] + STRANGERS)
)


def _own(j: JointWorld) -> int:
    world = j.shared.world
    file = world.platform.settings.home / "own.csv"
    file.write_text(OWN_CSV, encoding="utf-8")
    steward = world.principal("enterprise.data_steward")
    rid = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate(
            {"name": "本行贷款申请人", "name_en": "My applicants", "private": True}
        ),
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


def test_a_private_resource_is_seen_by_its_holder_only(joint: JointWorld) -> None:
    world = joint.shared.world
    own = _own(joint)
    with world.platform.db.read() as session:
        mine = resources.get_resource(
            session=session, actor=world.principal("enterprise.analyst"), resource_id=own
        )
        # Scanned and graded like any other resource.
        assert mine.private
        assert mine.personal
        assert mine.grade is not None
        assert mine.latest is not None
        for who in ("department.analyst", "enterprise2.admin", "regulator.admin"):
            with pytest.raises(NotFound):
                resources.get_resource(session=session, actor=world.principal(who), resource_id=own)
            found = resources.search_resources(session=session, actor=world.principal(who))
            assert own not in {r.id for r in found}
        assert own in {
            r.id
            for r in resources.search_resources(
                session=session, actor=world.principal("enterprise.analyst")
            )
        }
        # Never in the DCAT export of anyone else, nor in the published one.
        sizes = {
            who: len(
                export.build_catalog(
                    session=session,
                    actor=world.principal(who)
                    if who
                    else Principal.anonymous(world.platform.settings.governance_mode),
                    base_url="https://example.org",
                ).datasets
            )
            for who in ("enterprise.analyst", "department.analyst", "")
        }
        assert sizes["enterprise.analyst"] == sizes["department.analyst"] + 1
        assert sizes[""] == 2
    with pytest.raises(ValidationError):
        ResourceBase.model_validate({"name": "x", "private": True, "open_type": "open"})


def test_another_participant_naming_my_private_resource_finds_nothing(joint: JointWorld) -> None:
    world = joint.shared.world
    own = _own(joint)
    body = _body(joint)
    body["resources"] = [
        {"resource_id": own, "columns": ["身份证号"]},
        {"resource_id": joint.roster, "columns": ["身份证号", "区县"]},
    ]
    with pytest.raises(NotFound) as missing:
        _apply(world, body, as_="enterprise2.analyst")
    # The same answer as for an id that does not exist.
    with pytest.raises(NotFound) as unknown:
        _apply(
            world,
            body | {"resources": [{"resource_id": 999, "columns": ["x"]}, body["resources"][1]]},
            as_="enterprise2.analyst",
        )
    assert missing.value.message == unknown.value.message
    # Its holder uses it only joined with another holder's data.
    alone = _body(joint) | {"resources": [body["resources"][0]]}
    del alone["joint"]
    with pytest.raises(InvalidInput):
        _apply(world, alone)


def test_joining_my_own_data_with_a_holders_is_refused(joint: JointWorld) -> None:
    """My own table decides how many rows each person has, so SUM or AVG over the join
    could single out one person past the threshold, and my copy of the identity column
    would map the grant's pseudonyms back to people: refused until joins bound each
    entity's rows on every side."""
    world = joint.shared.world
    own = _own(joint)
    body = _body(joint)
    body["resources"] = [
        {"resource_id": joint.roster, "columns": ["身份证号", "区县", "金额"]},
        {
            "resource_id": own,
            "columns": ["身份证号", "申请编号", "申请档次"],
            "output": {"mode": "masked_records"},
        },
    ]
    before = last_seq(world.platform)
    with pytest.raises(PolicyViolation) as refused:
        _apply(world, body)
    assert refused.value.details["rule"] == "joint.own_data"
    assert last_seq(world.platform) == before


def test_an_application_sent_back_is_amended_into_a_joint_one(joint: JointWorld) -> None:
    world = joint.shared.world
    body = _body(joint)
    del body["joint"]
    application_id = _apply(world, body)
    with world.platform.db.write() as session:
        applications.review_application(
            session=session,
            actor=world.principal("department.reviewer"),
            application_id=application_id,
            decision="request_changes",
            reason="请合并为一个联合授权 / make it one joint grant",
        )
    with world.platform.db.write() as session:
        amended = applications.amend_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            application_id=application_id,
            data=ApplicationAmend(note="联合 / joint", joint=True),
        ).value
        kept = applications.list_revisions(
            session=session,
            actor=world.principal("enterprise.analyst"),
            application_id=application_id,
        )
    assert amended.joint is True
    assert amended.revision == 2
    assert "joint" not in kept[0].content
    for reviewer in ("department.reviewer", "enterprise2.reviewer", "regulator.reviewer"):
        _decide(world, application_id, reviewer)
    with world.platform.db.read() as session:
        (grant,) = session.scalars(select(Grant).where(Grant.application_id == application_id))
        assert [p.resource_id for p in grant.parts] == [joint.roster, joint.loans]


def test_a_private_set_intersection_is_refused_under_a_joint_grant(joint: JointWorld) -> None:
    """A PSI run matches one holder's column; a joint grant joins inside the sandbox instead."""
    world = joint.shared.world
    grant_id = _joint_grant(joint)
    with pytest.raises(PolicyViolation) as caught:
        open_psi(
            db=world.platform.db,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal("enterprise.analyst"),
            grant_id=grant_id,
            mode="cardinality",
            key_column="身份证号",
            key_kind="resident_id",
            declared_size=10,
        )
    assert caught.value.details["rule"] == "psi.joint_grant"

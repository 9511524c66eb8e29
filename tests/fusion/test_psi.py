"""Private set intersection under grants, in the store, on both backends.

Each run is authorized, charged, logged with its sizes (never a key) and
receipted; the requester learns what its mode releases; bad rounds fail the
run and keep the charge.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from datacompact.errors import Conflict, Forbidden, InvalidInput, MalformedInput, PolicyViolation
from datacompact.events import EventType
from datacompact.fusion import answer_round, exchange_psi, matched_keys, open_psi, requester_keys
from datacompact.fusion.schemas import PsiOpened, PsiResult
from datacompact.policy import applications, grants
from datacompact.policy.schemas import ApplicationCreate
from datacompact.privacy import psi as group
from datacompact.store.models import Event, Grant, PsiRun

from ..conftest import PgServer, Template, World, shared_world
from ..policy.test_queries import ALL_COLUMNS, PEOPLE, RosterWorld, register_roster

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HOLDER_IDS = [person[1] for person in PEOPLE]


def _outsider(k: int) -> str:
    stem = f"110105{1950 + k:04d}1231{k % 10}0{k % 10}"
    return stem + ric.calc_check_digit(stem + "0")


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
    backend: str,
    _roster_worlds: dict[str, RosterWorld],
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> World:
    if backend not in _roster_worlds:
        shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
        bare = shared.save()
        rid = register_roster(shared.world, tmp_path_factory.mktemp("roster"))
        _roster_worlds[backend] = RosterWorld(shared, bare, shared.save(), rid)
    roster = _roster_worlds[backend]
    roster.shared.restore(roster.with_roster)
    return roster.shared.world


@pytest.fixture
def resource_id(backend: str, world: World, _roster_worlds: dict[str, RosterWorld]) -> int:
    return _roster_worlds[backend].resource_id


def psi_grant(
    world: World,
    resource_id: int,
    *,
    mode: str = "masked_records",
    psi_keys: list[str] | None = None,
    queries_allowed: int = 100,
) -> int:
    """A grant on the roster whose agreement allows PSI on the resident ID (unless told)."""
    request: dict[str, Any] = {"resource_id": resource_id, "columns": ALL_COLUMNS}
    request["psi_keys"] = ["身份证号"] if psi_keys is None else psi_keys
    body: dict[str, Any] = {
        "scenario": "信易贷核验 / credit check",
        "purpose": "public_service",
        "resources": [request],
        "output": {"mode": mode},
        "duration_days": 30,
        "expected_queries": queries_allowed,
    }
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


def _open(world: World, grant_id: int, mode: str, size: int, **options: Any) -> PsiOpened:
    return open_psi(
        db=world.platform.db,
        home=world.platform.settings.home,
        secret=world.platform.secret,
        actor=world.principal(options.pop("as_", "enterprise.analyst")),
        grant_id=grant_id,
        mode=mode,
        key_column=options.pop("key_column", "身份证号"),
        key_kind=options.pop("key_kind", "resident_id"),
        declared_size=size,
    ).value


def _exchange(world: World, run_id: int, holder: str, mine: str, **options: Any) -> PsiResult:
    return exchange_psi(
        db=world.platform.db,
        home=world.platform.settings.home,
        secret=world.platform.secret,
        actor=world.principal(options.pop("as_", "enterprise.analyst")),
        run_id=run_id,
        holder_points=holder,
        requester_points=mine,
        **options,
    ).value


def _run(
    world: World, grant_id: int, mode: str, values: list[str], **options: Any
) -> tuple[PsiResult, tuple[str, ...]]:
    keys = requester_keys("resident_id", values)
    opened = _open(world, grant_id, mode, len(keys))
    answer = answer_round(context=opened.context, holder_points=opened.holder_points, keys=keys)
    result = _exchange(
        world, opened.run_id, answer.holder_points, answer.requester_points, **options
    )
    return result, answer.order


def _events(world: World, kind: EventType) -> list[dict[str, Any]]:
    with world.platform.db.read() as session:
        return [e.payload for e in session.scalars(select(Event).where(Event.type == kind.value))]


# Ten of the holder's residents, written in lower case and with spaces, and five outsiders.
SHARED = [HOLDER_IDS[k].lower() for k in range(10)]
MINE = SHARED + [_outsider(k) for k in range(5)]


def test_intersection_for_the_requester_is_charged_logged_and_receipted(
    world: World, resource_id: int
) -> None:
    grant_id = psi_grant(world, resource_id)
    result, order = _run(world, grant_id, "intersection", MINE)
    assert result.result_size == 10
    assert result.requester_size == 15
    assert result.holder_size == 40
    assert matched_keys(order, result.matches or []) == sorted(HOLDER_IDS[:10])
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        assert grant.queries_used == 1
        run = session.scalars(select(PsiRun)).one()
        assert run.status == "executed"
        assert run.state is None
        assert run.result_size == 10
    (executed,) = _events(world, EventType.PSI_EXECUTED)
    assert executed["requester_size"] == 15
    assert executed["holder_size"] == 40
    assert executed["result_size"] == 10
    logged = repr(_events(world, EventType.PSI_OPENED)) + repr(executed)
    assert not any(key in logged or key.lower() in logged for key in HOLDER_IDS)


def test_cardinality_only_releases_the_count(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id)
    result, _ = _run(world, grant_id, "cardinality", MINE)
    assert result.result_size == 10
    assert result.matches is None
    assert not result.withheld


def test_cardinality_below_the_entity_threshold_is_withheld(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id, mode="aggregates")
    result, _ = _run(world, grant_id, "cardinality", SHARED[:3] + MINE[10:])
    assert result.result_size is None
    assert result.withheld
    (executed,) = _events(world, EventType.PSI_EXECUTED)
    assert executed["result_size"] is None
    assert executed["withheld"]


def test_attributes_are_released_under_the_holders_output_mode(
    world: World, resource_id: int
) -> None:
    grant_id = psi_grant(world, resource_id, mode="aggregates")
    # The first 15 residents live in 西湖区, the next 15 in 上城区.
    values = HOLDER_IDS[:12] + HOLDER_IDS[15:17] + MINE[10:]
    result, _ = _run(
        world,
        grant_id,
        "attributes",
        values,
        sql="SELECT 区县, COUNT(*) AS n FROM relief_roster GROUP BY 区县",
    )
    assert result.query is not None
    assert result.result_size == 14
    rows = {tuple(r) for r in result.query.rows}
    # 上城区 has 2 matched residents, under the threshold of 10: suppressed.
    assert rows == {("西湖区", 12)}
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        assert grant.queries_used == 2
    assert not list((world.platform.settings.home / "psi").glob("*.parquet"))


def test_intersection_mode_is_refused_under_an_aggregate_grant(
    world: World, resource_id: int
) -> None:
    grant_id = psi_grant(world, resource_id, mode="aggregates")
    with pytest.raises(PolicyViolation) as caught:
        _open(world, grant_id, "intersection", 10)
    assert caught.value.details["rule"] == "grant.psi_mode"


def test_a_grant_without_psi_keys_refuses(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id, psi_keys=[])
    with pytest.raises(PolicyViolation) as caught:
        _open(world, grant_id, "cardinality", 10)
    assert caught.value.details["rule"] == "grant.psi_key"
    with pytest.raises(PolicyViolation):
        _open(world, psi_grant(world, resource_id), "cardinality", 10, key_column="手机号")


def test_no_grant_or_another_participant_refuses(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id)
    with pytest.raises(Forbidden):
        _open(world, grant_id, "cardinality", 10, as_="enterprise2.analyst")
    from datacompact.errors import NotFound

    with pytest.raises(NotFound):
        _open(world, 999_999, "cardinality", 10)


@pytest.mark.parametrize("decision", ["revoke", "suspend"])
def test_a_revoked_or_suspended_grant_refuses_and_stops_an_open_run(
    world: World, resource_id: int, decision: str
) -> None:
    grant_id = psi_grant(world, resource_id)
    keys = requester_keys("resident_id", MINE)
    opened = _open(world, grant_id, "intersection", len(keys))
    with world.platform.db.write() as session:
        grants.set_grant_status(
            session=session,
            actor=world.principal("department.reviewer"),
            grant_id=grant_id,
            decision=decision,
            reason="核查 / under investigation",
        )
    answer = answer_round(context=opened.context, holder_points=opened.holder_points, keys=keys)
    with pytest.raises(PolicyViolation):
        _exchange(world, opened.run_id, answer.holder_points, answer.requester_points)
    with pytest.raises(PolicyViolation):
        _open(world, grant_id, "intersection", len(keys))
    assert _events(world, EventType.PSI_FAILED)
    assert not _events(world, EventType.PSI_EXECUTED)


def test_a_replayed_round_is_refused(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id)
    keys = requester_keys("resident_id", MINE)
    opened = _open(world, grant_id, "intersection", len(keys))
    answer = answer_round(context=opened.context, holder_points=opened.holder_points, keys=keys)
    _exchange(world, opened.run_id, answer.holder_points, answer.requester_points)
    with pytest.raises(Conflict) as caught:
        _exchange(world, opened.run_id, answer.holder_points, answer.requester_points)
    assert caught.value.details["rule"] == "psi.replayed"


def _opened_round(world: World, resource_id: int) -> tuple[PsiOpened, Any]:
    grant_id = psi_grant(world, resource_id)
    keys = requester_keys("resident_id", MINE)
    opened = _open(world, grant_id, "intersection", len(keys))
    return opened, answer_round(
        context=opened.context, holder_points=opened.holder_points, keys=keys
    )


def test_a_set_larger_than_declared_fails_the_run(world: World, resource_id: int) -> None:
    grant_id = psi_grant(world, resource_id)
    opened = _open(world, grant_id, "intersection", 3)
    keys = requester_keys("resident_id", MINE)
    answer = answer_round(context=opened.context, holder_points=opened.holder_points, keys=keys)
    with pytest.raises(MalformedInput) as caught:
        _exchange(world, opened.run_id, answer.holder_points, answer.requester_points)
    assert caught.value.details["limit"] == 3
    (failed,) = _events(world, EventType.PSI_FAILED)
    assert failed["declared_size"] == 3
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        assert grant.queries_used == 1


def test_duplicate_points_are_refused(world: World, resource_id: int) -> None:
    opened, answer = _opened_round(world, resource_id)
    raw = base64.b64decode(answer.requester_points)
    doubled = base64.b64encode(raw[:32] + raw[:-32]).decode()
    with pytest.raises(InvalidInput) as caught:
        _exchange(world, opened.run_id, answer.holder_points, doubled)
    assert caught.value.details["rule"] == "psi.duplicates"


def test_a_platform_on_another_group_is_refused_by_the_requester(
    world: World, resource_id: int
) -> None:
    grant_id = psi_grant(world, resource_id)
    keys = requester_keys("resident_id", MINE)
    opened = _open(world, grant_id, "intersection", len(keys))
    assert opened.group == group.GROUP == "x25519"
    with pytest.raises(MalformedInput) as caught:
        answer_round(
            context=opened.context,
            holder_points=opened.holder_points,
            keys=keys,
            group_name="ristretto255",
        )
    assert caught.value.details == {"field": "group", "expected": "x25519"}


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff" * 32,  # not a canonical encoding: the top bit set, above p
        (2**255 - 19).to_bytes(32, "little"),  # p: zero, not reduced
        b"\x00" * 32,  # u = 0, of order 2: the identity once blinded
        (1).to_bytes(32, "little"),  # u = 1, of order 4
        (2**255 - 20).to_bytes(32, "little"),  # u = -1, of order 4 on the twist
        b"\x01" * 31,  # not a whole point
    ],
)
def test_points_that_are_no_group_elements_are_refused(
    world: World, resource_id: int, bad: bytes
) -> None:
    opened, answer = _opened_round(world, resource_id)
    raw = base64.b64decode(answer.requester_points)
    spoiled = base64.b64encode(raw[32:] + bad).decode()
    with pytest.raises(MalformedInput) as caught:
        _exchange(world, opened.run_id, answer.holder_points, spoiled)
    assert caught.value.details["field"] == "requester_points"
    assert bad.hex() not in repr(caught.value.details)


def test_holder_points_of_the_wrong_count_or_encoding_are_refused(
    world: World, resource_id: int
) -> None:
    opened, answer = _opened_round(world, resource_id)
    short = base64.b64encode(base64.b64decode(answer.holder_points)[32:]).decode()
    with pytest.raises(MalformedInput):
        _exchange(world, opened.run_id, short, answer.requester_points)
    opened, answer = _opened_round(world, resource_id)
    with pytest.raises(MalformedInput):
        _exchange(world, opened.run_id, "not base64!", answer.requester_points)


def test_malformed_requester_keys_are_refused_with_their_count() -> None:
    with pytest.raises(InvalidInput) as caught:
        requester_keys("resident_id", [*MINE, "110105194912310021", "x"])
    assert caught.value.details["malformed"] == 2
    assert "110105194912310021" not in caught.value.message
    assert len(requester_keys("resident_id", [*MINE, "x"], skip_malformed=True)) == 15


def test_points_of_two_runs_never_match(world: World, resource_id: int) -> None:
    """Domain separation: a requester's points of one run match nothing in another."""
    grant_id = psi_grant(world, resource_id)
    keys = requester_keys("resident_id", MINE)
    first = _open(world, grant_id, "intersection", len(keys))
    second = _open(world, grant_id, "intersection", len(keys))
    one = answer_round(context=first.context, holder_points=first.holder_points, keys=keys)
    two = answer_round(context=second.context, holder_points=second.holder_points, keys=keys)
    assert first.context != second.context
    assert set(group.decode_points(base64.b64decode(first.holder_points), limit=40)).isdisjoint(
        group.decode_points(base64.b64decode(second.holder_points), limit=40)
    )
    result = _exchange(world, second.run_id, two.holder_points, one.requester_points)
    assert result.result_size == 0


def test_attributes_withhold_an_intersection_size_below_the_threshold(
    world: World, resource_id: int
) -> None:
    grant_id = psi_grant(world, resource_id, mode="aggregates")
    result, _ = _run(
        world,
        grant_id,
        "attributes",
        HOLDER_IDS[:4] + MINE[10:],
        sql="SELECT 区县, COUNT(*) AS n FROM relief_roster GROUP BY 区县",
    )
    assert result.result_size is None
    assert result.withheld
    assert result.query is not None
    assert result.query.rows == []


def test_an_application_asks_psi_only_on_requested_columns(world: World, resource_id: int) -> None:
    body = {
        "scenario": "信易贷核验 / credit check",
        "purpose": "public_service",
        "resources": [{"resource_id": resource_id, "columns": ["区县"], "psi_keys": ["身份证号"]}],
        "output": {"mode": "masked_records"},
        "duration_days": 30,
        "expected_queries": 5,
    }
    with pytest.raises(InvalidInput) as caught, world.platform.db.write() as session:
        applications.submit_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            data=ApplicationCreate.model_validate(body),
        )
    assert caught.value.details["field"] == "psi_keys"

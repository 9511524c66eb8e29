"""The life cycle of an application on both backends: turns, amendments, withdrawal, lists, inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.config import GovernanceMode
from datacompact.errors import (
    AlreadyDecided,
    Forbidden,
    InvalidTransition,
    OutOfTurn,
    PolicyViolation,
)
from datacompact.governance import rules_for
from datacompact.oversight import inbox
from datacompact.permissions import Principal, Role
from datacompact.policy import applications
from datacompact.policy._application_view import stage_order
from datacompact.policy.schemas import ApplicationAmend, ApplicationPublic
from datacompact.registry import participants
from datacompact.registry.schemas import Decision, ParticipantKind
from datacompact.store.models import Application, ApplicationRevision, Event, Member

from ..conftest import USCC_ENTERPRISE, USCC_REGULATOR, World, registration, valid_uscc
from ..procurement._helpers import new_project
from .test_applications import ROWS, _apply, _registered

REASON = "材料齐全 / documents complete"


@pytest.fixture
def resource_id(world: World, tmp_path: Path) -> int:
    return _registered(world, tmp_path)


def _decide(world: World, key: str, application_id: int, decision: str = "approve") -> str:
    with world.platform.db.write() as session:
        return applications.review_application(
            session=session,
            actor=world.principal(key),
            application_id=application_id,
            decision=decision,
            reason=REASON,
        ).value.status


def _amend(world: World, key: str, application_id: int, **changes: Any) -> ApplicationPublic:
    data = ApplicationAmend.model_validate({"note": "已按意见修改 / changed as asked", **changes})
    with world.platform.db.write() as session:
        return applications.amend_application(
            session=session, actor=world.principal(key), application_id=application_id, data=data
        ).value


def _withdraw(world: World, key: str, application_id: int) -> str:
    with world.platform.db.write() as session:
        return applications.withdraw_application(
            session=session,
            actor=world.principal(key),
            application_id=application_id,
            reason="场景取消 / scenario cancelled",
        ).value.status


def _show(world: World, application_id: int, key: str = "regulator.auditor") -> ApplicationPublic:
    with world.platform.db.read() as session:
        return applications.get_application(
            session=session, actor=world.principal(key), application_id=application_id
        )


def _events(world: World, application_id: int) -> list[str]:
    with world.platform.db.read() as session:
        return list(
            session.scalars(
                select(Event.type)
                .where(Event.object_type == "application", Event.object_id == str(application_id))
                .order_by(Event.seq)
            )
        )


def _listed(world: World, key: str, **filters: Any) -> list[int]:
    with world.platform.db.read() as session:
        return [
            a.id
            for a in applications.list_applications(
                session=session, actor=world.principal(key), **filters
            )
        ]


def _inbox(world: World, key: str) -> list[tuple[str, int]]:
    with world.platform.db.read() as session:
        page = inbox.inbox(session=session, actor=world.principal(key))
    assert page.total == len(page.items)
    return [(item.kind, item.id) for item in page.items]


def _operator(world: World) -> None:
    """An approved JV platform company: the operator that reviews grants under data_governance."""
    data = registration(
        ParticipantKind.JV_PLATFORM,
        valid_uscc("91330106MA2J00003"),
        "jv.admin",
        shareholders=[
            {"holder_name": "示范数字集团", "holder_uscc": USCC_ENTERPRISE, "stake_percent": "51"},
            {"holder_name": "云栖信息", "holder_uscc": USCC_REGULATOR, "stake_percent": "49"},
        ],
    )
    with world.platform.db.write() as session:
        jv = participants.register_participant(
            session=session,
            actor=Principal.anonymous(world.platform.settings.governance_mode),
            secret=world.platform.secret,
            data=data,
        ).value
        participants.decide_participant(
            session=session,
            actor=world.principal("regulator.admin"),
            participant_id=jv.id,
            decision=Decision.APPROVE,
            reason=REASON,
        )
        world.ids["jv"] = jv.id


# -- the order of approval -------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(GovernanceMode))
def test_the_order_is_the_modes_with_the_holder_first(mode: GovernanceMode) -> None:
    order = stage_order(mode)
    assert order[0] == "holder"
    assert [p for p in order if p != "holder"] == [
        p for p in rules_for(mode).grant_approvers if p != "holder"
    ]


def test_the_regulator_cannot_approve_before_the_holder(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    with pytest.raises(OutOfTurn) as refused:
        _decide(world, "regulator.reviewer", application_id)
    error = refused.value
    assert error.code == "out_of_turn"
    assert error.status == 409
    # zh-CN first, then English, naming the party and the participant whose turn it is.
    zh, en = error.message.split(" / ", 1)
    assert "数据持有方" in zh
    assert "测试department.admin" in zh
    assert "holder" in en
    (turn,) = error.details["awaiting"]
    assert turn["party"] == "holder"
    assert turn["participants"] == [{"id": world.ids["department"], "name": "测试department.admin"}]
    # Nothing was recorded, and it is still the holder's turn.
    assert _events(world, application_id) == ["application.submitted"]
    shown = _show(world, application_id)
    assert [(t.party, t.participants) for t in shown.awaiting] == [
        ("holder", [world.ids["department"]])
    ]
    assert _decide(world, "department.reviewer", application_id) == "pending"
    assert [t.party for t in _show(world, application_id).awaiting] == ["regulator"]
    assert _decide(world, "regulator.reviewer", application_id) == "approved"
    assert _show(world, application_id).awaiting == []


def test_under_data_governance_the_operator_decides_between_holder_and_regulator(
    world: World, resource_id: int
) -> None:
    _operator(world)
    application_id = _apply(world, resource_id)
    assert [s["party"] for s in _show(world, application_id).reviewers] == [
        "holder",
        "operator",
        "regulator",
    ]
    with pytest.raises(OutOfTurn):
        _decide(world, "regulator.admin", application_id)
    assert _decide(world, "department.admin", application_id) == "pending"
    with pytest.raises(OutOfTurn) as refused:
        _decide(world, "regulator.admin", application_id)
    assert [t["party"] for t in refused.value.details["awaiting"]] == ["operator"]
    assert refused.value.details["order"] == ["holder", "operator", "regulator"]
    _decide_as_jv(world, application_id)
    assert _decide(world, "regulator.admin", application_id) == "approved"


def _decide_as_jv(world: World, application_id: int) -> None:
    with world.platform.db.read() as session:
        admin = session.scalars(select(Member).where(Member.username == "jv.admin")).one()
        actor = Principal.member(
            member_id=admin.id,
            participant_id=world.ids["jv"],
            participant_kind="jv_platform",
            roles=frozenset({Role.ADMIN}),
            governance=world.platform.settings.governance_mode,
        )
    with world.platform.db.write() as session:
        applications.review_application(
            session=session,
            actor=actor,
            application_id=application_id,
            decision="approve",
            reason=REASON,
        )


def _held_by_the_regulator(world: World, tmp_path: Path) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    file = tmp_path / "people.csv"
    file.write_text(ROWS, encoding="utf-8")
    steward = world.principal("regulator.data_steward")
    resource_id = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": "监管名录"}),
        file=file,
    ).value.id
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="confirm"),
        )
    return resource_id


def test_a_party_in_two_stages_decides_each_in_its_turn(world: World, tmp_path: Path) -> None:
    resource_id = _held_by_the_regulator(world, tmp_path)
    # Holder and regulator back to back: one approval covers both.
    alone = _apply(world, resource_id)
    assert [s["party"] for s in _show(world, alone).reviewers] == ["holder", "regulator"]
    assert _decide(world, "regulator.reviewer", alone) == "approved"
    # With the operator between them, the regulator's second turn waits for it.
    _operator(world)
    application_id = _apply(world, resource_id)
    assert _decide(world, "regulator.reviewer", application_id) == "pending"
    with pytest.raises(OutOfTurn) as refused:
        _decide(world, "regulator.reviewer", application_id)
    assert [t["party"] for t in refused.value.details["awaiting"]] == ["operator"]
    _decide_as_jv(world, application_id)
    assert _decide(world, "regulator.reviewer", application_id) == "approved"
    with pytest.raises(AlreadyDecided):
        _decide(world, "regulator.reviewer", application_id)


def test_a_repeated_decision_is_already_decided_not_a_stranger(
    world: World, resource_id: int
) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id)
    with pytest.raises(AlreadyDecided) as refused:
        _decide(world, "department.admin", application_id, "reject")
    assert refused.value.code == "already_decided"
    assert refused.value.details["decision"] == "approve"
    assert "已审核" in refused.value.message
    assert "not one of its reviewers" not in refused.value.message
    # The last approver repeating itself once the grant is issued: still "already decided".
    _decide(world, "regulator.reviewer", application_id)
    with pytest.raises(AlreadyDecided):
        _decide(world, "regulator.reviewer", application_id)
    # A stranger is still told it is none of its business.
    with pytest.raises(Forbidden, match="not one of its reviewers"):
        _decide(world, "enterprise2.admin", application_id)


def test_after_a_rejection_the_others_are_told_it_ended(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    assert _decide(world, "department.reviewer", application_id, "reject") == "rejected"
    with pytest.raises(AlreadyDecided):
        _decide(world, "department.reviewer", application_id, "reject")
    with pytest.raises(InvalidTransition, match="not pending"):
        _decide(world, "regulator.reviewer", application_id)


# -- amendment ---------------------------------------------------------------------------------


def test_an_application_sent_back_is_amended_as_a_new_revision(
    world: World, resource_id: int
) -> None:
    application_id = _apply(world, resource_id)
    assert _decide(world, "department.reviewer", application_id, "request_changes") == (
        "changes_requested"
    )
    assert [(t.party, t.participants) for t in _show(world, application_id).awaiting] == [
        ("applicant", [world.ids["enterprise"]])
    ]
    amended = _amend(
        world,
        "enterprise.analyst",
        application_id,
        expected_queries=20,
        resources=[{"resource_id": resource_id, "columns": ["金额"]}],
    )
    assert amended.revision == 2
    assert amended.status == "pending"
    assert amended.expected_queries == 20
    assert amended.requests == [{"resource_id": resource_id, "columns": ["金额"]}]
    assert amended.scenario.startswith("信用评估")  # kept from revision 1
    assert all(s["decision"] is None for s in amended.reviewers)
    with world.platform.db.read() as session:
        (kept,) = applications.list_revisions(
            session=session,
            actor=world.principal("department.analyst"),
            application_id=application_id,
        )
        payload = session.scalars(
            select(Event.payload).where(Event.type == "application.amended")
        ).one()
    assert kept.revision == 1
    assert kept.status == "changes_requested"
    assert kept.content["expected_queries"] == 100
    assert kept.content["resources"][0]["columns"] == ["姓名", "金额"]
    assert kept.reviewers[0]["decision"] == "request_changes"
    assert payload["revision"] == 2
    assert payload["changed"] == ["expected_queries", "resources"]
    assert len(payload["previous_sha256"]) == 64
    assert _events(world, application_id) == [
        "application.submitted",
        "application.reviewed",
        "application.amended",
    ]
    # Every party decides again, in turn.
    with pytest.raises(OutOfTurn):
        _decide(world, "regulator.reviewer", application_id)
    assert _decide(world, "department.reviewer", application_id) == "pending"
    assert _decide(world, "regulator.reviewer", application_id) == "approved"


def test_only_the_applicant_amends(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id, "request_changes")
    for key in ("enterprise2.admin", "department.admin", "regulator.admin"):
        with pytest.raises(Forbidden, match="only the owning participant"):
            _amend(world, key, application_id, expected_queries=5)
    with pytest.raises(Forbidden, match="requires one of the roles"):
        _amend(world, "enterprise.reviewer", application_id, expected_queries=5)
    assert _show(world, application_id).revision == 1
    assert _events(world, application_id)[-1] == "application.reviewed"


@pytest.mark.parametrize("state", ["pending", "approved", "rejected", "withdrawn"])
def test_only_an_application_sent_back_can_be_amended(
    world: World, resource_id: int, state: str
) -> None:
    application_id = _apply(world, resource_id)
    if state == "approved":
        _decide(world, "department.reviewer", application_id)
        _decide(world, "regulator.reviewer", application_id)
    elif state == "rejected":
        _decide(world, "department.reviewer", application_id, "reject")
    elif state == "withdrawn":
        _withdraw(world, "enterprise.analyst", application_id)
    before = _events(world, application_id)
    with pytest.raises(InvalidTransition) as refused:
        _amend(world, "enterprise.analyst", application_id, expected_queries=5)
    assert refused.value.details == {"status": state}
    assert "sent back for changes" in refused.value.message
    assert _events(world, application_id) == before
    with world.platform.db.read() as session:
        assert session.scalars(select(ApplicationRevision)).all() == []


def test_an_amendment_is_checked_like_a_new_application(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id, "request_changes")
    with pytest.raises(PolicyViolation):
        _amend(world, "enterprise.analyst", application_id, output={"mode": "records"})
    with world.platform.db.read() as session:
        application = session.get(Application, application_id)
        assert application is not None
        assert (application.revision, application.status) == (1, "changes_requested")
        assert application.output["mode"] == "masked_records"
        assert session.scalars(select(ApplicationRevision)).all() == []


# -- withdrawal --------------------------------------------------------------------------------


def test_the_applicant_withdraws_and_nobody_else(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    for key in ("enterprise2.admin", "department.admin", "regulator.admin"):
        with pytest.raises(Forbidden):
            _withdraw(world, key, application_id)
    assert _withdraw(world, "enterprise.analyst", application_id) == "withdrawn"
    assert _events(world, application_id)[-1] == "application.withdrawn"
    assert _show(world, application_id).awaiting == []
    with pytest.raises(InvalidTransition):
        _withdraw(world, "enterprise.admin", application_id)
    with pytest.raises(InvalidTransition, match="withdrawn"):
        _decide(world, "department.reviewer", application_id)


def test_a_decided_application_cannot_be_withdrawn(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id)
    _decide(world, "regulator.reviewer", application_id)
    with pytest.raises(InvalidTransition, match="approved"):
        _withdraw(world, "enterprise.analyst", application_id)


def test_an_application_sent_back_can_be_withdrawn(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id, "request_changes")
    assert _withdraw(world, "enterprise.admin", application_id) == "withdrawn"


# -- lists and the inbox -----------------------------------------------------------------------


def test_lists_show_what_each_party_may_see(world: World, resource_id: int, tmp_path: Path) -> None:
    other_resource = _registered(world, tmp_path / "other")
    first = _apply(world, resource_id)
    second = _apply(world, resource_id)
    third = _apply(world, other_resource)
    assert _listed(world, "enterprise.analyst") == [first, second, third]
    assert _listed(world, "department.auditor") == [first, second, third]
    assert _listed(world, "regulator.analyst") == [first, second, third]
    assert _listed(world, "enterprise2.admin") == []
    assert _listed(world, "regulator.admin", resource=other_resource) == [third]
    assert _listed(world, "regulator.admin", applicant=world.ids["enterprise"]) == [
        first,
        second,
        third,
    ]
    assert _listed(world, "regulator.admin", applicant=world.ids["enterprise2"]) == []
    # Pages: oldest first, limit and offset.
    assert _listed(world, "regulator.admin", limit=2) == [first, second]
    assert _listed(world, "regulator.admin", limit=2, offset=2) == [third]
    assert _listed(world, "regulator.admin", offset=3) == []
    # States.
    _decide(world, "department.reviewer", second, "request_changes")
    _decide(world, "department.reviewer", third, "reject")
    assert _listed(world, "enterprise.analyst", state="changes_requested") == [second]
    assert _listed(world, "enterprise.analyst", state="rejected") == [third]
    assert _listed(world, "enterprise.analyst", state="pending") == [first]


def test_awaiting_me_follows_the_turn_and_the_role(world: World, resource_id: int) -> None:
    first = _apply(world, resource_id)
    second = _apply(world, resource_id)
    assert _listed(world, "department.reviewer", awaiting_me=True) == [first, second]
    assert _listed(world, "department.analyst", awaiting_me=True) == []  # may not decide
    assert _listed(world, "regulator.reviewer", awaiting_me=True) == []  # not its turn yet
    _decide(world, "department.reviewer", first)
    assert _listed(world, "department.reviewer", awaiting_me=True) == [second]
    assert _listed(world, "regulator.reviewer", awaiting_me=True) == [first]
    _decide(world, "department.reviewer", second, "request_changes")
    assert _listed(world, "enterprise.analyst", awaiting_me=True) == [second]
    assert _listed(world, "enterprise.reviewer", awaiting_me=True) == []  # may not amend
    assert _listed(world, "department.reviewer", awaiting_me=True) == []


def test_the_inbox_of_each_role(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    project_id = new_project(world)
    pending = world.ids["pending"]
    assert _inbox(world, "department.reviewer") == [("application.review", application_id)]
    assert _inbox(world, "department.analyst") == []
    # The regulator approves registrations (data_governance) and cooperation modes.
    assert set(_inbox(world, "regulator.admin")) == {
        ("participant.registration", pending),
        ("project.mode", project_id),
    }
    assert _inbox(world, "regulator.analyst") == []
    assert _inbox(world, "enterprise.admin") == []
    _decide(world, "department.reviewer", application_id, "request_changes")
    assert _inbox(world, "enterprise.analyst") == [("application.amend", application_id)]
    assert _inbox(world, "department.reviewer") == []
    with world.platform.db.read() as session:
        page = inbox.inbox(session=session, actor=world.principal("regulator.admin"))
    items = {item.kind: item for item in page.items}
    registration_item = items["participant.registration"]
    assert registration_item.link == f"/api/v1/participants/{pending}"
    assert registration_item.action == f"POST /api/v1/participants/{pending}/decisions"
    assert registration_item.turn[0].party == "registration_approver"
    assert [p.id for p in registration_item.turn[0].participants] == [world.ids["regulator"]]
    project_item = items["project.mode"]
    assert project_item.link == f"/api/v1/projects/{project_id}"
    assert project_item.title.endswith("government_purchase")
    # Oldest first, and a page says how many there are in all.
    assert [i.since for i in page.items] == sorted(i.since for i in page.items)
    with world.platform.db.read() as session:
        one = inbox.inbox(session=session, actor=world.principal("regulator.admin"), limit=1)
    assert one.total == 2
    assert len(one.items) == 1
    # Once decided, an item leaves the inbox.
    with world.platform.db.write() as session:
        participants.decide_participant(
            session=session,
            actor=world.principal("regulator.reviewer"),
            participant_id=pending,
            decision=Decision.APPROVE,
            reason=REASON,
        )
    assert _inbox(world, "regulator.admin") == [("project.mode", project_id)]


def test_an_amend_item_links_to_its_revisions(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _decide(world, "department.reviewer", application_id, "request_changes")
    with world.platform.db.read() as session:
        (item,) = inbox.inbox(session=session, actor=world.principal("enterprise.admin")).items
    assert item.action == f"POST /api/v1/applications/{application_id}/revisions"
    assert item.turn[0].party == "applicant"
    assert item.turn[0].participants[0].id == world.ids["enterprise"]
    assert item.title.startswith("信用评估")

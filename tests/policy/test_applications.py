"""Applications and grants in the store, on both backends: routing, approval, grants, status."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import Forbidden, InvalidTransition, PolicyViolation
from datacompact.policy import applications, grants
from datacompact.policy.agreement import parse_agreement
from datacompact.policy.schemas import ApplicationCreate
from datacompact.store.models import Event

from ..conftest import World

ROWS = "姓名,身份证号,手机号,金额\n" + "".join(
    f"{n},{i},{p},{100 + k}\n"
    for k, (n, i, p) in enumerate(
        [
            ("张伟", "33010619900101123X", "13800138000"),
            ("王芳", "330106198503150024", "13912345678"),
        ]
        * 20
    )
)


def _registered(world: World, tmp_path: Path, *, confirm: bool = True, **meta: str) -> int:
    tmp_path.mkdir(parents=True, exist_ok=True)
    file = tmp_path / "people.csv"
    file.write_text(ROWS, encoding="utf-8")
    steward = world.principal("department.data_steward")
    resource_id = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": "低保对象名册", **meta}),
        file=file,
    ).value.id
    if confirm:
        with world.platform.db.write() as session:
            resources.decide_grade(
                session=session,
                actor=steward,
                resource_id=resource_id,
                decision=GradeDecisionIn(decision="confirm"),
            )
    return resource_id


@pytest.fixture
def resource_id(world: World, tmp_path: Path) -> int:
    return _registered(world, tmp_path)


def _apply(world: World, resource_id: int, mode: str = "masked_records") -> int:
    data = ApplicationCreate.model_validate(
        {
            "scenario": "信用评估中核验申请人身份 / verify applicants for credit assessment",
            "purpose": "credit_assessment",
            "resources": [{"resource_id": resource_id, "columns": ["姓名", "金额"]}],
            "output": {"mode": mode},
            "duration_days": 30,
            "expected_queries": 100,
        }
    )
    with world.platform.db.write() as session:
        return applications.submit_application(
            session=session, actor=world.principal("enterprise.analyst"), data=data
        ).value.id


def _review(world: World, key: str, application_id: int, decision: str = "approve") -> str:
    with world.platform.db.write() as session:
        return applications.review_application(
            session=session,
            actor=world.principal(key),
            application_id=application_id,
            decision=decision,
            reason="材料齐全 / documents complete",
        ).value.status


def test_an_application_is_routed_approved_and_becomes_a_grant(
    world: World, resource_id: int
) -> None:
    application_id = _apply(world, resource_id)
    with world.platform.db.read() as session:
        found = applications.get_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            application_id=application_id,
        )
    assert [s["party"] for s in found.reviewers] == ["holder", "regulator"]
    with pytest.raises(Forbidden):
        _review(world, "enterprise.reviewer", application_id)  # the applicant cannot approve itself
    assert _review(world, "department.reviewer", application_id) == "pending"
    assert _review(world, "regulator.reviewer", application_id) == "approved"
    with world.platform.db.read() as session:
        found = applications.get_application(
            session=session,
            actor=world.principal("regulator.auditor"),
            application_id=application_id,
        )
        (grant_id,) = found.grants
        grant = grants.get_grant(
            session=session, actor=world.principal("enterprise.analyst"), grant_id=grant_id
        )
        types = list(
            session.scalars(
                select(Event.type).where(Event.object_type.in_(["application", "grant"]))
            )
        )
    terms = parse_agreement(grant.agreement)
    assert terms.purpose.value == "credit_assessment"
    assert grant.status == "active"
    assert grant.max_queries == 100
    assert types == [
        "application.submitted",
        "application.reviewed",
        "application.reviewed",
        "grant.issued",
    ]


def test_a_mode_looser_than_the_grade_is_refused_at_once(world: World, resource_id: int) -> None:
    with pytest.raises(PolicyViolation):
        _apply(world, resource_id, mode="records")


def test_a_rejection_ends_the_review(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    assert _review(world, "department.admin", application_id, "reject") == "rejected"
    with pytest.raises(InvalidTransition):
        _review(world, "regulator.admin", application_id)


def test_only_parties_see_an_application(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    with pytest.raises(Forbidden), world.platform.db.read() as session:
        applications.get_application(
            session=session,
            actor=world.principal("enterprise2.admin"),
            application_id=application_id,
        )


def test_grant_suspension_and_revocation(world: World, resource_id: int) -> None:
    application_id = _apply(world, resource_id)
    _review(world, "department.reviewer", application_id)
    _review(world, "regulator.reviewer", application_id)
    with world.platform.db.read() as session:
        (grant_id,) = applications.get_application(
            session=session,
            actor=world.principal("enterprise.analyst"),
            application_id=application_id,
        ).grants

    def set_status(key: str, decision: str) -> str:
        with world.platform.db.write() as session:
            return grants.set_grant_status(
                session=session,
                actor=world.principal(key),
                grant_id=grant_id,
                decision=decision,
                reason="监督检查 / supervision",
            ).value.status

    with pytest.raises(Forbidden):
        set_status("enterprise.admin", "revoke")  # the grantee cannot lift or end it
    assert set_status("regulator.admin", "suspend") == "suspended"
    with pytest.raises(Forbidden):
        set_status("department.admin", "reinstate")  # only the party that suspended it
    assert set_status("regulator.reviewer", "reinstate") == "active"
    assert set_status("regulator.admin", "revoke") == "revoked"
    with pytest.raises(InvalidTransition):
        set_status("regulator.admin", "reinstate")  # revocation is final


def test_unconfirmed_or_unshared_resources_cannot_be_applied_for(
    world: World, tmp_path: Path
) -> None:
    unconfirmed = _registered(world, tmp_path / "a", confirm=False)
    with pytest.raises(PolicyViolation, match="not confirmed"):
        _apply(world, unconfirmed)
    closed = _registered(world, tmp_path / "b", share_type="not_shared")
    with pytest.raises(PolicyViolation, match="not shared"):
        _apply(world, closed)


def test_marking_personal_data_open_does_not_loosen_its_output(
    world: World, tmp_path: Path
) -> None:
    opened = _registered(world, tmp_path, open_type="open", share_type="unconditional")
    with pytest.raises(PolicyViolation):
        _apply(world, opened, mode="records")

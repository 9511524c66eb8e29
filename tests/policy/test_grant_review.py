"""Versions that change shape: what they say, the grants they put under review, on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datacompact.api import create_app
from datacompact.catalog import resources
from datacompact.catalog.schemas import ResourcePublic
from datacompact.errors import Conflict, Forbidden, InvalidTransition, PolicyViolation
from datacompact.events import EventType
from datacompact.policy import grants
from datacompact.policy.grants import shape_review
from datacompact.store.models import Event, ResourceVersion

from ..api.conftest import ApiClient, bearer
from ..conftest import World
from .test_queries import PEOPLE, _grant, _grant_row, _run
from .test_queries import _roster_worlds as _roster_worlds  # the module's shared worlds
from .test_queries import resource_id as resource_id  # the roster, registered
from .test_queries import world as world  # the minimal world, restored per test

STEWARD = "department.data_steward"
HOLDER = "department.reviewer"
GRANTEE = "enterprise.analyst"


def _csv(folder: Path, name: str, header: list[str], row: Any) -> Path:
    """A file of the 40 people with the columns of ``header``, each row made by ``row``."""
    lines = [",".join(header)] + [",".join(str(v) for v in row(p)) for p in PEOPLE]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _retyped(folder: Path) -> Path:
    # 金额 becomes a decimal, 年份 is new, nothing is removed.
    return _csv(
        folder,
        "retyped.csv",
        ["姓名", "身份证号", "手机号", "区县", "金额", "年份"],
        lambda p: (*p[:4], f"{p[4]}.5", 2026),
    )


def _without_phone(folder: Path) -> Path:
    return _csv(
        folder, "nophone.csv", ["姓名", "身份证号", "区县", "金额"], lambda p: (*p[:2], *p[3:])
    )


def _without_name(folder: Path) -> Path:
    return _csv(folder, "noname.csv", ["身份证号", "手机号", "区县", "金额"], lambda p: p[1:])


def _version(
    world: World, resource_id: int, file: Path, *, confirm: bool = False
) -> tuple[ResourcePublic, int]:
    recorded = resources.ingest_version(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=world.principal(STEWARD),
        resource_id=resource_id,
        file=file,
        review=shape_review(confirm_removed_columns=confirm),
    )
    return recorded.value, recorded.log_index


def _events(world: World, since: int, kind: EventType) -> list[Event]:
    with world.platform.db.read() as session:
        rows = list(
            session.scalars(
                select(Event)
                .where(Event.seq >= since, Event.type == kind.value)
                .order_by(Event.seq)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def _versions(world: World, resource_id: int) -> int:
    with world.platform.db.read() as session:
        count = session.scalar(
            select(func.count()).where(ResourceVersion.resource_id == resource_id)
        )
        return count or 0


def _listed(world: World, who: str, grant_id: int) -> dict[str, Any]:
    with world.platform.db.read() as session:
        rows = grants.list_grants(session=session, actor=world.principal(who))
    (found,) = [g for g in rows if g.id == grant_id]
    return found.model_dump()


def _decide(world: World, who: str, grant_id: int, decision: str) -> str:
    with world.platform.db.write() as session:
        return grants.set_grant_status(
            session=session,
            actor=world.principal(who),
            grant_id=grant_id,
            decision=decision,
            reason="已复核 / reviewed",
        ).value.status


# --- what a new version says ------------------------------------------------------------------


def test_a_new_version_lists_the_columns_added_removed_and_retyped(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    first, _ = _version(world, resource_id, _retyped(tmp_path))
    assert first.latest is not None
    assert first.latest.changes == {
        "added": ["年份"],
        "removed": [],
        "retyped": [{"column": "金额", "from": "integer", "to": "decimal"}],
    }
    second, index = _version(world, resource_id, _without_name(tmp_path))
    assert second.latest is not None
    # Against the version just before: its new column is gone, its type is back.
    assert second.latest.changes == {
        "added": [],
        "removed": ["姓名", "年份"],
        "retyped": [{"column": "金额", "from": "decimal", "to": "integer"}],
    }
    (event,) = _events(world, index, EventType.RESOURCE_VERSION_INGESTED)
    assert event.seq == index
    assert event.payload["changes"] == {**second.latest.changes, "grants_needing_review": []}
    # The same file again changes nothing, and says so.
    third, _ = _version(world, resource_id, _without_name(tmp_path))
    assert third.latest is not None
    assert third.latest.changes == {"added": [], "removed": [], "retyped": []}


def test_a_first_version_has_no_changes(world: World, resource_id: int) -> None:
    with world.platform.db.read() as session:
        shown = resources.get_resource(
            session=session, actor=world.principal(STEWARD), resource_id=resource_id
        )
    assert shown.latest is not None
    assert shown.latest.changes is None


# --- grants on retyped columns ----------------------------------------------------------------


def test_grants_on_retyped_columns_need_review_and_their_queries_stop(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    touched = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    untouched = _grant(world, resource_id, mode="aggregates", columns=["区县", "身份证号"])
    result, index = _version(world, resource_id, _retyped(tmp_path))
    assert result.latest is not None

    (ingested,) = _events(world, index, EventType.RESOURCE_VERSION_INGESTED)
    assert ingested.payload["changes"]["grants_needing_review"] == [touched]
    (flag,) = _events(world, index, EventType.GRANT_NEEDS_REVIEW)
    assert flag.object_id == str(touched)
    assert flag.payload == {
        "from": "active",
        "to": "needs_review",
        "resource_id": resource_id,
        "version": 2,
        "removed": [],
        "retyped": ["金额"],
    }
    assert _grant_row(world, untouched).status == "active"

    # Both parties see it, with the reason, in their listings.
    for who in (GRANTEE, HOLDER):
        listed = _listed(world, who, touched)
        assert listed["status"] == "needs_review"
        assert "金额" in listed["status_reason"]
        assert "review" in listed["status_reason"]

    with pytest.raises(PolicyViolation) as refused:
        _run(world, touched, "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县")
    assert refused.value.details == {"rule": "grant.needs_review", "grant_id": touched}
    assert "needs review" in refused.value.message
    assert _grant_row(world, touched).queries_used == 0
    answer = _run(world, untouched, "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县")
    assert answer.rows


def test_the_holder_reinstates_a_reviewed_grant_and_queries_resume(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    _version(world, resource_id, _retyped(tmp_path))
    # The grantee never manages its grant, nor does the regulator lift the holder's review.
    for who in ("enterprise.admin", "regulator.reviewer"):
        with pytest.raises(Forbidden):
            _decide(world, who, grant_id, "reinstate")
    assert _decide(world, HOLDER, grant_id, "reinstate") == "active"
    answer = _run(world, grant_id, "SELECT 区县, sum(金额) AS s FROM relief_roster GROUP BY 区县")
    assert answer.rows


# --- grants on removed columns ----------------------------------------------------------------


def test_removing_a_granted_column_needs_the_stewards_confirmation(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = _grant(world, resource_id, columns=["区县", "手机号"])
    staging = world.platform.settings.home / "staging"
    with pytest.raises(Conflict) as refused:
        _version(world, resource_id, _without_phone(tmp_path))
    assert refused.value.details == {
        "rule": "version.removes_granted_columns",
        "columns": ["手机号"],
        "grants": [grant_id],
    }
    assert "confirm_removed_columns" in refused.value.message
    assert _versions(world, resource_id) == 1
    assert not staging.exists() or list(staging.iterdir()) == []
    assert _grant_row(world, grant_id).status == "active"

    result, index = _version(world, resource_id, _without_phone(tmp_path), confirm=True)
    assert result.versions == 2
    assert result.latest is not None
    assert result.latest.changes == {"added": [], "removed": ["手机号"], "retyped": []}
    (flag,) = _events(world, index, EventType.GRANT_NEEDS_REVIEW)
    assert flag.payload["removed"] == ["手机号"]
    assert _grant_row(world, grant_id).status == "needs_review"
    # Its column is gone: the grant cannot come back, only end.
    with pytest.raises(InvalidTransition) as stuck:
        _decide(world, HOLDER, grant_id, "reinstate")
    assert stuck.value.details["columns"] == ["手机号"]
    assert _decide(world, HOLDER, grant_id, "revoke") == "revoked"


def test_removing_an_ungranted_column_needs_no_confirmation(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    result, index = _version(world, resource_id, _without_name(tmp_path))
    assert result.versions == 2
    assert _events(world, index, EventType.GRANT_NEEDS_REVIEW) == []
    assert _grant_row(world, grant_id).status == "active"


def test_revoked_and_suspended_grants_are_not_put_under_review(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    revoked = _grant(world, resource_id, columns=["区县", "手机号"])
    suspended = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    _decide(world, HOLDER, revoked, "revoke")
    _decide(world, HOLDER, suspended, "suspend")
    # The revoked grant's removed column needs no confirmation: the grant is over.
    _, index = _version(world, resource_id, _retyped(tmp_path))
    assert _events(world, index, EventType.GRANT_NEEDS_REVIEW) == []
    assert _grant_row(world, suspended).status == "suspended"
    assert _grant_row(world, revoked).status == "revoked"


# --- over HTTP --------------------------------------------------------------------------------


def test_the_api_refuses_then_takes_a_version_removing_granted_columns(
    world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = _grant(world, resource_id, columns=["区县", "手机号"])
    inbox = world.platform.settings.home / "inbox" / str(world.ids["department"])
    inbox.mkdir(parents=True, mode=0o700)
    _without_phone(inbox)
    client = ApiClient(create_app(world.platform))
    url = f"/api/v1/resources/{resource_id}/versions"
    refused = client.post(url, json={"inbox_file": "nophone.csv"}, headers=bearer(world, STEWARD))
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict"
    assert error["details"]["columns"] == ["手机号"]
    taken = client.post(
        url,
        json={"inbox_file": "nophone.csv", "confirm_removed_columns": True},
        headers=bearer(world, STEWARD),
    )
    assert taken.status_code == 201, taken.text
    assert taken.json()["data"]["latest"]["changes"]["removed"] == ["手机号"]
    listed = client.get("/api/v1/grants", headers=bearer(world, "enterprise.admin"))
    (row,) = [g for g in listed.json()["data"] if g["id"] == grant_id]
    assert row["status"] == "needs_review"

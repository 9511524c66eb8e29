"""What an application form may offer for a resource, and what is left of a grant."""

from __future__ import annotations

from pathlib import Path

import pytest

from datacompact.catalog import resources
from datacompact.catalog.inbox import begin_upload, discard_upload, inbox_folder
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import Forbidden, InvalidInput, NotFound
from datacompact.policy.applications import ApplicationChoices, application_choices
from datacompact.policy.purposes import Purpose

from ..conftest import World

CSV = "姓名,手机号,金额\n" + "".join(f"张伟,1380013800{i % 10},{i}\n" for i in range(20))


def _register(world: World, folder: Path, **meta: str) -> int:
    file = folder / "people.csv"
    file.write_text(CSV, encoding="utf-8")
    return resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=world.principal("department.data_steward"),
        data=ResourceBase.model_validate({"name": "名册", **meta}),
        file=file,
    ).value.id


def _choices(world: World, rid: int, key: str = "enterprise.analyst") -> ApplicationChoices:
    with world.platform.db.read() as session:
        return application_choices(session=session, actor=world.principal(key), resource_id=rid)


def test_choices_follow_the_grade_and_explain_each_refusal(world: World, tmp_path: Path) -> None:
    rid = _register(world, tmp_path)
    proposed = _choices(world, rid)
    assert proposed.refusal is not None
    assert "not confirmed by a data steward yet" in proposed.refusal
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=world.principal("department.data_steward"),
            resource_id=rid,
            decision=GradeDecisionIn(decision="confirm"),
        )
    found = _choices(world, rid)
    assert found.refusal is None
    assert found.columns == ["姓名", "手机号", "金额"]
    assert Purpose.OPEN_DATA_USE not in found.purposes
    assert set(found.purposes) == set(Purpose) - {Purpose.OPEN_DATA_USE}
    modes = {m.mode: m.refusal for m in found.modes}
    assert set(modes) == {"records", "masked_records", "k_anonymous", "aggregates", "dp_aggregates"}
    # Personal data is masked at least: plain records are refused, with the rule's words.
    assert modes["records"] is not None
    assert "is not allowed for" in modes["records"]
    assert modes["aggregates"] is None
    assert modes["dp_aggregates"] is None


def test_choices_of_a_resource_not_shared_say_so(world: World, tmp_path: Path) -> None:
    rid = _register(world, tmp_path, share_type="not_shared", open_type="not_open")
    found = _choices(world, rid, "department.analyst")
    assert found.refusal is not None
    assert "is not shared" in found.refusal


def test_choices_of_a_missing_resource_are_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        _choices(world, 999_999)


def test_discard_upload_removes_only_the_actors_own_file(world: World) -> None:
    home = world.platform.settings.home
    steward = world.principal("department.data_steward")
    with begin_upload(home=home, actor=steward, name="a.csv", max_bytes=1 << 20) as upload:
        upload.write(b"a,b\n1,2\n")
        upload.commit()
    folder = inbox_folder(home, world.ids["department"])
    assert (folder / "a.csv").exists()
    with pytest.raises(Forbidden):
        discard_upload(home=home, actor=world.principal("department.analyst"), name="a.csv")
    with pytest.raises(InvalidInput):
        discard_upload(home=home, actor=steward, name="../a.csv")
    # Another participant's steward has another inbox: nothing of this one goes.
    discard_upload(home=home, actor=world.principal("enterprise.data_steward"), name="a.csv")
    assert (folder / "a.csv").exists()
    discard_upload(home=home, actor=steward, name="a.csv")
    assert not (folder / "a.csv").exists()
    discard_upload(home=home, actor=steward, name="a.csv")  # already gone: not an error

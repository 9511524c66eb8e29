"""Catalog services on both backends: register, version, grade, dictionary, search, export."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph
from sqlalchemy import func, select

from datacompact.catalog import codes
from datacompact.catalog import resources as service
from datacompact.catalog.export import export_catalog
from datacompact.catalog.inbox import inbox_folder, open_inbox_file
from datacompact.catalog.schemas import ColumnEdit, GradeCode, GradeDecisionIn, ResourceBase
from datacompact.errors import Forbidden, InvalidInput, MalformedInput, NotFound, PolicyViolation
from datacompact.store.models import Event, Resource, ResourceVersion

from ..api.conftest import ApiClient, bearer
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from .test_dcat import _validate

# Valid synthetic identifiers (GB 11643 check digits, CN mobiles).
PEOPLE = [
    ("张伟", "33010619900101123X", "13800138000"),
    ("王芳", "330106198503150024", "13912345678"),
    ("李娜", "330108197712240016", "13700001111"),
]


def _people_csv(path: Path, rows: int = 60, encoding: str = "gbk") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "身份证号", "手机号", "缴费金额"])
        for i in range(rows):
            name, rid, phone = PEOPLE[i % len(PEOPLE)]
            writer.writerow([name, rid, phone, str(100 + i)])
    return path


META = ResourceBase(
    name="社会保险缴费明细",
    name_en="Social insurance contributions",
    description="按月汇总的参保人员缴费记录",
    tags=["社保", "缴费"],
    update_frequency="monthly",
    share_type="conditional",
    open_type="not_open",
)


def _register(world: World, file: Path, key: str = "department.data_steward") -> int:
    platform = world.platform
    recorded = service.register_resource(
        db=platform.db,
        home=platform.settings.home,
        actor=world.principal(key),
        data=META,
        file=file,
    )
    return recorded.value.id


def test_register_grades_profiles_and_logs(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "people.csv"))
    with world.platform.db.read() as session:
        resource = session.get(Resource, resource_id)
        assert resource is not None
        parsed = codes.parse_code(resource.code)
        assert parsed.region == resource.holder.region_code
        assert parsed.sequence == 1
        assert resource.grade == "general-4"
        assert resource.sensitive_personal
        version = resource.versions[0]
        assert version.rows == 60
        assert version.source_encoding in ("gbk", "gb18030")
        assert (world.platform.settings.home / version.path).is_file()
        found = {f["type"] for f in version.pii}
        assert {"resident_id", "mobile"} <= found
        # Findings and reasons carry types and shares, never values.
        stored = json.dumps(
            [version.pii, version.columns, resource.grade_reasons], ensure_ascii=False
        )
        assert not any(rid in stored or phone in stored for _n, rid, phone in PEOPLE)
        assert version.quality["overall"] is not None
        kinds = [e["eventType"] for e in version.lineage]
        assert kinds == ["START", "COMPLETE"]
        events = list(
            session.scalars(
                select(Event.type).where(
                    Event.object_type == "resource", Event.object_id == str(resource_id)
                )
            )
        )
    assert events == [
        "resource.registered",
        "resource.version_ingested",
        "resource.grade_proposed",
    ]


def test_a_bad_file_leaves_nothing_registered(world: World, tmp_path: Path) -> None:
    binary = tmp_path / "not-really.csv"
    binary.write_bytes(bytes(range(256)) * 64)
    home = world.platform.settings.home
    with world.platform.db.read() as session:
        events_before = session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(MalformedInput):
        _register(world, binary)
    with world.platform.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Resource)) == 0
        assert session.scalar(select(func.count()).select_from(ResourceVersion)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == events_before
    leftovers = (
        [p for p in (home / "resources").rglob("*") if p.is_file()]
        if (home / "resources").exists()
        else []
    )
    assert leftovers == []


def test_new_versions_keep_the_earlier_ones(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "v1.csv", rows=30))
    platform = world.platform
    updated = service.ingest_version(
        db=platform.db,
        home=platform.settings.home,
        actor=world.principal("department.admin"),
        resource_id=resource_id,
        file=_people_csv(tmp_path / "v2.csv", rows=45, encoding="utf-8"),
        review=None,
    ).value
    assert updated.versions == 2
    assert updated.latest is not None
    assert updated.latest.rows == 45
    with platform.db.read() as session:
        versions = session.scalars(
            select(ResourceVersion).where(ResourceVersion.resource_id == resource_id)
        ).all()
        assert [v.rows for v in versions] == [30, 45]
        assert all((platform.settings.home / v.path).is_file() for v in versions)


def test_only_the_holder_registers_and_curates(world: World, tmp_path: Path) -> None:
    file = _people_csv(tmp_path / "p.csv")
    with pytest.raises(Forbidden):
        _register(world, file, key="department.analyst")
    resource_id = _register(world, file)
    decision = GradeDecisionIn(decision="confirm")
    for key in ("enterprise.data_steward", "department.analyst", "regulator.admin"):
        with pytest.raises(Forbidden), world.platform.db.write() as session:
            service.decide_grade(
                session=session,
                actor=world.principal(key),
                resource_id=resource_id,
                decision=decision,
            )


def test_confirm_and_override_the_grade(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    steward = world.principal("department.data_steward")
    with pytest.raises(InvalidInput), world.platform.db.write() as session:
        service.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="override", grade=GradeCode.IMPORTANT),
        )
    with world.platform.db.write() as session:
        raised = service.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(
                decision="override", grade=GradeCode.IMPORTANT, reason="涉及全市参保人员"
            ),
        ).value
    assert (raised.grade, raised.grade_status) == ("important", "overridden")
    with world.platform.db.write() as session:
        confirmed = service.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(decision="confirm"),
        ).value
    assert (confirmed.grade, confirmed.grade_status) == ("important", "confirmed")


def test_dictionary_edits(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    steward = world.principal("department.data_steward")
    with world.platform.db.write() as session:
        updated = service.update_dictionary(
            session=session,
            actor=steward,
            resource_id=resource_id,
            edits=[ColumnEdit(name="缴费金额", description="当月缴费", unit="元")],
        ).value
    assert updated.latest is not None
    column = next(c for c in updated.latest.columns if c["name"] == "缴费金额")
    assert (column["description"], column["unit"]) == ("当月缴费", "元")
    with pytest.raises(InvalidInput), world.platform.db.write() as session:
        service.update_dictionary(
            session=session, actor=steward, resource_id=resource_id, edits=[ColumnEdit(name="nope")]
        )


def test_search_in_chinese_and_by_filters(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    reader = world.principal("enterprise.analyst")
    with world.platform.db.read() as session:
        hits = service.search_resources(session=session, actor=reader, query="社会保险")
        assert [h.id for h in hits] == [resource_id]
        assert service.search_resources(session=session, actor=reader, query="交通流量") == []
        assert (
            service.search_resources(
                session=session, actor=reader, query="", share_type="unconditional"
            )
            == []
        )
        with pytest.raises(NotFound):
            service.get_resource(session=session, actor=reader, resource_id=999)


def test_an_empty_search_says_why(world: World, tmp_path: Path) -> None:
    reader = world.principal("enterprise.analyst")
    with world.platform.db.read() as session:
        nothing = service.search_catalog(session=session, actor=reader, query="社会保险")
    assert nothing.empty_reason == (
        "目录中还没有可查看的数据资源 / the catalog holds no resource you may see yet"
    )
    _register(world, _people_csv(tmp_path / "p.csv"))
    with world.platform.db.read() as session:
        found = service.search_catalog(session=session, actor=reader, query="社会保险")
        assert found.data
        assert found.empty_reason is None
        missed = service.search_catalog(session=session, actor=reader, query="交通流量")
        filtered = service.search_catalog(
            session=session, actor=reader, query="社会保险", share_type="unconditional", theme="x"
        )
        blank = service.search_catalog(session=session, actor=reader, query="？！")
    assert missed.data == []
    assert missed.empty_reason is not None
    assert "none of the 1 resources meeting the filters" in missed.empty_reason
    assert "交通" in missed.empty_reason
    assert filtered.empty_reason is not None
    assert "no resource meets every filter given (share_type, theme)" in filtered.empty_reason
    assert blank.data  # no word to search for: every resource the filters keep


def test_dcat_export_of_the_store_conforms(world: World, tmp_path: Path) -> None:
    _register(world, _people_csv(tmp_path / "p.csv"))
    with world.platform.db.read() as session:
        text = export_catalog(
            session=session,
            actor=world.principal("enterprise.analyst"),
            base_url="http://catalog.example",
            fmt="turtle",
        )
    graph = Graph().parse(data=text, format="turtle")
    ok, report = _validate(graph)
    assert ok, report


def test_inbox_names_cannot_escape(world: World, tmp_path: Path) -> None:
    home = world.platform.settings.home
    folder = inbox_folder(home, world.ids["department"])
    folder.mkdir(parents=True)
    _people_csv(folder / "p.csv")
    with open_inbox_file(home, world.ids["department"], "p.csv") as opened:
        assert opened.name == "p.csv"
        assert opened.size == (folder / "p.csv").stat().st_size
    for bad in ("../p.csv", "/etc/passwd", "", "sub/p.csv", ".."):
        with pytest.raises((InvalidInput, NotFound)):
            open_inbox_file(home, world.ids["department"], bad)
    with pytest.raises(NotFound):
        open_inbox_file(home, world.ids["enterprise"], "p.csv")  # another participant's inbox


def test_register_through_the_api(client: ApiClient, world: World) -> None:
    home = world.platform.settings.home
    folder = inbox_folder(home, world.ids["department"])
    folder.mkdir(parents=True)
    _people_csv(folder / "p.csv")
    body = {**META.model_dump(mode="json"), "inbox_file": "p.csv"}
    response = client.post(
        "/api/v1/resources", json=body, headers=bearer(world, "department.data_steward")
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["data"]["grade"] == "general-4"
    assert data["receipt"]["log_index"] >= 0
    listed = client.get("/api/v1/resources?q=缴费", headers=bearer(world, "enterprise.analyst"))
    assert [r["id"] for r in listed.json()["data"]] == [data["data"]["id"]]
    assert listed.json()["empty_reason"] is None
    missed = client.get("/api/v1/resources?q=交通", headers=bearer(world, "enterprise.analyst"))
    assert missed.json()["data"] == []
    assert "none of the 1 resources meeting the filters" in missed.json()["empty_reason"]
    ttl = client.get("/api/v1/catalog.ttl", headers=bearer(world, "enterprise.analyst"))
    assert ttl.status_code == 200
    assert ttl.headers["content-type"].startswith("text/turtle")
    escape = client.post(
        "/api/v1/resources",
        json={**body, "inbox_file": "../../platform.secret"},
        headers=bearer(world, "department.data_steward"),
    )
    assert escape.status_code == 400


SEX = [{"column": "性别", "standard": "GB/T 2261.1-2003", "element": "sex"}]


def _sex_csv(path: Path) -> Path:
    values = ["男", "女", "1", "2", "男性", "unknown"] * 10
    path.write_text("编号,性别\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)), "utf-8")
    return path


def test_conformance_and_a_standardized_version(world: World, tmp_path: Path) -> None:
    from datacompact.catalog import standardize
    from datacompact.catalog.schemas import MappingIn

    resource_id = _register(world, _sex_csv(tmp_path / "sex.csv"))
    steward = world.principal("department.data_steward")
    mappings = [MappingIn.model_validate(m) for m in SEX]
    home = world.platform.settings.home
    with world.platform.db.read() as session:
        report = standardize.conformance_report(
            session=session, home=home, actor=steward, resource_id=resource_id, mappings=mappings
        )
    (element,) = report["elements"]
    assert element["values"] == 60
    # 男, 女, 男性 and unknown name codes by label or alias; 1 and 2 are codes.
    assert (element["percent"], element["by_code"], element["by_label"]) == (100.0, 20, 40)
    derived = standardize.derive_standard_version(
        db=world.platform.db,
        home=home,
        actor=steward,
        resource_id=resource_id,
        mappings=mappings,
        review=None,
    ).value
    assert derived.versions == 2
    assert derived.latest is not None
    (sex,) = [c for c in derived.latest.columns if c["name"] == "性别"]
    assert sex["code_list"] == {"0": "未知的性别", "1": "男性", "2": "女性", "9": "未说明的性别"}
    with world.platform.db.read() as session:
        again = standardize.conformance_report(
            session=session, home=home, actor=steward, resource_id=resource_id, mappings=mappings
        )
        (after,) = again["elements"]
        assert after["failing"] == 0  # unmappable spellings became nulls, counted apart
        version = session.scalars(
            select(ResourceVersion).where(ResourceVersion.resource_id == resource_id)
        ).all()[-1]
        assert [e["job"]["facets"]["jobType"]["jobType"] for e in version.lineage] == [
            "DERIVATION",
            "DERIVATION",
        ]
    with pytest.raises(Forbidden), world.platform.db.read() as session:
        standardize.conformance_report(
            session=session,
            home=home,
            actor=world.principal("enterprise.data_steward"),
            resource_id=resource_id,
            mappings=mappings,
        )


LOCAL_STANDARD: dict[str, Any] = {
    "id": "DB3301/T 0001-2026",
    "title_zh": "示范市人员类别代码",
    "title_en": "Demo City person category codes",
    "elements": [
        {
            "id": "person_category",
            "name_zh": "人员类别",
            "type": "code",
            "codes": [
                {"code": "01", "label_zh": "在职", "label_en": "employed", "aliases": ["在岗"]},
                {"code": "02", "label_zh": "退休", "label_en": "retired"},
            ],
        }
    ],
}


def test_a_registered_standard_is_used_for_conformance(world: World, tmp_path: Path) -> None:
    from datacompact.catalog import standardize, standards_registry
    from datacompact.catalog.schemas import MappingIn, StandardCreate
    from datacompact.errors import DuplicateRegistration

    file = tmp_path / "staff.csv"
    file.write_text(
        "编号,类别\n"
        + "".join(f"{i},{v}\n" for i, v in enumerate(["在职", "退休", "在岗", "其他"] * 5)),
        "utf-8",
    )
    resource_id = _register(world, file)
    steward = world.principal("department.data_steward")
    with world.platform.db.write() as session:
        standards_registry.register_standard(
            session=session, actor=steward, data=StandardCreate.model_validate(LOCAL_STANDARD)
        )
    with pytest.raises(DuplicateRegistration), world.platform.db.write() as session:
        standards_registry.register_standard(
            session=session, actor=steward, data=StandardCreate.model_validate(LOCAL_STANDARD)
        )
    clash = {**LOCAL_STANDARD, "id": "DB3301/T 0002-2026"}
    clash["elements"] = [
        {
            **LOCAL_STANDARD["elements"][0],
            "codes": [
                {"code": "01", "label_zh": "在职"},
                {"code": "02", "label_zh": "在职"},
            ],
        }
    ]
    with pytest.raises(InvalidInput), world.platform.db.write() as session:
        standards_registry.register_standard(
            session=session, actor=steward, data=StandardCreate.model_validate(clash)
        )
    mapping = [MappingIn(column="类别", standard="DB3301/T 0001-2026", element="person_category")]
    with world.platform.db.read() as session:
        report = standardize.conformance_report(
            session=session,
            home=world.platform.settings.home,
            actor=steward,
            resource_id=resource_id,
            mappings=mapping,
        )
        listed = standards_registry.list_standards(session=session, actor=steward)
    (element,) = report["elements"]
    assert element["values"] == 20
    # 在职 and 退休 are labels, 在岗 an alias; 其他 names no code.
    assert (element["conforming"], element["by_code"], element["by_label"]) == (15, 0, 15)
    assert {s["id"] for s in listed if not s["builtin"]} == {"DB3301/T 0001-2026"}


def test_a_new_version_keeps_the_stewards_decision(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    steward = world.principal("department.data_steward")
    with world.platform.db.write() as session:
        service.decide_grade(
            session=session,
            actor=steward,
            resource_id=resource_id,
            decision=GradeDecisionIn(
                decision="override", grade=GradeCode.CORE, reason="涉及核心业务"
            ),
        )
    again = service.ingest_version(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        resource_id=resource_id,
        file=_people_csv(tmp_path / "p2.csv", encoding="utf-8"),
        review=None,
    ).value
    assert (again.grade, again.grade_status) == ("core", "overridden")


def test_no_code_list_on_a_personal_column(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    with pytest.raises(PolicyViolation), world.platform.db.write() as session:
        service.update_dictionary(
            session=session,
            actor=world.principal("department.data_steward"),
            resource_id=resource_id,
            edits=[ColumnEdit(name="身份证号", code_list={"x": "y"})],
        )


def test_inbox_links_are_refused(world: World, tmp_path: Path) -> None:
    home = world.platform.settings.home
    folder = inbox_folder(home, world.ids["department"])
    folder.mkdir(parents=True)
    (folder / "link.csv").symlink_to(home / "platform.secret")
    _people_csv(tmp_path / "elsewhere.csv")
    (folder / "hard.csv").hardlink_to(tmp_path / "elsewhere.csv")
    for name in ("link.csv", "hard.csv"):
        with pytest.raises(InvalidInput) as refused:
            open_inbox_file(home, world.ids["department"], name)
        assert refused.value.details["field"] == "inbox_file"


def test_orphaned_staging_folders_are_swept(world: World, tmp_path: Path) -> None:
    resource_id = _register(world, _people_csv(tmp_path / "p.csv"))
    home = world.platform.settings.home
    orphan = home / "resources" / "2" / "deadbeefdeadbeef"
    orphan.mkdir(parents=True)
    (orphan / "v1.parquet").write_bytes(b"left by a crash")
    removed = service.sweep_orphans(db=world.platform.db, home=home)
    assert removed == 1
    assert not orphan.exists()
    with world.platform.db.read() as session:
        version = session.scalars(
            select(ResourceVersion).where(ResourceVersion.resource_id == resource_id)
        ).one()
    assert (home / version.path).is_file()  # referenced folders stay

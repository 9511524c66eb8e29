"""The public catalog: anonymous reads, the DCAT-AP export, dataset URIs and open data.

Anonymous callers read the published catalog entries (shared or opened),
their DCAT-AP export and approved participants' public profiles; anything
else is ``404`` to them. Open data is queried under an automatic grant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS
from sqlalchemy import func, select

from datacompact.api.datasets import negotiate
from datacompact.catalog import resources as service
from datacompact.catalog.dcat import Text, Theme
from datacompact.catalog.schemas import GradeCode, GradeDecisionIn, ResourceBase
from datacompact.permissions import (
    Actions,
    CatalogResource,
    ParticipantResource,
    Principal,
    PublicListing,
    decide,
)
from datacompact.store.models import Event, Grant

from ..api.conftest import ApiClient, bearer
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from .test_dcat import _validate
from .test_resources import _people_csv

ROSTER = "部门,人数\n综合处,12\n财务处,8\n信息处,15\n"
EU = "http://publications.europa.eu/resource/authority/data-theme/"
JSONLD = {"Accept": "application/ld+json"}


def _csv(path: Path) -> Path:
    path.write_text(ROSTER, encoding="utf-8")
    return path


def _register(
    world: World,
    file: Path,
    *,
    share: str,
    opened: str,
    grade: GradeCode | None = None,
    name: str = "部门编制统计",
    **extra: Any,
) -> int:
    """A resource of the department; ``grade`` set by its steward, else left proposed."""
    data = ResourceBase.model_validate(
        {
            "name": name,
            "share_type": share,
            "open_type": opened,
            "update_frequency": "yearly",
            **extra,
        }
    )
    recorded = service.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=world.principal("department.data_steward"),
        data=data,
        file=file,
    )
    if grade is not None:
        with world.platform.db.write() as session:
            service.decide_grade(
                session=session,
                actor=world.principal("department.data_steward"),
                resource_id=recorded.value.id,
                decision=GradeDecisionIn(decision="override", grade=grade, reason="复核后定级"),
            )
    return recorded.value.id


def _catalog(world: World, tmp_path: Path) -> dict[str, int]:
    """One resource of each kind that matters here."""
    return {
        "open": _register(
            world,
            _csv(tmp_path / "open.csv"),
            share="unconditional",
            opened="open",
            grade=GradeCode.GENERAL_1,
            name_en="Staffing by unit",
            description="各部门编制人数。 / Staff numbers per unit.",
            themes=["GOVE", "health", "水务"],
            tags=["编制"],
        ),
        "shared": _register(
            world, _csv(tmp_path / "shared.csv"), share="conditional", opened="not_open"
        ),
        "conditional_open": _register(
            world,
            _csv(tmp_path / "c.csv"),
            share="not_shared",
            opened="conditional_open",
            grade=GradeCode.GENERAL_1,
        ),
        "hidden": _register(
            world,
            _csv(tmp_path / "hidden.csv"),
            share="not_shared",
            opened="not_open",
            grade=GradeCode.GENERAL_1,
            name="内部名册",
        ),
    }


def _code(world: World, resource_id: int) -> str:
    with world.platform.db.read() as session:
        return service.get_resource(
            session=session, actor=world.principal("department.admin"), resource_id=resource_id
        ).code


def _events(world: World) -> int:
    with world.platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def _last(world: World) -> int:
    with world.platform.db.read() as session:
        return session.scalar(select(func.max(Event.seq))) or 0


# -- the permission rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "opened", "published"),
    [
        ("unconditional", "not_open", True),
        ("conditional", "not_open", True),
        ("not_shared", "open", True),
        ("not_shared", "conditional_open", True),
        ("not_shared", "not_open", False),
    ],
)
def test_anonymous_reads_published_entries_only(share: str, opened: str, published: bool) -> None:
    from datacompact.config import GovernanceMode

    anonymous = Principal.anonymous(GovernanceMode.DATA_GOVERNANCE)
    entry = CatalogResource(participant_id=1, share_type=share, open_type=opened)
    decision = decide(actor=anonymous, action=Actions.RESOURCE_READ, resource=entry)
    assert decision.allowed is published
    assert decision.conceal is not published
    # Writes and other reads still need a token.
    assert not decide(actor=anonymous, action=Actions.RESOURCE_CURATE, resource=entry).allowed
    assert not decide(actor=anonymous, action=Actions.OPEN_DATA_USE, resource=entry).allowed
    assert decide(actor=anonymous, action=Actions.RESOURCE_READ, resource=PublicListing()).allowed
    profile = ParticipantResource(participant_id=1, status="pending")
    assert not decide(actor=anonymous, action=Actions.PARTICIPANT_READ, resource=profile).allowed


# -- the catalog without a token ------------------------------------------------------------


def test_search_and_show_without_a_token(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    listed = client.get("/api/v1/resources")
    assert listed.status_code == 200, listed.text
    seen = {r["id"] for r in listed.json()["data"]}
    assert seen == {ids["open"], ids["shared"], ids["conditional_open"]}
    found = client.get("/api/v1/resources", params={"q": "名册"})
    assert found.json()["data"] == []  # the hidden roster is no hit for anyone without a token
    member = client.get("/api/v1/resources", headers=bearer(world, "enterprise.analyst"))
    assert {r["id"] for r in member.json()["data"]} == set(ids.values())

    shown = client.get(f"/api/v1/resources/{ids['open']}")
    assert shown.status_code == 200
    assert shown.json()["data"]["open_type"] == "open"
    # Hidden is answered exactly as missing: 404, never 403.
    hidden = client.get(f"/api/v1/resources/{ids['hidden']}")
    missing = client.get("/api/v1/resources/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert hidden.json()["error"]["message"] == missing.json()["error"]["message"]
    assert "内部名册" not in hidden.text
    with_token = client.get(
        f"/api/v1/resources/{ids['hidden']}", headers=bearer(world, "enterprise.analyst")
    )
    assert with_token.status_code == 200


def _dataset(graph: Graph, code: str) -> URIRef:
    (node,) = graph.subjects(DCTERMS.identifier, Literal(code))
    assert isinstance(node, URIRef)
    return node


def test_dcat_export_without_a_token(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    turtle = client.get("/api/v1/catalog.ttl")
    assert turtle.status_code == 200, turtle.text
    assert turtle.headers["content-type"] == "text/turtle; charset=utf-8"
    graph = Graph().parse(data=turtle.text, format="turtle")
    ok, report = _validate(graph)
    assert ok, report
    codes = {str(c) for c in graph.objects(None, DCTERMS.identifier)}
    assert _code(world, ids["open"]) in codes
    assert _code(world, ids["hidden"]) not in codes
    assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == 3

    jsonld = client.get("/api/v1/catalog.jsonld")
    assert jsonld.headers["content-type"] == "application/ld+json"
    document = json.loads(jsonld.text)
    assert "@context" in document
    member = Graph().parse(
        data=client.get("/api/v1/catalog.ttl", headers=bearer(world, "enterprise.analyst")).text,
        format="turtle",
    )
    assert len(list(member.subjects(RDF.type, DCAT.Dataset))) == 4


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_bilingual_literals_and_themes(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    text = client.get("/api/v1/catalog.jsonld").text
    graph = Graph().parse(data=text, format="json-ld")
    ok, report = _validate(graph)
    assert ok, report
    node = _dataset(graph, _code(world, ids["open"]))
    assert set(graph.objects(node, DCTERMS.title)) == {
        Literal("部门编制统计", lang="zh"),
        Literal("Staffing by unit", lang="en"),
    }
    assert set(graph.objects(node, DCTERMS.description)) == {
        Literal("各部门编制人数。", lang="zh"),
        Literal("Staff numbers per unit.", lang="en"),
    }
    # No literal anywhere glues the two languages together.
    assert not [o for o in graph.objects() if isinstance(o, Literal) and " / " in str(o)]
    themes = set(graph.objects(node, DCAT.theme))
    assert URIRef(EU + "GOVE") in themes
    assert URIRef(EU + "HEAL") in themes
    own = next(t for t in themes if not str(t).startswith(EU))
    assert (own, SKOS.prefLabel, Literal("水务", lang="zh")) in graph
    assert (URIRef(EU + "GOVE"), SKOS.prefLabel, Literal("政府和公共部门", lang="zh")) in graph
    assert (
        URIRef(EU + "GOVE"),
        SKOS.prefLabel,
        Literal("Government and public sector", lang="en"),
    ) in graph


# -- dataset URIs resolve -------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_dataset_uris_resolve(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    code = _code(world, ids["open"])
    exported = Graph().parse(data=client.get("/api/v1/catalog.ttl").text, format="turtle")
    uri = _dataset(exported, code)
    path = urlparse(str(uri)).path
    assert path == f"/resources/{code}"

    answer = client.get(path, headers=JSONLD)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ld+json"
    assert answer.headers["vary"] == "Accept"
    graph = Graph().parse(data=answer.text, format="json-ld")
    assert (uri, RDF.type, DCAT.Dataset) in graph
    ok, report = _validate(graph)
    assert ok, report
    assert Literal("Staffing by unit", lang="en") in set(graph.objects(uri, DCTERMS.title))
    assert URIRef(EU + "GOVE") in set(graph.objects(uri, DCAT.theme))

    turtle = client.get(path, headers={"Accept": "text/turtle"})
    assert turtle.headers["content-type"] == "text/turtle; charset=utf-8"
    assert (uri, RDF.type, DCAT.Dataset) in Graph().parse(data=turtle.text, format="turtle")

    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = client.get(path, headers={"Accept": browser}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/catalog/resources/{code}"
    # The grouped form people copy resolves to the same resource.
    grouped = f"{code[:6]}-{code[6:15]}-{code[15:21]}-{code[21]}"
    assert client.get(f"/resources/{grouped}", headers=JSONLD).status_code == 200

    refused = client.get(path, headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.json()["error"]["code"] == "not_acceptable"
    bad = client.get("/resources/330106MA27XL6Y1000001Q", headers=JSONLD)
    assert bad.status_code == 400


def test_hidden_dataset_uri_is_not_found(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    path = f"/resources/{_code(world, ids['hidden'])}"
    for accept in ("application/ld+json", "text/html"):
        answer = client.get(path, headers={"Accept": accept}, follow_redirects=False)
        assert answer.status_code == 404, accept
        assert answer.json()["error"]["code"] == "not_found"
    member = client.get(path, headers={**JSONLD, **bearer(world, "enterprise.analyst")})
    assert member.status_code == 200


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/ld+json"),
        ("*/*", "application/ld+json"),
        ("application/*", "application/ld+json"),
        ("text/*", "text/turtle"),
        ("text/turtle;q=0.5, application/ld+json;q=0.4", "text/turtle"),
        ("text/html;q=0, */*", "application/ld+json"),
        ("application/ld+json;q=0", None),
        ("application/json", None),
        ("text/html;q=bad", None),
    ],
)
def test_negotiation(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


@pytest.mark.parametrize(
    ("text", "en", "expected"),
    [
        ("社保缴费 / Social insurance", None, Text("社保缴费", "Social insurance")),
        ("社保缴费", "Social insurance", Text("社保缴费", "Social insurance")),
        ("社保缴费", None, Text("社保缴费")),
        ("a / b", None, Text("a / b")),
        ("缴费 / 参保", None, Text("缴费 / 参保")),
        ("缴费 / ", None, Text("缴费 / ")),
    ],
)
def test_bilingual_split(text: str, en: str | None, expected: Text) -> None:
    assert Text.bilingual(text, en) == expected


def test_theme_names() -> None:
    assert Theme.named("TRAN").eu_code == "TRAN"
    assert Theme.named("transport").eu_code == "TRAN"
    assert Theme.named("transport").label == Text("交通运输", "Transport")
    assert Theme.named("水务").eu_code is None


# -- participants' public profiles ----------------------------------------------------------


def test_public_profiles_without_a_token(client: ApiClient, world: World) -> None:
    listed = client.get("/api/v1/participants")
    assert listed.status_code == 200, listed.text
    rows = listed.json()["data"]
    assert {r["status"] for r in rows} == {"approved"}
    assert world.ids["pending"] not in {r["id"] for r in rows}
    assert all("contacts" not in r and "members" not in r for r in rows)
    pending = client.get("/api/v1/participants", params={"status": "pending"})
    assert pending.json()["data"] == []

    shown = client.get(f"/api/v1/participants/{world.ids['enterprise']}")
    assert shown.status_code == 200
    profile = shown.json()["data"]
    assert {"name", "kind", "region_code"} <= set(profile)
    assert "contacts" not in profile
    assert "status_reason" not in profile
    assert client.get(f"/api/v1/participants/{world.ids['enterprise']}/members").status_code == 401
    qualifications = client.get(f"/api/v1/participants/{world.ids['enterprise']}/qualifications")
    assert qualifications.status_code == 200

    for path in (f"/api/v1/participants/{world.ids['pending']}", "/api/v1/participants/999999"):
        assert client.get(path).status_code == 404
        assert client.get(f"{path}/qualifications").status_code == 404
    member = client.get(
        f"/api/v1/participants/{world.ids['pending']}", headers=bearer(world, "enterprise.analyst")
    )
    assert member.status_code == 200


# -- open data under an automatic grant -----------------------------------------------------


def test_open_data_is_queried_under_an_automatic_grant(
    client: ApiClient, world: World, tmp_path: Path
) -> None:
    ids = _catalog(world, tmp_path)
    path = f"/api/v1/resources/{ids['open']}/open-grant"
    assert client.post(path).status_code == 401  # attributable: a token is needed
    before, last = _events(world), _last(world)
    analyst = bearer(world, "enterprise.analyst")
    taken = client.post(path, headers=analyst)
    assert taken.status_code == 201, taken.text
    body = taken.json()
    grant = body["data"]
    assert grant["issued"] is True
    assert grant["grantee_id"] == world.ids["enterprise"]
    assert grant["status"] == "active"
    assert set(grant["column_constraints"]) == {"部门", "人数"}
    assert "open_data_use" in json.dumps(grant["agreement"])
    assert _events(world) == before + 2
    with world.platform.db.read() as session:
        events = session.scalars(select(Event).where(Event.seq > last).order_by(Event.seq)).all()
        assert [e.type for e in events] == ["application.submitted", "grant.issued"]
        assert body["receipt"]["log_index"] == events[0].seq
        for event in events:
            assert event.payload["automatic"] is True
            assert event.payload["rule"] == "open_data"
        stored = session.get(Grant, grant["id"])
        assert stored is not None
        assert stored.resource_id == ids["open"]

    sql = f"SELECT 部门, 人数 FROM {grant['table']} ORDER BY 人数"
    ran = client.post(
        "/api/v1/queries", json={"grant_id": grant["id"], "sql": sql}, headers=analyst
    )
    assert ran.status_code == 200, ran.text
    index = ran.json()["receipt"]["log_index"]
    with world.platform.db.read() as session:
        executed = session.get(Event, index)
        assert executed is not None
        assert executed.type == "query.executed"
    assert "综合处" in ran.text

    # Taken again: the same grant, nothing written.
    again = client.post(path, headers=bearer(world, "enterprise.admin"))
    assert again.status_code == 200, again.text
    assert again.json()["data"]["id"] == grant["id"]
    assert again.json()["data"]["issued"] is False
    assert again.json()["receipt"]["log_index"] == body["receipt"]["log_index"]
    # Another participant gets its own.
    other = client.post(path, headers=bearer(world, "enterprise2.analyst"))
    assert other.status_code == 201
    assert other.json()["data"]["id"] != grant["id"]


def _refusal(client: ApiClient, world: World, resource_id: int) -> dict[str, Any]:
    before = _events(world)
    response = client.post(
        f"/api/v1/resources/{resource_id}/open-grant", headers=bearer(world, "enterprise.analyst")
    )
    assert response.status_code == 403, response.text
    assert _events(world) == before
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "policy_violation"
    return error


def test_automatic_grant_refusals(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    for kind in ("shared", "conditional_open", "hidden"):
        error = _refusal(client, world, ids[kind])
        assert error["details"]["rule"] == "open_data.not_open"
        assert "apply for it" in error["message"]
    unconfirmed = _register(world, _csv(tmp_path / "u.csv"), share="not_shared", opened="open")
    assert _refusal(client, world, unconfirmed)["details"]["rule"] == "open_data.grade_unconfirmed"
    high = _register(
        world,
        _csv(tmp_path / "h.csv"),
        share="not_shared",
        opened="open",
        grade=GradeCode.IMPORTANT,
    )
    error = _refusal(client, world, high)
    assert error["details"]["rule"] == "open_data.grade"
    assert "important" in error["message"]
    # Personal data stays out even when a steward graded it low and marked it open.
    people = _register(
        world,
        _people_csv(tmp_path / "people.csv"),
        share="not_shared",
        opened="open",
        grade=GradeCode.GENERAL_1,
        name="参保人员",
    )
    error = _refusal(client, world, people)
    assert error["details"]["rule"] == "open_data.personal"
    assert "张伟" not in json.dumps(error, ensure_ascii=False)
    missing = client.post(
        "/api/v1/resources/999999/open-grant", headers=bearer(world, "enterprise.analyst")
    )
    assert missing.status_code == 404
    # Only those who may query take it: an auditor may not.
    auditor = client.post(
        f"/api/v1/resources/{ids['open']}/open-grant", headers=bearer(world, "enterprise.auditor")
    )
    assert auditor.status_code == 403
    assert auditor.json()["error"]["code"] == "forbidden"


def test_open_data_use_is_not_applied_for(client: ApiClient, world: World, tmp_path: Path) -> None:
    ids = _catalog(world, tmp_path)
    body = {
        "scenario": "统计各部门人数 / count staff per unit",
        "purpose": "open_data_use",
        "resources": [{"resource_id": ids["shared"], "columns": ["部门"]}],
        "output": {"mode": "records"},
        "duration_days": 30,
        "expected_queries": 10,
    }
    response = client.post(
        "/api/v1/applications", json=body, headers=bearer(world, "enterprise.analyst")
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["field"] == "purpose"

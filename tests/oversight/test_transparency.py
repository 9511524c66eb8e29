"""The OCDS release package built from the store, validated against OCDS 1.1.5 + lots.

The package is checked with the official schemas (the lots extension merged
in as a JSON Merge Patch) and the official codelists, read by
``_ocds_schema`` from ``tests/fixtures`` in the tests only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from datacompact.errors import NotFound
from datacompact.oversight import ocds, transparency

from ..conftest import World
from ..delivery._delivery import MET, SECRET_DOCUMENT, build, report, sign
from ._ocds_schema import codelist_errors, problems

BASE = "https://data.example.gov.cn"
PUBLISHED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
LOSING_PRICE = "987654.32"


def _city(world: World) -> dict[str, Any]:
    """Four processes: contracted, awarded, sealed (not opened), and one classified."""
    ids = world.ids
    with world.platform.db.write() as session:
        contracted = build(
            session,
            owner=ids["department"],
            supplier=ids["enterprise"],
            bidders=(ids["enterprise2"], ids["regulator"]),
            prices=(LOSING_PRICE, "1100000.00"),
            value="1000000.50",
            method="comprehensive",
            category="module_development",
        )
        awarded = build(
            session,
            owner=ids["department"],
            supplier=ids["enterprise2"],
            bidders=(ids["enterprise"],),
            prices=("2222222.22",),
            project_id=contracted.project_id,
        )
        sealed = build(
            session,
            owner=ids["department"],
            supplier=None,
            bidders=(ids["enterprise"], ids["enterprise2"]),
            prices=("3333333.33", "4444444.44"),
            opened=False,
            project_id=contracted.project_id,
        )
        secret = build(
            session,
            owner=ids["department"],
            supplier=ids["enterprise"],
            classified=True,
            value="5555555.55",
        )
    assert contracted.award_id is not None
    contract_id = sign(world, "department", contracted.award_id)
    report(world, "enterprise", contract_id, "2025-04", MET)
    return {
        "contracted": contracted,
        "awarded": awarded,
        "sealed": sealed,
        "secret": secret,
        "contract": contract_id,
    }


def _package(world: World) -> dict[str, Any]:
    with world.platform.db.read() as session:
        return transparency.release_package(session=session, base_url=BASE, published=PUBLISHED)


def test_package_validates_against_ocds_with_lots(world: World) -> None:
    _city(world)
    package = _package(world)
    assert problems(package) == []
    assert package["version"] == "1.1"
    assert package["extensions"] == [ocds.LOTS_EXTENSION_URL]
    assert package["uri"] == f"{BASE}/public/ocds/release-package.json"
    tags = sorted(r["tag"][0] for r in package["releases"])
    # contracted: tender, award, contract; awarded: tender, award; sealed: tender.
    assert tags == ["award", "award", "contract", "tender", "tender", "tender"]
    # Serialized and read back, it still validates (Decimal amounts as JSON numbers).
    assert problems(json.loads(ocds.to_json(package))) == []


def test_codelist_values(world: World) -> None:
    built = _city(world)
    releases = _package(world)["releases"]
    for r in releases:
        assert codelist_errors(r) == []
    tenders = {r["tender"]["id"]: r["tender"] for r in releases if "tender" in r}
    contracted = tenders[f"T{built['contracted'].tender_id}"]
    awarded = tenders[f"T{built['awarded'].tender_id}"]
    assert contracted["awardCriteria"] == "ratedCriteria"
    assert awarded["awardCriteria"] == "priceOnly"
    assert contracted["status"] == "complete"
    assert contracted["procurementMethod"] == "open"
    assert contracted["lots"][0]["id"] == f"L{built['contracted'].lot_id}"
    (contract,) = [c for r in releases for c in r.get("contracts", [])]
    assert contract["status"] == "active"
    assert {m["type"] for m in contract["milestones"]} == {"payment"}
    assert contract["period"]["startDate"] == "2025-03-01T00:00:00+08:00"
    (award,) = [a for r in releases for a in r.get("awards", []) if a["id"] == contract["awardID"]]
    assert award["value"] == {"amount": 1000000.5, "currency": "CNY"}
    assert award["relatedLots"] == [f"L{built['contracted'].lot_id}"]


def test_parties_carry_uscc_and_roles(world: World) -> None:
    built = _city(world)
    releases = _package(world)["releases"]
    award_release = next(
        r
        for r in releases
        if r["tag"] == ["award"] and r["ocid"].endswith(f"T{built['contracted'].tender_id}")
    )
    roles = {p["identifier"]["id"]: set(p["roles"]) for p in award_release["parties"]}
    assert roles["11330100MB0000002W"] == {"buyer", "procuringEntity"}
    assert roles["91330106MA27XL6Y1N"] == {"tenderer", "supplier"}
    assert roles["91330108MA2B0000XJ"] == {"tenderer"}
    assert all(p["identifier"]["scheme"] == "CN-USCC" for p in award_release["parties"])
    assert award_release["buyer"]["id"] == "CN-USCC-11330100MB0000002W"


def test_sealed_bids_reveal_nothing(world: World) -> None:
    built = _city(world)
    package = _package(world)
    text = ocds.to_json(package)
    # No bid document, and no losing or unopened price, ever.
    for secret in (
        SECRET_DOCUMENT.decode(),
        LOSING_PRICE,
        "987654",
        "3333333",
        "4444444",
        "2222222",
    ):
        assert secret not in text
    sealed = next(
        r["tender"]
        for r in package["releases"]
        if r["ocid"].endswith(f"T{built['sealed'].tender_id}")
    )
    assert "numberOfTenderers" not in sealed
    assert sealed["status"] == "active"
    sealed_release = next(
        r for r in package["releases"] if r["ocid"].endswith(f"T{built['sealed'].tender_id}")
    )
    assert [p["roles"] for p in sealed_release["parties"]] == [["buyer", "procuringEntity"]]
    opened = next(
        r["tender"]
        for r in package["releases"]
        if r["ocid"].endswith(f"T{built['contracted'].tender_id}") and "tender" in r
    )
    assert opened["numberOfTenderers"] == 3


def test_classified_projects_are_not_published(world: World) -> None:
    built = _city(world)
    text = ocds.to_json(_package(world))
    assert f"P{built['secret'].project_id}-" not in text
    assert "5555555" not in text
    with world.platform.db.read() as session:
        listing = transparency.public_projects(session=session)
    assert [p.id for p in listing] == [built["contracted"].project_id]


def test_public_listing(world: World) -> None:
    built = _city(world)
    with world.platform.db.read() as session:
        (project,) = transparency.public_projects(session=session)
    lots = {lot.id: lot for lot in project.lots}
    contracted = lots[built["contracted"].lot_id]
    assert contracted.number_of_tenderers == 3
    assert contracted.award is not None
    assert contracted.award.supplier_name == "测试enterprise.admin"
    assert contracted.contract is not None
    assert contracted.contract.status == "active"
    sealed = lots[built["sealed"].lot_id]
    assert sealed.number_of_tenderers is None
    assert sealed.award is None
    assert sealed.tender_status == "open"
    assert LOSING_PRICE not in project.model_dump_json()


def test_accepted_contract_and_met_milestones(world: World) -> None:
    built = _city(world)
    from datacompact.delivery import contracts

    with world.platform.db.write() as session:
        actor = world.principal("department.admin")
        view = contracts.get_contract(session=session, actor=actor, contract_id=built["contract"])
        for m in view.milestones:
            contracts.accept_milestone(
                session=session, actor=actor, contract_id=view.id, milestone_id=m.id
            )
        contracts.accept_contract(session=session, actor=actor, contract_id=view.id)
    package = _package(world)
    assert problems(package) == []
    (contract,) = [c for r in package["releases"] for c in r.get("contracts", [])]
    assert contract["status"] == "terminated"
    assert {m["status"] for m in contract["milestones"]} == {"met"}


def test_nothing_to_publish(world: World) -> None:
    with pytest.raises(NotFound):
        _package(world)
    with world.platform.db.read() as session:
        assert transparency.public_projects(session=session) == []

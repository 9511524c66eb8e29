"""OCDS 1.1.5 output, validated against the official schemas with the lots extension merged."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from datacompact.errors import InvalidIdentifier, InvalidInput
from datacompact.oversight import ocds
from datacompact.oversight.ocds import (
    AWARD_CRITERIA,
    CODELISTS,
    LOTS_EXTENSION_URL,
    OcdsAddress,
    OcdsAward,
    OcdsContract,
    OcdsItem,
    OcdsLot,
    OcdsMilestone,
    OcdsParty,
    OcdsPeriod,
    OcdsTender,
    OcdsValue,
    release,
    release_package,
    to_json,
)

from ._ocds_schema import (
    LOTS,
    codelist_errors,
    codelists,
    merge_patch,
    problems,
    release_schema,
    release_validator,
)

CST = timezone(timedelta(hours=8))  # China Standard Time, UTC+8
PROCESS = "SZ-ZWFW-2025-017"
BUREAU = OcdsParty(
    "CN-USCC-11330100MB0000001R",
    "某市政务服务和大数据管理局",
    ("buyer", "procuringEntity"),
    "11330100MB0000001R",
    address=OcdsAddress("解放东路 18 号", "杭州市", "浙江省", "310020"),
)
VENDOR_A = OcdsParty(
    "CN-USCC-91330106MA2AAAAA15", "甲数字科技有限公司", ("tenderer",), "91330106MA2AAAAA15"
)
VENDOR_B = OcdsParty(
    "CN-USCC-91330106MA2BBBBB2G", "乙云计算有限公司", ("tenderer", "supplier"), "91330106MA2BBBBB2G"
)
VENDOR_C = OcdsParty(
    "CN-USCC-91330108MA2CCCCC3Q", "丙信息安全有限公司", ("tenderer",), "91330108MA2CCCCC3Q"
)
LOTS_ = (
    ("L1", "一网通办平台开发", "统一受理、事项库与电子证照对接", 3_200_000),
    ("L2", "数据共享接口开发", "部门数据共享交换接口与数据治理", Decimal("1800000.50")),
    ("L3", "平台运维服务（三年）", "7×24 运维，开发与运维分开招标", 2_400_000),
    ("L4", "网络安全等级保护测评", "等保三级测评与整改建议", 600_000),
)


def _tender() -> OcdsTender:
    lots = tuple(
        OcdsLot(
            lot_id,
            title,
            OcdsValue(amount),
            description,
            contract_period=OcdsPeriod(duration_in_days=1095 if lot_id == "L3" else 365),
        )
        for lot_id, title, description, amount in LOTS_
    )
    items = tuple(
        OcdsItem(f"I{n}", f"{title}：{description}", lot_id, 1, "项")
        for n, (lot_id, title, description, _) in enumerate(LOTS_, start=1)
    )
    return OcdsTender(
        id=f"{PROCESS}-tender",
        title="一网通办平台建设项目（分四个标段）",
        status="active",
        procurement_method="open",
        main_procurement_category="services",
        award_criteria=AWARD_CRITERIA["comprehensive"],
        tender_period=OcdsPeriod(
            datetime(2025, 3, 3, 9, 0, tzinfo=CST), datetime(2025, 3, 24, 9, 30, tzinfo=CST)
        ),
        lots=lots,
        items=items,
        description="政务服务“一网通办”平台：开发、接口、运维与测评分标段招标",
        value=OcdsValue(Decimal("8000000.50")),
        procuring_entity=BUREAU,
        number_of_tenderers=3,
        max_lots_awarded_per_supplier=2,
    )


def _award() -> OcdsAward:
    return OcdsAward(
        "AW-L2",
        "active",
        datetime(2025, 4, 2, 15, 0, tzinfo=CST),
        OcdsValue(Decimal("1698000.00")),
        (VENDOR_B,),
        related_lots=("L2",),
        title="数据共享接口开发标段中标",
    )


def _contract() -> OcdsContract:
    milestone = OcdsMilestone(
        "M1", "接口联调验收", "delivery", datetime(2025, 9, 30, 17, 0, tzinfo=CST)
    )
    return OcdsContract(
        "CT-L2",
        "AW-L2",
        "active",
        OcdsValue(Decimal("1698000.00")),
        OcdsPeriod(
            datetime(2025, 4, 15, 0, 0, tzinfo=CST), datetime(2026, 4, 14, 23, 59, tzinfo=CST)
        ),
        date_signed=datetime(2025, 4, 12, 10, 0, tzinfo=CST),
        title="数据共享接口开发合同",
        milestones=(milestone,),
    )


def _package() -> dict[str, Any]:
    tender = release(
        process_id=PROCESS,
        tag="tender",
        sequence=1,
        date=datetime(2025, 3, 3, 9, 0, tzinfo=CST),
        parties=[BUREAU],
        buyer=BUREAU,
        tender=_tender(),
    )
    award = release(
        process_id=PROCESS,
        tag="award",
        sequence=2,
        date=datetime(2025, 4, 2, 15, 0, tzinfo=CST),
        parties=[BUREAU, VENDOR_A, VENDOR_B, VENDOR_C],
        buyer=BUREAU,
        awards=[_award()],
    )
    contract = release(
        process_id=PROCESS,
        tag="contract",
        sequence=3,
        date=datetime(2025, 4, 12, 10, 0, tzinfo=CST),
        parties=[BUREAU, VENDOR_B],
        buyer=BUREAU,
        contracts=[_contract()],
    )
    return release_package(
        [tender, award, contract],
        uri=f"https://data.example.gov.cn/ocds/{PROCESS}.json",
        published_date=datetime(2025, 4, 12, 12, 0, tzinfo=CST),
        publisher_name="某市政务服务和大数据管理局",
        publisher_scheme="CN-USCC",
        publisher_uid="11330100MB0000001R",
    )


def test_format_checks_are_active() -> None:
    # Without rfc3339-validator and rfc3986-validator, jsonschema skips these formats silently.
    checkers = Draft4Validator.FORMAT_CHECKER.checkers
    assert "date-time" in checkers, "install the dev extra's format checkers"
    assert "uri" in checkers, "install the dev extra's format checkers"


def test_lots_extension_is_merged() -> None:
    schema = release_schema()
    assert "lots" in schema["definitions"]["Tender"]["properties"]
    assert "relatedLots" in schema["definitions"]["Award"]["properties"]
    assert schema["definitions"]["Lot"]["properties"]["status"]["codelist"] == "tenderStatus.csv"
    assert json.loads((LOTS / "extension.json").read_text())["compatibility"] == ["1.1"]


def test_merge_patch_follows_rfc_7386() -> None:
    # RFC 7386 appendix A examples
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b", "b": "c"}, {"a": None}) == {"b": "c"}
    assert merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}


def test_package_validates_against_the_official_schemas() -> None:
    package = _package()
    assert problems(package) == []
    for item in package["releases"]:
        assert list(release_validator().iter_errors(item)) == []
    assert package["version"] == "1.1"
    assert package["extensions"] == [LOTS_EXTENSION_URL]
    assert package["publisher"] == {
        "name": "某市政务服务和大数据管理局",
        "scheme": "CN-USCC",
        "uid": "11330100MB0000001R",
    }


def test_releases_carry_the_lots() -> None:
    tender_release, award_release, contract_release = _package()["releases"]
    tender = tender_release["tender"]
    assert [lot["id"] for lot in tender["lots"]] == ["L1", "L2", "L3", "L4"]
    assert [item["relatedLot"] for item in tender["items"]] == ["L1", "L2", "L3", "L4"]
    assert tender["lots"][2]["contractPeriod"] == {"durationInDays": 1095}
    assert tender["lotDetails"] == {"maximumLotsAwardedPerSupplier": 2}
    assert tender["procuringEntity"] == {"id": BUREAU.id, "name": BUREAU.name}
    assert tender["awardCriteria"] == "ratedCriteria"
    assert award_release["awards"][0]["relatedLots"] == ["L2"]
    assert award_release["awards"][0]["suppliers"] == [{"id": VENDOR_B.id, "name": VENDOR_B.name}]
    contract = contract_release["contracts"][0]
    assert contract["awardID"] == "AW-L2"
    assert contract["milestones"][0]["type"] == "delivery"
    party = tender_release["parties"][0]
    assert party["identifier"] == {"id": "11330100MB0000001R", "scheme": "CN-USCC"}
    assert party["address"]["countryName"] == "中国"


def test_release_ids_are_deterministic_and_unique() -> None:
    package = _package()
    ids = [item["id"] for item in package["releases"]]
    assert ids == [
        f"ocds-dcmpct-{PROCESS}-tender-1",
        f"ocds-dcmpct-{PROCESS}-award-2",
        f"ocds-dcmpct-{PROCESS}-contract-3",
    ]
    assert {item["ocid"] for item in package["releases"]} == {f"ocds-dcmpct-{PROCESS}"}
    assert _package() == package


def test_amounts_are_json_numbers_and_dates_keep_their_offset() -> None:
    text = to_json(_package())
    assert '"amount": 1800000.5,' in text
    assert '"amount": 1698000,' in text
    tender = json.loads(text)["releases"][0]["tender"]
    assert tender["value"] == {"amount": 8000000.5, "currency": "CNY"}
    assert tender["tenderPeriod"] == {
        "startDate": "2025-03-03T09:00:00+08:00",
        "endDate": "2025-03-24T09:30:00+08:00",
    }


def test_chinese_text_survives() -> None:
    package = _package()
    text = to_json(package)
    assert "一网通办平台建设项目（分四个标段）" in text
    assert "\\u" not in text
    back = json.loads(text.encode("utf-8").decode("utf-8"))
    assert back["releases"][0]["tender"]["lots"][2]["title"] == "平台运维服务（三年）"
    assert back["releases"][0]["language"] == "zh"
    assert back == json.loads(json.dumps(package, ensure_ascii=False))


def test_codelist_values_are_current_codes() -> None:
    for item in _package()["releases"]:
        assert codelist_errors(item) == []


@pytest.mark.parametrize("name", sorted(CODELISTS))
def test_embedded_codelists_are_current_official_codes(name: str) -> None:
    official = codelists()[name]
    assert CODELISTS[name] <= official.keys()
    assert not [code for code in CODELISTS[name] if official[code]], "deprecated code embedded"


def test_award_criteria_of_the_evaluation_methods() -> None:
    official = codelists()["awardCriteria.csv"]
    assert AWARD_CRITERIA == {"lowest_price": "priceOnly", "comprehensive": "ratedCriteria"}
    assert official["lowestCost"]
    assert official["bestProposal"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("tender", "procurementMethod"), "openTender", "is not one of"),
        (("tender", "awardCriteria"), "lowestCost", "deprecated in awardCriteria.csv"),
        (("tender", "awardCriteria"), "cheapest", "is not in awardCriteria.csv"),
        (("tender", "lots", 0, "status"), "open", "is not one of"),
        (("parties", 0, "roles", 0), "owner", "is not in partyRole.csv"),
        (("tender", "value", "currency"), "RMB", "is not one of"),
        (("date",), "2025-03-03 09:00", "is not a 'date-time'"),
    ],
)
def test_wrong_values_are_caught(path: tuple[Any, ...], value: str, expected: str) -> None:
    package = copy.deepcopy(_package())
    target = package["releases"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(expected in problem for problem in problems(package)), problems(package)


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (0, ("initiationType",)),
        (0, ("ocid",)),
        (2, ("contracts", 0, "awardID")),
        (0, ("tender", "id")),
    ],
)
def test_missing_required_fields_are_caught(index: int, path: tuple[Any, ...]) -> None:
    package = copy.deepcopy(_package())
    target = package["releases"][index]
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    assert any("is a required property" in problem for problem in problems(package))


def test_package_level_errors_are_caught() -> None:
    package = _package()
    del package["publisher"]
    package["uri"] = "not a uri"
    found = problems(package)
    assert any("'publisher' is a required property" in p for p in found)
    assert any("is not a 'uri'" in p for p in found)


def test_codes_are_checked_when_built() -> None:
    with pytest.raises(InvalidInput, match=r"method\.csv"):
        replace(_tender(), procurement_method="competitive")
    with pytest.raises(InvalidInput, match=r"awardCriteria\.csv"):
        replace(_tender(), award_criteria="lowestCost")
    with pytest.raises(InvalidInput, match=r"awardStatus\.csv"):
        OcdsAward("A", "won", datetime.now(CST), OcdsValue(1), ())
    with pytest.raises(InvalidInput, match=r"contractStatus\.csv"):
        OcdsContract("C", "A", "signed", OcdsValue(1))
    with pytest.raises(InvalidInput, match=r"milestoneType\.csv"):
        OcdsMilestone("M", "验收", "acceptance")
    with pytest.raises(InvalidInput, match=r"partyRole\.csv"):
        OcdsParty("P", "某公司", ("vendor",), "91330106MA2AAAAA15")
    with pytest.raises(InvalidInput, match=r"currency\.csv"):
        OcdsValue(1, "RMB")
    with pytest.raises(InvalidIdentifier):
        OcdsParty("P", "某公司", ("supplier",), "91330106MA2AAAAA16")


@pytest.mark.parametrize(
    "amount", [Decimal("-1"), Decimal("NaN"), 1.5, True, Decimal("0.1234567890123456789")]
)
def test_amounts_must_be_exact_and_non_negative(amount: Any) -> None:
    with pytest.raises(InvalidInput):
        OcdsValue(amount).to_ocds()


def test_lot_references_are_checked() -> None:
    with pytest.raises(InvalidInput, match="related to listed lots"):
        replace(_tender(), items=(OcdsItem("I9", "其他", "L9"),))
    lots = _tender().lots
    with pytest.raises(InvalidInput, match="unique lot ids"):
        replace(_tender(), lots=(*lots, lots[0]))


def test_release_checks_its_inputs() -> None:
    when = datetime(2025, 4, 2, tzinfo=CST)
    base: dict[str, Any] = {"process_id": PROCESS, "sequence": 1, "date": when}
    with pytest.raises(InvalidInput, match="section"):
        release(**base, tag="award", parties=[BUREAU])
    tenderer_only = replace(VENDOR_B, roles=("tenderer",))
    with pytest.raises(InvalidInput, match="role supplier"):  # listed, but not as a supplier
        release(**base, tag="award", parties=[BUREAU, tenderer_only], awards=[_award()])
    with pytest.raises(InvalidInput, match="role supplier"):  # supplier missing from parties
        release(**base, tag="award", parties=[BUREAU], awards=[_award()])
    with pytest.raises(InvalidInput, match=r"releaseTag\.csv"):
        release(**base, tag="compiled", parties=[BUREAU], tender=_tender())
    with pytest.raises(InvalidInput, match="ocid prefix"):
        release(**base, tag="tender", parties=[BUREAU], tender=_tender(), ocid_prefix="dcmpct")
    with pytest.raises(InvalidInput, match="unique party ids"):
        release(**base, tag="tender", parties=[BUREAU, BUREAU], tender=_tender())
    with pytest.raises(InvalidInput, match="timezone-aware"):
        release(
            **{**base, "date": datetime(2025, 4, 2)},
            tag="tender",
            parties=[BUREAU],
            tender=_tender(),
        )
    with pytest.raises(InvalidInput, match="sequence"):
        release(**{**base, "sequence": 0}, tag="tender", parties=[BUREAU], tender=_tender())


def test_tag_variants_pick_their_section() -> None:
    when = datetime(2025, 5, 1, tzinfo=CST)
    out = release(
        process_id=PROCESS,
        tag="implementationUpdate",
        sequence=4,
        date=when,
        parties=[BUREAU],
        contracts=[_contract()],
        ocid_prefix="ocds-abc123",
    )
    assert out["id"] == f"ocds-abc123-{PROCESS}-implementationUpdate-4"
    assert codelist_errors(out) == []
    assert list(release_validator().iter_errors(out)) == []


def test_package_checks_links_and_uniqueness() -> None:
    package = _package()
    tender, award, contract = package["releases"]
    kwargs: dict[str, Any] = {
        "uri": "https://data.example.gov.cn/ocds/p.json",
        "published_date": datetime(2025, 4, 12, tzinfo=CST),
        "publisher_name": "某市",
    }
    with pytest.raises(InvalidInput, match="unique release ids"):
        release_package([tender, tender], **kwargs)
    with pytest.raises(InvalidInput, match="at least one release"):
        release_package([], **kwargs)
    with pytest.raises(InvalidInput, match="absolute"):
        release_package([tender], **{**kwargs, "uri": "ocds/p.json"})
    stray = copy.deepcopy(award)
    stray["awards"][0]["relatedLots"] = ["L9"]
    with pytest.raises(InvalidInput, match="tender's lots"):
        release_package([tender, stray], **kwargs)
    orphan = copy.deepcopy(contract)
    orphan["contracts"][0]["awardID"] = "AW-L9"
    with pytest.raises(InvalidInput, match="awards"):
        release_package([award, orphan], **kwargs)
    # A contract alone may name an award published in an earlier package.
    assert release_package([orphan], **kwargs)["releases"] == [orphan]


def test_product_does_not_read_shared_standards() -> None:
    source = Path(ocds.__file__).read_text(encoding="utf-8")
    assert "shared" not in source
    assert "open(" not in source

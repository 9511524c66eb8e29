"""OCDS 1.1.5 releases and release packages, with the lots extension.

Every tender, award and contract of a cooperation project is published as an
Open Contracting Data Standard release. The inputs are plain frozen
dataclasses, independent of the store, and the output is plain ``dict``\\ s
ready for :func:`to_json`: amounts are JSON numbers, dates RFC 3339 strings with
their offset, and empty fields are left out rather than set to ``null``.

* ``ocid`` is ``{ocid_prefix}-{process_id}``, and a release id
  ``{ocid}-{tag}-{sequence}``. :data:`DEFAULT_OCID_PREFIX` is a placeholder:
  the Open Contracting Partnership registers a real prefix (``ocds-`` and six
  characters) for each publisher, which a deployment passes in.
* Parties are identified by their USCC (GB 32100) under the scheme
  :data:`USCC_SCHEME`, a configurable field of :class:`OcdsParty`. Check the
  org-id.guide list before publishing: it files Chinese registers under the
  registration agency (e.g. ``CN-SAIC``) rather than the code.
* Codes are checked against :data:`CODELISTS`; deprecated codes (``lowestCost``,
  ``bestProposal``...) are refused. ``priceOnly`` is 最低评标价法 and
  ``ratedCriteria`` 综合评分法 (:data:`AWARD_CRITERIA`).

Nothing is fetched: :data:`LOTS_EXTENSION_URL` is only named in the package.

>>> from datetime import UTC, datetime
>>> when = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
>>> buyer = OcdsParty("CN-USCC-91110000710926094P", "市数据局", ("buyer",), "91110000710926094P")
>>> award = OcdsAward("A-1", "active", when, OcdsValue(1200000), (), related_lots=("L-2",))
>>> r = release(process_id="P-1", tag="award", sequence=1, date=when, parties=[buyer], awards=[award])
>>> r["id"], r["awards"][0]["value"], r["date"]
('ocds-dcmpct-P-1-award-1', {'amount': 1200000, 'currency': 'CNY'}, '2025-03-01T09:00:00+00:00')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from datacompact.errors import InvalidInput
from datacompact.registry.identifiers import validate_uscc

OCDS_VERSION = "1.1"
LOTS_EXTENSION_URL = "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json"
DEFAULT_OCID_PREFIX = "ocds-dcmpct"  # placeholder, see the module docstring
USCC_SCHEME = "CN-USCC"

# OCDS 1.1.5 codes emitted here, a codelist a line; open codelists are closed too. releaseTag
# omits planning* (no planning section is built) and compiled (records only); money is in CNY.
_CODES = """
releaseTag tender tenderAmendment tenderUpdate tenderCancellation award awardUpdate awardCancellation contract contractUpdate contractAmendment implementation implementationUpdate contractTermination
tenderStatus planning planned active cancelled unsuccessful complete withdrawn
method open selective limited direct
procurementCategory goods works services
awardCriteria priceOnly costOnly qualityOnly ratedCriteria
submissionMethod electronicSubmission electronicAuction written inPerson
awardStatus pending active cancelled unsuccessful
contractStatus pending active cancelled terminated
milestoneType preProcurement approval engagement assessment delivery reporting financing payment
milestoneStatus scheduled met notMet partiallyMet
partyRole buyer procuringEntity supplier tenderer funder enquirer payer payee reviewBody interestedParty
currency CNY
"""
#: Allowed codes by codelist file name (as in ``schema/codelists``), e.g. ``"method.csv"``.
CODELISTS: Mapping[str, frozenset[str]] = {
    f"{name}.csv": frozenset(codes)
    for name, *codes in (line.split() for line in _CODES.strip().splitlines())
}
#: Evaluation method (see :mod:`datacompact.procurement.evaluation`) → awardCriteria code.
AWARD_CRITERIA: Mapping[str, str] = {"lowest_price": "priceOnly", "comprehensive": "ratedCriteria"}
_OCID_PREFIX = re.compile(r"ocds-[a-z0-9]{6}")
_PROCESS_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SECTIONS = (("tender", "tender"), ("award", "awards"))  # contract*, implementation*: contracts


def _code(value: str, codelist: str, field: str) -> str:
    if value not in CODELISTS[codelist]:
        raise InvalidInput(
            f"代码不在 OCDS 代码表中 / expected a code of {codelist} for {field}",
            details={"field": field, "codelist": codelist, "reason": "not_in_codelist"},
        )
    return value


def _date(value: datetime, field: str) -> str:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidInput(
            f"{field} 须带时区 / expected a timezone-aware datetime for {field}",
            details={"field": field},
        )
    return value.isoformat(timespec="seconds")  # RFC 3339 date-time with its offset


def _ocds(value: Any, name: str) -> Any:
    """The OCDS JSON of one field value; a nested party becomes a reference to it."""
    if isinstance(value, OcdsParty):
        return {"id": value.id, "name": value.name}
    if isinstance(value, OcdsValue):
        return value.to_ocds()
    if isinstance(value, datetime):
        return _date(value, name)
    if isinstance(value, tuple):
        return [_ocds(item, name) for item in value]
    return _dump(value) if is_dataclass(value) else value


def _dump(obj: Any) -> dict[str, Any]:
    """A dataclass as an OCDS object; ``metadata["ocds"]`` overrides the camelCase path."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        path = f.metadata.get("ocds") or re.sub(r"_([a-z])", lambda m: m[1].upper(), f.name)
        value = _ocds(getattr(obj, f.name), path)
        if value is None or value == [] or value == {}:
            continue
        *parents, key = path.split(".")
        target = out
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = value
    return out


def _at(path: str | None = None, default: Any = MISSING, *, codes: str | None = None) -> Any:
    """A field published under ``path`` (default: its camelCase name), from codelist ``codes``."""
    return field(default=default, metadata={"ocds": path, "codelist": codes})


@dataclass(frozen=True)
class _Checked:
    def __post_init__(self) -> None:
        """Every field that names a codelist holds codes of it (one, or a tuple)."""
        for f in fields(self):
            if codelist := f.metadata.get("codelist"):
                value = getattr(self, f.name)
                for code in value if isinstance(value, tuple) else (value,):
                    _code(code, codelist, f.name)


@dataclass(frozen=True)
class OcdsValue(_Checked):
    amount: Decimal | int
    currency: str = _at(default="CNY", codes="currency.csv")

    def __post_init__(self) -> None:
        super().__post_init__()
        amount = self.amount
        if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
            raise InvalidInput("金额须为 Decimal / expected an int or Decimal amount")
        if not Decimal(amount).is_finite() or amount < 0:
            raise InvalidInput("金额须为非负数 / expected a non-negative amount")

    def to_ocds(self) -> dict[str, Any]:
        amount = Decimal(self.amount)
        if amount == amount.to_integral_value():
            return {"amount": int(amount), "currency": self.currency}
        number = float(amount)
        if Decimal(repr(number)) != amount:  # JSON numbers are read back as doubles
            raise InvalidInput("金额精度过高 / expected an amount a JSON number can hold exactly")
        return {"amount": number, "currency": self.currency}


@dataclass(frozen=True)
class OcdsPeriod:
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration_in_days: int | None = None

    def __post_init__(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise InvalidInput("期间结束早于开始 / expected a period ending after it starts")


@dataclass(frozen=True)
class OcdsAddress:
    street_address: str | None = None
    locality: str | None = None  # 市, 区
    region: str | None = None  # 省
    postal_code: str | None = None
    country_name: str | None = "中国"


@dataclass(frozen=True)
class OcdsParty(_Checked):
    """An organization; ``id`` is its id within the release, e.g. ``CN-USCC-<uscc>``."""

    id: str
    name: str
    roles: tuple[str, ...] = _at(codes="partyRole.csv")
    uscc: str = _at("identifier.id")
    scheme: str = _at("identifier.scheme", USCC_SCHEME)
    address: OcdsAddress | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        validate_uscc(self.uscc)


@dataclass(frozen=True)
class OcdsLot(_Checked):
    """A lot (标段) of the lots extension."""

    id: str
    title: str
    value: OcdsValue | None = None
    description: str | None = None
    status: str = _at(default="active", codes="tenderStatus.csv")
    contract_period: OcdsPeriod | None = None


@dataclass(frozen=True)
class OcdsItem:
    id: str
    description: str
    related_lot: str | None = None
    quantity: int | None = None
    unit_name: str | None = _at("unit.name", None)  # 套, 项, 人月


@dataclass(frozen=True)
class OcdsTender(_Checked):
    id: str
    title: str
    status: str = _at(codes="tenderStatus.csv")
    procurement_method: str = _at(codes="method.csv")
    main_procurement_category: str = _at(codes="procurementCategory.csv")
    award_criteria: str = _at(codes="awardCriteria.csv")
    tender_period: OcdsPeriod = _at()
    lots: tuple[OcdsLot, ...] = ()
    items: tuple[OcdsItem, ...] = ()
    description: str | None = None
    value: OcdsValue | None = None
    procuring_entity: OcdsParty | None = None
    number_of_tenderers: int | None = None
    submission_method: tuple[str, ...] = _at(
        default=("electronicSubmission",), codes="submissionMethod.csv"
    )
    # Vendor diversity: the cap on lots one supplier may win (lots extension lotDetails).
    max_lots_awarded_per_supplier: int | None = _at(
        "lotDetails.maximumLotsAwardedPerSupplier", None
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        lot_ids = [lot.id for lot in self.lots]
        if len(set(lot_ids)) != len(lot_ids) or any(
            item.related_lot not in (None, *lot_ids) for item in self.items
        ):
            raise InvalidInput(
                "标段编号重复或物项引用了不存在的标段 / expected unique lot ids and items related to listed lots",
                details={"reason": "lot_reference"},
            )


@dataclass(frozen=True)
class OcdsAward(_Checked):
    id: str
    status: str = _at(codes="awardStatus.csv")
    date: datetime = _at()
    value: OcdsValue = _at()
    suppliers: tuple[OcdsParty, ...] = _at()
    related_lots: tuple[str, ...] = ()
    title: str | None = None


@dataclass(frozen=True)
class OcdsMilestone(_Checked):
    id: str
    title: str
    type: str = _at(default="delivery", codes="milestoneType.csv")
    due_date: datetime | None = None
    status: str = _at(default="scheduled", codes="milestoneStatus.csv")
    related_lots: tuple[str, ...] = ()


@dataclass(frozen=True)
class OcdsContract(_Checked):
    id: str
    award_id: str = _at("awardID")
    status: str = _at(default="pending", codes="contractStatus.csv")
    value: OcdsValue | None = None
    period: OcdsPeriod | None = None
    date_signed: datetime | None = None
    title: str | None = None
    milestones: tuple[OcdsMilestone, ...] = ()


def release(
    *,
    process_id: str,
    tag: str,
    sequence: int,
    date: datetime,
    parties: Sequence[OcdsParty],
    tender: OcdsTender | None = None,
    awards: Sequence[OcdsAward] = (),
    contracts: Sequence[OcdsContract] = (),
    buyer: OcdsParty | None = None,
    ocid_prefix: str = DEFAULT_OCID_PREFIX,
    language: str = "zh",
) -> dict[str, Any]:
    """One release of the contracting process ``process_id``.

    The ``tag`` decides the section that must be present (``tender*`` a tender,
    ``award*`` awards, ``contract*`` and ``implementation*`` contracts), and every
    organization referenced must be among ``parties`` with the matching role.
    """
    if not _OCID_PREFIX.fullmatch(ocid_prefix) or not _PROCESS_ID.fullmatch(process_id):
        raise InvalidInput(
            "ocid 前缀或流程编号无效 / expected an ocid prefix 'ocds-' plus six lowercase letters or digits, and a process id of letters, digits, '.', '_' or '-'",
            details={"reason": "ocid"},
        )
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise InvalidInput("发布序号须为正整数 / expected a positive release sequence number")
    _code(tag, "releaseTag.csv", "tag")
    section = next((s for prefix, s in _SECTIONS if tag.startswith(prefix)), "contracts")
    sections = {"tender": tender, "awards": awards, "contracts": contracts}
    if not sections[section]:
        raise InvalidInput(
            f"发布标签 {tag} 需要 {section} / expected a {section} section for the tag {tag}",
            details={"reason": "missing_section", "section": section},
        )
    by_id = {party.id: party for party in parties}
    if len(by_id) != len(parties):
        raise InvalidInput("参与方编号重复 / expected unique party ids")
    references = [(buyer, "buyer")] if buyer else []
    if tender and tender.procuring_entity:
        references.append((tender.procuring_entity, "procuringEntity"))
    references += [(s, "supplier") for award in awards for s in award.suppliers]
    for party, role in references:
        if party.id not in by_id or role not in by_id[party.id].roles:
            raise InvalidInput(
                f"引用的参与方须列于 parties 且具有 {role} 角色 / expected every referenced organization in parties with the role {role}",
                details={"party_id": party.id, "role": role, "reason": "party_reference"},
            )
    ocid = f"{ocid_prefix}-{process_id}"
    head = {
        "ocid": ocid,
        "id": f"{ocid}-{tag}-{sequence}",
        "date": _date(date, "date"),
        "tag": [tag],
        "initiationType": "tender",
        "language": language,
        "parties": [_dump(party) for party in parties],
    }
    body = {
        "buyer": buyer,
        "tender": tender,
        "awards": tuple(awards),
        "contracts": tuple(contracts),
    }
    return head | {key: _ocds(value, key) for key, value in body.items() if value}


def _check_links(releases: Sequence[Mapping[str, Any]]) -> None:
    """Within one ocid: awards name the tender's lots, contracts name known awards."""
    for ocid in sorted({r["ocid"] for r in releases}):
        mine = [r for r in releases if r["ocid"] == ocid]
        lots = {lot["id"] for r in mine for lot in r.get("tender", {}).get("lots", [])}
        awards = {a["id"]: a for r in mine for a in r.get("awards", [])}
        used_lots = {lot for a in awards.values() for lot in a.get("relatedLots", [])}
        used_awards = {c["awardID"] for r in mine for c in r.get("contracts", [])}
        if (lots and not used_lots <= lots) or (awards and not used_awards <= awards.keys()):
            raise InvalidInput(
                "中标引用了未知标段，或合同引用了未知中标 / expected awards to relate to the tender's lots and contracts to the process's awards",
                details={"ocid": ocid, "reason": "dangling_reference"},
            )


def release_package(
    releases: Sequence[Mapping[str, Any]],
    *,
    uri: str,
    published_date: datetime,
    publisher_name: str,
    publisher_uid: str | None = None,
    publisher_scheme: str | None = None,
) -> dict[str, Any]:
    """A release package (``version`` 1.1) declaring the lots extension."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("包地址须为绝对 URI / expected an absolute http(s) package URI")
    if not releases:
        raise InvalidInput("发布包不能为空 / expected at least one release")
    keys = [(r["ocid"], r["id"]) for r in releases]
    if len(set(keys)) != len(keys):
        raise InvalidInput("发布编号重复 / expected unique release ids per ocid")
    _check_links(releases)
    publisher = {"name": publisher_name, "scheme": publisher_scheme, "uid": publisher_uid}
    publisher = {key: value for key, value in publisher.items() if value is not None}
    return {
        "uri": uri,
        "version": OCDS_VERSION,
        "extensions": [LOTS_EXTENSION_URL],
        "publishedDate": _date(published_date, "publishedDate"),
        "publisher": publisher,
        "releases": [dict(r) for r in releases],
    }


def to_json(package: Mapping[str, Any]) -> str:
    """UTF-8 JSON with Chinese kept as is (not ``\\uXXXX``)."""
    return json.dumps(package, ensure_ascii=False, allow_nan=False, indent=2)

"""The controlled vocabulary of purposes an application may state (一场景一申请).

A data user applies for one scenario with one purpose from this list, plus a
free-text description. In a grant the purpose becomes an ODRL 2.2
constraint on the ``purpose`` left operand (ODRL 2.2 Vocabulary §3.2, "Purpose:
a defined purpose for exercising the action"), with the ``eq`` operator and an
IRI as its right operand.

Where the W3C Data Privacy Vocabulary (DPV 2.x, ``https://w3id.org/dpv#``) has
a concept with the same meaning, that concept's IRI is used, so that other
dataspace connectors can read the purpose without knowing DataCompact. The
purposes DPV does not name (e.g. urban planning) get an IRI in the DataCompact
policy namespace, :data:`DCP`. Every code maps to a distinct IRI, so the IRI
alone round-trips to the code.

Nothing is fetched: the IRIs are identifiers, never dereferenced at run time.

>>> parse_purpose("credit_assessment").iri
'https://w3id.org/dpv#CreditChecking'
>>> parse_purpose("urban_planning").iri
'https://w3id.org/datacompact/ns/policy#purpose-urban_planning'
>>> purpose_from_iri("https://w3id.org/dpv#PublicBenefit").value
'public_interest'
>>> Purpose.COMMERCIAL_PRODUCT.info.public_interest, Purpose.RESEARCH.info.public_interest
(False, True)

Each purpose is either public-interest (public governance, public welfare and
research: free of charge) or commercial (credit assessment, fraud prevention,
commercial products: may be charged); ``PurposeInfo.public_interest`` says
which. A reviewer may class one grant otherwise (``datacompact.value``).

``open_data_use`` is the purpose of the automatic grants of open data
(:mod:`datacompact.policy.open_data`): granted by rule, never applied for.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from datacompact.errors import InvalidInput, MalformedInput

__all__ = [
    "DCP",
    "DPV",
    "PURPOSES",
    "Purpose",
    "PurposeInfo",
    "describe",
    "parse_purpose",
    "purpose_from_iri",
]

#: The DataCompact policy namespace: the ODRL profile IRI (without ``#``) and
#: the prefix of every term DataCompact adds to ODRL (left operands, purposes,
#: output modes). Reserved for DataCompact and never dereferenced.
DCP = "https://w3id.org/datacompact/ns/policy#"
#: The W3C Data Privacy Vocabulary namespace.
DPV = "https://w3id.org/dpv#"

# A free-text scenario description longer than this is refused, not truncated.
MAX_DESCRIPTION = 2000


class Purpose(StrEnum):
    """A purpose code of the controlled vocabulary."""

    CREDIT_ASSESSMENT = "credit_assessment"
    PUBLIC_SERVICE = "public_service"
    PUBLIC_INTEREST = "public_interest"
    RESEARCH = "research"
    URBAN_PLANNING = "urban_planning"
    COMMERCIAL_PRODUCT = "commercial_product"
    FRAUD_PREVENTION = "fraud_prevention"
    OFFICIAL_STATISTICS = "official_statistics"
    POLICY_MAKING = "policy_making"
    #: Reserved for the automatic grants of open data (``policy.open_data``);
    #: an application to the reviewers cannot state it.
    OPEN_DATA_USE = "open_data_use"

    @property
    def info(self) -> PurposeInfo:
        return PURPOSES[self]

    @property
    def iri(self) -> str:
        """The IRI used as the right operand of the ``purpose`` constraint."""
        return PURPOSES[self].iri


@dataclass(frozen=True)
class PurposeInfo:
    """A purpose with its labels and, where DPV has the concept, its DPV IRI."""

    code: Purpose
    label_zh: str
    label_en: str
    dpv: str | None
    #: Public governance or public-interest use (公共治理、公益事业), free of charge;
    #: otherwise industry or sector development (产业发展、行业发展), which may be
    #: charged (see docs/pricing.md).
    public_interest: bool = True

    @property
    def iri(self) -> str:
        return self.dpv if self.dpv is not None else f"{DCP}purpose-{self.code.value}"

    @property
    def label(self) -> str:
        """The bilingual label, "中文 / English"."""
        return f"{self.label_zh} / {self.label_en}"


def _info(
    code: Purpose, zh: str, en: str, dpv: str | None, *, public_interest: bool = True
) -> tuple[Purpose, PurposeInfo]:
    return code, PurposeInfo(code, zh, en, f"{DPV}{dpv}" if dpv else None, public_interest)


PURPOSES: MappingProxyType[Purpose, PurposeInfo] = MappingProxyType(
    dict(
        [
            # Credit scoring, fraud screening and products are run for a business.
            _info(
                Purpose.CREDIT_ASSESSMENT,
                "信用评估",
                "credit assessment",
                "CreditChecking",
                public_interest=False,
            ),
            # DPV "ImprovePublicServices": improving the provision of public services.
            _info(Purpose.PUBLIC_SERVICE, "公共服务", "public service", "ImprovePublicServices"),
            # DPV "PublicBenefit": intended to provide benefit to the public or society.
            _info(Purpose.PUBLIC_INTEREST, "公共利益", "public interest", "PublicBenefit"),
            _info(Purpose.RESEARCH, "科学研究", "research", "ResearchAndDevelopment"),
            # DPV has no urban-planning purpose; PublicPolicyMaking is broader.
            _info(Purpose.URBAN_PLANNING, "城市规划", "urban planning", None),
            _info(
                Purpose.COMMERCIAL_PRODUCT,
                "商业产品",
                "commercial product",
                "CommercialPurpose",
                public_interest=False,
            ),
            _info(
                Purpose.FRAUD_PREVENTION,
                "反欺诈",
                "fraud prevention",
                "FraudPreventionAndDetection",
                public_interest=False,
            ),
            _info(
                Purpose.OFFICIAL_STATISTICS,
                "政府统计",
                "official statistics",
                "ProvideOfficialStatistics",
            ),
            _info(Purpose.POLICY_MAKING, "政策制定", "public policy making", "PublicPolicyMaking"),
            # DPV has no concept for re-using data opened to society under an open licence.
            _info(Purpose.OPEN_DATA_USE, "开放数据利用", "open data use", None),
        ]
    )
)

_BY_IRI: MappingProxyType[str, Purpose] = MappingProxyType(
    {info.iri: code for code, info in PURPOSES.items()}
)


def _choices() -> str:
    return ", ".join(p.value for p in Purpose)


def parse_purpose(value: object) -> Purpose:
    """The :class:`Purpose` for a code; refuses anything outside the vocabulary.

    A wrong type is :class:`MalformedInput`; a well-formed but unknown code is
    :class:`InvalidInput` listing the codes (never echoing the input).
    """
    if isinstance(value, Purpose):
        return value
    if not isinstance(value, str):
        raise MalformedInput(
            f"用途格式错误 / malformed purpose: expected a purpose code, got {type(value).__name__}"
        )
    code = value.strip().lower()
    try:
        return Purpose(code)
    except ValueError:
        raise InvalidInput(
            f"未知用途 / unknown purpose: expected one of {_choices()}, got another code",
            details={"field": "purpose", "allowed": [p.value for p in Purpose]},
        ) from None


def purpose_from_iri(iri: object) -> Purpose:
    """The :class:`Purpose` whose IRI is ``iri`` (the right operand of an agreement)."""
    if not isinstance(iri, str):
        raise MalformedInput(
            f"用途 IRI 格式错误 / malformed purpose IRI: expected a string, got {type(iri).__name__}"
        )
    try:
        return _BY_IRI[iri]
    except KeyError:
        raise InvalidInput(
            "未知用途 IRI / unknown purpose IRI: expected the IRI of one of "
            f"{_choices()}, got another IRI",
            details={"field": "purpose"},
        ) from None


def describe(description: object) -> str:
    """Validate the free-text scenario description that accompanies a purpose."""
    if not isinstance(description, str):
        raise MalformedInput(
            "场景描述格式错误 / malformed scenario description: expected text, "
            f"got {type(description).__name__}"
        )
    text = description.strip()
    if not text:
        raise InvalidInput(
            "场景描述为空 / empty scenario description: expected text, got blank",
            details={"field": "description"},
        )
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"场景描述过长 / scenario description too long: expected at most {MAX_DESCRIPTION} "
            f"characters, got {len(text)}",
            details={"field": "description", "limit": MAX_DESCRIPTION},
        )
    return text

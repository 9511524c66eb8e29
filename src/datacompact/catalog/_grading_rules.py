"""The default grading rules and the sources they come from (see docs/grading.md).

Kept apart from the engine in :mod:`datacompact.catalog.grading` so the table
can be read, reviewed and documented on its own. Each row names its source:
a clause of GB/T 43697-2024, an article of the Personal Information Protection
Law (PIPL), an annex of GB/T 35273-2020, or an article of the Data Security
Law (DSL).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """The data category of GB/T 43697-2024 §5; ``government`` is read as ``public``."""

    PUBLIC = "public"
    ENTERPRISE = "enterprise"
    PERSONAL = "personal"

    @classmethod
    def _missing_(cls, value: object) -> Category | None:
        return {"government": cls.PUBLIC, "organization": cls.ENTERPRISE}.get(str(value))


_RANK = {"general-1": 1, "general-2": 2, "general-3": 3, "general-4": 4, "important": 5, "core": 6}


class Grade(StrEnum):
    """A grade of GB/T 43697-2024 §6.1, general data split into levels 1-4; ordered by :attr:`rank`."""

    GENERAL_1 = "general-1"
    GENERAL_2 = "general-2"
    GENERAL_3 = "general-3"
    GENERAL_4 = "general-4"
    IMPORTANT = "important"
    CORE = "core"

    @property
    def rank(self) -> int:
        """1 (``general-1``) to 6 (``core``)."""
        return _RANK[self.value]

    @property
    def tier(self) -> str:
        """``core``, ``important`` or ``general``."""
        return self.value.split("-")[0]

    @property
    def level(self) -> int | None:
        """1-4 for general data, ``None`` for important and core data."""
        return int(self.value[-1]) if self.tier == "general" else None

    @property
    def label_zh(self) -> str:
        """The Chinese name, e.g. 一般数据3级."""
        names = {"core": "核心数据", "important": "重要数据", "general": "一般数据"}
        return names[self.tier] + (f"{self.level}级" if self.level else "")


def highest(grades: Collection[Grade]) -> Grade:
    return max(grades, key=lambda g: g.rank)


class PersonalInfo(StrEnum):
    """Whether a column or resource holds personal information (PIPL art. 4, art. 28)."""

    NONE = "none"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"


class SensitiveCategory(StrEnum):
    """The kinds of sensitive personal information of PIPL art. 28 ¶1."""

    BIOMETRICS = "biometrics"
    RELIGION = "religion"
    SPECIFIC_IDENTITY = "specific_identity"
    MEDICAL_HEALTH = "medical_health"
    FINANCIAL_ACCOUNT = "financial_account"
    WHEREABOUTS = "whereabouts"
    MINOR_UNDER_14 = "minor_under_14"


# Sources, cited by every reason the engine gives.
GBT_43697_FRAMEWORK = "GB/T 43697-2024 §6.1 (core / important / general data)"
GBT_43697_IMPORTANT = "GB/T 43697-2024 Annex G (important-data identification)"
GBT_43697_PERSONAL = "GB/T 43697-2024 §5 (personal information is its own category); PIPL art. 4"
PIPL_4 = "PIPL art. 4; GB/T 35273-2020 Annex A (personal information)"
PIPL_28 = "PIPL art. 28; GB/T 35273-2020 Annex B (sensitive personal information)"
PIPL_28_MINORS = "PIPL art. 28 ¶1, art. 31 (personal information of minors under 14)"
DSL_21 = "DSL art. 21; GB/T 43697-2024 §6.1 (core data)"
VOLUME = (
    "GB/T 43697-2024 Annex G (personal information at scale); "
    "数据出境安全评估办法 art. 4 (1,000,000 individuals)"
)
HOLDER = "holder-defined rule (GB/T 43697-2024 §7: the processor refines the rules)"

# Personal information on this many individuals or more is important data.
IMPORTANT_VOLUME = 1_000_000


@dataclass(frozen=True)
class PiiRule:
    """What a detected PII type means: personal or not, its sensitive kind, its floor level."""

    personal: bool
    level: int
    sensitive: SensitiveCategory | None
    label: str
    source: str


def _personal(label: str) -> PiiRule:
    return PiiRule(True, 3, None, label, PIPL_4)


def _sensitive(kind: SensitiveCategory, label: str) -> PiiRule:
    return PiiRule(True, 4, kind, label, PIPL_28)


# Keys are the PII types of the ingestion detector, lower-case.
PII_RULES: dict[str, PiiRule] = {
    "resident_id": _sensitive(SensitiveCategory.SPECIFIC_IDENTITY, "居民身份证号 / resident ID"),
    "passport": _sensitive(SensitiveCategory.SPECIFIC_IDENTITY, "护照号 / passport number"),
    "bank_card": _sensitive(SensitiveCategory.FINANCIAL_ACCOUNT, "银行卡号 / bank card number"),
    "biometric": _sensitive(SensitiveCategory.BIOMETRICS, "生物识别信息 / biometric data"),
    "geolocation": _sensitive(SensitiveCategory.WHEREABOUTS, "精确位置 / precise location"),
    "health": _sensitive(SensitiveCategory.MEDICAL_HEALTH, "健康信息 / health data"),
    "religion": _sensitive(SensitiveCategory.RELIGION, "宗教信仰 / religious belief"),
    "mobile": _personal("手机号码 / mobile number"),
    "landline": _personal("固定电话 / landline number"),
    "email": _personal("电子邮箱 / e-mail address"),
    "person_name": _personal("姓名 / personal name"),
    "address": _personal("住址 / address"),
    "birth_date": _personal("出生日期 / date of birth"),
    "ip_address": _personal("IP 地址 / IP address"),
    "licence_plate": _personal("机动车号牌 / licence plate"),
    # An organization's identifier is public (GB 32100-2015), not personal information.
    "uscc": PiiRule(False, 1, None, "统一社会信用代码 / USCC", "GB 32100-2015"),
}

# Other spellings a detector or a holder may use for the same types.
PII_ALIASES: dict[str, str] = {
    "id_card": "resident_id",
    "ric": "resident_id",
    "passport_number": "passport",
    "bank_account": "bank_card",
    "phone": "mobile",
    "mobile_phone": "mobile",
    "landline_phone": "landline",
    "name": "person_name",
    "chinese_name": "person_name",
    "license_plate": "licence_plate",
    "plate": "licence_plate",
    "dob": "birth_date",
    "date_of_birth": "birth_date",
    "ip": "ip_address",
    "location": "geolocation",
    "face": "biometric",
    "fingerprint": "biometric",
}


@dataclass(frozen=True)
class TagRule:
    """What a domain tag means: a floor for every column and a sensitive kind for personal ones."""

    grade: Grade
    sensitive: SensitiveCategory | None
    label: str
    source: str


TAG_RULES: dict[str, TagRule] = {
    "national_security": TagRule(Grade.CORE, None, "国家安全 / national security", DSL_21),
    "critical_infrastructure": TagRule(
        Grade.IMPORTANT, None, "关键信息基础设施 / critical infrastructure", GBT_43697_IMPORTANT
    ),
    "geospatial_high_precision": TagRule(
        Grade.IMPORTANT, None, "高精度地理信息 / high-precision geodata", GBT_43697_IMPORTANT
    ),
    "geospatial": TagRule(Grade.GENERAL_3, None, "地理信息 / geospatial data", GBT_43697_FRAMEWORK),
    "finance": TagRule(
        Grade.GENERAL_3,
        SensitiveCategory.FINANCIAL_ACCOUNT,
        "金融 / finance",
        f"{GBT_43697_FRAMEWORK}; {PIPL_28}",
    ),
    "health": TagRule(
        Grade.GENERAL_2,
        SensitiveCategory.MEDICAL_HEALTH,
        "医疗健康 / medical and health",
        f"{GBT_43697_FRAMEWORK}; {PIPL_28}",
    ),
    "minors": TagRule(
        Grade.GENERAL_2, SensitiveCategory.MINOR_UNDER_14, "未成年人 / minors", PIPL_28_MINORS
    ),
    "religion": TagRule(Grade.GENERAL_2, SensitiveCategory.RELIGION, "宗教 / religion", PIPL_28),
    "biometric": TagRule(
        Grade.GENERAL_2, SensitiveCategory.BIOMETRICS, "生物识别 / biometrics", PIPL_28
    ),
    "whereabouts": TagRule(
        Grade.GENERAL_2, SensitiveCategory.WHEREABOUTS, "行踪轨迹 / whereabouts", PIPL_28
    ),
}


def canonical_pii_type(name: str) -> str:
    """Lower-case, ``-`` → ``_``, aliases resolved: ``Mobile-Phone`` → ``mobile``."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return PII_ALIASES.get(key, key)

"""Data standards: data elements, column mappings, conformance and derivation.

A :class:`Standard` is a set of :class:`DataElement` s, each with a name, a
type, a format (a regular expression, RE2 syntax as DuckDB runs it), a code
list and, for identifiers, a named check. The platform ships real ones
(:func:`builtin_standards`):

* ``GB/T 2261.1-2003`` sex codes: 0 未知的性别, 1 男性, 2 女性, 9 未说明的性别;
* ``GB/T 2260`` administrative-division codes, validated against python-stdnum's
  ``cn/loc`` table as :mod:`datacompact.registry.identifiers` does;
* ``GB/T 4754-2017`` industry sections A–T;
* ``GB 11643-1999`` citizen identity numbers: format, birth date, the MOD 11-2
  check character (§8.2) and a GB/T 2260 region still in force in the birth
  year. The number codes the county of residence when it is issued (§5.1), so
  a county created after the birth year is accepted (python-stdnum's
  ``cn.ric`` rejects it) but one abolished before it is not;
* ``GB/T 7408-2005`` calendar dates ``YYYY-MM-DD`` (ISO 8601).

A resource maps its columns to elements (:class:`ColumnMapping`).
:func:`~datacompact.catalog.standard_sql.conformance` reports the share of
conforming values per element, a value of a code list conforming when it is a
code or names one by its label or an alias (``男`` → ``1``), the two counted
apart, and :func:`~datacompact.catalog.standard_sql.derive`
writes a Parquet copy in the standard's form (``男``/``M``/``male`` → ``1``)
with its mapping table. Both run as column-wise SQL in DuckDB, not as Python
loops over rows. Reports give counts; failing values are sampled only for elements and
columns that are not personal information.

>>> sex = get_standard("GB/T 2261.1-2003").element("sex")
>>> [c.code for c in sex.codes], sex.personal
(['0', '1', '2', '9'], True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from datacompact.catalog import _standard_codes as _codes
from datacompact.errors import InvalidInput, NotFound

__all__ = [
    "Code",
    "ColumnMapping",
    "ConformanceReport",
    "DataElement",
    "Derivation",
    "DerivedColumn",
    "ElementConformance",
    "ElementType",
    "MappingRow",
    "Standard",
    "builtin_standards",
    "get_standard",
]


class ElementType(StrEnum):
    """The value type of a data element."""

    CODE = "code"
    STRING = "string"
    DATE = "date"


class Check(StrEnum):
    """Checks that a regular expression cannot express, run as SQL over the column."""

    GB2260 = "gb2260"
    GB11643 = "gb11643"


@dataclass(frozen=True)
class Code:
    """One entry of a code list; labels and aliases are accepted spellings when deriving."""

    code: str
    label_zh: str
    label_en: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataElement:
    """A data element (数据元): what a conforming value of one column looks like."""

    id: str
    name_zh: str
    name_en: str
    type: ElementType
    format: str | None = None
    codes: tuple[Code, ...] = ()
    check: Check | None = None
    personal: bool = False

    def __post_init__(self) -> None:
        if self.type is ElementType.CODE and not self.codes and self.check is None:
            raise InvalidInput(
                f"数据元 / element '{self.id}': expected a code list for a code element, got none"
            )

    def aliases(self) -> dict[str, str]:
        """Normalized spelling → code: each code, its labels and its aliases, lower-cased."""
        table: dict[str, str] = {}
        for entry in self.codes:
            for spelling in (entry.code, entry.label_zh, entry.label_en, *entry.aliases):
                key = spelling.strip().lower()
                if table.setdefault(key, entry.code) != entry.code:
                    raise InvalidInput(
                        f"数据元 / element '{self.id}': expected each spelling to name one code, "
                        "got one spelling for two codes"
                    )
        return table


@dataclass(frozen=True)
class Standard:
    """A data standard: an identifier such as ``GB/T 2261.1-2003``, titles and its elements."""

    id: str
    title_zh: str
    title_en: str
    elements: tuple[DataElement, ...]

    def element(self, element_id: str) -> DataElement:
        for element in self.elements:
            if element.id == element_id:
                return element
        raise NotFound(
            f"数据元不存在 / no element '{element_id}' in standard '{self.id}'",
            details={"standard": self.id, "element": element_id},
        )


def _code_list(rows: Sequence[tuple[str, str, str, tuple[str, ...]]]) -> tuple[Code, ...]:
    return tuple(Code(code, zh, en, aliases) for code, zh, en, aliases in rows)


_BUILTIN: tuple[Standard, ...] = (
    Standard(
        "GB/T 2261.1-2003",
        "个人基本信息分类与代码 第1部分：人的性别代码",
        "Classification and codes of basic personal information, part 1: sex",
        (
            DataElement(
                "sex",
                "性别代码",
                "sex code",
                ElementType.CODE,
                r"[0129]",
                _code_list(_codes.SEX_CODES),
                personal=True,
            ),
        ),
    ),
    Standard(
        "GB/T 2260",
        "中华人民共和国行政区划代码",
        "Codes for the administrative divisions of the People's Republic of China",
        (
            DataElement(
                "region_code",
                "行政区划代码",
                "administrative division code",
                ElementType.CODE,
                r"[1-8][0-9]{5}",
                check=Check.GB2260,
            ),
        ),
    ),
    Standard(
        "GB/T 4754-2017",
        "国民经济行业分类",
        "Industrial classification for national economic activities",
        (
            DataElement(
                "industry_section",
                "行业门类",
                "industry section",
                ElementType.CODE,
                r"[A-T]",
                _code_list(_codes.INDUSTRY_SECTIONS),
            ),
        ),
    ),
    Standard(
        "GB 11643-1999",
        "公民身份号码",
        "Citizen identification number",
        (
            DataElement(
                "resident_id",
                "公民身份号码",
                "resident identity number",
                ElementType.STRING,
                r"[1-8][0-9]{16}[0-9X]",
                check=Check.GB11643,
                personal=True,
            ),
        ),
    ),
    Standard(
        "GB/T 7408-2005",
        "数据元和交换格式 信息交换 日期和时间表示法",
        "Data elements and interchange formats: representation of dates and times",
        (
            DataElement(
                "calendar_date",
                "日历日期",
                "calendar date",
                ElementType.DATE,
                r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
            ),
        ),
    ),
)


def builtin_standards() -> tuple[Standard, ...]:
    """The standards shipped with the platform."""
    return _BUILTIN


def get_standard(standard_id: str) -> Standard:
    """A built-in standard by its identifier, or :class:`NotFound`."""
    for standard in _BUILTIN:
        if standard.id == standard_id:
            return standard
    raise NotFound(
        f"数据标准不存在 / unknown data standard '{standard_id}'",
        details={"standard": standard_id},
    )


@dataclass(frozen=True)
class ColumnMapping:
    """A resource column mapped to a data element, with the holder's extra spellings.

    ``personal`` marks the column as personal information even if the element
    is not (e.g. region codes of home addresses), so no value is ever sampled.
    """

    column: str
    standard: str
    element: str
    aliases: Mapping[str, str] = field(default_factory=dict)
    personal: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", MappingProxyType(dict(self.aliases)))


@dataclass(frozen=True)
class ElementConformance:
    """How many values of one mapped column conform to their element."""

    column: str
    standard: str
    element: str
    values: int
    conforming: int
    nulls: int
    samples: tuple[str, ...]
    #: Of the conforming values, those written as a label or alias of their code
    #: (``男`` for ``1``) rather than as the code; derivation rewrites them as codes.
    by_label: int = 0

    @property
    def by_code(self) -> int:
        return self.conforming - self.by_label

    @property
    def failing(self) -> int:
        return self.values - self.conforming

    @property
    def percent(self) -> float | None:
        """Conforming share of the non-null values, 0–100; ``None`` for an all-null column."""
        return round(100 * self.conforming / self.values, 2) if self.values else None


@dataclass(frozen=True)
class ConformanceReport:
    """The conformance of every mapped column of one Parquet file."""

    rows: int
    elements: tuple[ElementConformance, ...]


@dataclass(frozen=True)
class MappingRow:
    """One line of a derivation's mapping table: a normalized spelling and its code."""

    column: str
    element: str
    spelling: str
    code: str


@dataclass(frozen=True)
class DerivedColumn:
    """What derivation did to one column: values mapped, values left unmapped (now null)."""

    column: str
    standard: str
    element: str
    mapped: int
    unmapped: int
    nulls: int
    by_code: Mapping[str, int]


@dataclass(frozen=True)
class Derivation:
    """The derived Parquet file, its row count, its columns' counts and its mapping table."""

    output: Path
    rows: int
    columns: tuple[DerivedColumn, ...]
    mapping_table: tuple[MappingRow, ...]

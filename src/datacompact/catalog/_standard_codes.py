"""Code lists of the built-in data standards, shipped in the package (never read from disk).

* GB/T 2261.1-2003 个人基本信息分类与代码 第1部分：人的性别代码.
* GB/T 4754-2017 国民经济行业分类, the 20 sections (门类) A–T.
* GB/T 2260 行政区划代码: not copied here but taken from the table python-stdnum
  ships for resident IDs (``numdb`` ``cn/loc``), the same one
  :mod:`datacompact.registry.identifiers` validates with, so the two never disagree.

Labels and aliases are the spellings found in real files; they are matched
after trimming and lower-casing. A value that is a code, or names one by its
label or an alias, conforms (the report counts the two apart), and derivation
rewrites labels and aliases as codes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from stdnum import numdb

# (code, 中文, English, aliases)
SEX_CODES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("0", "未知的性别", "unknown", ("未知", "unknown", "u")),
    ("1", "男性", "male", ("男", "男性", "m", "male", "man")),
    ("2", "女性", "female", ("女", "女性", "f", "female", "woman")),
    (
        "9",
        "未说明的性别",
        "not stated",
        ("未说明", "未说明的性别", "not stated", "unspecified", "x"),
    ),
)

INDUSTRY_SECTIONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("A", "农、林、牧、渔业", "agriculture, forestry, animal husbandry and fishery", ()),
    ("B", "采矿业", "mining", ()),
    ("C", "制造业", "manufacturing", ()),
    ("D", "电力、热力、燃气及水生产和供应业", "electricity, heat, gas and water supply", ()),
    ("E", "建筑业", "construction", ()),
    ("F", "批发和零售业", "wholesale and retail trade", ()),
    ("G", "交通运输、仓储和邮政业", "transport, storage and postal services", ()),
    ("H", "住宿和餐饮业", "accommodation and catering", ()),
    (
        "I",
        "信息传输、软件和信息技术服务业",
        "information transmission, software and IT services",
        (),
    ),
    ("J", "金融业", "finance", ()),
    ("K", "房地产业", "real estate", ()),
    ("L", "租赁和商务服务业", "leasing and business services", ()),
    ("M", "科学研究和技术服务业", "scientific research and technical services", ()),
    ("N", "水利、环境和公共设施管理业", "water, environment and public facilities management", ()),
    ("O", "居民服务、修理和其他服务业", "resident, repair and other services", ()),
    ("P", "教育", "education", ()),
    ("Q", "卫生和社会工作", "health and social work", ()),
    ("R", "文化、体育和娱乐业", "culture, sports and entertainment", ()),
    (
        "S",
        "公共管理、社会保障和社会组织",
        "public administration, social security and social organizations",
        (),
    ),
    ("T", "国际组织", "international organizations", ()),
)

# GB 11643-1999 §8.2: weights 2^(17-i) mod 11 of the 17 body digits.
RESIDENT_ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _walk(prefixes: Any, stem: str, out: dict[str, str]) -> None:
    # numdb nodes are (length, low, high, properties, children); cn/loc has no ranges.
    for _length, low, high, props, children in prefixes:
        for number in range(int(low), int(high) + 1):
            code = stem + str(number).zfill(len(low))
            if len(code) == 6:
                out[code] = props.get("county", "")
            _walk(children, code, out)


def _last_year(county: str) -> int | None:
    """The last year any name of a code was in force, ``None`` if one still is.

    Names look like ``西湖区``, ``[1983-]西湖区`` or ``[-2010]崇文区,[2010-]东城区``.
    """
    ends = []
    for name in county.split(","):
        if not name.startswith("["):
            return None
        end = name[1:].split("]")[0].split("-")[1]
        if not end:
            return None
        ends.append(int(end))
    return max(ends, default=None)


@cache
def region_periods() -> tuple[tuple[str, int | None], ...]:
    """Every six-digit GB/T 2260 code python-stdnum knows, with the last year it was in force."""
    out: dict[str, str] = {}
    _walk(numdb.get("cn/loc").prefixes, "", out)
    return tuple((code, _last_year(out[code])) for code in sorted(out))


def region_codes() -> tuple[str, ...]:
    """Every six-digit GB/T 2260 code, current and historic."""
    return tuple(code for code, _last in region_periods())

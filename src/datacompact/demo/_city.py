"""The demo city's cast, generated from a fixed seed.

示范市 (Demo City) borrows the GB/T 2260 codes of Hangzhou's districts so that
every region code is real, but all organizations, names and numbers are
synthetic. USCCs are built to GB 32100: registration authority, category,
region, a nine-character organization code with its GB 11714 check digit,
and the USCC check character from python-stdnum.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, replace
from decimal import Decimal

from stdnum.cn import uscc

SEED = 20261129
CITY_REGION = "330100"
DISTRICTS = ("330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112")

_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_GB11714_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(rng: random.Random) -> str:
    """A nine-character organization code whose last character is its GB 11714 check digit."""
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _GB11714_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random, *, authority: str, category: str, region: str) -> str:
    stem = authority + category + region + _org_code(rng)
    return stem + uscc.calc_check_digit(stem)


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Org:
    slug: str
    kind: str
    name: str
    name_en: str
    uscc: str
    region_code: str
    ownership: str | None = None
    third_party_type: str | None = None
    shareholders: tuple[tuple[str, Decimal], ...] = ()  # (slug of holder, percent)
    qualifications: tuple[tuple[str, str, str], ...] = ()  # (name, level, issuer)
    people: tuple[Person, ...] = field(default_factory=tuple)


_DEPARTMENTS = (
    ("amr", "市场监督管理局", "Administration for Market Regulation"),
    ("hrss", "人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("tax", "税务局", "Taxation Bureau"),
    ("transport", "交通运输局", "Transport Bureau"),
    ("health", "卫生健康委员会", "Health Commission"),
    ("civil", "民政局", "Civil Affairs Bureau"),
    ("psb", "公安局", "Public Security Bureau"),
    ("nrp", "自然资源和规划局", "Natural Resources and Planning Bureau"),
    ("eco", "生态环境局", "Ecology and Environment Bureau"),
    ("edu", "教育局", "Education Bureau"),
)

_STATE_OWNED = (
    ("digital-group", "示范数字产业集团有限公司", "Demo Digital Industry Group"),
    ("urban-invest", "示范城市建设投资集团有限公司", "Demo Urban Construction Investment Group"),
    ("water", "示范水务集团有限公司", "Demo Water Group"),
    ("transit", "示范交通投资集团有限公司", "Demo Transport Investment Group"),
    ("telecom", "中国电信股份有限公司示范分公司", "China Telecom Demo City Branch"),
    ("mobile", "中国移动通信集团示范有限公司", "China Mobile Demo City Co."),
)

_IT_PREFIX = (
    "云栖",
    "数澜",
    "智汇",
    "星环",
    "恒信",
    "博彦",
    "华数",
    "天阙",
    "蓝湖",
    "之江",
    "弘毅",
    "卓远",
    "安恒",
    "睿航",
    "百川",
    "同辉",
    "启明",
    "金穗",
    "鼎新",
    "朗坤",
)
_IT_SUFFIX = (
    ("信息技术有限公司", "Information Technology Co."),
    ("软件股份有限公司", "Software Co."),
    ("数据科技有限公司", "Data Technology Co."),
    ("网络科技有限公司", "Network Technology Co."),
)
_PINYIN = (
    "yunqi",
    "shulan",
    "zhihui",
    "xinghuan",
    "hengxin",
    "boyan",
    "huashu",
    "tianque",
    "lanhu",
    "zhijiang",
    "hongyi",
    "zhuoyuan",
    "anheng",
    "ruihang",
    "baichuan",
    "tonghui",
    "qiming",
    "jinsui",
    "dingxin",
    "langkun",
)

_QUALIFICATIONS = (
    (
        "信息系统建设和服务能力等级 / ITSS capability",
        ("CS2", "CS3", "CS4"),
        "中国电子信息行业联合会",
    ),
    ("ISO/IEC 27001 信息安全管理体系", ("certified",), "中国网络安全审查认证和市场监管大数据中心"),
    ("CMMI 成熟度 / CMMI maturity", ("ML3", "ML5"), "CMMI Institute"),
    (
        "信息安全服务资质 / security service",
        ("一级", "二级", "三级"),
        "中国网络安全审查技术与认证中心",
    ),
    ("数据管理能力成熟度 DCMM", ("2级", "3级", "4级"), "中国电子信息行业联合会"),
)

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
)
_STAFF_ROLES = (("admin",), ("data_steward",), ("analyst",), ("reviewer",))


def _people(
    rng: random.Random, slug: str, roles: tuple[tuple[str, ...], ...]
) -> tuple[Person, ...]:
    out = []
    for role_set in roles:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN) + rng.choice(("", *_GIVEN))
        out.append(Person(f"{slug}.{role_set[0].replace('_', '-')}", name, role_set))
    return tuple(out)


def build_cast() -> list[Org]:
    """Every organization of the demo city, in creation order (the regulator first)."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not a secret
    orgs: list[Org] = []

    def gov(slug: str, name: str, name_en: str, kind: str, category: str = "1") -> Org:
        return Org(
            slug=slug,
            kind=kind,
            name=f"示范市{name}",
            name_en=f"Demo City {name_en}",
            uscc=make_uscc(rng, authority="1", category=category, region=CITY_REGION),
            region_code=CITY_REGION,
            people=_people(rng, slug, _STAFF_ROLES),
        )

    orgs.append(gov("bdb", "大数据发展管理局", "Big Data Bureau", "regulator"))
    for slug, name, name_en in _DEPARTMENTS:
        orgs.append(gov(slug, name, name_en, "government_department"))
    audit = gov("audit", "审计局", "Audit Bureau", "auditor")
    orgs.append(replace(audit, people=_people(rng, "audit", (("admin",), ("auditor",)))))

    def enterprise(
        slug: str,
        name: str,
        name_en: str,
        ownership: str | None,
        *,
        kind: str = "enterprise",
        shareholders: tuple[tuple[str, Decimal], ...] = (),
    ) -> Org:
        district = rng.choice(DISTRICTS)
        quals = tuple(
            (q_name, rng.choice(levels), issuer)
            for q_name, levels, issuer in rng.sample(_QUALIFICATIONS, k=rng.randint(1, 3))
        )
        return Org(
            slug=slug,
            kind=kind,
            name=name,
            name_en=name_en,
            uscc=make_uscc(rng, authority="9", category="1", region=district),
            region_code=district,
            ownership=ownership,
            shareholders=shareholders,
            qualifications=quals,
            people=_people(rng, slug, _STAFF_ROLES),
        )

    for slug, name, name_en in _STATE_OWNED:
        orgs.append(enterprise(slug, name, name_en, "state_owned"))
    ownerships = ["private"] * 16 + ["mixed"] * 2 + ["foreign"] * 2
    for index, (prefix, pinyin) in enumerate(zip(_IT_PREFIX, _PINYIN, strict=True)):
        suffix, suffix_en = _IT_SUFFIX[index % len(_IT_SUFFIX)]
        orgs.append(
            enterprise(
                f"it-{pinyin}",
                f"示范{prefix}{suffix}",
                f"Demo {pinyin.title()} {suffix_en}",
                ownerships[index],
            )
        )
    jv = enterprise(
        "jv",
        "示范数据运营有限公司",
        "Demo Data Operations Co. (JV platform)",
        None,
        kind="jv_platform",
        shareholders=(("digital-group", Decimal("51")), ("it-yunqi", Decimal("49"))),
    )
    orgs.append(jv)
    for slug, name, name_en, kind in (
        (
            "cert-center",
            "示范市信息安全测评中心",
            "Information Security Evaluation Center",
            "professional_service",
        ),
        (
            "data-institute",
            "示范大学数据科学研究院",
            "Demo University Data Science Institute",
            "research_institute",
        ),
    ):
        orgs.append(
            Org(
                slug=slug,
                kind="third_party",
                name=name,
                name_en=f"Demo City {name_en}",
                uscc=make_uscc(rng, authority="1", category="2", region=CITY_REGION),
                region_code=CITY_REGION,
                third_party_type=kind,
                people=_people(rng, slug, _STAFF_ROLES),
            )
        )
    return orgs


def evidence_hash(org: Org, qualification: str) -> str:
    """The SHA-256 of a synthetic certificate: stable across runs, distinct per holder."""
    return hashlib.sha256(f"demo-certificate|{org.uscc}|{qualification}".encode()).hexdigest()

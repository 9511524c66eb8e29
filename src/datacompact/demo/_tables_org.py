"""Tables about organizations and places: enterprise registry, tax, traffic, facilities."""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from . import _names as names
from . import _synth as synth
from ._city import DISTRICTS, Org
from ._people import Built, Population

_DISTRICT_WEIGHTS = np.array([9, 11, 12, 7, 13, 14, 6, 5]) / 77
_CAST_INDUSTRY = {"urban-invest": "E", "water": "E", "transit": "G"}
_BRAND = tuple(dict.fromkeys(names.BRAND_CHARS + names.STREET_WORDS + names.GIVEN_CHARS))
_COMPANY_FORMS = (
    ("有限公司", "有限责任公司(自然人投资或控股)"),
    ("股份有限公司", "股份有限公司(非上市)"),
    ("有限公司", "有限责任公司(法人独资)"),
    ("(有限合伙)", "有限合伙企业"),
    ("商行", "个人独资企业"),
)
_STATUSES = ("存续", "在业", "吊销，未注销", "注销")
ACTIVE = ("存续", "在业")
_SECTIONS = [code for code, _, _ in names.INDUSTRIES]


def _district_index(rng: np.random.Generator, n: int) -> synth.Ints:
    return rng.choice(len(DISTRICTS), size=n, p=_DISTRICT_WEIGHTS)


def _unique_brands(rng: np.random.Generator, group: synth.Ints) -> synth.Ints:
    """Two-character trade names, unique within each group (a trade name is registered once)."""
    space = len(_BRAND) ** 2
    brand = rng.integers(0, space, size=len(group))
    while True:
        _, first = np.unique(group * space + brand, return_index=True)
        repeat = np.ones(len(group), dtype=bool)
        repeat[first] = False
        if not repeat.any():
            return brand
        brand[repeat] = rng.integers(0, space, size=int(repeat.sum()))


def enterprise_registry(
    rng: np.random.Generator, cast: list[Org], people: Population, n: int
) -> Built:
    """市场主体登记信息: the cast's enterprises first, then synthetic ones, all with valid USCCs."""
    category = rng.choice(np.array([1, 2, 3]), size=n, p=[0.72, 0.24, 0.04])
    district = np.array(DISTRICTS, dtype=np.int64)[_district_index(rng, n)]
    section = rng.choice(len(names.INDUSTRIES), size=n, p=np.array(names.INDUSTRY_WEIGHTS) / 100)
    # The cast's own enterprises keep their USCC, name, district and people; they are companies.
    own = [o for o in cast if o.kind in ("enterprise", "jv_platform")]
    m = len(own)
    category[:m] = 1
    district[:m] = [int(o.region_code) for o in own]
    section[:m] = [_SECTIONS.index(_CAST_INDUSTRY.get(o.slug, "I")) for o in own]
    prefix = np.hstack(
        [
            np.full((n, 1), ord("9"), dtype=np.uint8),
            (category + ord("0")).astype(np.uint8)[:, None],
            synth.digit_matrix(district, 6),
        ]
    )
    words = [w for _, _, ws in names.INDUSTRIES for w in ws]
    first_word = np.cumsum([0] + [len(ws) for _, _, ws in names.INDUSTRIES])
    word = first_word[section] + rng.integers(0, 99, size=n) % np.diff(first_word)[section]
    shop = rng.integers(0, len(names.SHOP_WORDS), size=n)
    # Trade names are unique per (category, district for shops, industry word or shop word).
    group = np.where(category == 2, 1000 + (district % 100) * 10 + shop, word)
    brand = _unique_brands(rng, group)
    brand_text = synth.join(
        synth.take(_BRAND, brand // len(_BRAND)), synth.take(_BRAND, brand % len(_BRAND))
    )
    form = rng.choice(len(_COMPANY_FORMS), size=n, p=[0.78, 0.06, 0.06, 0.05, 0.05])
    form[:m] = 2  # wholly owned by their shareholders
    form_text = synth.take([f for f, _ in _COMPANY_FORMS], form)
    company = synth.join("示范", brand_text, synth.take(words, word), form_text)
    codes = synth.fixed(district, 6)
    shop_name = synth.join(
        synth.district_names(codes), brand_text, synth.take(names.SHOP_WORDS, shop)
    )
    coop = synth.join("示范市", brand_text, "茶叶专业合作社")
    name = synth.either(category == 1, company, synth.either(category == 2, shop_name, coop))
    kind = synth.either(
        category == 1,
        synth.take([t for _, t in _COMPANY_FORMS], form),
        synth.either(category == 2, "个体工商户", "农民专业合作社"),
    )
    section = np.where(category == 2, 3, np.where(category == 3, 0, section))  # shops, farms
    capital = np.where(
        category == 1, rng.lognormal(np.log(100), 1.3, n), rng.lognormal(np.log(8), 0.8, n)
    )
    age = rng.random(n) ** 0.6 * (29 * 365)
    founded = np.datetime64("2024-12-31", "D") - age.astype(np.int64).astype("timedelta64[D]")
    status = rng.choice(len(_STATUSES), size=n, p=[0.82, 0.05, 0.04, 0.09])
    status[:m] = 0
    rep = rng.choice(people.adults(low=22), size=n)
    rep_name = people.name.take(pa.array(rep))
    landline = rng.random(n) < 0.45
    email = synth.nulls_where(category != 1, synth.emails(rng, n))

    def override(values: pa.Array, head: list[str]) -> pa.Array:
        return pa.concat_arrays([pa.array(head, pa.string()), values.cast(pa.string())[m:]])

    table = pa.table(
        {
            "统一社会信用代码": override(synth.usccs(rng, prefix), [o.uscc for o in own]),
            "企业名称": override(name, [o.name for o in own]),
            "市场主体类型": kind,
            "法定代表人": override(rep_name, [o.people[0].display_name for o in own]),
            "注册资本(万元)": synth.money(np.round(capital * 100).astype(np.int64)),
            "成立日期": synth.dates(founded),
            "登记机关": synth.join("示范市市场监督管理局", synth.district_names(codes), "分局"),
            "行政区划代码": codes,
            "住所": synth.addresses(rng, codes, kind="office"),
            "行业门类代码": synth.take(_SECTIONS, section),
            "行业门类名称": synth.take([t for _, t, _ in names.INDUSTRIES], section),
            "登记状态": synth.take(_STATUSES, status),
            "联系电话": synth.either(
                landline, synth.landlines(rng, n), people.mobile.take(pa.array(rep))
            ),
            "电子邮箱": email,
        }
    )
    return Built(table, len(np.unique(rep[m:])) + m)


def tax_summary(rng: np.random.Generator, registry: pa.Table, people: Population, n: int) -> Built:
    """纳税申报汇总: four quarters of 2024 for active companies of the registry."""
    uscc = registry.column("统一社会信用代码").combine_chunks()
    active = pc.is_in(registry.column("登记状态"), value_set=pa.array(ACTIVE))
    company = pc.equal(pc.utf8_slice_codeunits(uscc, 0, 2), "91")
    eligible = np.flatnonzero(pc.and_(active, company).to_numpy(zero_copy_only=False))
    taxpayers = np.sort(
        rng.choice(eligible, size=min(max(n // 4, 1), len(eligible)), replace=False)
    )
    t = len(taxpayers)
    quarter = np.tile(np.arange(4), t)
    who = np.repeat(taxpayers, 4)
    take = pa.array(who)
    section = registry.column("行业门类代码").take(take).to_numpy(zero_copy_only=False)
    annual = np.repeat(rng.lognormal(np.log(3e6), 1.4, t), 4)
    revenue = annual / 4 * rng.uniform(0.7, 1.3, 4 * t)
    general = annual >= 5e6
    rate = np.where(
        np.isin(section, ["C", "F"]), 0.13, np.where(np.isin(section, ["E", "G", "A"]), 0.09, 0.06)
    )
    vat = np.where(general, revenue * rate * rng.uniform(0.1, 0.4, 4 * t), revenue * 0.01)
    profit = revenue * rng.uniform(-0.05, 0.15, 4 * t)
    cit = np.clip(profit, 0, None) * np.where(general, 0.25, 0.05)
    iit = np.repeat(rng.lognormal(np.log(2e4), 1.0, t), 4) * rng.uniform(0.8, 1.2, 4 * t)
    agent = np.repeat(rng.choice(people.adults(low=22, high=60), size=t), 4)
    starts = np.array(["2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01"])
    ends = np.array(["2024-03-31", "2024-06-30", "2024-09-30", "2024-12-31"])
    credit = rng.choice(5, size=t, p=[0.2, 0.55, 0.15, 0.07, 0.03])

    def cents(x: synth.Floats) -> pa.Array:
        return synth.money(np.round(x * 100).astype(np.int64))

    table = pa.table(
        {
            "纳税人识别号": uscc.take(take),
            "纳税人名称": registry.column("企业名称").take(take),
            "税款所属期起": pa.array(starts[quarter]),
            "税款所属期止": pa.array(ends[quarter]),
            "主管税务机关": synth.join(
                "国家税务总局示范市",
                synth.district_names(registry.column("行政区划代码").take(take)),
                "税务局",
            ),
            "纳税人类型": synth.either(general, "一般纳税人", "小规模纳税人"),
            "行业门类": registry.column("行业门类名称").take(take),
            "营业收入(元)": cents(revenue),
            "增值税(元)": cents(vat),
            "企业所得税(元)": cents(cit),
            "代扣代缴个人所得税(元)": cents(iit),
            "纳税信用等级": synth.take(("A", "B", "M", "C", "D"), np.repeat(credit, 4)),
            "办税人员": people.name.take(pa.array(agent)),
            "办税人员电话": people.mobile.take(pa.array(agent)),
        }
    )
    return Built(table, len(np.unique(agent)))


def traffic_counts(rng: np.random.Generator, segments: int) -> Built:
    """路段小时流量: detector counts per road segment and hour for June 2024. No personal data."""
    hours = 30 * 24
    district_idx = _district_index(rng, segments)
    district = np.array(DISTRICTS, dtype=np.int64)[district_idx]
    seg_id = synth.join(synth.fixed(district, 6), "-", synth.fixed(np.arange(1, segments + 1), 4))
    road = synth.roads(rng, segments)
    base = rng.lognormal(np.log(600), 0.6, segments)
    h = np.arange(24)
    profile = (
        0.15
        + np.exp(-((h - 8) ** 2) / 3)
        + 0.9 * np.exp(-((h - 18) ** 2) / 4)
        + 0.4 * ((h > 9) & (h < 17))
    )
    seg = np.repeat(np.arange(segments), hours)
    hour_of_month = np.tile(np.arange(hours), segments)
    hour = hour_of_month % 24
    weekday = (hour_of_month // 24 + 5) % 7  # 2024-06-01 was a Saturday
    weekend = weekday >= 5
    expected = base[seg] * profile[hour] * np.where(weekend, 0.75, 1.0)
    vehicles = rng.poisson(expected)
    heavy = rng.binomial(vehicles, np.where((hour < 6) | (hour > 21), 0.25, 0.06))
    occupancy = np.clip(expected / (base[seg] * 1.6) * 60 + rng.normal(0, 3, len(seg)), 0.5, 98)
    speed = np.clip(62 - occupancy * 0.45 + rng.normal(0, 4, len(seg)), 5, 80)
    fault = rng.random(len(seg)) < 0.01
    start = np.datetime64("2024-06-01T00:00:00", "s") + (hour_of_month * 3600).astype(
        "timedelta64[s]"
    )
    table = pa.table(
        {
            "segment_id": seg_id.take(pa.array(seg)),
            "road_name": road.take(pa.array(seg)),
            "district_code": synth.fixed(district, 6).take(pa.array(seg)),
            "direction": synth.take(names.ROAD_DIRECTIONS, rng.integers(0, 4, segments)[seg]),
            "hour_start": pa.array(start, pa.timestamp("s")),
            "vehicles": pa.array(np.where(fault, 0, vehicles), pa.int32(), mask=fault),
            "heavy_vehicles": pa.array(np.where(fault, 0, heavy), pa.int32(), mask=fault),
            "avg_speed_kmh": pa.array(np.round(speed, 1), mask=fault),
            "occupancy_pct": pa.array(np.round(occupancy, 1), mask=fault),
            "detector_status": synth.either(fault, "故障", "正常"),
        }
    )
    return Built(table, 0, {"missing_counts": int(fault.sum())})


def public_facilities(rng: np.random.Generator, n: int) -> Built:
    """公共服务设施 (open data): name, kind, address and WGS 84 coordinates."""
    district_idx = _district_index(rng, n)
    district = np.array(DISTRICTS, dtype=np.int64)[district_idx]
    codes = synth.fixed(district, 6)
    kind = rng.integers(0, len(names.FACILITY_KINDS), size=n)
    road, sub = synth.roads(rng, n), synth.pick(rng, names.SUBDISTRICTS, n)
    label = [k for _, k, _ in names.FACILITY_KINDS]
    on_road = np.array(["{road}" in k for k in label])[kind]
    stem = synth.either(on_road, road, pc.utf8_slice_codeunits(sub, 0, 2))
    suffix = synth.take([k.replace("{road}", "").replace("{sub}", "") for k in label], kind)
    centre = np.array([names.DISTRICT_CENTRES[str(d)] for d in DISTRICTS])[district_idx]
    lon = np.round(centre[:, 0] + rng.normal(0, 0.03, n), 6)
    lat = np.round(centre[:, 1] + rng.normal(0, 0.025, n), 6)
    table = pa.table(
        {
            "设施编号": synth.join("SS", codes, synth.fixed(np.arange(1, n + 1), 6)),
            "设施名称": synth.join(stem, suffix),
            "设施类型": synth.take([k for k, _, _ in names.FACILITY_KINDS], kind),
            "行政区划代码": codes,
            "所属区县": synth.district_names(codes),
            "地址": synth.addresses(rng, codes, kind="site"),
            "经度": pa.array(lon),
            "纬度": pa.array(lat),
            "开放时间": synth.take([h for _, _, h in names.FACILITY_KINDS], kind),
            "建成年份": pa.array(rng.integers(1985, 2025, size=n)),
            "无障碍设施": synth.either(rng.random(n) < 0.7, "是", "否"),
        }
    )
    return Built(table, 0)

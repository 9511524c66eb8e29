"""A labelled synthetic corpus for PII detection, generated deterministically.

Each column is labelled with the PII types it holds (empty for the hard
negatives: look-alike numbers with wrong checksums, product codes, place and
department names, recent dates, free text without personal data). Variants
mix in missing values, junk and other spellings so that detection has to
work on shares, not on perfect columns.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from stdnum import luhn
from stdnum.cn import ric, uscc

ROWS = 4_000
REGIONS = ["110101", "110105", "310104", "330106", "330108", "440305", "510104", "420102", "610113"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉兵梅鹏宇浩然子轩欣怡"
ROADS = ["文三路", "天目山路", "莫干山路", "解放路", "中山北路", "人民大道", "建设街", "和平巷"]
CITIES = [
    ("浙江省", "杭州市", "西湖区"),
    ("广东省", "深圳市", "南山区"),
    ("四川省", "成都市", "武侯区"),
]
PLATE_PROVINCES = "京沪浙粤川苏鲁"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DEPARTMENTS = ["公安局", "财政局", "民政局", "税务局", "卫健委", "教育局", "交通局", "人社局"]
GOODS = ["苹果", "香蕉", "办公桌", "打印纸", "显示器", "路由器", "笔记本电脑", "会议室"]


def resident_id(r: random.Random, lo: int = 1940, hi: int = 2015) -> str:
    birth = dt.date(lo, 1, 1) + dt.timedelta(days=r.randrange((hi - lo) * 365))
    stem = f"{r.choice(REGIONS)}{birth:%Y%m%d}{r.randrange(1000):03d}"
    return stem + ric.calc_check_digit(stem + "0")  # stdnum expects a placeholder check digit


def credit_code(r: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    stem = "91" + r.choice(REGIONS) + "".join(r.choice(alphabet) for _ in range(9))
    return stem + uscc.calc_check_digit(stem)


def bank_card(r: random.Random) -> str:
    stem = "62" + "".join(str(r.randrange(10)) for _ in range(r.choice((14, 16))))
    return stem + luhn.calc_check_digit(stem)


def mobile(r: random.Random) -> str:
    return r.choice(["138", "139", "150", "186", "177", "199", "135"]) + f"{r.randrange(10**8):08d}"


def landline(r: random.Random) -> str:
    area, digits = r.choice([("010", 8), ("021", 8), ("0571", 8), ("0755", 8), ("028", 8)])
    return f"{area}-{r.randint(2, 8)}{r.randrange(10 ** (digits - 1)):0{digits - 1}d}"


def email(r: random.Random) -> str:
    user = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(4, 9)))
    return f"{user}{r.randrange(100)}@{r.choice(['qq.com', '163.com', 'gov.cn', 'example.org'])}"


def person_name(r: random.Random) -> str:
    return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2, 2))))


def address(r: random.Random) -> str:
    province, city, district = r.choice(CITIES)
    return f"{province}{city}{district}{r.choice(ROADS)}{r.randint(1, 999)}号"


def plate(r: random.Random) -> str:
    tail = "".join(r.choice(PLATE_LETTERS + "0123456789") for _ in range(5))
    return r.choice(PLATE_PROVINCES) + r.choice(PLATE_LETTERS) + tail


def passport(r: random.Random) -> str:
    if r.random() < 0.5:
        return f"E{r.randrange(10**8):08d}"
    return f"E{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{r.randrange(10**7):07d}"


def ip(r: random.Random) -> str:
    if r.random() < 0.7:
        return ".".join(str(r.randrange(256)) for _ in range(4))
    return ":".join(f"{r.randrange(65536):x}" for _ in range(8))


def birth_date(r: random.Random) -> str:
    return (dt.date(1940, 1, 1) + dt.timedelta(days=r.randrange(75 * 365))).isoformat()


def _digits(r: random.Random, n: int) -> str:
    return str(r.randint(1, 9)) + "".join(str(r.randrange(10)) for _ in range(n - 1))


def _bad_id(r: random.Random) -> str:
    good = resident_id(r)
    wrong = "0123456789X".replace(good[-1], "")
    return good[:-1] + r.choice(wrong)


def _sentence(r: random.Random, inner: Callable[[random.Random], str] | None) -> str:
    lead = r.choice(["请联系办事人员，", "群众来电反映：", "经核实，申请人", "备注：材料已收齐，"])
    tail = r.choice(["，请及时处理。", "，已转交相关部门办理。", "，情况属实。"])
    middle = inner(r) if inner is not None else r.choice(["会议改到三楼召开", "道路维修已完成"])
    return lead + middle + tail


Generator = Callable[[random.Random], str | None]


def _mix(
    main: Generator, *, missing: float = 0.0, junk: Generator | None = None, junk_share: float = 0.0
) -> Generator:
    def make(r: random.Random) -> str | None:
        x = r.random()
        if x < missing:
            return None
        if junk is not None and x < missing + junk_share:
            return junk(r)
        return main(r)

    return make


def columns() -> list[tuple[str, Generator, frozenset[str]]]:
    """``(column name, value generator, labelled types)`` of the corpus."""
    t = frozenset
    junk_text: Generator = lambda r: r.choice(["无", "不详", "-", "待补充"])  # noqa: E731
    return [
        ("身份证号", resident_id, t({"resident_id"})),
        (
            "c_id_dirty",
            _mix(resident_id, missing=0.1, junk=junk_text, junk_share=0.15),
            t({"resident_id"}),
        ),
        ("c_id_lower_x", lambda r: resident_id(r).lower(), t({"resident_id"})),
        ("统一社会信用代码", credit_code, t({"uscc"})),
        ("c_org", _mix(credit_code, missing=0.2), t({"uscc"})),
        ("银行卡号", bank_card, t({"bank_card"})),
        ("c_card", _mix(bank_card, junk=junk_text, junk_share=0.2), t({"bank_card"})),
        ("手机号码", mobile, t({"mobile"})),
        ("c_phone_fmt", lambda r: r.choice(["+86 ", "86-", ""]) + mobile(r), t({"mobile"})),
        ("c_phone_dirty", _mix(mobile, missing=0.2, junk=junk_text, junk_share=0.1), t({"mobile"})),
        ("办公电话", landline, t({"landline"})),
        ("c_tel", lambda r: landline(r).replace("-", ""), t({"landline"})),
        ("电子邮箱", email, t({"email"})),
        ("c_mail", _mix(email, missing=0.3), t({"email"})),
        ("姓名", person_name, t({"person_name"})),
        ("c_person", _mix(person_name, missing=0.1), t({"person_name"})),
        ("家庭住址", address, t({"address"})),
        (
            "c_addr",
            lambda r: address(r).replace(r.choice(["浙江省", "广东省", "四川省"]), ""),
            t({"address"}),
        ),
        ("车牌号", plate, t({"licence_plate"})),
        ("c_plate", _mix(plate, missing=0.2), t({"licence_plate"})),
        ("护照号", passport, t({"passport"})),
        ("c_ip", ip, t({"ip_address"})),
        ("登录IP", _mix(ip, missing=0.1), t({"ip_address"})),
        ("出生日期", birth_date, t({"date_of_birth"})),
        ("c_dob", lambda r: birth_date(r).replace("-", ""), t({"date_of_birth"})),
        (
            "备注_身份证",
            lambda r: _sentence(r, resident_id) if r.random() < 0.5 else _sentence(r, None),
            t({"resident_id"}),
        ),
        (
            "来电记录",
            lambda r: _sentence(r, mobile) if r.random() < 0.4 else _sentence(r, None),
            t({"mobile"}),
        ),
        (
            "c_note_mail",
            lambda r: _sentence(r, email) if r.random() < 0.3 else _sentence(r, None),
            t({"email"}),
        ),
        # Hard negatives.
        ("订单号", lambda r: _digits(r, 18), t()),
        ("c_bad_ids", _bad_id, t()),
        ("交易流水号", lambda r: _digits(r, r.choice((16, 19))), t()),
        ("c_num11", lambda r: "1" + r.choice("012") + _digits(r, 9), t()),
        (
            "产品编码",
            lambda r: "".join(r.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(18)),
            t(),
        ),
        ("部门", lambda r: r.choice(DEPARTMENTS), t()),
        ("商品名称", lambda r: r.choice(GOODS), t()),
        ("英文名", lambda r: r.choice(["John Smith", "Mary Lee", "Wei Zhang", "Anna Chen"]), t()),
        ("金额", lambda r: f"{r.uniform(1, 99999):.2f}", t()),
        (
            "交易日期",
            lambda r: (dt.date(2023, 1, 1) + dt.timedelta(days=r.randrange(700))).isoformat(),
            t(),
        ),
        ("成立日期", birth_date, t()),
        (
            "所属区县",
            lambda r: r.choice(["西湖区", "上城区", "滨江区", "余杭区", "萧山区", "临平区"]),
            t(),
        ),
        ("备注", lambda r: _sentence(r, None), t()),
        ("版本号", lambda r: f"{r.randrange(10)}.{r.randrange(20)}.{r.randrange(50)}", t()),
        ("状态", lambda r: r.choice(["正常", "注销", "吊销", "迁出"]), t()),
    ]


def generate(
    rows: int = ROWS, seed: int = 20240611
) -> tuple[dict[str, list[str | None]], dict[str, frozenset[str]]]:
    """The corpus as ``{column: values}`` and its labels ``{column: types}``."""
    r = random.Random(seed)
    data: dict[str, list[str | None]] = {}
    labels: dict[str, frozenset[str]] = {}
    for name, make, types in columns():
        data[name] = [make(r) for _ in range(rows)]
        labels[name] = types
    return data, labels

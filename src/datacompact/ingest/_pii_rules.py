"""The PII rules: DuckDB SQL predicates per type, and per-value validators.

Each rule gives a SQL predicate over a trimmed text value ``v`` for a whole
value ("is a ...") and, where it makes sense, for a value inside free text
("contains a ..."). Checksums run in SQL so that a full scan stays
vectorized: GB 11643-1999 (resident ID, ISO 7064 MOD 11-2), GB 32100-2015
(unified social credit code, MOD 31) and the Luhn formula (ISO/IEC 7812 bank
cards). The same candidates are then re-validated per distinct value with
python-stdnum and phonenumbers, the reference implementations.

Phone patterns are taken from phonenumbers' own metadata for region CN at run
time, so they follow the library's updates with no copy kept here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import phonenumbers
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_MOBILE = _CN.mobile.national_number_pattern if _CN and _CN.mobile else r"1[3-9]\d{9}"
_FIXED = _CN.fixed_line.national_number_pattern if _CN and _CN.fixed_line else r"[2-9]\d{9,10}"

# The most frequent Chinese surnames (by the 2020 census ranking), compound ones first.
_COMPOUND = "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤"
_SINGLE = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_HAN = r"[\x{4e00}-\x{9fa5}]"
SURNAMES = tuple(_COMPOUND.split()) + tuple(_SINGLE)
_NAME = f"(?:{'|'.join(_COMPOUND.split())}|[{_SINGLE}]){_HAN}{{1,2}}"

_RIC = r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]"
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC = r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}"
_CARD = r"[3-9]\d{15,18}"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = (
    rf"(?:(?:{_H}:){{7}}{_H}|(?:{_H}:){{1,7}}:|(?:{_H}:){{1,6}}:{_H}|(?:{_H}:){{1,5}}(?::{_H}){{1,2}}"
    rf"|(?:{_H}:){{1,4}}(?::{_H}){{1,3}}|(?:{_H}:){{1,3}}(?::{_H}){{1,4}}"
    rf"|(?:{_H}:){{1,2}}(?::{_H}){{1,5}}|{_H}:(?::{_H}){{1,6}}|:(?::{_H}){{1,7}})"
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"
_PLATE = (
    rf"[{_PROVINCES}][{_L}][·\s]?(?:[{_L}0-9]{{4}}[{_L}0-9挂学警港澳]"
    rf"|[DF][{_L}0-9]\d{{4}}|\d{{5}}[DF])"
)
_PASSPORT = rf"(?:[EG]\d{{8}}|E[{_L}]\d{{7}}|[DSP]E?\d{{7}})"
_ADDRESS = (
    r"(?:.*(?:省|自治区).{1,8}(?:市|州|盟|地区).*)"
    r"|(?:.*(?:区|县|镇|乡|旗).{1,15}(?:路|街|巷|弄|村|大道).*)"
    r"|(?:.*(?:市|区|县).{1,15}(?:路|街|巷|弄|大道).{0,10}\d+号.*)"
)

_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _ric_sql(v: str) -> str:
    """GB 11643-1999 §6: ISO 7064 MOD 11-2 check character, plus a real birth date.

    Runs only on values that matched the ID pattern (17 digits first). The
    digits are taken arithmetically from two BIGINTs rather than as 17
    substrings, which halves the cost of a full scan.
    """
    head, tail = f"CAST(substr({v}, 1, 9) AS BIGINT)", f"CAST(substr({v}, 10, 8) AS BIGINT)"
    terms = [
        f"(({head} // {10 ** (9 - i)}) % 10) * {w}"
        if i <= 9
        else f"(({tail} // {10 ** (17 - i)}) % 10) * {w}"
        for i, w in enumerate(_RIC_WEIGHTS, start=1)
    ]
    return (
        f"(try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NOT NULL "
        f"AND substr('10X98765432', (({' + '.join(terms)}) % 11)::INTEGER + 1, 1) = upper({v}[18]))"
    )


_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def ric_sex(values: Any) -> Any:
    """Per value, ``1`` (odd 17th digit, GB 11643-1999 §5.3: a man) or ``0`` for a valid
    resident ID, ``null`` otherwise: the verdict of :func:`_ric_sql` on ``upper(trim(v))``,
    vectorized with numpy over the Arrow buffers (used as a DuckDB UDF by quality
    profiling, where the SQL form cost 0.45 s per million rows).

    >>> ids = ["11010519491231002x", " 110105194912310011 ", "110105194902300011", None]
    >>> ric_sex(pa.array(ids)).to_pylist()
    [0, 1, None, None]
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    values = pc.utf8_trim(values, " ")  # DuckDB's trim() strips spaces only
    n = len(values)
    result = np.full(n, -1, dtype=np.int8)
    _, offsets_buffer, data_buffer = values.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[values.offset : values.offset + n + 1]
    rows = np.flatnonzero(np.diff(offsets) == 18)
    if rows.size and data_buffer is not None:
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        chars = data[offsets[rows][:, None] + np.arange(18)]
        digits = chars[:, :17].astype(np.int64) - 48
        last = np.where(chars[:, 17] == ord("x"), ord("X"), chars[:, 17])
        ok = ((digits >= 0) & (digits <= 9)).all(axis=1) & (digits[:, 0] >= 1)
        ok &= ((last >= ord("0")) & (last <= ord("9"))) | (last == ord("X"))
        digits = np.where(ok[:, None], digits, 0)
        year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
        month = digits[:, 10] * 10 + digits[:, 11]
        day = digits[:, 12] * 10 + digits[:, 13]
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        days = _DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
        ok &= (year >= 1800) & (year <= 2099) & (month >= 1) & (month <= 12)
        ok &= (day >= 1) & (day <= days)
        ok &= _RIC_CHECK[(digits[:, :17] @ np.array(_RIC_WEIGHTS)) % 11] == last
        result[rows[ok]] = digits[ok, 16] % 2
    return pa.array(result, mask=result < 0)


def _uscc_sql(v: str) -> str:
    """GB 32100-2015 §4.2: the 18th character is a MOD 31 check over the first 17."""
    alphabet = f"'{_USCC_CHARS}'"
    total = " + ".join(
        f"(strpos({alphabet}, {v}[{i + 1}]) - 1) * {w}" for i, w in enumerate(_USCC_WEIGHTS)
    )
    return f"(substr({alphabet}, ((31 - ({total}) % 31) % 31)::INTEGER + 1, 1) = {v}[18])"


def _luhn_sql(v: str) -> str:
    """The Luhn formula (ISO/IEC 7812-1 Annex B), computed with a DuckDB list lambda."""
    digit = f"(ascii({v}[length({v}) - i]) - 48)"
    return (
        f"(list_sum(list_transform(range(length({v})), lambda i: CASE WHEN i % 2 = 1 THEN "
        f"(CASE WHEN {digit} * 2 > 9 THEN {digit} * 2 - 9 ELSE {digit} * 2 END) "
        f"ELSE {digit} END)) % 10 = 0)"
    )


def _when(cheap: str, costly: str) -> str:
    """``cheap AND costly`` evaluated lazily: DuckDB evaluates every operand of AND
    for every row, but a CASE branch only for the rows that reach it."""
    return f"(CASE WHEN {cheap} THEN {costly} ELSE false END)"


def _full(pattern: str, lo: int = 1, hi: int = 1000) -> Callable[[str], str]:
    return lambda v: _when(
        f"length({v}) BETWEEN {lo} AND {hi}", f"regexp_full_match({v}, '{pattern}')"
    )


def _phone(v: str) -> str:
    return f"regexp_replace({v}, '[\\s\\-()（）]', '', 'g')"


@dataclass(frozen=True)
class Rule:
    """One PII type: SQL for a whole value and inside text, and a per-value validator."""

    type: str
    base: float
    personal: bool
    sensitive: bool
    hints: tuple[str, ...]
    full: Callable[[str], str]
    # SQL extracting one candidate from free text, and the predicate it must pass.
    # Resident IDs, bank cards, phones and e-mail are searched in text by the
    # tokenizer of :mod:`._free_text` instead.
    extract: str | None = None
    validate: Callable[[str], bool] | None = None
    #: Share of a column's non-empty values that must match for a whole-value finding.
    threshold: float = 0.5
    #: Types of one family (mobile and landline: "phone") reach ``threshold`` together.
    family: str | None = None


def valid_ric(value: str) -> bool:
    """python-stdnum's resident ID checks, without its county-at-birth-year test.

    The address code is that of the holder's permanent residence when the ID
    was issued (GB 11643-1999 §5.1), not of the birth place, so a code created
    in 1983 legitimately appears on IDs of people born in 1950;
    ``stdnum.cn.ric.is_valid`` would reject those.
    """
    try:
        number = ric.compact(value)
        if len(number) != 18 or not number[:17].isdigit():
            return False
        if number[-1] != ric.calc_check_digit(number):
            return False
        ric.get_birth_date(number)
    except ValidationError:
        return False
    return True


def valid_phone(value: str, *, mobile: bool) -> bool:
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return False
    kind = phonenumbers.number_type(number)
    wanted = (
        phonenumbers.PhoneNumberType.MOBILE if mobile else phonenumbers.PhoneNumberType.FIXED_LINE
    )
    return phonenumbers.is_valid_number_for_region(number, "CN") and kind in (
        wanted,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "resident_id",
        1.0,
        True,
        True,
        ("身份证", "证件", "sfz", "id_card", "idcard", "resident"),
        lambda v: _when(
            f"length({v}) = 18", _when(f"regexp_full_match({v}, '{_RIC}')", _ric_sql(v))
        ),
        validate=valid_ric,
    ),
    Rule(
        "uscc",
        1.0,
        False,
        False,
        ("信用代码", "uscc", "credit"),
        lambda v: _when(
            f"length({v}) = 18", _when(f"regexp_full_match({v}, '{_USCC}')", _uscc_sql(v))
        ),
        extract=_USCC,
        validate=uscc.is_valid,
    ),
    Rule(
        "bank_card",
        0.95,
        True,
        True,
        ("银行", "卡号", "账号", "card", "account"),
        lambda v: _when(
            f"length({v}) BETWEEN 16 AND 19",
            _when(
                f"regexp_full_match({v}, '{_CARD}') AND {_luhn_sql(v)}",
                f"NOT {_when(f'regexp_full_match({v}, {chr(39)}{_RIC}{chr(39)})', _ric_sql(v))}",
            ),
        ),
        validate=lambda s: luhn.is_valid(s) and not valid_ric(s),
    ),
    Rule(
        "mobile",
        0.95,
        True,
        False,
        ("手机", "电话", "联系", "phone", "mobile", "tel"),
        lambda v: _when(
            f"length({v}) BETWEEN 11 AND 18",
            f"regexp_full_match({_phone(v)}, '(?:\\+?86)?(?:{_MOBILE})')",
        ),
        validate=lambda s: valid_phone(s, mobile=True),
        family="phone",
    ),
    Rule(
        "landline",
        0.85,
        True,
        False,
        ("电话", "座机", "联系", "phone", "tel"),
        lambda v: _when(
            f"length({v}) BETWEEN 10 AND 20",
            f"regexp_full_match({_phone(v)}, '(?:\\+?86)?0(?:{_FIXED})')",
        ),
        validate=lambda s: valid_phone(s, mobile=False),
        family="phone",
    ),
    Rule("email", 0.97, True, False, ("邮箱", "email", "mail"), _full(_EMAIL, 5, 254)),
    Rule(
        "person_name",
        0.8,
        True,
        False,
        ("姓名", "名字", "联系人", "name", "xm"),
        _full(_NAME, 2, 4),
        threshold=0.6,
    ),
    Rule(
        "address",
        0.8,
        True,
        False,
        ("地址", "住址", "住所", "address", "addr"),
        _full(_ADDRESS, 6, 200),
        extract=r"[\x{4e00}-\x{9fa5}]{2,}(?:区|县|镇)[\x{4e00}-\x{9fa5}\d]{1,15}(?:路|街|巷|弄|村)",
    ),
    Rule(
        "licence_plate",
        0.9,
        True,
        False,
        ("车牌", "号牌", "plate"),
        _full(_PLATE, 7, 9),
        extract=_PLATE,
    ),
    Rule("passport", 0.75, True, True, ("护照", "passport"), _full(_PASSPORT, 8, 10)),
    Rule(
        "ip_address",
        0.9,
        True,
        False,
        ("ip", "地址"),
        lambda v: _when(
            f"length({v}) BETWEEN 7 AND 45",
            f"regexp_full_match({v}, '{_IPV4}') OR regexp_full_match({v}, '{_IPV6}')",
        ),
        extract=_IPV4,
    ),
)
RULE_BY_TYPE = {rule.type: rule for rule in RULES}
# Date of birth is judged on the spread of dates, not on a pattern (see pii.py).
DOB_HINTS = ("出生", "生日", "birth", "dob", "csrq")
DOB_NOT = ("成立", "注册", "登记", "开业", "发证", "签发", "有效", "establish", "regist", "issue")
PII_TYPES = (*tuple(rule.type for rule in RULES), "date_of_birth")
SENSITIVE = {rule.type for rule in RULES if rule.sensitive}
PERSONAL = {rule.type for rule in RULES if rule.personal} | {"date_of_birth"}


def dob_date_sql(v: str) -> str:
    """A date parsed from text in the forms government files use."""
    forms = ("%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d")
    parsed = ", ".join(f"CAST(try_strptime({v}, '{f}') AS DATE)" for f in forms)
    return f"COALESCE(TRY_CAST({v} AS DATE), {parsed})"


def today() -> dt.date:
    return dt.date.today()

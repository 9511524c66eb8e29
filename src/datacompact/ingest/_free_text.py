"""Personal information embedded in free text: tokens, validation and a per-column verdict.

A remarks column may carry a phone number, a resident ID, a bank card or an
e-mail address in a few of its rows, between ordinary words. The text is cut
into *standalone* tokens (one regular expression over the UTF-8 bytes of many
rows at once, so no Python loop runs over rows without a candidate), and each
token is judged by its shape, its context and the reference validators:

* A digit run glued to a letter, a longer digit run or a code separator
  (``DD2024…``, ``HT-2024-…``, ``…/01``) is part of a code, not a number.
* A number after a currency sign or before a unit (``¥``, ``RMB``, ``元``,
  ``万``) is an amount; one right after an order, invoice, contract, waybill or
  serial-number label (``订单号``, ``发票``, ``Order No.``) is a code.
* Dates (8 digits), postcodes (6), timestamps (10 or 13) and tracking numbers
  of other lengths never have a PII shape. A unified social credit code has
  letters, or digits that seldom form a birth date where an ID has one; an
  18-digit one that passes GB 32100-2015 is not a bank card, and a credit-code
  label rules it out. An ID-shaped number is never taken for a bank card.
* Resident IDs pass GB 11643-1999 (python-stdnum) with a province code, bank
  cards the Luhn formula (python-stdnum) behind a card-network prefix, phone
  numbers phonenumbers' metadata for region CN.

A checksum passes by chance (1 in 11 for IDs, 1 in 10 for Luhn), so a column
full of random ID- or card-shaped numbers would show a few "valid" ones. The
verdict subtracts that chance from the rows with a valid token, estimated
from the rows whose tokens had the shape but failed, and asks the rest to be
significant. A value repeated in many rows (a service hotline, the office's
own e-mail) is an organization's, not a person's, and is not counted.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from stdnum import luhn
from stdnum.cn import ric, uscc

from datacompact.ingest._pii_rules import valid_phone, valid_ric

#: The types searched inside free text.
TEXT_TYPES = ("resident_id", "bank_card", "mobile", "landline", "email")
#: Least share of rows carrying a type that is always reported.
MIN_SHARE = 0.01
#: The verdict's own floor, half of ``MIN_SHARE``, so that a column holding
#: 1 % is not lost to the error of a sample.
FLOOR_SHARE = MIN_SHARE / 2
#: Least number of rows (beyond chance) for a finding at all.
MIN_ROWS = 3
#: Standard deviations by which the rows must exceed what chance explains. The
#: counts are small and skewed, so the normal tail understates the risk: 3.5
#: keeps it near 0.1 % per type and column full of random look-alikes. A
#: resident ID's shape (a province, a birth date) is too specific for many
#: random numbers to have it: its failures are mostly mistyped IDs, which
#: never pass MOD 11-2 by chance, so chance is over-estimated and 2.5 is enough.
Z = {"resident_id": 2.5}
Z_DEFAULT = 3.5
#: Chance that a token of the type's shape that is not PII passes its validator:
#: the check characters' 1 in 11 and 1 in 10, and for phones the share of
#: uniformly random digit strings of the shape that phonenumbers accepts
#: (measured: 5.9 % of 11-digit runs, 22 % of area-code forms), rounded up.
CHANCE = {"resident_id": 1 / 11, "bank_card": 1 / 10, "mobile": 0.07, "landline": 0.25}
#: Types judged together: a remark column's phones are mobiles and landlines.
FAMILY = {"mobile": "phone", "landline": "phone"}

_SEP = b"\x00"  # between rows: neither a word character nor whitespace
# Bytes, so that \d and \s are ASCII only and offsets index the Arrow buffer. What
# precedes a match is checked in Python (:func:`_glued`): a lookbehind here
# would cost a test at every byte of the text.
_NUMBER = re.compile(
    rb"(?=[+(0-9][0-9 ()-]{10})"  # eleven characters of a number first: a cheap test
    rb"(?:"
    rb"(?:\+86[ -]?|86-)?1[0-9]{2}[ -][0-9]{4}[ -][0-9]{4}"  # mobile, 3-4-4
    rb"|(?:\+86[ -]?|86-)[0-9]{11}"  # mobile with the country code
    rb"|\(0[0-9]{2,3}\) ?[0-9]{7,8}|0[0-9]{2,3}[ -][0-9]{7,8}"  # landline with its area code
    rb"|[0-9]{4}(?:[ -][0-9]{4}){3}(?:[ -][0-9]{1,3})?"  # card in groups of four
    rb"|[0-9]{6}[ -][0-9]{8}[ -][0-9]{3}[0-9Xx]"  # resident ID in groups
    rb"|[0-9]{11,}[Xx]?"  # a bare digit run
    rb")"
    rb"(?![0-9A-Za-z])(?![-_/.\\][0-9A-Za-z])"
)
# UTF-8 of the full-width digits U+FF10-FF19 and of U+FF20 (＠).
_WIDE = re.compile(rb"\xef\xbc[\x90-\x99\xa0]")
_EMAIL = re.compile(
    rb"(?<![0-9A-Za-z._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
    rb"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.([A-Za-z]{2,24})(?![0-9A-Za-z-])"
)
# "name@2x.png" is an image, not an address.
_FILE_SUFFIXES = frozenset(
    b"png jpg jpeg gif bmp svg webp pdf doc docx xls xlsx ppt pptx txt csv zip rar js css".split()
)
_CURRENCY_BEFORE = ("¥", "￥", "$", "€", "£", "rmb", "cny", "usd", "hkd")
_UNIT_AFTER = ("元", "块", "圆", "角", "万", "亿", "%", "rmb", "cny", "usd", "yuan")
_CODE_LABELS = (
    "订单",
    "单号",
    "编号",
    "编码",
    "流水",
    "合同",
    "发票",
    "运单",
    "快递",
    "物流",
    "工单",
    "批次",
    "序列",
    "凭证",
    "票据",
    "order",
    "invoice",
    "contract",
    "tracking",
    "waybill",
    "serial",
    "ref",
    "no.",
    "no:",
    "信用代码",
    "统一代码",
    "税号",
    "credit code",
    "uscc",
)
_CODE_LABEL = re.compile("|".join(re.escape(label) for label in _CODE_LABELS))
_CLAUSE_END = re.compile("[\x00，。；;！!？?,]")
_RIC_SHAPE = re.compile(
    r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]"
)
# GB/T 2260 province-level codes, the first two digits of a resident ID.
_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83".split()
)
# Issuer prefixes (ISO/IEC 7812 IINs) of the networks that issue cards in China:
# UnionPay 62, Visa 4, Mastercard 51-55 and 2221-2720, JCB 35, Amex 34/37.
_CARD_PREFIX = re.compile(r"62|4|5[1-5]|2(?:22[1-9]|2[3-9][0-9]|[3-6][0-9]{2}|7[01][0-9]|720)|35")


@dataclass
class Tally:
    """What a scan saw in one column, per type: valid values per row, and shaped failures."""

    rows: int = 0
    valid: dict[str, dict[int, str]] = field(default_factory=lambda: {t: {} for t in TEXT_TYPES})
    shaped: dict[str, set[int]] = field(default_factory=lambda: {t: set() for t in TEXT_TYPES})

    def add(self, kind: str, row: int, value: str | None) -> None:
        if value is None:
            self.shaped[kind].add(row)
        else:
            self.valid[kind].setdefault(row, value)


@dataclass(frozen=True)
class TextFinding:
    """A type found inside the text of a column (counts only, never values)."""

    type: str
    matched: int
    checked: int
    chance: float
    repeated: int
    #: Variance of ``matched - chance`` if every shaped token were a random number.
    variance: float = 0.0

    @property
    def share(self) -> float:
        return self.matched / self.checked if self.checked else 0.0

    @property
    def purity(self) -> float:
        """Share of the matched rows that chance does not explain."""
        return max(0.0, 1 - self.chance / self.matched) if self.matched else 0.0


def scan(batches: Iterable[Any]) -> Tally:
    """Tokenize and validate every non-null value of the string batches (Arrow arrays)."""
    tally = Tally()
    for batch in batches:
        values = batch if isinstance(batch, pa.Array) else batch.column(0)
        values = values.filter(values.is_valid())
        if len(values) == 0:
            continue
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        _scan_array(values, tally)
        tally.rows += len(values)
    return tally


def _joined(values: Any) -> bytes:
    """The UTF-8 bytes of all values, one separator between rows."""
    lists = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    buffer = pc.binary_join(lists, _SEP.decode())[0].as_buffer()
    return buffer.to_pybytes() if buffer is not None else b""


def _scan_array(values: Any, tally: Tally) -> None:
    n = len(values)
    data = _joined(values)
    if _WIDE.search(data):
        # Full-width digits and ＠ (typed with a Chinese input method) read as
        # ASCII; NFKC also turns （，：￥ into (,:¥ which the rules expect.
        values = pc.utf8_normalize(values, "NFKC")
        data = _joined(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + n]
    starts = offsets - offsets[0] + np.arange(n, dtype=np.int64)  # one separator byte per row
    found: list[tuple[int, str, str | None]] = []
    for m in _NUMBER.finditer(data):
        if _glued(data, m.start()):
            continue
        judged = _judge_number(data, m.start(), m.end())
        if judged is not None:
            found.append((m.start(), *judged))
    if b"@" in data:
        found += [
            (m.start(), "email", m.group(0).decode("ascii").lower())
            for m in _EMAIL.finditer(data)
            if m.group(1).lower() not in _FILE_SUFFIXES
        ]
    if not found:
        return
    rows = np.searchsorted(starts, [at for at, _, _ in found], side="right") - 1 + tally.rows
    for row, (_, kind, value) in zip(rows.tolist(), found, strict=True):
        tally.add(kind, row, value)


_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_JOIN = frozenset(b"-_/.\\#")


def _glued(data: bytes, start: int) -> bool:
    """Whether a token continues a word or a code: ``DD2024…``, ``HT-2024-…``, ``No#…``."""
    if start == 0:
        return False
    before = data[start - 1]
    return before in _WORD or (before in _JOIN and start > 1 and data[start - 2] in _WORD)


def _context(data: bytes, start: int, end: int) -> tuple[str, str]:
    """The clause before a token (up to six characters) and the few characters after it."""
    before = data[max(0, start - 18) : start].decode("utf-8", "ignore").lower()
    before = _CLAUSE_END.split(before)[-1]
    after = data[end : end + 6].decode("utf-8", "ignore").lower().split("\x00")[0].lstrip()
    return before, after


def _judge_number(data: bytes, start: int, end: int) -> tuple[str, str | None] | None:
    """``(type, value)`` for a valid token, ``(type, None)`` for one of a PII shape that
    failed its validator, ``None`` for a token of no PII shape or an amount or code.

    Only the failures that could have passed count towards chance: an amount or
    a labelled code never reaches the validator.

    >>> _judge_number(b"tel 138-0013-8000", 4, 17)
    ('mobile', '13800138000')
    >>> _judge_number(b"\\xc2\\xa513800138000", 2, 13) is None  # an amount
    True
    >>> _judge_number(b"12345678901", 0, 11)
    ('mobile', None)
    """
    token = data[start:end].decode("ascii")
    compact = token if token.isdigit() else re.sub(r"[\s()\-]", "", token).upper()
    country = compact.startswith("+86") or token.startswith("86-")
    if country:
        compact = compact.removeprefix("+").removeprefix("86")
    kind = _shape(token, compact, grouped=compact != token.upper())
    if kind is None:
        return None
    before, after = _context(data, start, end)
    if before.rstrip().endswith(_CURRENCY_BEFORE) or after.startswith(_UNIT_AFTER):
        return None
    if _CODE_LABEL.search(before):
        return None
    return kind, (compact if _valid(kind, compact) else None)


def _shape(token: str, compact: str, *, grouped: bool) -> str | None:
    """The PII type a token is shaped as, before any checksum."""
    n = len(compact)
    if compact[-1] == "X":
        return "resident_id" if n == 18 and _RIC_SHAPE.fullmatch(compact) else None
    if token.startswith(("(0", "0")) and grouped:
        return "landline"
    if n == 11:
        return "mobile"  # every bare 11-digit run: the ones that fail measure chance
    if n == 18 and _RIC_SHAPE.fullmatch(compact):
        return "resident_id"
    if 16 <= n <= 19 and _CARD_PREFIX.match(compact):
        return "bank_card"
    return None


def _valid(kind: str, value: str) -> bool:
    if kind == "resident_id":
        # The shape has already made the value compact; stdnum's check character
        # is asked directly, the birth date only when it matches.
        return (
            value[:2] in _PROVINCES
            and ric.calc_check_digit(value) == value[-1]
            and valid_ric(value)
        )
    if kind == "bank_card":
        # An 18-digit credit code passes Luhn one time in ten too.
        return luhn.is_valid(value) and not (len(value) == 18 and uscc.is_valid(value))
    # A Chinese phone number's validity is that of its block: the 7-digit
    # segment (号段) of a mobile, the area code and exchange of a landline. The
    # library is asked once per block, which keeps a million rows fast.
    mobile = kind == "mobile"
    block = value[:7] if mobile else value[:-4]
    verdict = _PHONE_BLOCKS.get((block, len(value)))
    if verdict is None:
        verdict = _PHONE_BLOCKS[(block, len(value))] = valid_phone(value, mobile=mobile)
    return verdict


_PHONE_BLOCKS: dict[tuple[str, int], bool] = {}


def verdict(tally: Tally, checked: int) -> list[TextFinding]:
    """The types a column holds in its text, with the share of rows that carry them.

    ``checked`` is the number of non-empty rows scanned. A valid value seen in
    more than ``max(5, 0.2 %)`` of them belongs to an organization and is
    dropped. The rows left must reach the floor, and exceed what chance
    explains by ``Z`` standard deviations.
    """
    repeat_limit = max(5, math.ceil(0.002 * checked))
    candidates = []
    for kind in TEXT_TYPES:
        valid = tally.valid[kind]
        counts = Counter(valid.values())
        kept = sum(1 for v in valid.values() if counts[v] <= repeat_limit)
        q = CHANCE.get(kind, 0.0)
        failed = len(tally.shaped[kind] - valid.keys())
        # Of n random tokens, Binomial(n, q) pass: matched - failed * q / (1 - q)
        # has mean 0 and variance n * q / (1 - q).
        chance = failed * q / (1 - q)
        variance = (failed + kept) * q / (1 - q)
        candidates.append(TextFinding(kind, kept, checked, chance, len(valid) - kept, variance))
    groups: dict[str, list[TextFinding]] = {}
    for found in candidates:
        groups.setdefault(FAMILY.get(found.type, found.type), []).append(found)
    findings = []
    for members in groups.values():
        matched = sum(f.matched for f in members)
        chance = sum(f.chance for f in members)
        z = min(Z.get(f.type, Z_DEFAULT) for f in members)
        # The floor is on the rows seen; chance only decides whether they are real.
        if matched < max(MIN_ROWS, FLOOR_SHARE * checked):
            continue
        if matched - chance < max(MIN_ROWS, z * math.sqrt(sum(f.variance for f in members))):
            continue
        # Within a family that holds, a member needs a few rows beyond its own chance.
        findings += [f for f in members if f.matched - f.chance >= MIN_ROWS]
    return sorted(findings, key=lambda f: TEXT_TYPES.index(f.type))

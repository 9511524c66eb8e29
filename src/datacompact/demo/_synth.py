"""Vectorized generators of synthetic identifiers, names and places.

Every function takes a NumPy ``Generator`` and a row count and returns an
Arrow array, built column-wise: fixed-width identifiers are matrices of ASCII
digits turned into one string buffer, and compound strings are ``take`` from
a small vocabulary joined element-wise. No Python loop runs per row.

The check characters follow the standards: GB 11643 (resident ID, ISO 7064
MOD 11-2), GB 32100 (USCC, MOD 31 over weights 3^i), GB 11714 (organization
code) and ISO/IEC 7812 (Luhn) for bank cards. Tests compare each with
python-stdnum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from . import _names as names

Ints = NDArray[np.int64]
Days = NDArray[np.datetime64]
Floats = NDArray[np.float64]

_ASCII_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)  # (sum mod 11) -> check character
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_CODES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index 11 - (sum mod 11)
# Mobile prefixes whose every number phonenumbers (CN metadata) accepts as a valid mobile.
_MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159]  # noqa: RUF005 - two rows read better than 33
    + [166, 173, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 191, 198, 199],
    dtype=np.int64,
)


def digit_matrix(values: Ints, width: int) -> NDArray[np.uint8]:
    """The zero-padded decimal digits of ``values`` as an (n, width) matrix of ASCII codes."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    chars: NDArray[np.uint8] = _ASCII_DIGITS[(values[:, None] // powers) % 10]
    return chars


def strings(chars: NDArray[np.uint8]) -> pa.StringArray:
    """One Arrow string per row of an (n, width) matrix of ASCII codes, without a copy per row."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(chars).tobytes()
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def fixed(values: Ints, width: int) -> pa.StringArray:
    return strings(digit_matrix(values, width))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; plain strings are broadcast."""
    return pc.binary_join_element_wise(*parts, "")


def pick(
    rng: np.random.Generator, vocab: Sequence[str], n: int, p: Sequence[float] | None = None
) -> pa.Array:
    weights = None if p is None else np.asarray(p, dtype=np.float64) / float(np.sum(p))
    return take(vocab, rng.choice(len(vocab), size=n, p=weights))


def take(vocab: Sequence[str], index: Ints) -> pa.Array:
    return pa.array(list(vocab), pa.string()).take(pa.array(index))


def either(mask: NDArray[np.bool_], yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    return pc.if_else(pa.array(mask), yes, no)


def nulls_where(mask: NDArray[np.bool_], values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def numbers(values: Ints) -> pa.Array:
    return pa.array(values, pa.int64()).cast(pa.string())


def money(cents: Ints) -> pa.Array:
    """Exact decimal strings such as ``1234.50`` from integer cents."""
    return join(numbers(cents // 100), ".", fixed(cents % 100, 2))


def ymd(days: Days) -> tuple[Ints, Ints, Ints]:
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months_since = days.astype("datetime64[M]")
    months = months_since.astype(np.int64) % 12 + 1
    day = (days - months_since.astype("datetime64[D]")).astype(np.int64) + 1
    return years, months, day


def dates(days: Days, sep: str = "-") -> pa.Array:
    """Dates as ``YYYY-MM-DD`` (or another separator, or none)."""
    y, m, d = ymd(days)
    if not sep:
        return fixed(y * 10000 + m * 100 + d, 8)
    return join(fixed(y, 4), sep, fixed(m, 2), sep, fixed(d, 2))


def random_days(rng: np.random.Generator, n: int, start: str, end: str) -> Days:
    lo, hi = np.datetime64(start, "D"), np.datetime64(end, "D")
    span = int((hi - lo).astype(np.int64))
    return lo + rng.integers(0, span + 1, size=n).astype("timedelta64[D]")


# --- identifiers --------------------------------------------------------------------------


def resident_ids(region: Ints, birth: Days, sequence: Ints) -> pa.StringArray:
    """GB 11643 citizen identity numbers: region, birth date, sequence (odd = male), check."""
    y, m, d = ymd(birth)
    body = np.hstack(
        [
            digit_matrix(region, 6),
            digit_matrix(y * 10000 + m * 100 + d, 8),
            digit_matrix(sequence, 3),
        ]
    )
    total = (body.astype(np.int64) - 48) @ _RIC_WEIGHTS
    return strings(np.hstack([body, _RIC_CHECK[total % 11][:, None]]))


def birth_places(rng: np.random.Generator, birth: Days) -> Ints:
    """GB/T 2260 county codes valid in each birth year (python-stdnum checks the year)."""
    codes = np.array([c for c, _, _ in names.BIRTH_PLACES], dtype=np.int64)
    start = np.array([s or 0 for _, s, _ in names.BIRTH_PLACES], dtype=np.int64)
    end = np.array([e or 9999 for _, _, e in names.BIRTH_PLACES], dtype=np.int64)
    weights = np.array([3.0 if c // 100 == 3301 else 1.0 for c in codes])
    index = rng.choice(len(codes), size=len(birth), p=weights / weights.sum())
    year = ymd(birth)[0]
    invalid = (year < start[index]) | (year > end[index])
    timeless = np.array(names.TIMELESS_BIRTH_PLACES, dtype=np.int64)
    return np.where(
        invalid, timeless[rng.integers(0, len(timeless), size=len(birth))], codes[index]
    )


def usccs(rng: np.random.Generator, prefix: NDArray[np.uint8]) -> pa.StringArray:
    """GB 32100 codes from an (n, 8) matrix of registration authority, category and region.

    The nine-character organization code is random but unique within the call,
    with its GB 11714 check character, so the USCCs are a valid primary key.
    """
    n = len(prefix)
    space = 31**8
    body_values = np.unique(rng.integers(0, space, size=n + n // 8 + 16))
    while len(body_values) < n:  # vanishingly rare: top up with more distinct draws
        more = rng.integers(0, space, size=n)
        body_values = np.unique(np.concatenate([body_values, more]))
    body_values = rng.permutation(body_values)[:n]
    body = (body_values[:, None] // (31 ** np.arange(7, -1, -1, dtype=np.int64))) % 31
    org_check = _ORG_CHECK[11 - (body @ _ORG_WEIGHTS) % 11]
    stem = np.hstack([prefix, _USCC_CODES[body], org_check[:, None]])
    values = _uscc_values(stem)
    check = _USCC_CODES[(31 - (values @ _USCC_WEIGHTS) % 31) % 31]
    return strings(np.hstack([stem, check[:, None]]))


def _uscc_values(chars: NDArray[np.uint8]) -> Ints:
    lookup = np.zeros(128, dtype=np.int64)
    lookup[_USCC_CODES] = np.arange(31)
    return lookup[chars]


def bank_cards(rng: np.random.Generator, bins: Ints, length: int = 19) -> pa.StringArray:
    """Debit card numbers: a six-digit BIN, random account digits and a Luhn check digit."""
    n = len(bins)
    payload = np.hstack(
        [digit_matrix(bins, 6), _ASCII_DIGITS[rng.integers(0, 10, size=(n, length - 7))]]
    )
    values = payload.astype(np.int64) - 48
    doubled = np.arange(length - 1)[::-1] % 2 == 0  # every second digit from the right
    values[:, doubled] *= 2
    values[values > 9] -= 9
    check = _ASCII_DIGITS[(10 - values.sum(axis=1) % 10) % 10]
    return strings(np.hstack([payload, check[:, None]]))


def mobiles(rng: np.random.Generator, n: int) -> pa.StringArray:
    prefixes = _MOBILE_PREFIXES[rng.integers(0, len(_MOBILE_PREFIXES), n)]
    return fixed(prefixes * 10**8 + rng.integers(0, 10**8, size=n), 11)


def landlines(rng: np.random.Generator, n: int) -> pa.Array:
    """Hangzhou fixed lines: area code 0571 and eight digits starting 2, 5, 8 or 8."""
    first = np.array([2, 5, 8, 8], dtype=np.int64)[rng.integers(0, 4, n)]
    return join("0571-", fixed(first * 10**7 + rng.integers(0, 10**7, size=n), 8))


def phones(rng: np.random.Generator, n: int, landline_share: float) -> pa.Array:
    return either(rng.random(n) < landline_share, landlines(rng, n), mobiles(rng, n))


def emails(rng: np.random.Generator, n: int) -> pa.Array:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    local = strings(letters[rng.integers(0, 26, size=(n, 6))])
    digits = numbers(rng.integers(1, 9999, size=n))
    qq = numbers(rng.integers(10**7, 4 * 10**9, size=n))
    domain = pick(rng, names.EMAIL_DOMAINS, n)
    plain = join(local, digits, "@", domain)
    return either(rng.random(n) < 0.25, join(qq, "@qq.com"), plain)


def plates(rng: np.random.Generator, n: int) -> pa.Array:
    """Hangzhou licence plates ``浙A·12345``; one in six is a new-energy ``浙A·D12345``."""
    letters = np.frombuffer(names.PLATE_LETTERS.encode(), dtype=np.uint8)
    chars = _ASCII_DIGITS[rng.integers(0, 10, size=(n, 5))]
    lettered = rng.random(n) < 0.4
    chars[lettered, rng.integers(0, 2, size=int(lettered.sum()))] = letters[
        rng.integers(0, len(letters), size=int(lettered.sum()))
    ]
    new_energy = join(pick(rng, ("D", "F"), n), fixed(rng.integers(0, 10**5, size=n), 5))
    return join("浙A·", either(rng.random(n) < 1 / 6, new_energy, strings(chars)))


# --- people and places ---------------------------------------------------------------------


def person_names(rng: np.random.Generator, n: int, rare_share: float = 0.0) -> pa.Array:
    rank = np.arange(1, len(names.SURNAMES) + 1, dtype=np.float64)
    surname = pick(rng, names.SURNAMES, n, p=list(1 / rank**0.8))
    first = pick(rng, names.GIVEN_CHARS, n)
    second = either(rng.random(n) < 0.7, pick(rng, names.GIVEN_CHARS, n), "")
    if rare_share:
        first = either(rng.random(n) < rare_share, pick(rng, names.RARE_GIVEN_CHARS, n), first)
    return join(surname, first, second)


def roads(rng: np.random.Generator, n: int) -> pa.Array:
    return join(
        pick(rng, names.ROAD_FIRST, n),
        pick(rng, names.STREET_WORDS, n),
        pick(rng, names.ROAD_SUFFIXES, n, p=(6, 3, 1, 1)),
    )


def district_names(district_codes: pa.Array) -> pa.Array:
    keys = pa.array(list(names.DISTRICT_NAMES), pa.string())
    values = pa.array(list(names.DISTRICT_NAMES.values()), pa.string())
    return values.take(pc.index_in(district_codes, value_set=keys))


def addresses(rng: np.random.Generator, district_codes: pa.Array, *, kind: str) -> pa.Array:
    """``浙江省杭州市西湖区城东街道文华路88号``, then a flat (``home``), a room (``office``) or nothing (``site``)."""
    n = len(district_codes)
    head = join(
        names.PROVINCE,
        names.CITY,
        district_names(district_codes),
        pick(rng, names.SUBDISTRICTS, n),
        roads(rng, n),
        numbers(rng.integers(1, 999, size=n)),
        "号",
    )
    if kind == "home":
        return join(
            head,
            pick(rng, names.STREET_WORDS, n),
            pick(rng, names.COMMUNITIES, n),
            numbers(rng.integers(1, 40, size=n)),
            "幢",
            numbers(rng.integers(1, 6, size=n)),
            "单元",
            numbers(rng.integers(1, 30, size=n) * 100 + rng.integers(1, 5, size=n)),
            "室",
        )
    if kind == "office":
        rooms = numbers(rng.integers(101, 2099, size=n))
        return join(head, numbers(rng.integers(1, 12, size=n)), "幢", rooms, "室")
    return head


def districts(rng: np.random.Generator, n: int) -> pa.Array:
    return pick(rng, tuple(names.DISTRICT_NAMES), n, p=(9, 11, 12, 7, 13, 14, 6, 5))

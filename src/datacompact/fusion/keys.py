"""The keys of a private set intersection, normalized so that equal identities compare equal.

Both parties must write one identity the same way before it is hashed, or a
matching pair is missed: ``11010519491231002x`` and ``11010519491231002X`` are
one resident, ``+86 138 0013 8000`` and ``13800138000`` one phone. Each kind
of key has one canonical text, checked as it is canonicalized:

* ``resident_id``: an 18-character PRC resident identity number (GB 11643-1999)
  with its ISO 7064 MOD 11-2 check character, upper-case ``X``, and a real
  birth date. The address code is not checked against the county list of the
  birth year: it is the residence when the number was issued (§5.1), so old
  codes legitimately appear on numbers of people born long before.
* ``uscc``: an 18-character unified social credit code (GB 32100-2015) with its
  check character (:func:`datacompact.registry.identifiers.validate_uscc`).
* ``phone``: a phone number valid for its region in E.164 (``+8613800138000``);
  numbers without a country code are read as Chinese.

:func:`normalize_keys` returns the distinct canonical keys and how many inputs
were malformed or repeated, never which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import phonenumbers
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from datacompact.errors import InvalidIdentifier, InvalidInput
from datacompact.registry.identifiers import validate_uscc

__all__ = ["KEY_KINDS", "NormalizedKeys", "canonical_key", "normalize_keys"]


def _resident_id(value: str) -> str | None:
    try:
        number = ric.compact(value).upper()
        if len(number) != 18 or not number[:17].isdigit():
            return None
        if number[-1] != ric.calc_check_digit(number):
            return None
        ric.get_birth_date(number)
    except ValidationError:
        return None
    return str(number)


def _uscc(value: str) -> str | None:
    try:
        return validate_uscc(value.strip().upper())
    except InvalidIdentifier:
        return None


def _phone(value: str) -> str | None:
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_CANONICAL: Final[dict[str, Callable[[str], str | None]]] = {
    "resident_id": _resident_id,
    "uscc": _uscc,
    "phone": _phone,
}
#: The kinds of key a PSI run accepts.
KEY_KINDS: Final = tuple(_CANONICAL)
#: Longest key text looked at; anything longer is malformed without being parsed.
_MAX_KEY_CHARS = 64


def _kind(kind: str) -> Callable[[str], str | None]:
    try:
        return _CANONICAL[kind]
    except KeyError:
        raise InvalidInput(
            f"键类型无效 / invalid key kind: expected one of {', '.join(KEY_KINDS)}",
            details={"field": "key_kind"},
        ) from None


def canonical_key(kind: str, value: object) -> str | None:
    """The canonical text of one key of ``kind``, or None when it is malformed.

    >>> canonical_key("resident_id", "11010519491231002x")
    '11010519491231002X'
    >>> canonical_key("phone", "138 0013 8000")
    '+8613800138000'
    >>> canonical_key("uscc", "91110000600037341A") is None  # wrong check character
    True
    """
    check = _kind(kind)
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_KEY_CHARS:
        return None
    return check(value.strip())


@dataclass(frozen=True)
class NormalizedKeys:
    """Distinct canonical keys, sorted, with the counts of what was dropped."""

    kind: str
    keys: tuple[str, ...]
    malformed: int
    duplicates: int


def normalize_keys(kind: str, values: Iterable[object]) -> NormalizedKeys:
    """Canonicalize every value; drop and count the malformed ones and the repeats.

    >>> found = normalize_keys("phone", ["13800138000", "+86 138 0013 8000", "12", None])
    >>> found.keys, found.malformed, found.duplicates
    (('+8613800138000',), 2, 1)
    """
    _kind(kind)
    distinct: set[str] = set()
    malformed = seen = 0
    for value in values:
        key = canonical_key(kind, value)
        if key is None:
            malformed += 1
            continue
        seen += 1
        distinct.add(key)
    return NormalizedKeys(kind, tuple(sorted(distinct)), malformed, seen - len(distinct))

"""Registration codes of data resources (数据资源登记编码).

A registration code names one data resource for its whole life. It has 22
characters, shown grouped by hyphens for people and stored without them::

    330106 - MA27XL6Y1 - 000001 - Y
    region   holder      sequence check

* **region** (6 digits): the administrative division of the registering holder,
  a current or historic code of GB/T 2260, checked against the division table
  python-stdnum ships (``numdb`` ``cn/loc``).
* **holder** (9 characters): the organization code embedded in the holder's
  unified social credit code, i.e. USCC positions 9–17 (GB 32100-2015 §4.1,
  the "主体标识码"). It is unique per organization nationwide, so two holders
  never share a code space even within one region.
* **sequence** (6 digits): the holder's running number, 000001–999999. The
  store hands it out; it is never reused, also not after a resource is retired.
* **check** (1 character, ``0-9A-Z``): ISO 7064 MOD 37-36 (hybrid system) over
  the 21 preceding characters, computed with ``stdnum.iso7064.mod_37_36``. It
  catches every single-character error and every transposition of adjacent
  characters, the two mistakes people make when they copy a code by hand.

:func:`parse_code` checks each part and says which one is wrong without
echoing the input (errors.py: messages never carry a data value).

>>> code = make_code(region="330106", holder_uscc="91330106MA27XL6Y1N", sequence=1)
>>> code.text, code.display
('330106MA27XL6Y1000001Y', '330106-MA27XL6Y1-000001-Y')
>>> parse_code("330106-ma27xl6y1-000001-y") == code
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_37_36

from datacompact.errors import InvalidIdentifier
from datacompact.registry.identifiers import validate_region_code, validate_uscc

__all__ = ["CODE_LENGTH", "RegistrationCode", "holder_code", "make_code", "parse_code"]

CODE_LENGTH = 22
MAX_SEQUENCE = 999_999

# GB 32100-2015 leaves out I, O, S, V and Z so they are not confused with 1, 0, 5, U and 2.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_HOLDER = re.compile(f"[{_USCC_ALPHABET}]{{9}}")
_SEQUENCE = re.compile(r"[0-9]{6}")
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_STANDARD = "DataCompact registration code (GB/T 2260 + GB 32100 + ISO 7064 MOD 37-36)"


def _invalid(part: str, message: str) -> InvalidIdentifier:
    return InvalidIdentifier(message, details={"field": "registration_code", "part": part})


@dataclass(frozen=True)
class RegistrationCode:
    """A parsed, valid registration code; build it with :func:`make_code` or :func:`parse_code`."""

    region: str
    holder: str
    sequence: int
    check: str

    @property
    def text(self) -> str:
        """The 22-character stored form, e.g. ``330106MA27XL6Y1000001Y``."""
        return f"{self.region}{self.holder}{self.sequence:06d}{self.check}"

    @property
    def display(self) -> str:
        """The grouped form for people, e.g. ``330106-MA27XL6Y1-000001-Y``."""
        return f"{self.region}-{self.holder}-{self.sequence:06d}-{self.check}"

    def __str__(self) -> str:
        return self.text

    @classmethod
    def from_text(cls, text: str) -> RegistrationCode:
        """Same as :func:`parse_code`."""
        return parse_code(text)


def holder_code(uscc: str) -> str:
    """The 9-character organization code inside a USCC (positions 9–17, GB 32100-2015 §4.1).

    >>> holder_code("91330106MA27XL6Y1N")
    'MA27XL6Y1'
    """
    return validate_uscc(uscc, field="holder_uscc")[8:17]


def _check_character(body: str) -> str:
    return str(mod_37_36.calc_check_digit(body, alphabet=_ALNUM))


def make_code(*, region: str, holder_uscc: str, sequence: int) -> RegistrationCode:
    """Build the registration code of a holder's ``sequence``-th resource in ``region``."""
    region_code = validate_region_code(region, field="region")
    holder = holder_code(holder_uscc)
    if isinstance(sequence, bool) or not isinstance(sequence, int):
        raise _invalid(
            "sequence",
            f"登记序号无效 / invalid sequence: expected an integer, got {type(sequence).__name__}",
        )
    if not 1 <= sequence <= MAX_SEQUENCE:
        raise _invalid(
            "sequence",
            "登记序号超出范围 / sequence out of range: expected 1 to 999999, got a number outside",
        )
    body = f"{region_code}{holder}{sequence:06d}"
    return RegistrationCode(region_code, holder, sequence, _check_character(body))


def parse_code(text: str) -> RegistrationCode:
    """Parse and validate a registration code, with or without hyphens and spaces.

    Raises :class:`InvalidIdentifier` naming the failing part: length, region,
    holder, sequence or check character.
    """
    if not isinstance(text, str):
        raise _invalid(
            "code",
            f"登记编码无效 / invalid registration code: expected text, got {type(text).__name__}",
        )
    compact = re.sub(r"[\s-]", "", text).upper()
    if len(compact) != CODE_LENGTH:
        raise _invalid(
            "length",
            f"登记编码长度错误 / invalid registration code: expected {CODE_LENGTH} characters, "
            f"got {len(compact)}",
        )
    region, holder, sequence, check = compact[:6], compact[6:15], compact[15:21], compact[21]
    try:
        validate_region_code(region, field="registration_code")
    except InvalidIdentifier as exc:
        raise _invalid(
            "region",
            "登记编码的行政区划部分无效 / invalid registration code: expected a GB/T 2260 region "
            "code in characters 1-6, got one that is malformed or unknown",
        ) from exc
    if not _HOLDER.fullmatch(holder):
        raise _invalid(
            "holder",
            "登记编码的主体标识部分无效 / invalid registration code: expected 9 USCC characters "
            "(digits and letters except I, O, S, V, Z) in characters 7-15, got other characters",
        )
    if not _SEQUENCE.fullmatch(sequence) or sequence == "000000":
        raise _invalid(
            "sequence",
            "登记编码的序号部分无效 / invalid registration code: expected 000001-999999 in "
            "characters 16-21, got something else",
        )
    if check not in _ALNUM:
        raise _invalid(
            "check",
            "登记编码校验位无效 / invalid registration code: expected a digit or letter as the "
            "check character, got another symbol",
        )
    try:
        mod_37_36.validate(compact, alphabet=_ALNUM)
    except ValidationError as exc:
        raise _invalid(
            "check",
            "登记编码校验失败 / invalid registration code: expected the ISO 7064 MOD 37-36 check "
            "character, got a different one (a character was mistyped or swapped)",
        ) from exc
    return RegistrationCode(region, holder, int(sequence), check)

"""Decimal text in, :class:`~decimal.Decimal` out, or a specific error.

>>> parse_decimal("1250000.00", "value")
Decimal('1250000.00')
>>> parse_decimal("1e6", "value")
Traceback (most recent call last):
...
datacompact.errors.InvalidInput: value 须为十进制数 / expected value as decimal text such as '1250000.00', got text in another form
"""

from __future__ import annotations

import re
from decimal import Decimal

from datacompact.errors import InvalidInput

# Plain digits only: no exponent, sign, NaN or infinity, at most 15 + 6 digits.
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")


def parse_decimal(text: object, field: str) -> Decimal:
    if not isinstance(text, str):
        got = "a JSON number" if isinstance(text, int | float) else type(text).__name__
    elif not _DECIMAL.fullmatch(text.strip()):
        got = "text in another form"
    else:
        return Decimal(text.strip())
    raise InvalidInput(
        f"{field} 须为十进制数 / expected {field} as decimal text such as '1250000.00', got {got}",
        details={"field": field, "reason": "not_decimal"},
    )


def check_decimal(
    value: object, name: str, lo: int, hi: int | None, *, strict: bool = False
) -> Decimal:
    """``value`` itself if it is a finite ``Decimal`` in ``[lo, hi]`` (``(lo, hi]`` if ``strict``).

    >>> check_decimal(Decimal("0.3"), "max_share", 0, 1, strict=True)
    Decimal('0.3')
    >>> check_decimal(0.3, "max_share", 0, 1)
    Traceback (most recent call last):
    ...
    datacompact.errors.InvalidInput: max_share 须为 [0, 1] 内的 Decimal / expected max_share as a Decimal in [0, 1], got float
    """
    if not isinstance(value, Decimal):
        got = type(value).__name__
    elif not value.is_finite():
        got = "a non-finite Decimal"
    elif value < lo or (hi is not None and value > hi) or (strict and value == lo):
        got = "a negative number" if value < 0 else "a value out of range"
    else:
        return value
    bounds = f"{'(' if strict else '['}{lo}, " + ("∞)" if hi is None else f"{hi}]")
    raise InvalidInput(
        f"{name} 须为 {bounds} 内的 Decimal / expected {name} as a Decimal in {bounds}, got {got}",
        details={"field": name},
    )

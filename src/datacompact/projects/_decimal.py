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

"""Decimal text in, :class:`~decimal.Decimal` out: one parser for every caller.

:func:`parse_decimal` reads plain decimal text: ASCII digits with at most one
point, and a sign only when ``signed``. No exponent, no ``NaN`` or
``Infinity``, no whitespace, no grouping: what is read is exactly what was
written. ``places`` bounds the digits after the point (``0``: no point at
all) and ``max_digits`` those before it. It raises :class:`ValueError`, which
each caller turns into its own error:

* :func:`parse_decimal_field`: money and measurements of the API and the CLI
  (:class:`~datacompact.errors.InvalidInput`);
* ``datacompact.procurement._common.money``: positive amounts to the cent;
* ``datacompact.policy._odrl.parse_xsd_decimal``: xsd:decimal in agreements,
  read as a float;
* ``datacompact.ledger.formats.checkpoint.parse_size``: tree sizes, as an int.

>>> parse_decimal("1250000.00", places=2)
Decimal('1250000.00')
>>> parse_decimal("-.5", signed=True, bare_point=True)
Decimal('-0.5')
>>> parse_decimal("1e6")
Traceback (most recent call last):
...
ValueError: expected ASCII digits with at most one point, got another form
>>> parse_decimal_field("1e6", "value")
Traceback (most recent call last):
...
datacompact.errors.InvalidInput: value 须为十进制数 / expected value as decimal text such as '1250000.00', got text in another form
"""

from __future__ import annotations

import re
from decimal import Decimal

from datacompact.errors import InvalidInput

__all__ = ["check_decimal", "parse_decimal", "parse_decimal_field"]

# Character classes match ASCII digits only, never other scripts' digits.
_FORM = re.compile(r"([+-]?)([0-9]*)(\.?)([0-9]*)")


def parse_decimal(
    text: str,
    *,
    places: int | None = None,
    signed: bool = False,
    max_digits: int | None = None,
    bare_point: bool = False,
) -> Decimal:
    """The value of plain decimal ``text``, exactly as written.

    ``places`` is the most digits after the point (``None``: any, ``0``: no
    point), ``max_digits`` the most before it. ``signed`` accepts one leading
    ``+`` or ``-``; ``bare_point`` accepts a point with no digits on one side
    (``5.``, ``.5``), as xsd:decimal does. Leading zeros are accepted.

    >>> parse_decimal("007")
    Decimal('7')
    >>> parse_decimal("1.005", places=2)
    Traceback (most recent call last):
    ...
    ValueError: expected at most 2 digits after the point, got 3
    >>> parse_decimal("-1")
    Traceback (most recent call last):
    ...
    ValueError: expected no sign, got one
    >>> parse_decimal("5.")
    Traceback (most recent call last):
    ...
    ValueError: expected digits on both sides of the point, got a bare point
    >>> parse_decimal("NaN", signed=True)
    Traceback (most recent call last):
    ...
    ValueError: expected ASCII digits with at most one point, got another form
    """
    match = _FORM.fullmatch(text)
    if match is None:
        raise ValueError("expected ASCII digits with at most one point, got another form")
    sign, whole, point, fraction = match.groups()
    if sign and not signed:
        raise ValueError("expected no sign, got one")
    if not whole and not fraction:
        raise ValueError("expected at least one digit, got none")
    if point and not bare_point and not (whole and fraction):
        raise ValueError("expected digits on both sides of the point, got a bare point")
    if max_digits is not None and len(whole) > max_digits:
        raise ValueError(f"expected at most {max_digits} digits before the point, got {len(whole)}")
    if places == 0 and point:
        raise ValueError("expected an integer, got a point")
    if places is not None and len(fraction) > places:
        raise ValueError(f"expected at most {places} digits after the point, got {len(fraction)}")
    return Decimal(text)


def parse_decimal_field(value: object, field: str) -> Decimal:
    """An amount or measurement sent as text, ``"1250000.00"``: at most 15 + 6 digits.

    Surrounding whitespace is stripped; a JSON number is refused, so no float
    ever reaches a total.
    """
    if not isinstance(value, str):
        got = "a JSON number" if isinstance(value, int | float) else type(value).__name__
    else:
        try:
            return parse_decimal(value.strip(), places=6, max_digits=15)
        except ValueError:
            got = "text in another form"
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

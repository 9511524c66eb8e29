"""Money of the price list and the statements: ``Decimal`` yuan, rounded to the fen.

Prices and ceilings are decimal text with at most four places (a price per
call may be a fraction of a fen: ``"0.0025"``). A line's amount is its
quantity times its unit price, rounded once to the fen (0.01 yuan) half up,
the way a receipt is rounded (GB/T 8170-2008 calls this "四舍五入"); a total is
the exact sum of its lines' amounts, never re-rounded, so that the lines of a
statement always add up to its total.

>>> amount(Decimal("3"), Decimal("0.0025"))
Decimal('0.01')
>>> amount(Decimal("2"), Decimal("0.0025"))
Decimal('0.01')
>>> amount(Decimal("1"), Decimal("0.0025"))
Decimal('0.00')
>>> parse_price("12.5", "price")
Decimal('12.5000')
>>> parse_price("-1", "price")
Traceback (most recent call last):
...
datacompact.errors.InvalidInput: price 须为非负十进制数，至多 4 位小数 / expected price as non-negative decimal text with at most 4 places such as '12.50', got a sign
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from datacompact.decimals import parse_decimal
from datacompact.errors import InvalidInput

__all__ = [
    "FEN",
    "PRICE_PLACES",
    "PRICE_QUANTUM",
    "amount",
    "fen",
    "parse_price",
    "parse_quantity",
    "text",
    "total",
]

FEN = Decimal("0.01")
PRICE_PLACES = 4
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# Ten billion yuan is beyond any public-data price or permitted revenue.
_MAX_DIGITS = 11


def _refuse(field: str, expected: str, example: str, got: str) -> InvalidInput:
    return InvalidInput(
        f"{field} 须为非负十进制数，至多 {expected} 位小数 / expected {field} as non-negative "
        f"decimal text with at most {expected} places such as '{example}', got {got}",
        details={"field": field, "reason": "not_decimal"},
    )


def _parse(value: object, field: str, places: int, example: str) -> Decimal:
    """Non-negative decimal text; a JSON number, a sign, an exponent or NaN is refused."""
    if not isinstance(value, str):
        got = "a JSON number" if isinstance(value, int | float) else type(value).__name__
        raise _refuse(field, str(places), example, got)
    text_value = value.strip()
    if text_value.startswith(("-", "+")):
        raise _refuse(field, str(places), example, "a sign")
    try:
        return parse_decimal(text_value, places=places, max_digits=_MAX_DIGITS)
    except ValueError:
        raise _refuse(field, str(places), example, "text in another form") from None


def parse_price(value: object, field: str) -> Decimal:
    """A price, ceiling or revenue in yuan: at most four places, kept at four."""
    return _parse(value, field, PRICE_PLACES, "12.50").quantize(PRICE_QUANTUM)


def parse_quantity(value: object, field: str = "quantity") -> Decimal:
    """A metered quantity: calls, rows, products or hours, at most six places."""
    return _parse(value, field, 6, "1")


def fen(value: Decimal) -> Decimal:
    """``value`` rounded to the fen, half up."""
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """A line's amount: quantity times unit price, rounded once to the fen."""
    return fen(quantity * unit_price)


def total(amounts: Iterable[Decimal]) -> Decimal:
    """The exact sum of amounts already in fen: never rounded again."""
    return sum(amounts, start=Decimal("0.00"))


def text(value: Decimal) -> str:
    """Decimal text as stored and served: no exponent, trailing zeros kept."""
    return format(value, "f")

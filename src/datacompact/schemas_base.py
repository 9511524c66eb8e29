"""The one strict base of every input schema, and the text every input must be made of.

Inputs forbid unknown fields (a typo is an error, not a silently ignored
setting) and strip surrounding whitespace. Every text they carry, at any
depth, must be *characters*: no NUL or other C0 control, no lone surrogate
and no Unicode noncharacter (U+FDD0..U+FDEF and the last two code points of
every plane). PostgreSQL refuses NUL outright and a lone surrogate cannot be
encoded as UTF-8, so either would otherwise fail deep in the store as a
5xx; the others have no business in a name, a reason or a query. Tab,
newline and carriage return are allowed only in fields marked
:data:`MULTILINE` (descriptions, reasons, SQL).

The refusal is a pydantic error of type ``invalid_character``; the API turns
it into :class:`~datacompact.errors.InvalidCharacter` (422), the CLI into its
usual invalid-input message. Neither ever repeats the offending value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

#: The largest row id: ids are ``INTEGER`` in PostgreSQL (32-bit signed), and a
#: larger number bound to such a column fails in the driver instead of finding
#: nothing. Log indexes and tree sizes are 64-bit (:data:`MAX_INDEX`).
MAX_ID = 2**31 - 1
#: A calendar month, ``YYYY-MM``, of a year Python's dates can hold (not 0000).
MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
#: The largest log index or tree size: ``BIGINT``.
MAX_INDEX = 2**63 - 1
#: The id of a row, as inputs refer to one.
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]

#: The pydantic error type of a refused character, kept in the API's error details.
INVALID_CHARACTER = "invalid_character"


def _noncharacters() -> str:
    # U+FDD0..U+FDEF, then U+nFFFE and U+nFFFF of each of the 17 planes.
    planes = "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
    return "\ufdd0-\ufdef" + planes


# Written out rather than taken from a library: ``unicodedata`` has no
# "noncharacter" property, and the set is fixed by the Unicode standard (§23.7).
_ALWAYS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff" + _noncharacters()
_LINE_BREAKS = "\t\n\r"
_SINGLE_LINE = re.compile(f"[{_ALWAYS}{_LINE_BREAKS}]")
_MULTI_LINE = re.compile(f"[{_ALWAYS}]")


def first_non_character(text: str, *, multiline: bool = False) -> int | None:
    """The position of the first character an input may not hold, or ``None``.

    >>> first_non_character("统一社会信用代码")
    >>> first_non_character("a\\x00b")
    1
    >>> first_non_character("line one\\nline two", multiline=True)
    >>> first_non_character("line one\\nline two")
    8
    """
    found = (_MULTI_LINE if multiline else _SINGLE_LINE).search(text)
    return None if found is None else found.start()


def _refused(value: Any, *, multiline: bool) -> bool:
    """Whether any text in ``value`` (a string, or keys and items of lists and objects)."""
    if isinstance(value, str):
        return first_non_character(value, multiline=multiline) is not None
    if isinstance(value, dict):
        return any(
            _refused(k, multiline=False) or _refused(v, multiline=multiline)
            for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return any(_refused(item, multiline=multiline) for item in value)
    return False


def invalid_character_error() -> PydanticCustomError:
    """The validation error of a refused character; its message never quotes the text."""
    return PydanticCustomError(
        INVALID_CHARACTER,
        "expected text without control characters, surrogates or noncharacters",
    )


@dataclass(frozen=True)
class Multiline:
    """Marks a text field that may hold tab, newline and carriage return."""


#: ``Annotated[str, MULTILINE]``: a text field that may span several lines.
MULTILINE = Multiline()


class Strict(BaseModel):
    """Base of every input schema: no unknown fields, whitespace stripped, only characters."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _only_characters(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        multiline = field is not None and MULTILINE in field.metadata
        if _refused(value, multiline=multiline):
            raise invalid_character_error()
        return value


_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date(value: Any) -> Any:
    # Pydantic's lax mode reads numbers (and digit strings) as Unix timestamps,
    # so ``0`` would be 1970-01-01; a date here is a calendar date, written as one.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD")


#: A calendar date written ``YYYY-MM-DD``, never a number.
IsoDate = Annotated[date, BeforeValidator(_iso_date)]

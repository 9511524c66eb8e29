"""Masking operators over Arrow columns (GB/T 37964-2019 Annex A techniques).

Every operator takes an Arrow array (or chunked array) and returns a new one,
computed with ``pyarrow.compute`` kernels or, for keyed hashing, once per
distinct value: no Python loop over records.

* :func:`pseudonymize`: keyed pseudonyms, HMAC-SHA256 under a key derived per
  grant with HKDF (§A.2.4 "pseudonymization" with a keyed function). An
  unsalted hash would fall to a dictionary attack on identifiers as short as a
  phone number, so none is offered.
* :func:`mask_partial`: keep the first and last characters (§A.2.3 masking).
* :func:`truncate_dates`, :func:`round_to`, :func:`top_code`,
  :func:`bottom_code`: generalization of dates and numbers (§A.3.2).
* :func:`suppress_records`, :func:`suppress_cells`: suppression (§A.3.1).

>>> import pyarrow as pa
>>> mask_partial(pa.array(["110105199001011234", "123"])).to_pylist()
['110105********1234', '***']
>>> round_to(pa.array([12, 17, 23]), base=5).to_pylist()
[10, 15, 25]
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar, cast

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from datacompact import crypto
from datacompact.errors import InvalidInput, MalformedInput

# pyarrow ships no type information, so its arrays are ``Any`` to mypy.
Column: TypeAlias = Any  # pa.Array | pa.ChunkedArray
Mask: TypeAlias = Any  # pa.Array | pa.ChunkedArray | npt.NDArray[np.bool_]
T = TypeVar("T")

# Domain separation of pseudonym keys from every other use of the platform secret.
_HKDF_SALT = b"datacompact/privacy/pseudonym/v1"
_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second")


def _arrow(call: Callable[[], T], what: str) -> T:
    """Run a pyarrow kernel, translating its errors (they never escape raw)."""
    try:
        return call()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"cannot {what} a column of this type or content") from exc


def derive_key(secret: bytes, context: str, *, length: int = 32) -> bytes:
    """A per-grant key: HKDF-SHA256 (RFC 5869) of the platform secret with ``context`` as info.

    >>> derive_key(b"s" * 32, "grant:1") != derive_key(b"s" * 32, "grant:2")
    True
    """
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise InvalidInput("expected a secret of at least 16 bytes")
    if not context:
        raise InvalidInput("expected a non-empty key context (e.g. the grant id)")
    return crypto.derive_key(secret, purpose=context.encode(), salt=_HKDF_SALT, length=length)


def pseudonymize(values: Column, *, secret: bytes, context: str, size: int = 16) -> pa.Array:
    """Keyed pseudonyms: hex of HMAC-SHA256(key, value) truncated to ``size`` bytes.

    The same value gets the same pseudonym within one ``context`` (grant) and
    unlinkable ones across grants. Nulls stay null.

    >>> out = pseudonymize(pa.array(["a", "b", "a", None]), secret=b"k" * 32, context="g1")
    >>> out[0] == out[2], out[0] == out[1], out[3].as_py(), len(out[0].as_py())
    (True, False, None, 32)
    """
    if not 8 <= size <= 32:
        raise InvalidInput(
            "expected a pseudonym size between 8 and 32 bytes", details={"size": size}
        )
    key = derive_key(secret, context)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = _arrow(lambda: pc.cast(values, pa.string()), "pseudonymize")
    encoded = pc.dictionary_encode(values)
    digests = [
        hmac.new(key, v.encode("utf-8"), hashlib.sha256).hexdigest()[: 2 * size]
        for v in encoded.dictionary.to_pylist()
    ]
    return pc.take(pa.array(digests, type=pa.string()), encoded.indices)


def mask_partial(
    values: Column, *, keep_first: int = 6, keep_last: int = 4, mask: str = "*"
) -> pa.Array | pa.ChunkedArray:
    """Keep the first ``keep_first`` and last ``keep_last`` characters, mask the rest.

    A value no longer than ``keep_first + keep_last`` is masked entirely, so a
    short value is never shown whole.
    """
    if keep_first < 0 or keep_last < 0 or len(mask) != 1:
        raise InvalidInput("expected non-negative keep counts and a one-character mask")
    if not pa.types.is_string(values.type):
        values = _arrow(lambda: pc.cast(values, pa.string()), "mask")
    length = pc.utf8_length(values)
    first = pc.utf8_slice_codeunits(values, 0, keep_first)
    last = (
        pc.utf8_slice_codeunits(values, -keep_last)
        if keep_last
        else pc.if_else(pc.is_valid(values), "", pa.scalar(None, pa.string()))
    )
    hidden = pc.subtract(length, keep_first + keep_last)
    middle = pc.binary_repeat(mask, pc.max_element_wise(hidden, 0))
    joined = pc.binary_join_element_wise(first, middle, last, "")
    return pc.if_else(pc.less_equal(hidden, 0), pc.binary_repeat(mask, length), joined)


def truncate_dates(values: Column, *, unit: str = "month") -> pa.Array | pa.ChunkedArray:
    """Truncate dates or timestamps to the start of ``unit`` (``year``, ``month``, ``day``, ...).

    ISO date strings are parsed first; a string that is not a date raises
    :class:`MalformedInput`.

    >>> truncate_dates(pa.array(["2024-03-15"]), unit="month").to_pylist()
    [datetime.date(2024, 3, 1)]
    """
    if unit not in _UNITS:
        raise InvalidInput(f"expected a unit among {', '.join(_UNITS)}", details={"unit": unit})
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            values = pc.cast(values, pa.date32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise MalformedInput("expected ISO dates (YYYY-MM-DD), got other text") from exc
    if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
        raise InvalidInput("expected a date or timestamp column")
    truncated = _arrow(lambda: pc.floor_temporal(values, unit=unit), "truncate")
    if pa.types.is_date32(values.type):
        return cast(pa.Array, truncated)
    return truncated


def _numeric(values: Column, what: str) -> None:
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        raise InvalidInput(f"expected a numeric column to {what}")


def round_to(values: Column, *, base: float) -> pa.Array | pa.ChunkedArray:
    """Round to the nearest multiple of ``base`` (ties to even, Arrow's ``half_to_even``)."""
    _numeric(values, "round")
    if not base > 0:
        raise InvalidInput("expected a positive rounding base", details={"base": base})
    return _arrow(
        lambda: pc.round_to_multiple(values, multiple=base, round_mode="half_to_even"), "round"
    )


def top_code(values: Column, *, upper: float) -> pa.Array | pa.ChunkedArray:
    """Replace values above ``upper`` by ``upper`` (top coding)."""
    _numeric(values, "top-code")
    bound = pa.scalar(upper).cast(values.type) if pa.types.is_integer(values.type) else upper
    return _arrow(lambda: pc.min_element_wise(values, bound), "top-code")


def bottom_code(values: Column, *, lower: float) -> pa.Array | pa.ChunkedArray:
    """Replace values below ``lower`` by ``lower`` (bottom coding)."""
    _numeric(values, "bottom-code")
    bound = pa.scalar(lower).cast(values.type) if pa.types.is_integer(values.type) else lower
    return _arrow(lambda: pc.max_element_wise(values, bound), "bottom-code")


def _bool_mask(mask: Mask, length: int) -> pa.Array:
    array = pa.array(mask) if isinstance(mask, np.ndarray) else mask
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_boolean(array.type) or len(array) != length:
        raise InvalidInput(
            f"expected a boolean mask of {length} entries",
            details={"expected": length, "found": len(array)},
        )
    return pc.fill_null(array, False)


def suppress_records(table: pa.Table, mask: Mask) -> pa.Table:
    """Remove the records where ``mask`` is true (record suppression)."""
    return table.filter(pc.invert(_bool_mask(mask, table.num_rows)))


def suppress_cells(
    values: Column, mask: Mask, *, replacement: str | None = None
) -> pa.Array | pa.ChunkedArray:
    """Blank the cells where ``mask`` is true: null, or ``replacement`` for text columns."""
    flags = _bool_mask(mask, len(values))
    if replacement is None:
        return pc.if_else(flags, pa.scalar(None, values.type), values)
    if not pa.types.is_string(values.type):
        raise InvalidInput("a replacement text needs a text column")
    return pc.if_else(flags, replacement, values)

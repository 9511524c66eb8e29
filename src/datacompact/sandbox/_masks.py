"""The mask functions the DuckDB engine registers, backed by :mod:`datacompact.privacy.masking`.

Masking is never re-implemented here: each SQL function hands the Arrow
vector DuckDB gives it to the privacy module and returns its answer. The
pseudonym key is derived per grant (HKDF with the grant id as context) by
:func:`~datacompact.privacy.masking.pseudonymize`, so pseudonyms are keyed
HMACs that a dictionary of plain hashes cannot reverse, and they do not link
across grants.

The functions are registered on the request's connection only, under the
reserved ``__dc_mask_*`` names that user SQL cannot call (the analyzer refuses
``__dc`` identifiers and unknown functions): a user able to call the
pseudonym function could build the very dictionary the key protects against.

>>> import duckdb
>>> con = duckdb.connect()
>>> register_masks(con, secret=b"k" * 32)
>>> con.execute("SELECT __dc_mask_partial('110105199001011234', 6, 4)").fetchone()
('110105********1234',)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from datacompact.privacy import masking


@dataclass(frozen=True)
class MaskFunction:
    """One ``__dc_mask_*`` function: its Python body and its signature on each engine."""

    name: str
    function: Callable[..., pa.Array]
    parameters: tuple[str, ...]  # DuckDB types
    returns: str  # DuckDB type
    spark_returns: str


def mask_functions(secret: bytes) -> tuple[MaskFunction, ...]:
    """The mask functions every engine registers, as ``rules.govern_tables.MASK_FUNCTIONS`` calls them.

    Arguments after the values are literals of the governed plan, so they are
    the same on every row of a call: the pseudonym's context (``grant:<id>``,
    from which the per-grant key is derived) and the partial mask's counts.
    The ``pa.Array`` hints tell Spark these are scalar Arrow functions.
    """

    def pseudonym(values: pa.Array, contexts: pa.Array) -> pa.Array:
        if len(values) == 0:
            return values
        return _array(masking.pseudonymize(values, secret=secret, context=contexts[0].as_py()))

    def partial(values: pa.Array, keep_first: pa.Array, keep_last: pa.Array) -> pa.Array:
        if len(values) == 0:
            return values
        return _array(
            masking.mask_partial(
                values, keep_first=keep_first[0].as_py(), keep_last=keep_last[0].as_py()
            )
        )

    def month(values: pa.Array) -> pa.Array:
        return _array(masking.truncate_dates(values, unit="month"))

    def year(values: pa.Array) -> pa.Array:
        return _array(masking.truncate_dates(values, unit="year"))

    return (
        MaskFunction("__dc_mask_pseudonym", pseudonym, ("VARCHAR", "VARCHAR"), "VARCHAR", "string"),
        MaskFunction(
            "__dc_mask_partial", partial, ("VARCHAR", "INTEGER", "INTEGER"), "VARCHAR", "string"
        ),
        MaskFunction("__dc_mask_month", month, ("DATE",), "DATE", "date"),
        MaskFunction("__dc_mask_year", year, ("DATE",), "DATE", "date"),
    )


def register_masks(con: duckdb.DuckDBPyConnection, *, secret: bytes) -> None:
    """Register the mask functions on ``con`` (for the whole database it belongs to)."""
    for mask in mask_functions(secret):
        con.create_function(  # type: ignore[call-overload, unused-ignore]
            mask.name,
            mask.function,
            list(mask.parameters),
            mask.returns,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )


def _array(out: pa.Array | pa.ChunkedArray) -> pa.Array:
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out

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
>>> register_masks(con, secret=b"k" * 32, context="grant:1")
>>> con.execute("SELECT __dc_mask_partial('110105199001011234')").fetchone()
('110105********1234',)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from datacompact.privacy import masking


def register_masks(con: duckdb.DuckDBPyConnection, *, secret: bytes, context: str) -> None:
    """Register ``__dc_mask_pseudonym``, ``__dc_mask_partial`` and ``__dc_mask_month`` on ``con``."""

    def pseudonym(values: Any) -> Any:
        return masking.pseudonymize(values, secret=secret, context=context)

    def partial(values: Any) -> Any:
        return masking.mask_partial(values)

    def month(values: Any) -> Any:
        return masking.truncate_dates(values, unit="month")

    functions: tuple[tuple[str, Callable[[Any], Any], str], ...] = (
        ("__dc_mask_pseudonym", pseudonym, "VARCHAR"),
        ("__dc_mask_partial", partial, "VARCHAR"),
        ("__dc_mask_month", month, "DATE"),
    )
    for name, function, sql_type in functions:
        con.create_function(  # type: ignore[call-overload, unused-ignore]
            name,
            _vector(function),
            [sql_type],
            sql_type,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )


def _vector(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(values: Any) -> Any:
        out = function(values)
        return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out

    return apply

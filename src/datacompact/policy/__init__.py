"""Policy: purposes, output modes by grade, and grants as ODRL agreements.

Database-free building blocks, called by the application and grant services:

* :mod:`~datacompact.policy.purposes`: the controlled purpose vocabulary, with
  zh/en labels and DPV IRIs;
* :mod:`~datacompact.policy.modes`: output modes, their strictness order, the
  default rules by grade (GB/T 43697-2024) and per-column masks;
* :mod:`~datacompact.policy.agreement`: grants as ODRL 2.2 Agreements in the
  Dataspace Protocol 2025-1 JSON-LD style, parsed back to :class:`GrantTerms`
  and evaluated per query by :func:`check_use`.
"""

from __future__ import annotations

from datacompact.policy.agreement import (
    DSP_CONTEXT,
    GrantTerms,
    build_agreement,
    check_use,
    parse_agreement,
)
from datacompact.policy.modes import (
    ColumnMask,
    EffectiveConstraints,
    MaskKind,
    OutputMode,
    OutputSpec,
    at_least_as_strict,
    column_masks,
    effective_constraints,
    mode_at_least_as_strict,
)
from datacompact.policy.purposes import Purpose, parse_purpose, purpose_from_iri

__all__ = [
    "DSP_CONTEXT",
    "ColumnMask",
    "EffectiveConstraints",
    "GrantTerms",
    "MaskKind",
    "OutputMode",
    "OutputSpec",
    "Purpose",
    "at_least_as_strict",
    "build_agreement",
    "check_use",
    "column_masks",
    "effective_constraints",
    "mode_at_least_as_strict",
    "parse_agreement",
    "parse_purpose",
    "purpose_from_iri",
]

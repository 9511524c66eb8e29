"""Column constraints derived from a column's PII types, its mask and the output mode.

A constraint says what a column's values may flow into in a query (the
uses each allows are in :data:`~datacompact.sandbox.grants.CONSTRAINT_USES`).
It is derived from what the column *is* and what the mode *releases*:

=================  ==========  ==============  ===========  ==============  ============
column             records     masked_records  k_anonymous  aggregates,     (numeric)
                                                            dp_aggregates
=================  ==========  ==============  ===========  ==============  ============
identifier         plain       plain           none         join_only
redacted           plain       none            none         none
other personal     plain       plain           plain        group_by_only   aggregate_only
not personal       plain       plain           plain        plain
=================  ==========  ==============  ===========  ==============  ============

* *identifier*: the entity column (whose distinct count sets the group
  thresholds), and every column with a PII type masked by a pseudonym or a
  partial mask: IDs, names, bank cards, phone numbers, e-mail and street
  addresses, IP addresses, plates, and PII of an unknown kind. Under
  ``masked_records`` they leave as their masks; in a k-anonymous extract a
  pseudonym is unique per person, so no k could hold; in an aggregate they
  may link tables (``join_only``) and be counted, never be a group key;
* *redacted*: a column whose mask in effect (the grade is a masked one) is
  ``redact``: its value is NULL in the governed slice, so no use is meaningful;
* *other personal*: PII that does not identify alone (a birth date,
  truncated under masked grades; health, religion, biometrics or location on
  grades that do not mask them). In aggregates such a column is a group key,
  thresholded like every group; a numeric one (a lab value) is only averaged
  or summed, since its exact values would make one-person groups;
* *not personal*: plain. The aggregate-shape rule already lets only group
  keys and COUNT/SUM/AVG of bare columns leave under the aggregate modes, and
  DP noise covers what filters select. A stricter default for numbers under
  ``dp_aggregates`` (``aggregate_only``) would forbid ``WHERE age > 30``,
  the filter analysts need most, and protect nobody: a filter only narrows
  a release that is already noisy and thresholded.

``compare_only`` is never derived; an agreement may set it. The grade acts
through the mode it allows and the masks it puts in effect.

>>> derive_constraints(
...     mode="aggregates",
...     pii={"pid": ["resident_id"], "birth": ["birth_date"], "income": []},
...     entity="pid",
... )
{'pid': 'join_only', 'birth': 'group_by_only', 'income': 'plain'}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from datacompact.catalog.grading import canonical_pii_type
from datacompact.policy._masks import PII_MASKS, ColumnMask
from datacompact.policy._spec import OutputMode, parse_mode
from datacompact.sandbox.grants import (
    ColumnConstraint,
    MaskKind,
    is_plain_name,
    stricter_constraint,
)
from datacompact.store.models import ResourceVersion

#: PII types that identify a person or an organization, strongest first: the
#: distinct count of the first one present sets the group thresholds.
ENTITY_TYPES = ("resident_id", "passport", "uscc", "bank_card", "mobile", "person_name")
#: Masks of identifiers and contact data; a PII type without a rule gets a pseudonym.
_IDENTIFYING = frozenset({MaskKind.PSEUDONYM, MaskKind.PARTIAL})
_NUMERIC = frozenset({"integer", "decimal"})

_BY_MODE: Mapping[OutputMode, Mapping[str, ColumnConstraint]] = {
    OutputMode.RECORDS: {
        "identifier": "plain",
        "redacted": "plain",
        "personal": "plain",
        "numeric": "plain",
        "other": "plain",
    },
    OutputMode.MASKED_RECORDS: {
        "identifier": "plain",
        "redacted": "none",
        "personal": "plain",
        "numeric": "plain",
        "other": "plain",
    },
    OutputMode.K_ANONYMOUS: {
        "identifier": "none",
        "redacted": "none",
        "personal": "plain",
        "numeric": "plain",
        "other": "plain",
    },
    OutputMode.AGGREGATES: {
        "identifier": "join_only",
        "redacted": "none",
        "personal": "group_by_only",
        "numeric": "aggregate_only",
        "other": "plain",
    },
}


def pii_types(version: ResourceVersion) -> dict[str, list[str]]:
    """The detected PII types of each column of ``version``."""
    return {c["name"]: [f["type"] for f in c.get("pii", [])] for c in version.columns}


def numeric_columns(version: ResourceVersion) -> frozenset[str]:
    """The columns of ``version`` whose logical type is a number."""
    return frozenset(c["name"] for c in version.columns if c.get("type") in _NUMERIC)


def entity_column(pii: Mapping[str, Collection[str]]) -> tuple[str | None, bool]:
    """The entity column, and whether it identifies a person (an organization's USCC is public)."""
    for wanted in ENTITY_TYPES:
        for column, types in pii.items():
            if wanted in types and is_plain_name(column):
                return column, wanted != "uscc"
    return None, False


def _category(
    column: str, types: Collection[str], mask: ColumnMask | None, *, entity: str | None
) -> str:
    if column == entity:
        return "identifier"
    if mask is not None and mask.kind is MaskKind.REDACT:
        return "redacted"
    kinds = [PII_MASKS.get(canonical_pii_type(t), (MaskKind.PSEUDONYM, {}))[0] for t in types]
    if any(kind in _IDENTIFYING for kind in kinds):
        return "identifier"
    if any(kind is not MaskKind.CLEAR for kind in kinds):
        return "personal"
    return "other"


def derive_constraints(
    *,
    mode: OutputMode | str,
    pii: Mapping[str, Collection[str]],
    masks: Collection[ColumnMask] = (),
    numeric: Collection[str] = (),
    entity: str | None = None,
) -> dict[str, ColumnConstraint]:
    """The constraint of each column of ``pii`` (column → its PII types) under ``mode``.

    ``masks`` are the masks in effect (none on grades that do not mask),
    ``numeric`` the columns of a numeric type and ``entity`` the entity column.
    """
    table = _BY_MODE[_family(parse_mode(mode))]
    by_column = {m.column: m for m in masks}
    out: dict[str, ColumnConstraint] = {}
    for column, types in pii.items():
        category = _category(column, types, by_column.get(column), entity=entity)
        if category == "personal" and column in numeric:
            category = "numeric"
        out[column] = table[category]
    return out


def _family(mode: OutputMode) -> OutputMode:
    # Both aggregate modes release only thresholded groups; DP adds noise on top.
    return OutputMode.AGGREGATES if mode is OutputMode.DP_AGGREGATES else mode


def effective_column_constraints(
    agreed: Mapping[str, ColumnConstraint] | None, derived: Mapping[str, ColumnConstraint]
) -> dict[str, ColumnConstraint]:
    """Per column, the stricter of the agreement's constraint and today's derivation.

    A grade can rise after a grant is issued, so the agreement may be looser
    than what the resource needs now; it can also be stricter by design. An
    agreement issued before constraints existed (``agreed`` is None) gets the
    derivation alone.
    """
    if agreed is None:
        return dict(derived)
    return {c: stricter_constraint(agreed.get(c, "plain"), d) for c, d in derived.items()}

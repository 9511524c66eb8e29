"""Per-column masks derived from a column's PII types, as data the sandbox applies.

Each mask is a GB/T 37964-2019 Annex A technique that
:mod:`datacompact.privacy.masking` implements:

* ``pseudonym``: keyed pseudonym, HMAC-SHA256 under a per-grant key (§A.2.4),
  for identifiers and names: equal values stay linkable within one grant;
* ``partial``: keep the first and last characters (§A.2.3), for contact data;
* ``truncate``: cut a date to the start of a unit (§A.3.2), for birth dates;
* ``redact``: replace with NULL (suppression, §A.3.1), for sensitive personal
  information that no output mode needs row by row.

Masks are totally ordered by how much of the value they reveal (:class:`MaskKind`
rank): ``clear < truncate < partial < pseudonym < redact``. A pseudonym
reveals only equality, a partial mask some characters, a truncated date a
coarsened value.

>>> [m.to_dict() for m in column_masks({"sjhm": ["mobile"], "sfzh": ["ID-card"]})]
[{'column': 'sfzh', 'kind': 'pseudonym', 'params': {'size': 16}}, \
{'column': 'sjhm', 'kind': 'partial', 'params': {'keep_first': 3, 'keep_last': 4}}]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# The catalog's PII-type spellings and aliases are the one source of truth; the
# grading engine reads the same table, so a mask can never miss a type it grades.
from datacompact.catalog.grading import canonical_pii_type
from datacompact.errors import InvalidInput, MalformedInput
from datacompact.sandbox.grants import MaskKind

# The parameters of each technique when no PII rule says otherwise.
_DEFAULT_PARAMS: MappingProxyType[MaskKind, Mapping[str, Any]] = MappingProxyType(
    {
        MaskKind.CLEAR: {},
        MaskKind.TRUNCATE: {"unit": "year"},
        MaskKind.PARTIAL: {"keep_first": 1, "keep_last": 1},
        MaskKind.PSEUDONYM: {"size": 16},
        MaskKind.REDACT: {},
    }
)


@dataclass(frozen=True)
class ColumnMask:
    """One column's mask: a technique and its parameters (keyword arguments of the operator)."""

    column: str
    kind: MaskKind
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.column, str) or not self.column.strip():
            raise MalformedInput("列名格式错误 / malformed column name: expected text, got blank")
        object.__setattr__(self, "kind", _kind(self.kind))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @classmethod
    def of(cls, column: str, kind: MaskKind | str) -> ColumnMask:
        """A mask of ``kind`` with its default parameters."""
        k = _kind(kind)
        return cls(column, k, _DEFAULT_PARAMS[k])

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind.value, "params": dict(self.params)}


def _kind(value: object) -> MaskKind:
    if isinstance(value, MaskKind):
        return value
    if not isinstance(value, str):
        raise MalformedInput(
            f"掩码格式错误 / malformed mask: expected text, got {type(value).__name__}"
        )
    try:
        return MaskKind(value)
    except ValueError:
        raise InvalidInput(
            f"未知掩码 / unknown mask: expected one of {', '.join(k.value for k in MaskKind)}, "
            "got another value",
            details={"field": "masks"},
        ) from None


def _rule(kind: MaskKind, **params: Any) -> tuple[MaskKind, Mapping[str, Any]]:
    return kind, MappingProxyType(params or dict(_DEFAULT_PARAMS[kind]))


# Keys are the canonical PII types of the catalog (catalog/_grading_rules.py).
PII_MASKS: MappingProxyType[str, tuple[MaskKind, Mapping[str, Any]]] = MappingProxyType(
    {
        "resident_id": _rule(MaskKind.PSEUDONYM),
        "passport": _rule(MaskKind.PSEUDONYM),
        "bank_card": _rule(MaskKind.PSEUDONYM),
        "person_name": _rule(MaskKind.PSEUDONYM),
        "ip_address": _rule(MaskKind.PSEUDONYM),
        "licence_plate": _rule(MaskKind.PSEUDONYM),
        # 138****5678: the carrier prefix and the last four, as Chinese receipts print it.
        "mobile": _rule(MaskKind.PARTIAL, keep_first=3, keep_last=4),
        "landline": _rule(MaskKind.PARTIAL, keep_first=4, keep_last=2),
        "email": _rule(MaskKind.PARTIAL, keep_first=2, keep_last=4),
        # The first six characters of a Chinese address are about the district.
        "address": _rule(MaskKind.PARTIAL, keep_first=6, keep_last=0),
        "birth_date": _rule(MaskKind.TRUNCATE, unit="year"),
        "geolocation": _rule(MaskKind.REDACT),
        "health": _rule(MaskKind.REDACT),
        "religion": _rule(MaskKind.REDACT),
        "biometric": _rule(MaskKind.REDACT),
        # An organization's USCC is public (GB 32100-2015).
        "uscc": _rule(MaskKind.CLEAR),
    }
)

# A PII type without a rule is personal information of an unknown kind: it
# gets a keyed pseudonym, the same safe default the grading engine applies.
_UNKNOWN = _rule(MaskKind.PSEUDONYM)


def strictest_mask(a: ColumnMask, b: ColumnMask) -> ColumnMask:
    """The mask that reveals less; on a tie, ``b`` (the later one)."""
    return b if b.kind.rank >= a.kind.rank else a


def column_masks(columns: Mapping[str, Collection[str]]) -> tuple[ColumnMask, ...]:
    """The default mask of each column with PII, sorted by column; clear columns are left out.

    A column with several PII types gets the strictest of their masks.
    """
    out: list[ColumnMask] = []
    for column in sorted(columns):
        types = columns[column]
        if isinstance(types, str):
            types = (types,)
        best: ColumnMask | None = None
        for pii in sorted(types):
            kind, params = PII_MASKS.get(canonical_pii_type(pii), _UNKNOWN)
            mask = ColumnMask(column, kind, params)
            best = mask if best is None else strictest_mask(best, mask)
        if best is not None and best.kind is not MaskKind.CLEAR:
            out.append(best)
    return tuple(out)

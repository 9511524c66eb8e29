"""How a new version's columns differ from the version before: added, removed, retyped.

A version is a new file, and nothing stops a holder from sending one with
other columns. The catalog says so in the version's result and its event, and
hands the change to a :class:`ShapeReview` inside the version's transaction:
the policy layer's review puts the grants on removed or retyped columns under
review, and refuses to remove a granted column without the steward's
confirmation (the catalog knows no grants: it sits below the policy layer).

>>> before = [{"name": "区县", "type": "string"}, {"name": "人数", "type": "int64"}]
>>> after = [{"name": "区县", "type": "string"}, {"name": "人数", "type": "double"},
...          {"name": "年份", "type": "int64"}]
>>> schema_change(before, after).to_dict()
{'added': ['年份'], 'removed': [], 'retyped': [{'column': '人数', 'from': 'int64', 'to': 'double'}]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from datacompact.events import NewEvent
from datacompact.permissions import Principal
from datacompact.store.models import Resource

__all__ = ["Retyped", "SchemaChange", "ShapeReview", "schema_change"]


@dataclass(frozen=True)
class Retyped:
    """A column kept under its name with another logical type."""

    column: str
    before: str
    after: str


@dataclass(frozen=True)
class SchemaChange:
    """The columns a version added, removed and retyped, each in the version's order."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[Retyped, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    @property
    def touched(self) -> frozenset[str]:
        """The columns a grant can no longer rely on: removed or retyped."""
        return frozenset(self.removed) | {r.column for r in self.retyped}

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "retyped": [
                {"column": r.column, "from": r.before, "to": r.after} for r in self.retyped
            ],
        }


def _types(columns: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(c["name"]): str(c.get("type")) for c in columns}


def schema_change(
    before: Iterable[Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> SchemaChange:
    """The change from the columns ``before`` to ``after`` (dictionary entries: name, type)."""
    old, new = _types(before), _types(after)
    return SchemaChange(
        added=tuple(c for c in new if c not in old),
        removed=tuple(c for c in old if c not in new),
        retyped=tuple(Retyped(c, old[c], new[c]) for c in new if c in old and old[c] != new[c]),
    )


class ShapeReview(Protocol):
    """What a change of shape does beyond the catalog, in the version's own transaction.

    Called only for a change that removes or retypes a column. It returns the
    events of what it changed (recorded after the version's) and the grants it
    put under review, or raises to stop the version.
    """

    def __call__(
        self,
        session: Session,
        *,
        actor: Principal,
        resource: Resource,
        version: int,
        change: SchemaChange,
    ) -> tuple[list[NewEvent], list[int]]: ...

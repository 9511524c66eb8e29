"""The aggregates of market ratings, as the catalog's ranking and the task matching read them.

Ratings are written by :mod:`datacompact.value.ratings`; the catalog and
procurement sit below it and read only these means, so this one reading lives
beside the tables. A rating counts once, by its current revision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.store.models import Rating

__all__ = ["CONTRACTOR_DIMENSIONS", "DATA_DIMENSIONS", "Aggregate", "aggregates"]

DATA_DIMENSIONS = ("accuracy", "completeness", "timeliness", "usefulness")
CONTRACTOR_DIMENSIONS = ("quality", "timeliness", "om_response")


@dataclass(frozen=True)
class Aggregate:
    """The mean score (1–5) of each dimension and of all of them, over ``count`` ratings."""

    count: int
    dimensions: dict[str, float]
    overall: float | None


def aggregates(
    session: Session,
    *,
    kind: Literal["data", "contractor"],
    ids: Collection[int] | None = None,
) -> dict[int, Aggregate]:
    """Per resource (kind ``data``) or per rated participant (``contractor``)."""
    key = Rating.resource_id if kind == "data" else Rating.rated_id
    statement = select(key, Rating.scores).where(Rating.kind == kind)
    if ids is not None:
        statement = statement.where(key.in_(list(ids)))
    sums: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[int, int] = defaultdict(int)
    for subject, scores in session.execute(statement).all():
        if subject is None:
            continue
        counts[subject] += 1
        for name, value in scores.items():
            sums[subject][name] += int(value)
    out = {}
    for subject, n in counts.items():
        means = {name: round(total / n, 3) for name, total in sorted(sums[subject].items())}
        overall = round(sum(means.values()) / len(means), 3) if means else None
        out[subject] = Aggregate(n, means, overall)
    return out

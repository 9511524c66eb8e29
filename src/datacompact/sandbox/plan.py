"""The plan that flows through analyze → rewrite → execute.

A :class:`Plan` is immutable: every rewrite rule returns a new one. It holds
the qualified sqlglot tree, the grant it runs under, the columns touched per
table and the effective output mode.

>>> p = Plan(expression=exp.select("1"), grant=None, touched={}, mode="records")  # type: ignore[arg-type]
>>> p.sql()
'SELECT 1'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from datacompact.errors import PolicyViolation
from datacompact.sandbox.grants import GrantView, Limits, OutputMode


def refuse(zh: str, en: str, *, rule: str, **details: Any) -> PolicyViolation:
    """A :class:`PolicyViolation` with a bilingual message naming the broken rule.

    The details carry names (tables, columns, node kinds), never a data value.
    """
    return PolicyViolation(f"{zh} / {en}", details={"rule": rule, **details})


@dataclass(frozen=True)
class DPAggregate:
    """One aggregate of a DP release: its output name, kind and argument column."""

    name: str
    kind: str  # "count" | "sum" | "avg"
    column: str | None
    bounds: tuple[float, float] | None = None


@dataclass(frozen=True)
class Plan:
    """A query on its way to an engine."""

    expression: exp.Query
    grant: GrantView
    touched: Mapping[str, frozenset[str]]
    mode: OutputMode
    limits: Limits = field(default_factory=Limits)
    #: Rules that changed the plan, in order (the audit trail of the rewrite).
    applied: tuple[str, ...] = ()
    #: Requirements the engine must meet, e.g. ``"masks"``; an engine without them refuses.
    requires: frozenset[str] = frozenset()
    #: Set by the DP rule: group keys and aggregates released by the engine with noise.
    dp_keys: tuple[str, ...] = ()
    dp_aggregates: tuple[DPAggregate, ...] = ()
    #: Set by the DP rule: the DP table's k (the noisy threshold is at least k)
    #: and the release's δ (0 without group keys), known before any data is read.
    dp_min_entities: int = 0
    dp_delta: float = 0.0
    #: The SHA-256 of the user's SQL text, for the receipt.
    sql_hash: str = ""

    def sql(self, *, pretty: bool = False) -> str:
        """The plan as DuckDB SQL."""
        return self.expression.sql(dialect="duckdb", pretty=pretty)

    def evolve(self, rule: str, **changes: Any) -> Plan:
        """A copy with ``changes`` and ``rule`` appended to :attr:`applied`."""
        return replace(self, applied=(*self.applied, rule), **changes)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Governed SQL: analyze → rewrite → execute.

A user's SQL (DuckDB dialect) runs only through :func:`run_query`:

1. :func:`~datacompact.sandbox.analyze.analyze` parses it with SQLGlot and
   checks it against the allow-list and the grant (:class:`GrantView`);
2. :func:`~datacompact.sandbox.rewrite.rewrite` applies the rules of
   :data:`~datacompact.sandbox.rules.RULES` (aggregate shape, DP release,
   entity thresholds, governed tables);
3. an :class:`Engine` (default :class:`DuckDBEngine`) runs the plan and
   returns a :class:`Result` with what the receipt needs. The Spark engine
   needs the ``spark`` extra and is imported from its own module,
   ``from datacompact.sandbox.spark import SparkEngine``, so this package
   never imports PySpark.

The package holds no state and reads no store: the policy layer passes the
grant view, the pseudonym key and the budget account in.

Beside the pipeline, :func:`~datacompact.sandbox.overlap.find_overlaps` audits a
grantee's query log for near-duplicate pairs, comparing the queries in the
canonical form of :mod:`~datacompact.sandbox.canonical`.
"""

from __future__ import annotations

from datacompact.sandbox.analyze import analyze
from datacompact.sandbox.budget import BudgetAccount, EpsilonAccount
from datacompact.sandbox.canonical import canonical_sql
from datacompact.sandbox.engine import (
    DuckDBEngine,
    Engine,
    Result,
    check_capabilities,
    result_digest,
)
from datacompact.sandbox.grants import (
    AppliedMask,
    ColumnConstraint,
    ColumnRule,
    GrantedTable,
    GrantView,
    Limits,
    MaskKind,
    OutputMode,
)
from datacompact.sandbox.overlap import OverlapFinding, QueryRecord, find_overlaps
from datacompact.sandbox.plan import Plan
from datacompact.sandbox.rewrite import govern, rewrite

_LIMITS = Limits()


def run_query(
    sql: str,
    grant: GrantView,
    *,
    engine: Engine,
    budget: BudgetAccount | None = None,
    limits: Limits = _LIMITS,
) -> Result:
    """Analyze, rewrite and execute ``sql`` under ``grant`` on ``engine``."""
    return engine.execute(govern(sql, grant, limits=limits), budget=budget)


__all__ = [
    "AppliedMask",
    "BudgetAccount",
    "ColumnConstraint",
    "ColumnRule",
    "DuckDBEngine",
    "Engine",
    "EpsilonAccount",
    "GrantView",
    "GrantedTable",
    "Limits",
    "MaskKind",
    "OutputMode",
    "OverlapFinding",
    "Plan",
    "QueryRecord",
    "Result",
    "analyze",
    "canonical_sql",
    "check_capabilities",
    "find_overlaps",
    "govern",
    "result_digest",
    "rewrite",
    "run_query",
]

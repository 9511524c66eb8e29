"""The rewrite rules, each a pure function from plan to plan, in the order they run.

The order matters: the column constraints and the shape of an aggregate
query are checked on the user's own tree, before any rule adds to it; the
user's expressions are then made unable to fail on a value (:func:`safe_eval`),
still before any platform SQL exists to be wrapped by mistake; the DP
and threshold rules then refer to ``<alias>.__dc_entity``, which
:func:`govern_tables` finally provides by replacing every physical table with
its governed subquery.
"""

from __future__ import annotations

from collections.abc import Callable

from datacompact.sandbox.plan import Plan
from datacompact.sandbox.rules.aggregate_shape import check_aggregate_shape
from datacompact.sandbox.rules.column_constraints import check_column_constraints
from datacompact.sandbox.rules.dp_release import dp_release
from datacompact.sandbox.rules.entity_threshold import add_entity_threshold
from datacompact.sandbox.rules.govern_tables import govern_tables
from datacompact.sandbox.rules.safe_eval import safe_eval

Rule = Callable[[Plan], Plan]

RULES: tuple[Rule, ...] = (
    check_column_constraints,
    check_aggregate_shape,
    safe_eval,
    dp_release,
    add_entity_threshold,
    govern_tables,
)

__all__ = [
    "RULES",
    "Rule",
    "add_entity_threshold",
    "check_aggregate_shape",
    "check_column_constraints",
    "dp_release",
    "govern_tables",
    "safe_eval",
]

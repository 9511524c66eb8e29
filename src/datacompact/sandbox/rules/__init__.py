"""The rewrite rules, each a pure function from plan to plan, in the order they run.

The order matters: the shape of an aggregate query is checked on the user's
own tree; the DP and threshold rules then refer to ``<alias>.__dc_entity``,
which :func:`govern_tables` finally provides by replacing every physical
table with its governed subquery.
"""

from __future__ import annotations

from collections.abc import Callable

from datacompact.sandbox.plan import Plan
from datacompact.sandbox.rules.aggregate_shape import check_aggregate_shape
from datacompact.sandbox.rules.dp_release import dp_release
from datacompact.sandbox.rules.entity_threshold import add_entity_threshold
from datacompact.sandbox.rules.govern_tables import govern_tables

Rule = Callable[[Plan], Plan]

RULES: tuple[Rule, ...] = (
    check_aggregate_shape,
    dp_release,
    add_entity_threshold,
    govern_tables,
)

__all__ = [
    "RULES",
    "Rule",
    "add_entity_threshold",
    "check_aggregate_shape",
    "dp_release",
    "govern_tables",
]

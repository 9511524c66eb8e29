"""Rewrite: run the rules over an analyzed plan.

:func:`rewrite` applies :data:`datacompact.sandbox.rules.RULES` in order and
returns the governed plan; :func:`govern` is analyze followed by rewrite. The
result is plain DuckDB SQL that another engine may transpile with SQLGlot
(see :attr:`Plan.requires` for what that engine must be able to apply).

>>> from datacompact.sandbox.examples import demo_grant
>>> plan = govern("SELECT district, COUNT(*) AS n FROM sbk GROUP BY district", demo_grant())
>>> plan.applied
('check_aggregate_shape', 'add_entity_threshold', 'govern_tables')
>>> print(plan.sql(pretty=True))
SELECT
  sbk.district AS district,
  COUNT(*) AS n
FROM (
  SELECT
    __dc_t.district AS district,
    __dc_t.pid AS __dc_entity
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
GROUP BY
  sbk.district
HAVING
  COUNT(DISTINCT sbk.__dc_entity) >= 10
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from datacompact.errors import ConfigurationError
from datacompact.sandbox.analyze import analyze
from datacompact.sandbox.grants import GrantView, Limits
from datacompact.sandbox.plan import Plan
from datacompact.sandbox.rules import RULES, Rule

_LIMITS = Limits()


def rewrite(plan: Plan, *, rules: Sequence[Rule] = RULES) -> Plan:
    """Apply ``rules`` in order; each may refuse with :class:`PolicyViolation`."""
    if not rules:
        # An empty pipeline would run user SQL on raw tables: never allowed.
        raise ConfigurationError("至少需要一条改写规则 / expected at least one rewrite rule")
    for rule in rules:
        plan = rule(plan)
    if "govern_tables" not in plan.applied:
        raise ConfigurationError(
            "改写规则必须包含 govern_tables / the rules must include govern_tables"
        )
    return plan


class _PlanCache:
    """The most recent governed plans, by SQL text, grant view and limits.

    A plan is immutable and depends on nothing else, so a dashboard sending
    the same query again skips analysis and rewriting. The key is the view's
    ``repr``, which spells out every table, column rule, row filter, mode and
    threshold: a grant whose terms or masks changed gets a new plan. Refused
    queries raise and are never cached.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[str, str, Limits], Plan] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, Limits]) -> Plan | None:
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
            return plan

    def put(self, key: tuple[str, str, Limits], plan: Plan) -> None:
        with self._lock:
            self._plans[key] = plan
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)


_PLANS = _PlanCache()


def govern(sql: str, grant: GrantView, *, limits: Limits = _LIMITS) -> Plan:
    """Analyze ``sql`` under ``grant`` and rewrite it into governed SQL (cached)."""
    key = (sql, repr(grant), limits)
    plan = _PLANS.get(key)
    if plan is None:
        plan = rewrite(analyze(sql, grant, limits=limits))
        _PLANS.put(key, plan)
    return plan

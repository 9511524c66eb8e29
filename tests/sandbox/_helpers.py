"""Shared assertions for the attack-class tests."""

from __future__ import annotations

import pytest

from datacompact.errors import DataCompactError, PolicyViolation
from datacompact.sandbox import DuckDBEngine, EpsilonAccount, GrantView, Result, run_query


def run(sql: str, grant: GrantView, engine: DuckDBEngine, **kwargs: object) -> Result:
    budget = kwargs.pop("budget", EpsilonAccount(total=10.0))
    return run_query(sql, grant, engine=engine, budget=budget, **kwargs)  # type: ignore[arg-type]


def refused(
    sql: str, grant: GrantView, engine: DuckDBEngine, *, rule: str | None = None
) -> PolicyViolation:
    """Assert that ``sql`` is refused with a :class:`PolicyViolation` (naming ``rule``)."""
    with pytest.raises(PolicyViolation) as info:
        run(sql, grant, engine)
    if rule is not None:
        assert str(info.value.details["rule"]).startswith(rule), info.value.details
    assert " / " in info.value.message  # bilingual
    return info.value


def failed(sql: str, grant: GrantView, engine: DuckDBEngine) -> DataCompactError:
    with pytest.raises(DataCompactError) as info:
        run(sql, grant, engine)
    return info.value

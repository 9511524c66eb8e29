"""The seam between the sandbox and a grant's privacy budget.

The sandbox does not own a grant's budget: the policy layer does (it lives
in the store, next to the grant, and must survive restarts and be shared by
API workers). The engine only needs two things from it, so the seam is the
small :class:`BudgetAccount` protocol: how much ε is left, and "charge this
much, or refuse". :class:`EpsilonAccount` is the in-memory account used by
tests, benchmarks and the CLI.

The noise itself is never here: each release runs through
:class:`datacompact.privacy.dp.PrivacyBudget` (OpenDP) with the query's
share of ε, and the account records the sum over queries (sequential
composition over the same people).

>>> account = EpsilonAccount(total=1.0)
>>> account.charge(0.4); account.remaining
0.6
>>> account.charge(0.7)
Traceback (most recent call last):
...
datacompact.errors.PolicyViolation: 隐私预算不足 / the query needs ε=0.7 but only ε=0.6 of the grant's budget is left
"""

from __future__ import annotations

import math
import threading
from typing import Protocol, runtime_checkable

from datacompact.errors import InvalidInput, PolicyViolation


@runtime_checkable
class BudgetAccount(Protocol):
    """A grant's ε account: the engine checks :attr:`remaining` and then charges."""

    @property
    def remaining(self) -> float: ...

    def charge(self, epsilon: float) -> None:
        """Record ``epsilon`` as spent, or raise :class:`PolicyViolation` if it does not fit."""
        ...


class EpsilonAccount:
    """An in-memory account (thread-safe); the policy layer keeps the real one in the store."""

    def __init__(self, *, total: float) -> None:
        if not (total > 0 and math.isfinite(total)):
            raise InvalidInput("隐私预算无效 / expected a positive, finite budget ε")
        self.total = float(total)
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        return self._spent

    @property
    def remaining(self) -> float:
        return round(max(self.total - self._spent, 0.0), 12)

    def charge(self, epsilon: float) -> None:
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise InvalidInput("ε 无效 / expected a positive, finite ε")
        with self._lock:
            if self._spent + epsilon > self.total + 1e-12:
                raise PolicyViolation(
                    f"隐私预算不足 / the query needs ε={epsilon:g} but only "
                    f"ε={self.remaining:g} of the grant's budget is left",
                    details={
                        "rule": "privacy_budget",
                        "epsilon": epsilon,
                        "remaining": self.remaining,
                    },
                )
            self._spent += epsilon

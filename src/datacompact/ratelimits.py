"""Rate limits and login back-off on the counters of the ``limits`` library.

One :class:`RateLimits` per process (``Platform.rate_limits``) holds every
counter: the API's limits on logins, self-registrations and token minting
(``datacompact.api._ratelimit``) and the per-grant limit on free query
refusals (``datacompact.policy.queries``).

Counters live in a ``limits`` storage named by a URI (the setting
``rate_limit_storage_uri``). The default ``memory://`` counts in this process
only: with several server workers each counts on its own, so the effective
limit is the number of workers times the configured one. A shared storage
(``redis://``, ``memcached://``, ``mongodb://``) needs that server and its
client library; ``docs/operations.md`` says more.

A limit is a moving window ("10 per minute" means at most 10 in any 60
seconds). A refusal is :class:`~datacompact.errors.RateLimited` with
``details["retry_after"]``: the whole seconds until the window has room again.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem
from limits import parse as parse_rate
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from datacompact.errors import ConfigurationError, RateLimited

#: A failure series is forgotten after this long without a failure.
BACKOFF_MEMORY_SECONDS = 86_400


def key_of(value: str) -> str:
    """A fixed-length storage key for a caller-chosen value (a username, a token).

    Counters never hold the value itself: a shared storage is not a place for
    usernames or bearer tokens, and a fixed length bounds each key's memory.
    """
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _limited(rule: str, retry_after: int, message: str) -> RateLimited:
    return RateLimited(message, details={"rule": rule, "retry_after": max(retry_after, 1)})


class RateLimits:
    """The rate-limit counters of one process, in one ``limits`` storage."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        try:
            storage = storage_from_string(storage_uri)
        except LimitsConfigurationError as exc:
            # The message names a missing client library or an unknown scheme,
            # never the URI (which may carry a password).
            raise ConfigurationError(
                f"限流存储不可用 / the rate-limit storage cannot be used: {exc}"[:300],
                details={"setting": "rate_limit_storage_uri"},
            ) from None
        if not isinstance(storage, Storage):
            raise ConfigurationError(
                "限流存储须为同步存储 / expected a synchronous rate-limit storage, got an "
                "async+ one",
                details={"setting": "rate_limit_storage_uri"},
            )
        self.storage = storage
        self.window = MovingWindowRateLimiter(self.storage)

    # -- moving windows ----------------------------------------------------------------

    def room(self, rule: str, rate: str | RateLimitItem, key: str) -> bool:
        """Whether one more hit of ``rule`` for ``key`` fits, without counting it."""
        return self.window.test(_item(rate), rule, key)

    def retry_after(self, rule: str, rate: str | RateLimitItem, key: str) -> int:
        """Whole seconds until ``rule`` for ``key`` has room for one more hit."""
        stats = self.window.get_window_stats(_item(rate), rule, key)
        return max(math.ceil(stats.reset_time - time.time()), 1)

    def hit(self, *limits: tuple[str, str | RateLimitItem, str]) -> None:
        """Count one hit of each ``(rule, rate, key)``, or of none if one is full.

        A request refused by one limit is not counted against the others: all
        are tested first, then hit. Raises :class:`RateLimited` naming the
        first full one.
        """
        for rule, rate, key in limits:
            if not self.room(rule, rate, key):
                raise self._full(rule, _item(rate), key)
        for rule, rate, key in limits:
            # Tested a moment ago; a concurrent request may have filled it since.
            if not self.window.hit(_item(rate), rule, key):
                raise self._full(rule, _item(rate), key)

    def _full(self, rule: str, item: RateLimitItem, key: str) -> RateLimited:
        return _limited(
            rule,
            self.retry_after(rule, item, key),
            f"请求过于频繁，请稍后再试 / too many requests ({item}); try again later",
        )

    def count(self, rule: str, rate: str | RateLimitItem, key: str) -> None:
        """Count one hit of ``rule`` for ``key`` whether or not it fits (an event that happened)."""
        self.window.hit(_item(rate), rule, key)

    # -- back-off after failures -------------------------------------------------------

    def backoff_left(self, rule: str, key: str) -> float:
        """Seconds ``key`` must still wait after its last failure under ``rule``; 0 if none."""
        lock = f"backoff/{rule}/{key}/until"
        if self.storage.get(lock) <= 0:
            return 0.0
        return max(float(self.storage.get_expiry(lock)) - time.time(), 0.0)

    def failed(self, rule: str, key: str, *, base: float, ceiling: float) -> int:
        """Record a failure; the wait it imposes doubles with each consecutive one.

        The n-th consecutive failure makes ``key`` wait ``base × 2^(n-1)``
        seconds, at most ``ceiling``, rounded up to whole seconds. Returns that wait.
        """
        counter = f"backoff/{rule}/{key}/failures"
        lock = f"backoff/{rule}/{key}/until"
        failures = int(self.storage.get(counter)) + 1
        # Cleared and set again so that the series is forgotten a day after
        # its last failure, not its first (``incr`` keeps the first expiry).
        self.storage.clear(counter)
        self.storage.incr(counter, BACKOFF_MEMORY_SECONDS, amount=failures)
        # Storages expire keys in whole seconds: the wait is rounded up.
        wait: int = math.ceil(min(base * 2.0 ** min(failures - 1, 62), ceiling))
        self.storage.clear(lock)
        if wait > 0:
            self.storage.incr(lock, wait)
        return wait

    def succeeded(self, rule: str, key: str) -> None:
        """Forget the failures of ``key`` under ``rule``."""
        self.storage.clear(f"backoff/{rule}/{key}/failures")
        self.storage.clear(f"backoff/{rule}/{key}/until")


def _item(rate: str | RateLimitItem) -> RateLimitItem:
    return parse_rate(rate) if isinstance(rate, str) else rate

"""Prometheus metrics at ``GET /metrics`` (prometheus-client).

Counted by each server process as requests pass (:class:`RequestMetrics`):

- ``datacompact_http_requests_total{method,route,status}``
- ``datacompact_http_request_duration_seconds{method,route}`` (histogram)
- ``datacompact_ingestion_duration_seconds{kind}`` (histogram): successful
  ingestions through the API, ``kind`` ``resource`` (a new resource) or
  ``version`` (a new version); the ingestion runs inside the request, so its
  duration is the request's.

Read from the store at each scrape (:class:`StoreCollector`), so every worker
reports the same platform-wide figures:

- ``datacompact_governed_queries_total{mode,outcome}``: governed queries by
  the output mode of their grant and their outcome (``executed``, ``failed``,
  ``refused``)
- ``datacompact_log_entries``: entries in the transparency log
- ``datacompact_checkpoint_age_seconds``: age of the newest signed checkpoint
- ``datacompact_witness_lag_entries{witness}``: log entries not yet covered by
  a checkpoint the witness cosigned (only with a witness policy)
- ``datacompact_store_up``: 1 if the store answered the scrape, else 0

Route labels are route templates, never raw paths, so the label sets stay
small. With several uvicorn workers, prometheus-client's multiprocess mode is
used when ``PROMETHEUS_MULTIPROC_DIR`` is set (each worker writes its counts
there and a scrape of any worker sums them); without it each worker reports
its own counts.

Who may read: a request whose socket peer is in ``metrics_allow`` (and is not
a trusted proxy), or a bearer token of the operator (``metrics.read``: an
admin or auditor of a participant that approves registrations).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datacompact.api._access_log import RouteTemplates
from datacompact.api._deps import Credentials, platform_of, reading
from datacompact.api._errors import AUTHENTICATED, documented_beside
from datacompact.api._ratelimit import networks, peer_address
from datacompact.errors import DataCompactError
from datacompact.permissions import Actions, Resource, authorize
from datacompact.platform import Platform
from datacompact.policy.agreement import agreement_parts, strictest_mode
from datacompact.store.models import Checkpoint, Grant, GrantQuery, LedgerHead, WitnessProgress

log = logging.getLogger("datacompact.api")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_OUTCOMES = ("executed", "failed", "refused")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_INGESTION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: Successful ingestion requests: (method, route template) -> kind.
INGESTIONS = {
    ("POST", "/api/v1/resources"): "resource",
    ("POST", "/api/v1/resources/{resource_id}/versions"): "version",
}


class StoreCollector(Collector):
    """Platform-wide figures read from the store at scrape time."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        # A grant's agreement never changes: its mode is parsed once per process.
        self._modes: dict[int, str] = {}

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("datacompact_store_up", "1 if the store answered the scrape.")
        try:
            found = list(self._read())
        except (SQLAlchemyError, DataCompactError) as exc:
            log.warning("metrics: the store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *found]

    def _read(self) -> Iterable[Metric]:
        platform = self.platform
        with platform.db.read() as session:
            head = session.get(LedgerHead, 1)
            size = head.size if head is not None else 0
            entries = GaugeMetricFamily(
                "datacompact_log_entries", "Entries in the transparency log."
            )
            entries.add_metric([], size)
            yield entries
            newest = session.scalar(select(func.max(Checkpoint.created_at)))
            if newest is not None:
                age = GaugeMetricFamily(
                    "datacompact_checkpoint_age_seconds", "Age of the newest signed checkpoint."
                )
                age.add_metric([], max((datetime.now(UTC) - newest).total_seconds(), 0.0))
                yield age
            policy = platform.witness_policy
            if policy is not None and policy.witnesses:
                lag = GaugeMetricFamily(
                    "datacompact_witness_lag_entries",
                    "Log entries not yet covered by a checkpoint the witness cosigned.",
                    labels=["witness"],
                )
                for name in sorted(policy.witnesses):
                    progress = session.get(WitnessProgress, name)
                    lag.add_metric([name], size - (progress.size if progress else 0))
                yield lag
            yield self._queries(session)

    def _queries(self, session: Session) -> Metric:
        rows = session.execute(
            select(GrantQuery.grant_id, GrantQuery.status, func.count())
            .where(GrantQuery.status.in_(_OUTCOMES))
            .group_by(GrantQuery.grant_id, GrantQuery.status)
        ).all()
        unknown = {grant_id for grant_id, _, _ in rows} - set(self._modes)
        if unknown:
            for grant_id, agreement in session.execute(
                select(Grant.id, Grant.agreement).where(Grant.id.in_(unknown))
            ):
                try:
                    self._modes[grant_id] = strictest_mode(agreement_parts(agreement)).value
                except DataCompactError:
                    self._modes[grant_id] = "unknown"
        totals: dict[tuple[str, str], int] = {}
        for grant_id, status, count in rows:
            key = (self._modes.get(grant_id, "unknown"), status)
            totals[key] = totals.get(key, 0) + int(count)
        metric = CounterMetricFamily(
            "datacompact_governed_queries",
            "Governed queries by their grant's output mode and their outcome.",
            labels=["mode", "outcome"],
        )
        for (mode, outcome), count in sorted(totals.items()):
            metric.add_metric([mode, outcome], count)
        return metric


class Metrics:
    """The metrics of one app: request counters of this process, store figures on scrape."""

    def __init__(self, platform: Platform) -> None:
        self.own = CollectorRegistry()
        self.requests = Counter(
            "datacompact_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.own,
        )
        self.latency = Histogram(
            "datacompact_http_request_duration_seconds",
            "Time from a request's arrival to its complete response.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.own,
        )
        self.ingestion = Histogram(
            "datacompact_ingestion_duration_seconds",
            "Duration of successful ingestions through the API.",
            ["kind"],
            buckets=_INGESTION_BUCKETS,
            registry=self.own,
        )
        self.store = StoreCollector(platform)
        self.own.register(self.store)

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        kind = INGESTIONS.get((method, route))
        if kind is not None and status == 201:
            self.ingestion.labels(kind).observe(seconds)

    def exposition(self) -> bytes:
        """The text exposition: all workers' counts in multiprocess mode, else this process's."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self.store)
            return exposition(registry)
        return exposition(self.own)


class RequestMetrics:
    """Counts and times each HTTP request under its route template."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.template = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            self.metrics.observe(
                method=str(scope.get("method", ""))[:16],
                route=self.template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


router = APIRouter(tags=["health"])


def _allowed_by_address(request: Request) -> bool:
    settings = platform_of(request).settings
    if not settings.metrics_allow:
        return False
    peer = peer_address(request.scope)
    # A request relayed by a proxy comes from the proxy's address, whoever sent it.
    trusted = networks(settings.trusted_proxies)
    allowed = networks(settings.metrics_allow)
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return not any(ip in n for n in trusted) and any(ip in n for n in allowed)


@router.get(
    "/metrics",
    summary="运行指标（Prometheus 文本格式）/ service metrics in the Prometheus text format",
    response_class=Response,
    responses=documented_beside("text/plain", {"type": "string"}, *AUTHENTICATED),
)
def metrics(request: Request, credentials: Credentials) -> Response:
    if not _allowed_by_address(request):
        with reading(request, credentials) as (_session, actor):
            authorize(actor=actor, action=Actions.METRICS_READ, resource=Resource())
    collected: Metrics = request.app.state.metrics
    return Response(collected.exposition(), media_type=CONTENT_TYPE_LATEST)

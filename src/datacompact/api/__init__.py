"""The HTTP API: FastAPI under ``/api/v1``, one router per domain, thin routes.

The same app serves the web console (:mod:`datacompact.console`) at ``/``.

``create_app(platform)`` builds the application; ``datacompact serve`` runs it
with uvicorn, after ``configure_access_log()`` has set up the access log.
OpenAPI is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from datacompact import __version__
from datacompact.api import (
    _deps,
    _errors,
    _metrics,
    applications,
    billing,
    contracts,
    datasets,
    events,
    inbox,
    ledger,
    members,
    open_data,
    participants,
    projects,
    psi,
    queries,
    resources,
    uploads,
    value,
)
from datacompact.api._access_log import ROUTE_KEY, AccessLog
from datacompact.api._access_log import configure as configure_access_log
from datacompact.api._credentials import VerifiedTokens
from datacompact.api._freshness import ChangeWatch, Views
from datacompact.api._limits import BodyLimit
from datacompact.api._metrics import Metrics, RequestMetrics
from datacompact.api._ratelimit import RateLimit, client_address, networks
from datacompact.catalog.resources import sweep_orphans
from datacompact.console import ConsoleFallback, create_console
from datacompact.errors import DataCompactError, LogBehind
from datacompact.platform import Platform
from datacompact.policy.queries import close_interrupted, results_sweeper, sweep_results

API_PREFIX = "/api/v1"
#: The paths the API answers; everything else is the web console's.
API_PATHS = ("/api/", "/ledger/", "/public/", "/healthz", "/readyz", "/metrics")
#: The route every console page is counted under in the access log and the metrics.
CONSOLE_ROUTE = "(console)"

__all__ = ["API_PREFIX", "configure_access_log", "create_app"]


def create_app(platform: Platform) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Only a served process signs on a schedule; in-process test clients
        # send no lifespan events and sign on demand.
        # A served log always has a checkpoint to publish from its first request.
        await run_in_threadpool(platform.checkpoint_at_start)
        # Staged files a crashed ingestion left behind hold data nobody refers to.
        await run_in_threadpool(sweep_orphans, db=platform.db, home=platform.settings.home)
        # Stored query results past their retention, at start-up and then on a
        # schedule: a grant never queried again would otherwise keep them.
        home, settings = platform.settings.home, platform.settings
        await run_in_threadpool(sweep_results, home=home, settings=settings)
        sweeper = results_sweeper(home=home, settings=settings)
        sweeper.start()
        # Queries a dead process left running stay charged; their outcome is logged
        # (later, once the loss is recovered, if the log is held after a restore).
        with suppress(LogBehind):
            await run_in_threadpool(
                close_interrupted, db=platform.db, governance=platform.settings.governance_mode
            )
        scheduler = None
        if platform.settings.checkpoint_interval_seconds > 0:
            scheduler = platform.checkpoint_scheduler()
            scheduler.start()
        # The start-up heap (every module imported, some 300,000 objects) lives as long
        # as the process: frozen, it is left out of the collector's full passes, which
        # otherwise walk it all and stall a request for a fifth of a second now and then.
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()
        sweeper.stop()
        if scheduler is not None:
            scheduler.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="DataCompact",
        version=__version__,
        description="可信政企数据协作平台 / trusted government-enterprise data collaboration",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN; the platform must work offline.
        redoc_url=None,
        # Control characters in a path, query or token never reach the store.
        dependencies=[Depends(_deps.only_characters)],
    )
    app.state.platform = platform
    # One watch of the log per app (per worker) for everything it keeps between requests.
    watch = ChangeWatch()
    app.state.verified_tokens = VerifiedTokens(watch)
    app.state.views = Views(watch)
    _errors.install(app)
    # Inside the body limit: a login's body is read whole to find its account.
    app.add_middleware(RateLimit, limits=platform.rate_limits, settings=platform.settings)
    # The upload route streams its file to disk under its own limit.
    app.add_middleware(
        BodyLimit,
        max_bytes=platform.settings.max_request_bytes,
        per_path={
            f"{API_PREFIX}/uploads": platform.settings.upload_max_bytes
            + uploads.MULTIPART_OVERHEAD,
            f"{API_PREFIX}{psi.EXCHANGE_PATH}": psi.exchange_body_limit(platform.settings),
        },
    )
    # Outermost: they see every answer, the limits' and the body limit's too.
    app.state.metrics = Metrics(platform)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics, routes=app.routes)
    app.add_middleware(AccessLog, routes=app.routes)
    for router in (
        participants.router,
        members.router,
        resources.router,
        uploads.router,
        applications.router,
        open_data.router,
        inbox.router,
        queries.router,
        psi.router,
        projects.router,
        contracts.router,
        events.router,
        value.router,
        billing.router,
        ledger.api,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(ledger.public)
    app.include_router(contracts.public)
    app.include_router(billing.public)
    app.include_router(datasets.router)
    app.include_router(_metrics.router)

    @app.get("/healthz", tags=["health"], summary="进程存活 / the process is up")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["health"], summary="可以服务 / store, migrations and secret ready")
    def readyz(request: Request) -> JSONResponse:
        try:
            checks = platform.check_ready()
        except DataCompactError as exc:
            # No details: paths and file modes are for the operator's console,
            # not for anonymous callers of a health probe.
            body = {"status": "not_ready", "error": {"code": exc.code, "message": exc.message}}
            return JSONResponse(body, status_code=503)
        # Witnesses are outside the platform: one that is down costs receipts
        # their "witnessed", not the platform its service, so 200 and a warning.
        witnesses = platform.witness_health()
        if witnesses is None:
            return JSONResponse({"status": "ready", "checks": checks})
        checks = {**checks, "witnesses": witnesses["status"]}
        status = "ready" if witnesses["status"] == "ok" else "degraded"
        return JSONResponse({"status": status, "checks": checks, "witnesses": witnesses})

    # The web console answers what no route matches, outside the API's paths,
    # whose unknown routes and methods keep their JSON answers.
    trusted = networks(platform.settings.trusted_proxies)
    console = create_console(platform, client_address=lambda scope: client_address(scope, trusted))

    async def labelled(scope: Scope, receive: Receive, send: Send) -> None:
        scope[ROUTE_KEY] = CONSOLE_ROUTE  # one label in the access log and the metrics
        await console(scope, receive, send)

    app.router.default = ConsoleFallback(labelled, exclude=API_PATHS, otherwise=app.router.default)
    return app

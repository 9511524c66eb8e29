"""The console's ASGI application and how the API's app mounts it at ``/``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from datacompact.console import (
    _account,
    _admin,
    _analyst,
    _catalog,
    _log,
    _procure,
    _review,
    _steward,
    _supervise,
    i18n,
)
from datacompact.console._web import Console, Context, SecurityHeaders, local_target, page, redirect
from datacompact.console.assets import PREFIX, Assets
from datacompact.errors import NotFound
from datacompact.platform import Platform

Page = Callable[[Request, Context, Console], Response]


def _landing(request: Request, ctx: Context, console: Console) -> Response:
    return redirect("/catalog")


def _language(request: Request, ctx: Context, console: Console) -> Response:
    """The language switch: remember the choice for a year and go back where the user was."""
    code = str(request.path_params["code"])
    if code not in i18n.LANGUAGES:
        raise NotFound("不支持该语言 / no such language")
    response = redirect(local_target(request.query_params.get("next")))
    ctx.lang = code
    ctx.cookies.append(
        (
            i18n.COOKIE,
            code,
            {
                "max_age": 365 * 86400,
                "httponly": True,
                "samesite": "strict",
                "secure": ctx.secure,
                "path": "/",
            },
        )
    )
    return response


def create_console(platform: Platform, *, client_address: Callable[[Scope], str]) -> Starlette:
    """The console over ``platform``; ``client_address`` is the API's (trusted proxies applied)."""
    assets = Assets()
    console = Console(platform, assets, client_address)

    def route(
        path: str, handler: Page, methods: Sequence[str] = ("GET",), *, read_form: bool = True
    ) -> Route:
        endpoint = page(console, partial(_bound, handler, console), read_form=read_form)
        return Route(path, endpoint, methods=list(methods))

    async def not_found(request: Request, exc: Exception) -> Response:
        ctx = console.bare_context(request)
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            return console.renderer.render(
                ctx, "error.html", status=405, kind="invalid", detail="", next=request.url.path
            )
        return console.error_page(ctx, NotFound("页面不存在 / no such page"))

    routes = [
        route("/", _landing),
        route("/catalog", _catalog.search_page),
        route("/catalog/resources/{code}", _catalog.resource_page),
        route("/log", _log.log_page),
        route("/log/entries/{index}", _log.entry_page),
        route("/log/entries/{index}/checkpoint.txt", _log.checkpoint_text),
        route("/log/entries/{index}/receipt.json", _log.receipt_json),
        route("/log/verify", _log.verify_page),
        route("/signin", _account.signin_form),
        route("/signin", _account.signin, methods=("POST",)),
        route("/signout", _account.signout, methods=("POST",)),
        route("/home", _account.home),
        route("/home/credentials/{token_id}/revoke", _account.revoke, methods=("POST",)),
        route("/lang/{code}", _language),
        # The data holder's pages (console/_steward.py).
        route("/steward", _steward.stewarding),
        route("/steward/resources", _steward.register, ("POST",), read_form=False),
        route("/steward/resources/{resource_id}", _steward.resource_page),
        route("/steward/resources/{resource_id}/grade", _steward.grade, ("POST",)),
        route("/steward/resources/{resource_id}/dictionary", _steward.dictionary, ("POST",)),
        route(
            "/steward/resources/{resource_id}/versions",
            _steward.new_version,
            ("POST",),
            read_form=False,
        ),
        # The data user's pages (console/_analyst.py).
        route("/analyst/apply/{resource_id}", _analyst.apply_form),
        route("/analyst/apply/{resource_id}", _analyst.apply, ("POST",)),
        route("/analyst/applications", _analyst.my_applications),
        route("/analyst/grants", _analyst.my_grants),
        route("/analyst/grants/{grant_id}", _analyst.workbench),
        route("/analyst/grants/{grant_id}/queries", _analyst.run, ("POST",)),
        route("/analyst/queries/{query_id}", _analyst.result),
        route("/analyst/queries/{query_id}/result.csv", _analyst.result_csv),
        # The role pages (reviewers, the regulator's supervision, procurement).
        route("/review", _review.inbox_page),
        route("/review/applications/{application_id}", _review.application_page),
        route(
            "/review/applications/{application_id}/decision",
            _review.decide_application,
            methods=("POST",),
        ),
        route(
            "/review/participants/{participant_id}/decision",
            _review.decide_registration,
            methods=("POST",),
        ),
        route(
            "/review/projects/{project_id}/mode-decision", _review.decide_mode, methods=("POST",)
        ),
        route("/admin", _admin.admin_page),
        route("/admin/members/{member_id}/roles", _admin.set_roles, methods=("POST",)),
        route("/admin/members/{member_id}/deactivate", _admin.deactivate, methods=("POST",)),
        route("/supervise", _supervise.dashboard),
        route("/supervise/grants/{grant_id}", _supervise.grant_page),
        route("/supervise/grants/{grant_id}/status", _supervise.grant_status, methods=("POST",)),
        route("/procure/projects", _procure.projects_page),
        route("/procure/projects/{project_id}", _procure.project_page),
        route("/procure/lots/{lot_id}", _procure.lot_page),
        route("/procure/lots/{lot_id}/shortlist", _procure.shortlist_page),
        route("/procure/contracts/{contract_id}", _procure.contract_page),
        route("/procure/lots/{lot_id}/exceptions", _procure.grant_exception, methods=("POST",)),
        route("/procure/tenders/{tender_id}/bids", _procure.submit_bid, methods=("POST",)),
        route("/procure/tenders/{tender_id}/opening", _procure.open_bids, methods=("POST",)),
        route("/procure/tenders/{tender_id}/award", _procure.award, methods=("POST",)),
        Route(PREFIX + "/{digest}/{name:path}", assets.serve, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.add_middleware(SecurityHeaders)
    app.state.console = console
    return app


def _bound(handler: Page, console: Console, request: Request, ctx: Context) -> Response:
    return handler(request, ctx, console)


class ConsoleFallback:
    """The console as the app's fallback: it answers what no route of the app matched.

    Set as the router's ``default``, so that every route of the app, including
    one added later, comes first, and a path that matches a route with another
    method keeps its 405. The paths in ``exclude`` (the API's) go to
    ``otherwise``, the router's own default, so they keep the API's JSON 404.
    """

    def __init__(self, app: ASGIApp, *, exclude: Sequence[str], otherwise: ASGIApp) -> None:
        self.app = app
        self.exclude = tuple(exclude)
        self.otherwise = otherwise

    def owns(self, path: str) -> bool:
        return not any(
            path == prefix.rstrip("/") or path.startswith(prefix) for prefix in self.exclude
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.owns(scope.get("path", "")):
            await self.app(scope, receive, send)
        else:
            await self.otherwise(scope, receive, send)

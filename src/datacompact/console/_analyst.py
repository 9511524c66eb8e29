"""The data user's pages: apply for one scenario, my applications, my grants, and the SQL
workbench of a grant with its result, CSV download and receipt.

Thin views over the policy services the API's routes call:
``application_choices`` (what the form may offer), ``submit_application``,
``list_applications``, ``list_grants``/``get_grant``, ``run_query``,
``get_query``, ``result_page`` and ``result_stream``. Each authorizes the
member itself; the pages only arrange what they return.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from datacompact.catalog import resources as catalog
from datacompact.console._account import check_csrf
from datacompact.console._web import (
    Console,
    Context,
    form_items,
    form_of,
    message_for,
    recheck,
    redirect,
    writing,
)
from datacompact.errors import (
    DataCompactError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from datacompact.ledger.log import checkpoints
from datacompact.permissions import Principal
from datacompact.policy import applications, grants, queries
from datacompact.policy.schemas import ApplicationCreate, GrantPublic
from datacompact.schemas_base import MAX_ID

#: The most applications "my applications" lists (oldest first, as the service pages them).
MAX_APPLICATIONS = 500
#: The longest SQL the workbench sends (the API's own limit applies too).
MAX_SQL = 20_000


def _signed_in(ctx: Context) -> Principal:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    return ctx.principal


def _id(request: Request, name: str, missing: str) -> int:
    text = str(request.path_params[name])
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise NotFound(missing)
    return int(text)


def _logged(request: Request) -> int | None:
    logged = request.query_params.get("logged", "")
    return int(logged) if logged.isdigit() and len(logged) < 19 else None


# -- applying ------------------------------------------------------------------------------


def _choices(ctx: Context, resource_id: int) -> tuple[Any, Any]:
    actor = _signed_in(ctx)
    with ctx.platform.db.read() as session:
        choices = applications.application_choices(
            session=session, actor=actor, resource_id=resource_id
        )
        resource = catalog.get_resource(session=session, actor=actor, resource_id=resource_id)
    return choices, resource


def apply_form(request: Request, ctx: Context, console: Console) -> Response:
    resource_id = _id(request, "resource_id", "数据资源不存在 / resource not found")
    choices, resource = _choices(ctx, resource_id)
    return console.renderer.render(
        ctx, "analyst/apply.html", choices=choices, r=resource, sent={}, picked=[], error=""
    )


def _number(form: dict[str, str], name: str, default: str = "") -> str:
    return (form.get(name) or default).strip()


def apply(request: Request, ctx: Context, console: Console) -> Response:
    """Submit the application; a refusal shows the form again with the service's reason."""
    form = form_of(request)
    check_csrf(ctx, form)
    resource_id = _id(request, "resource_id", "数据资源不存在 / resource not found")
    picked = [v for k, v in form_items(request) if k == "columns"]
    try:
        try:
            data = ApplicationCreate.model_validate(
                {
                    "scenario": form.get("scenario", "").replace("\r\n", "\n").strip(),
                    "purpose": form.get("purpose", ""),
                    "purpose_text": form.get("purpose_text", "").replace("\r\n", "\n").strip(),
                    "resources": [{"resource_id": resource_id, "columns": picked}],
                    "output": {"mode": form.get("mode", "")},
                    "duration_days": _number(form, "duration_days"),
                    "expected_queries": _number(form, "expected_queries"),
                    "epsilon": _number(form, "epsilon") or None,
                }
            )
        except ValidationError as exc:
            fields = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
            raise InvalidInput(
                f"表单字段无效：{', '.join(fields)} / invalid form fields: {', '.join(fields)}",
                details={"fields": fields},
            ) from None
        with writing(ctx) as (session, actor):
            recorded = applications.submit_application(session=session, actor=actor, data=data)
    except (InvalidInput, Forbidden) as exc:
        if isinstance(exc, Forbidden) and ctx.session is None:
            raise
        choices, resource = _choices(ctx, resource_id)
        return console.renderer.render(
            ctx,
            "analyst/apply.html",
            status=exc.status,
            choices=choices,
            r=resource,
            sent=form,
            picked=picked,
            error=message_for(ctx.lang, exc),
        )
    return redirect(f"/analyst/applications?logged={recorded.log_index}")


def my_applications(request: Request, ctx: Context, console: Console) -> Response:
    actor = _signed_in(ctx)
    with ctx.platform.db.read() as session:
        rows = applications.list_applications(
            session=session, actor=actor, applicant=actor.participant_id, limit=MAX_APPLICATIONS
        )
    return console.renderer.render(
        ctx, "analyst/applications.html", rows=rows, logged=_logged(request)
    )


# -- grants and the workbench ----------------------------------------------------------------


def my_grants(request: Request, ctx: Context, console: Console) -> Response:
    actor = _signed_in(ctx)
    with ctx.platform.db.read() as session:
        rows = [
            g
            for g in grants.list_grants(session=session, actor=actor)
            if g.grantee_id == actor.participant_id
        ]
    return console.renderer.render(ctx, "analyst/grants.html", rows=rows, left=_left)


def _left(grant: GrantPublic) -> dict[str, Any]:
    """What is left of a grant's queries and privacy budget."""
    queries_left, epsilon_left = grants.remaining(grant)
    return {"queries": queries_left, "epsilon": epsilon_left}


def _grant(ctx: Context, grant_id: int) -> GrantPublic:
    actor = _signed_in(ctx)
    with ctx.platform.db.read() as session:
        grant = grants.get_grant(session=session, actor=actor, grant_id=grant_id)
    if grant.grantee_id != actor.participant_id:
        # The holder may read the grant, but the workbench runs queries: the grantee's.
        raise Forbidden("仅被授权方可在此运行查询 / only the grantee runs queries under a grant")
    return grant


def workbench(request: Request, ctx: Context, console: Console) -> Response:
    grant_id = _id(request, "grant_id", "授权不存在 / grant not found")
    grant = _grant(ctx, grant_id)
    return console.renderer.render(
        ctx,
        "analyst/workbench.html",
        grant=grant,
        left=_left(grant),
        sql="",
        result=None,
        error="",
        page=None,
        receipt=None,
    )


def _policy(ctx: Context) -> queries.QueryPolicy:
    platform = ctx.platform
    return queries.QueryPolicy.from_settings(platform.settings, platform.rate_limits)


def run(request: Request, ctx: Context, console: Console) -> Response:
    """Run the SQL under the grant; the answer page shows the result, its note and receipt."""
    form = form_of(request)
    check_csrf(ctx, form)
    grant_id = _id(request, "grant_id", "授权不存在 / grant not found")
    grant = _grant(ctx, grant_id)
    sql = form.get("sql", "").replace("\r\n", "\n")
    if not sql.strip() or len(sql) > MAX_SQL:
        raise InvalidInput("请输入一条 SQL 查询 / enter one SQL query", details={"field": "sql"})
    epsilon_text = form.get("epsilon", "").strip()
    try:
        epsilon = float(epsilon_text) if epsilon_text else None
    except ValueError:
        raise InvalidInput(
            "ε 须为数字 / ε must be a number", details={"field": "epsilon"}
        ) from None
    platform = ctx.platform
    actor = ctx.principal
    try:
        recorded = queries.run_query(
            db=platform.db,
            home=platform.settings.home,
            secret=platform.secret,
            actor=actor,
            grant_id=grant_id,
            sql=sql,
            epsilon=epsilon,
            engine=platform.sandbox,
            recheck=recheck(ctx),
            policy=_policy(ctx),
        )
    except DataCompactError as exc:
        if exc.status in (401, 404, 429) or exc.status >= 500:
            raise
        # A refusal is recorded on the log (as the API's); the page says why, with the SQL kept.
        with platform.db.read() as session:
            grant = grants.get_grant(session=session, actor=actor, grant_id=grant_id)
        return console.renderer.render(
            ctx,
            "analyst/workbench.html",
            status=exc.status,
            grant=grant,
            left=_left(grant),
            sql=sql,
            result=None,
            error=message_for(ctx.lang, exc),
            page=None,
            receipt=None,
        )
    result = recorded.value
    page = {
        "query_id": result.query.id,
        "columns": result.columns,
        "rows": result.rows,
        "offset": 0,
        "total_rows": result.total_rows,
        "truncated": result.truncated,
        "next_page_token": result.next_page_token,
        "protection": result.protection,
    }
    with platform.db.read() as session:
        grant = grants.get_grant(session=session, actor=actor, grant_id=grant_id)
    return console.renderer.render(
        ctx,
        "analyst/workbench.html",
        grant=grant,
        left=_left(grant),
        sql=sql,
        result=result,
        error="",
        page=page,
        receipt=_receipt(ctx, result.query.log_index),
    )


def _receipt(ctx: Context, index: int | None) -> dict[str, Any]:
    """The receipt's log index, and whether a signed checkpoint covers it yet."""
    if index is None:
        return {"index": None, "covered": False}
    platform = ctx.platform
    with platform.db.read() as session:
        proof = checkpoints.covering_receipt(session, index=index, policy=platform.witness_policy)
    return {"index": index, "covered": proof is not None, "proof": proof}


def result(request: Request, ctx: Context, console: Console) -> Response:
    """A page of a query's stored result (nothing runs again, nothing is charged again)."""
    actor = _signed_in(ctx)
    query_id = _id(request, "query_id", "查询不存在 / query not found")
    token = request.query_params.get("page") or None
    if token is not None and len(token) > 512:
        raise InvalidInput("分页令牌无效 / invalid page token", details={"field": "page"})
    platform = ctx.platform
    with platform.db.read() as session:
        found = queries.get_query(session=session, actor=actor, query_id=query_id)
        grant = grants.get_grant(session=session, actor=actor, grant_id=found.grant_id)
        page = queries.result_page(
            session=session,
            home=platform.settings.home,
            secret=platform.secret,
            actor=actor,
            query_id=query_id,
            page_token=token,
            policy=_policy(ctx),
        )
    return console.renderer.render(
        ctx,
        "analyst/result.html",
        grant=grant,
        query=found,
        page=page.model_dump(),
        receipt=_receipt(ctx, found.log_index),
    )


def result_csv(request: Request, ctx: Context, console: Console) -> Response:
    actor = _signed_in(ctx)
    query_id = _id(request, "query_id", "查询不存在 / query not found")
    platform = ctx.platform
    with platform.db.read() as session:
        chunks, total, truncated = queries.result_stream(
            session=session,
            home=platform.settings.home,
            actor=actor,
            query_id=query_id,
            fmt="csv",
            policy=_policy(ctx),
        )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="query-{query_id}.csv"',
            "X-Total-Rows": str(total),
            "X-Truncated": "true" if truncated else "false",
        },
    )

"""The open catalog and a resource's page: thin views over the catalog's services.

What a visitor sees is exactly what :func:`~datacompact.catalog.resources.list_catalog`
and :func:`~datacompact.catalog.resources.get_resource` return for their
principal (the anonymous one when signed out): the services call
``authorize()``, the pages only arrange the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import GradeCode
from datacompact.console._web import Console, Context
from datacompact.errors import InvalidInput, NotFound
from datacompact.schemas_base import MAX_ID

PAGE_SIZE = 20
#: The most resources one search ranks (the API's own ceiling is lower per call).
MAX_RESULTS = 5000
#: The facets, each a field of the resource (the service counts them).
FACETS = catalog.FACETS
_ENUMS = {
    "grade": {g.value for g in GradeCode},
    "share_type": {"unconditional", "conditional", "not_shared"},
    "open_type": {"open", "conditional_open", "not_open"},
    "update_frequency": {
        "realtime",
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "yearly",
        "irregular",
    },
}


@dataclass(frozen=True)
class Filters:
    query: str
    holder: int | None
    theme: str | None
    grade: str | None
    share_type: str | None
    open_type: str | None
    update_frequency: str | None
    page: int

    def selected(self, facet: str) -> str:
        value = getattr(self, facet)
        return "" if value is None else str(value)


def _bad(field: str) -> InvalidInput:
    return InvalidInput(f"参数 {field} 无效 / invalid value for {field}", details={"field": field})


def _int(value: str | None, field: str, low: int, high: int) -> int | None:
    if value in (None, ""):
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise _bad(field)
    return int(value)


def parse_filters(request: Request) -> Filters:
    params = request.query_params
    query = params.get("q", "").strip()
    if len(query) > 200:
        raise _bad("q")
    theme = params.get("theme") or None
    if theme is not None and len(theme) > 50:
        raise _bad("theme")
    enums: dict[str, str | None] = {}
    for name, allowed in _ENUMS.items():
        value = params.get(name) or None
        if value is not None and value not in allowed:
            raise _bad(name)
        enums[name] = value
    return Filters(
        query=query,
        holder=_int(params.get("holder"), "holder", 1, MAX_ID),
        theme=theme,
        grade=enums["grade"],
        share_type=enums["share_type"],
        open_type=enums["open_type"],
        update_frequency=enums["update_frequency"],
        page=_int(params.get("page"), "page", 1, 100_000) or 1,
    )


def search_page(request: Request, ctx: Context, console: Console) -> Response:
    filters = parse_filters(request)
    with ctx.platform.db.read() as session:
        found = catalog.list_catalog(
            session=session,
            actor=ctx.principal,
            query=filters.query,
            holder_id=filters.holder,
            grade=GradeCode(filters.grade) if filters.grade else None,
            share_type=filters.share_type,
            theme=filters.theme,
            open_type=filters.open_type,
            update_frequency=filters.update_frequency,
            limit=MAX_RESULTS,
            page=filters.page,
            page_size=PAGE_SIZE,
        )
    return console.renderer.render(
        ctx,
        "catalog.html",
        filters=filters,
        facets=found.facets,
        facet_names=FACETS,
        rows=found.data,
        total=found.total,
        page=found.page,
        pages=found.pages,
        page_link=lambda n: _page_link(request, n),
    )


def _page_link(request: Request, number: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page" and v]
    params.append(("page", str(number)))
    return "/catalog?" + urlencode(params)


def resource_page(request: Request, ctx: Context, console: Console) -> Response:
    """A resource's page, at the path its dataset URI sends browsers to (by registration code)."""
    code = str(request.path_params["code"])
    if len(code) > 40:
        raise NotFound("数据资源不存在 / resource not found")
    with ctx.platform.db.read() as session:
        found = catalog.view(catalog.readable_by_code(session, ctx.principal, code))
    latest = found.latest
    columns: list[dict[str, Any]] = [
        {
            "name": str(column.get("name", "")),
            "type": column.get("type") or "",
            "description": column.get("description") or "",
            "unit": column.get("unit") or "",
            # "none", "personal" or "sensitive_personal", as the grading found it.
            "personal": column.get("personal") or "none",
        }
        for column in (latest.columns if latest else [])
    ]
    base = ctx.platform.settings.public_base_url.rstrip("/")
    return console.renderer.render(
        ctx,
        "resource.html",
        r=found,
        columns=columns,
        quality=latest.quality if latest else {},
        dataset_uri=f"{base}/resources/{found.code}",
        dcat_links=[
            ("Turtle", f"{base}/api/v1/catalog.ttl"),
            ("JSON-LD", f"{base}/api/v1/catalog.jsonld"),
        ],
    )

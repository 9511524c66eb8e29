"""The dataset URIs of the DCAT-AP export, resolved (thin: negotiate, call one service).

``GET /resources/{code}`` is the URI a dataset has in the export
(``{public_base_url}/resources/{code}``). It answers by content negotiation
(RFC 9110 §12.5.1): JSON-LD for ``application/ld+json`` (and for a client that
accepts anything), Turtle for ``text/turtle``, and for a browser
(``text/html``) a ``303 See Other`` to the console's page of the resource,
``/catalog/resources/{code}``. Anyone may follow the URI of a published
resource; any other is ``404`` unless a member's token is sent.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException

from datacompact.api._deps import TEXT, TOKEN_OPTIONAL, Credentials, platform_of, reading_published
from datacompact.api._errors import PUBLIC, documented_beside
from datacompact.catalog.export import export_dataset
from datacompact.catalog.resources import readable_by_code

router = APIRouter(tags=["catalog"])

JSONLD = "application/ld+json"
TURTLE = "text/turtle"
HTML = "text/html"
#: What a dataset URI can answer, in the order preferred when the client does not mind.
OFFERS = (JSONLD, TURTLE, HTML)
#: Where the console shows a resource to people.
PAGE = "/catalog/resources/{code}"


def _ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an ``Accept`` header with their weights (RFC 9110 §12.5.1)."""
    out = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    weight = 0.0
        out.append((media.lower(), weight))
    return out


def negotiate(accept: str | None) -> str | None:
    """The offer the client prefers, or None when it accepts none of them.

    An offer takes the weight of the most specific range that matches it
    (``text/html`` before ``text/*`` before ``*/*``); among equal weights the
    order of :data:`OFFERS` decides. No ``Accept`` header accepts anything.

    >>> negotiate("text/html,application/xhtml+xml,*/*;q=0.8")
    'text/html'
    >>> negotiate("application/ld+json")
    'application/ld+json'
    >>> negotiate("*/*")
    'application/ld+json'
    >>> negotiate("image/png") is None
    True
    """
    if accept is None or not accept.strip():
        return OFFERS[0]
    weights = dict(_ranges(accept))
    best: tuple[float, int] | None = None
    chosen = None
    for order, offer in enumerate(OFFERS):
        kind = offer.split("/")[0]
        weight = next(
            (weights[m] for m in (offer, f"{kind}/*", "*/*") if m in weights),
            0.0,
        )
        if weight > 0 and (best is None or (weight, -order) > best):
            best, chosen = (weight, -order), offer
    return chosen


_RESPONSES = documented_beside(JSONLD, {"type": "object"}, *PUBLIC, 401)
_RESPONSES[200]["content"][TURTLE] = {"schema": TEXT}
_RESPONSES[303] = {"description": "浏览器：控制台中的资源页面 / a browser: the resource's page"}
_RESPONSES[406] = {
    "description": "不可接受 / the Accept header allows none of JSON-LD, Turtle and HTML",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
}


@router.get(
    "/resources/{code}",
    openapi_extra=TOKEN_OPTIONAL,
    summary="数据集 URI：JSON-LD、Turtle 或网页 / a dataset URI: JSON-LD, Turtle or its web page",
    response_class=Response,
    responses=_RESPONSES,
)
def dataset(
    request: Request,
    credentials: Credentials,
    code: str = Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z -]+$"),
) -> Response:
    """无需令牌即可解析已公开资源的 URI / anyone may resolve the URI of a published resource."""
    chosen = negotiate(request.headers.get("accept"))
    if chosen is None:
        raise HTTPException(
            406,
            detail="不可接受的媒体类型 / not acceptable: expected an Accept header allowing "
            + ", ".join(OFFERS),
        )
    base = platform_of(request).settings.public_base_url
    vary = {"Vary": "Accept"}
    with reading_published(request, credentials) as (session, actor):
        if chosen == HTML:
            found = readable_by_code(session, actor, code)
            return RedirectResponse(PAGE.format(code=found.code), status_code=303, headers=vary)
        fmt = "turtle" if chosen == TURTLE else "jsonld"
        text = export_dataset(session=session, actor=actor, base_url=base, code=code, fmt=fmt)
    media = f"{TURTLE}; charset=utf-8" if chosen == TURTLE else JSONLD
    return Response(text, media_type=media, headers=vary)


__all__ = ["HTML", "JSONLD", "OFFERS", "PAGE", "TURTLE", "negotiate", "router"]

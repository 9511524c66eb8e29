"""The data holder's pages: register by upload, the registration's steps, grade, dictionary,
new versions, and who uses the data.

Thin views over the catalog's services, as the API's routes are:
``register_resource``, ``ingest_version``, ``decide_grade``,
``update_dictionary``, ``list_grants`` and ``list_queries``, each of which
calls ``authorize()``. A steward's page of a resource is shown only to whom
``authorize()`` lets curate it (``resource.curate``, the check of every
write here), so it never shows more than the API gives the same member.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from datacompact.catalog import resources as catalog
from datacompact.catalog.inbox import discard_upload, open_inbox_file
from datacompact.catalog.schemas import (
    ColumnEdit,
    GradeCode,
    GradeDecisionIn,
    ResourceBase,
    ResourcePublic,
)
from datacompact.console._account import check_csrf
from datacompact.console._upload import UploadForm
from datacompact.console._web import (
    Console,
    Context,
    body_chunks,
    form_items,
    form_of,
    recheck,
    redirect,
    writing,
)
from datacompact.console.i18n import Formats
from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from datacompact.permissions import Actions, CatalogResource, Principal, authorize
from datacompact.policy.grants import list_grants, shape_review
from datacompact.policy.queries import list_queries
from datacompact.schemas_base import MAX_ID

#: The most resources the steward's list shows, and queries per grant in "who uses my data".
MAX_RESOURCES = 500
MAX_QUERIES = 1000
#: The encodings a steward may name; empty lets the reader detect it, as the CLI does.
ENCODINGS = ("", "utf-8", "gbk", "gb18030", "big5", "utf-16")
FREQUENCIES = (
    "realtime",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "yearly",
    "irregular",
)
SHARE_TYPES = ("unconditional", "conditional", "not_shared")
OPEN_TYPES = ("open", "conditional_open", "not_open")
#: The registration's steps, in the order the ingestion takes them.
STEPS = ("staged", "dictionary", "pii", "grade", "quality")


def _signed_in(ctx: Context) -> Principal:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")
    return ctx.principal


def _resource_id(request: Request) -> int:
    text = str(request.path_params["resource_id"])
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise NotFound("数据资源不存在 / resource not found")
    return int(text)


def _invalid(exc: ValidationError) -> InvalidInput:
    """A form's refused fields, by name only (never their values)."""
    fields = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
    return InvalidInput(
        f"表单字段无效：{', '.join(fields)} / invalid form fields: {', '.join(fields)}",
        details={"fields": fields},
    )


def _words(text: str) -> list[str]:
    return [w.strip() for w in text.replace("，", ",").split(",") if w.strip()]


def _optional(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def stewarding(request: Request, ctx: Context, console: Console) -> Response:
    """My participant's resources, and the form that registers a new one by upload."""
    actor = _signed_in(ctx)
    authorize(
        actor=actor,
        action=Actions.RESOURCE_REGISTER,
        resource=CatalogResource(participant_id=actor.participant_id),
    )
    with ctx.platform.db.read() as session:
        mine = catalog.search_resources(
            session=session, actor=actor, holder_id=actor.participant_id, limit=MAX_RESOURCES
        )
    return console.renderer.render(
        ctx,
        "steward/resources.html",
        rows=mine,
        encodings=ENCODINGS,
        frequencies=FREQUENCIES,
        share_types=SHARE_TYPES,
        open_types=OPEN_TYPES,
        max_bytes=ctx.platform.settings.upload_max_bytes,
    )


def _receive(request: Request, ctx: Context) -> tuple[dict[str, str], str, Principal]:
    """Stream the form's file into the inbox; its fields, the file's name and the actor."""
    actor = _signed_in(ctx)
    settings = ctx.platform.settings
    form = UploadForm(
        content_type=request.headers.get("content-type"),
        home=settings.home,
        actor=actor,
        max_bytes=settings.upload_max_bytes,
        before_file=lambda fields: check_csrf(ctx, fields),
    )
    try:
        received = form.feed(body_chunks(request))
    except ClientDisconnect as exc:
        raise InvalidInput(
            "上传中断 / the upload was interrupted before its end; nothing was kept",
            details={"field": "file", "reason": "disconnected"},
        ) from exc
    finally:
        form.close()
    assert received.file is not None  # noqa: S101 - feed() returns only with the file committed
    return received.fields, received.file.name, actor


def register(request: Request, ctx: Context, console: Console) -> Response:
    """Upload a file and register it; a refused file is removed from the inbox again."""
    fields, name, actor = _receive(request, ctx)
    settings = ctx.platform.settings
    try:
        try:
            data = ResourceBase.model_validate(
                {
                    "name": fields.get("name", "").strip(),
                    "name_en": _optional(fields.get("name_en")),
                    "description": fields.get("description", "").strip(),
                    "themes": _words(fields.get("themes", "")),
                    "tags": _words(fields.get("tags", "")),
                    "update_frequency": fields.get("update_frequency") or "irregular",
                    "share_type": fields.get("share_type") or "conditional",
                    "open_type": fields.get("open_type") or "not_open",
                }
            )
        except ValidationError as exc:
            raise _invalid(exc) from None
        encoding = _optional(fields.get("encoding"))
        if encoding is not None and encoding not in ENCODINGS:
            raise InvalidInput("编码无效 / unknown encoding", details={"field": "encoding"})
        with open_inbox_file(settings.home, actor.participant_id or 0, name) as file:
            recorded = catalog.register_resource(
                db=ctx.platform.db,
                home=settings.home,
                actor=actor,
                data=data,
                file=file,
                encoding=encoding,
                recheck=recheck(ctx),
                limits=settings.ingest_limits,
            )
    except DataCompactError:
        discard_upload(home=settings.home, actor=actor, name=name)
        raise
    return redirect(f"/steward/resources/{recorded.value.id}?logged={recorded.log_index}")


def _curated(ctx: Context, resource_id: int) -> tuple[ResourcePublic, Principal]:
    """The resource as its steward sees it: readable, and theirs to curate (as every write checks)."""
    actor = _signed_in(ctx)
    with ctx.platform.db.read() as session:
        resource = catalog.readable(session, actor, resource_id)
        authorize(
            actor=actor,
            action=Actions.RESOURCE_CURATE,
            resource=CatalogResource(participant_id=resource.holder_id),
        )
        return catalog.view(resource), actor


def is_personal(column: dict[str, Any]) -> bool:
    """Whether the grading found personal information in a column (its values are never shown)."""
    return bool(column.get("pii")) or column.get("personal") in ("personal", "sensitive_personal")


def _steps(r: ResourcePublic) -> list[tuple[str, str, str]]:
    """Each registration step: (step, state, what it found) with state done, todo or warn."""
    latest = r.latest
    if latest is None:
        return [(step, "todo", "") for step in STEPS]
    personal = [c["name"] for c in latest.columns if is_personal(c)]
    quality = latest.quality.get("overall")
    grade_state = "done" if r.grade_status in ("confirmed", "overridden") else "todo"
    return [
        ("staged", "done", f"{latest.rows}"),
        ("dictionary", "done", f"{len(latest.columns)}"),
        ("pii", "warn" if personal else "done", ", ".join(str(p) for p in personal)),
        ("grade", grade_state, r.grade or ""),
        ("quality", "done", "" if quality is None else str(quality)),
    ]


def _usage(ctx: Context, actor: Principal, resource_id: int) -> list[dict[str, Any]]:
    """The grants on the resource with their queries per day, refusals and ε spent."""
    day = Formats(ctx.lang).day
    with ctx.platform.db.read() as session:
        grants = [
            g for g in list_grants(session=session, actor=actor) if g.resource_id == resource_id
        ]
        usage = []
        for grant in grants:
            queries = list_queries(
                session=session, actor=actor, grant_id=grant.id, limit=MAX_QUERIES
            )
            by_day: Counter[tuple[str, bool]] = Counter()
            for q in queries:
                by_day[(day(q.created_at), q.status != "refused")] += 1
            days = sorted({day for day, _ in by_day})
            usage.append(
                {
                    "grant": grant,
                    "queries": len(queries),
                    "refused": sum(1 for q in queries if q.status == "refused"),
                    "days": [(d, by_day[(d, True)], by_day[(d, False)]) for d in days],
                    "last": queries[:5],
                }
            )
    return usage


def resource_page(request: Request, ctx: Context, console: Console) -> Response:
    resource_id = _resource_id(request)
    r, actor = _curated(ctx, resource_id)
    logged = request.query_params.get("logged", "")
    columns = r.latest.columns if r.latest else []
    return console.renderer.render(
        ctx,
        "steward/resource.html",
        r=r,
        steps=_steps(r),
        is_personal=is_personal,
        columns=columns,
        grades=[g.value for g in GradeCode],
        encodings=ENCODINGS,
        usage=_usage(ctx, actor, resource_id),
        logged=int(logged) if logged.isdigit() and len(logged) < 19 else None,
        max_bytes=ctx.platform.settings.upload_max_bytes,
    )


def grade(request: Request, ctx: Context, console: Console) -> Response:
    form = form_of(request)
    check_csrf(ctx, form)
    resource_id = _resource_id(request)
    try:
        decision = GradeDecisionIn.model_validate(
            {
                "decision": form.get("decision", ""),
                "grade": form.get("grade") or None,
                "reason": _optional(form.get("reason")),
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    with writing(ctx) as (session, actor):
        recorded = catalog.decide_grade(
            session=session, actor=actor, resource_id=resource_id, decision=decision
        )
    return redirect(f"/steward/resources/{resource_id}?logged={recorded.log_index}")


def dictionary(request: Request, ctx: Context, console: Console) -> Response:
    """Descriptions and units of the latest version's columns; the form sends one row per column."""
    check_csrf(ctx, form_of(request))
    resource_id = _resource_id(request)
    items = form_items(request)
    names = [v for k, v in items if k == "column"]
    descriptions = [v for k, v in items if k == "description"]
    units = [v for k, v in items if k == "unit"]
    if not names or not len(names) == len(descriptions) == len(units):
        raise InvalidInput(
            "数据字典表单不完整 / incomplete dictionary form", details={"field": "column"}
        )
    try:
        edits = [
            ColumnEdit.model_validate(
                {"name": n, "description": d.replace("\r\n", "\n"), "unit": u.strip() or None}
            )
            for n, d, u in zip(names, descriptions, units, strict=True)
        ]
    except ValidationError as exc:
        raise _invalid(exc) from None
    with writing(ctx) as (session, actor):
        recorded = catalog.update_dictionary(
            session=session, actor=actor, resource_id=resource_id, edits=edits
        )
    return redirect(f"/steward/resources/{resource_id}?logged={recorded.log_index}")


def new_version(request: Request, ctx: Context, console: Console) -> Response:
    """Upload a file as the resource's next version; a refused file leaves the inbox again."""
    resource_id = _resource_id(request)
    _curated(ctx, resource_id)
    fields, name, actor = _receive(request, ctx)
    settings = ctx.platform.settings
    try:
        encoding = _optional(fields.get("encoding"))
        if encoding is not None and encoding not in ENCODINGS:
            raise InvalidInput("编码无效 / unknown encoding", details={"field": "encoding"})
        with open_inbox_file(settings.home, actor.participant_id or 0, name) as file:
            recorded = catalog.ingest_version(
                db=ctx.platform.db,
                home=settings.home,
                actor=actor,
                resource_id=resource_id,
                file=file,
                encoding=encoding,
                recheck=recheck(ctx),
                limits=settings.ingest_limits,
                review=shape_review(
                    confirm_removed_columns=fields.get("confirm_removed_columns") == "yes"
                ),
            )
    except DataCompactError:
        discard_upload(home=settings.home, actor=actor, name=name)
        raise
    return redirect(f"/steward/resources/{resource_id}?logged={recorded.log_index}")

"""Routes of the catalog (thin: parse, call one service, render)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from datacompact.api._deps import (
    MAX_ID,
    TEXT,
    TOKEN_OPTIONAL,
    Credentials,
    ObjectId,
    authenticated,
    platform_of,
    reading,
    reading_published,
    receipt,
    recheck,
    writing,
)
from datacompact.api._errors import AUTHENTICATED, documented, documented_beside
from datacompact.catalog import resources as service
from datacompact.catalog import standardize, standards_registry
from datacompact.catalog.export import export_catalog
from datacompact.catalog.inbox import open_inbox_file
from datacompact.catalog.schemas import (
    DictionaryEdit,
    GradeCode,
    GradeDecisionIn,
    ResourceCreate,
    StandardCreate,
    StandardizeIn,
    VersionCreate,
)
from datacompact.errors import InvalidInput
from datacompact.ingest import PinnedFile
from datacompact.policy.grants import shape_review

router = APIRouter(tags=["catalog"], responses=documented(*AUTHENTICATED))


def _inbox_file(request: Request, participant_id: int | None, name: str | None) -> PinnedFile:
    """The named inbox file, opened once; the ingestion reads this descriptor only."""
    if not name or participant_id is None:
        raise InvalidInput(
            "需指定收件箱文件 / expected inbox_file naming a file in your inbox",
            details={"field": "inbox_file"},
        )
    return open_inbox_file(platform_of(request).settings.home, participant_id, name)


@router.post("/resources", status_code=201, summary="登记数据资源 / register a data resource")
def register(body: ResourceCreate, request: Request, credentials: Credentials) -> dict[str, Any]:
    platform = platform_of(request)
    actor = authenticated(request, credentials)
    with _inbox_file(request, actor.participant_id, body.inbox_file) as file:
        recorded = service.register_resource(
            db=platform.db,
            home=platform.settings.home,
            actor=actor,
            data=body,
            file=file,
            encoding=body.encoding,
            sheet=body.sheet,
            recheck=recheck(request, credentials),
            limits=platform.settings.ingest_limits,
        )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/resources/{resource_id}/versions", status_code=201, summary="新增版本 / ingest a new version"
)
def add_version(
    resource_id: ObjectId, body: VersionCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    platform = platform_of(request)
    actor = authenticated(request, credentials)
    with _inbox_file(request, actor.participant_id, body.inbox_file) as file:
        recorded = service.ingest_version(
            db=platform.db,
            home=platform.settings.home,
            actor=actor,
            resource_id=resource_id,
            file=file,
            encoding=body.encoding,
            sheet=body.sheet,
            recheck=recheck(request, credentials),
            limits=platform.settings.ingest_limits,
            review=shape_review(confirm_removed_columns=body.confirm_removed_columns),
        )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/resources", summary="检索目录 / search the catalog", openapi_extra=TOKEN_OPTIONAL)
def search(
    request: Request,
    credentials: Credentials,
    q: str = Query("", max_length=200),
    holder_id: int | None = Query(None, ge=1, le=MAX_ID),
    grade: GradeCode | None = None,
    share_type: str | None = Query(None, pattern="^(unconditional|conditional|not_shared)$"),
    theme: str | None = Query(None, max_length=50),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """无需令牌即可检索已公开的条目 / anyone may search the published entries without a token."""
    with reading_published(request, credentials) as (session, actor):
        found = service.search_catalog(
            session=session,
            actor=actor,
            query=q,
            holder_id=holder_id,
            grade=grade,
            share_type=share_type,
            theme=theme,
            limit=limit,
        )
        # ``empty_reason`` is set exactly when ``data`` is empty: it says why.
        return found.model_dump(mode="json")


@router.get(
    "/resources/{resource_id}", summary="资源详情 / show a resource", openapi_extra=TOKEN_OPTIONAL
)
def show(resource_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    """无需令牌即可查看已公开的条目 / anyone may read a published entry without a token."""
    with reading_published(request, credentials) as (session, actor):
        found = service.get_resource(session=session, actor=actor, resource_id=resource_id)
        return {"data": found.model_dump(mode="json")}


@router.post("/resources/{resource_id}/grade", summary="确认或调整分级 / decide the grade")
def grade(
    resource_id: ObjectId, body: GradeDecisionIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = service.decide_grade(
            session=session, actor=actor, resource_id=resource_id, decision=body
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.patch("/resources/{resource_id}/dictionary", summary="编辑数据字典 / edit the dictionary")
def dictionary(
    resource_id: ObjectId, body: DictionaryEdit, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = service.update_dictionary(
            session=session, actor=actor, resource_id=resource_id, edits=body.columns
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/resources/{resource_id}/conformance", summary="标准符合性 / conformance to data standards"
)
def conformance(
    resource_id: ObjectId, body: StandardizeIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    home = platform_of(request).settings.home
    with reading(request, credentials) as (session, actor):
        report = standardize.conformance_report(
            session=session, home=home, actor=actor, resource_id=resource_id, mappings=body.mappings
        )
        return {"data": report}


@router.post(
    "/resources/{resource_id}/standardized",
    status_code=201,
    summary="按标准派生新版本 / derive a version in the standards' form",
)
def standardized(
    resource_id: ObjectId, body: StandardizeIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    platform = platform_of(request)
    actor = authenticated(request, credentials)
    recorded = standardize.derive_standard_version(
        db=platform.db,
        home=platform.settings.home,
        actor=actor,
        resource_id=resource_id,
        mappings=body.mappings,
        recheck=recheck(request, credentials),
        review=shape_review(confirm_removed_columns=False),
    )
    return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post("/standards", status_code=201, summary="登记数据标准 / register a data standard")
def register_standard(
    body: StandardCreate, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = standards_registry.register_standard(session=session, actor=actor, data=body)
        return receipt(recorded.value, recorded.log_index)


@router.get("/standards", summary="数据标准 / data standards, built-in and registered")
def list_standards(request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        return {"data": standards_registry.list_standards(session=session, actor=actor)}


def _export(request: Request, credentials: Credentials, fmt: str, media: str) -> Response:
    base = platform_of(request).settings.public_base_url
    with reading_published(request, credentials) as (session, actor):
        text = export_catalog(session=session, actor=actor, base_url=base, fmt=fmt)
    return Response(text, media_type=media)


@router.get(
    "/catalog.ttl",
    openapi_extra=TOKEN_OPTIONAL,
    summary="DCAT-AP 目录（Turtle）/ the catalog as DCAT-AP Turtle",
    response_class=Response,
    responses=documented_beside("text/turtle", TEXT, *AUTHENTICATED),
)
def catalog_turtle(request: Request, credentials: Credentials) -> Response:
    """无需令牌即可读取已公开的条目 / anyone may read the published entries without a token."""
    return _export(request, credentials, "turtle", "text/turtle; charset=utf-8")


@router.get(
    "/catalog.jsonld",
    openapi_extra=TOKEN_OPTIONAL,
    summary="DCAT-AP 目录（JSON-LD）/ the catalog as DCAT-AP JSON-LD",
    response_class=Response,
    responses=documented_beside("application/ld+json", {"type": "object"}, *AUTHENTICATED),
)
def catalog_jsonld(request: Request, credentials: Credentials) -> Response:
    """无需令牌即可读取已公开的条目 / anyone may read the published entries without a token."""
    return _export(request, credentials, "jsonld", "application/ld+json")

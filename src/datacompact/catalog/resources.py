"""Catalog services: register resources, ingest versions, decide grades, search, export.

Registration and ingestion are long: the file is staged and measured first
(``_analysis``), outside any transaction, into a private, locked folder of its
own under ``$DATACOMPACT_HOME/staging``; then one write transaction moves the
folder under ``$DATACOMPACT_HOME/resources`` and stores the rows and the log
events. If that transaction fails the staged folder is removed, so no version
is ever visible without its rows and events, nor the reverse; what a killed
process leaves is removed by :func:`sweep_orphans` (see ``_staging``).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from datacompact.catalog import _analysis, _staging, codes, grading, search
from datacompact.catalog._analysis import Analysis, Progress
from datacompact.catalog._staging import Staging
from datacompact.catalog.lineage import JobKind
from datacompact.catalog.schemas import (
    ColumnEdit,
    GradeCode,
    GradeDecisionIn,
    ResourceBase,
    ResourcePublic,
    SearchResult,
    VersionPublic,
)
from datacompact.catalog.shape import SchemaChange, ShapeReview, schema_change
from datacompact.errors import Forbidden, InvalidInput, NotFound, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.ingest import IngestLimits, PinnedFile
from datacompact.permissions import (
    Actions,
    CatalogResource,
    Principal,
    PublicListing,
    authorize,
    decide,
)
from datacompact.registry import lookup
from datacompact.store.models import Participant, Resource, ResourceVersion
from datacompact.store.ratings import aggregates as rating_aggregates
from datacompact.store.session import Database

RESOURCES_DIR = _staging.RESOURCES_DIR

#: Authenticates the caller again inside a transaction (see ``register_resource``).
Recheck = Callable[[Session], Principal]


def _resource(session: Session, resource_id: int, *, lock: bool = False) -> Resource:
    row = session.get(Resource, resource_id, with_for_update=lock)
    if row is None:
        raise NotFound("数据资源不存在 / resource not found", details={"resource_id": resource_id})
    return row


def latest_version(session: Session, resource_id: int) -> ResourceVersion | None:
    """The newest version of a resource (one indexed row, not the whole version list)."""
    return session.scalar(
        select(ResourceVersion)
        .where(ResourceVersion.resource_id == resource_id)
        .order_by(ResourceVersion.number.desc())
        .limit(1)
    )


def _reasons(analysis: Analysis) -> list[dict[str, Any]]:
    return [
        {
            "rule": r.rule,
            "grade": r.grade.value if r.grade else None,
            "text": r.text,
            "source": r.source,
            "column": r.column,
            "share": r.share,
        }
        for r in analysis.proposal.reasons
    ]


def _columns(analysis: Analysis) -> list[dict[str, Any]]:
    graded = {c.name: c for c in analysis.proposal.columns}
    out = []
    for spec in analysis.dictionary.columns:
        column = spec.to_dict()
        grade = graded.get(spec.name)
        column["grade"] = grade.grade.value if grade else None
        column["personal"] = grade.personal.value if grade else None
        column["pii"] = [
            {k: v for k, v in f.to_dict().items() if k != "column"}
            for f in analysis.findings
            if f.column == spec.name
        ]
        out.append(column)
    return out


def _version_row(
    resource: Resource, number: int, path: Path, analysis: Analysis
) -> ResourceVersion:
    """The row of a version whose Parquet file is at ``path`` (relative to the home folder)."""
    staged = analysis.staged
    return ResourceVersion(
        resource=resource,
        number=number,
        path=path.as_posix(),
        rows=staged.rows,
        bytes=staged.size_bytes,
        source_sha256=staged.source_sha256,
        source_format=str(staged.detected.get("format", "")),
        source_encoding=staged.detected.get("encoding"),
        columns=_columns(analysis),
        quality=analysis.quality.to_dict(),
        pii=[f.to_dict() for f in analysis.findings],
        lineage=list(analysis.lineage),
        warnings=[w.message for w in staged.warnings],
    )


def _apply_proposal(resource: Resource, analysis: Analysis, *, keep_decision: bool = False) -> None:
    """Take the engine's proposal; on a new version, a steward's decision stands unless
    the new data calls for a higher grade (then it is proposed again, for review)."""
    proposal = analysis.proposal
    if (
        keep_decision
        and resource.grade is not None
        and resource.grade_status != "proposed"
        and proposal.grade.rank <= grading.Grade(resource.grade).rank
    ):
        resource.personal = resource.personal or proposal.personal.value != "none"
        return
    resource.category = proposal.category.value
    resource.grade = proposal.grade.value
    resource.personal = proposal.personal.value != "none"
    resource.sensitive_personal = bool(proposal.sensitive)
    resource.sensitive_categories = sorted(s.value for s in proposal.sensitive)
    resource.grade_status = "proposed"
    resource.grade_reasons = _reasons(analysis)


def _version_events(
    resource: Resource,
    version: ResourceVersion,
    derived_from: int | None = None,
    change: SchemaChange | None = None,
    flagged: Sequence[int] = (),
) -> list[NewEvent]:
    ingested: dict[str, Any] = {
        "code": resource.code,
        "version": version.number,
        "rows": version.rows,
        "columns": len(version.columns),
        "source_sha256": version.source_sha256,
    }
    if derived_from is not None:
        ingested["derived_from"] = derived_from
    if change is not None:
        ingested["changes"] = {**change.to_dict(), "grants_needing_review": list(flagged)}
    return [
        NewEvent(EventType.RESOURCE_VERSION_INGESTED, "resource", resource.id, ingested),
        NewEvent(
            EventType.RESOURCE_GRADE_PROPOSED,
            "resource",
            resource.id,
            {
                "version": version.number,
                "category": resource.category,
                "grade": resource.grade,
                "rules": sorted({r["rule"] for r in resource.grade_reasons}),
            },
        ),
    ]


def register_resource(
    *,
    db: Database,
    home: Path,
    actor: Principal,
    data: ResourceBase,
    file: Path | PinnedFile,
    encoding: str | None = None,
    sheet: str | int | None = None,
    progress: Progress | None = None,
    recheck: Recheck | None = None,
    holder_id: int | None = None,
    limits: IngestLimits | None = None,
) -> Recorded[ResourcePublic]:
    """Register a resource of ``holder_id`` (the actor's participant by default) from ``file``.

    ``authorize`` refuses any holder but the actor's own participant.
    ``recheck`` authenticates the caller again inside the final transaction:
    a token revoked, or a participant suspended, during a long ingestion
    stops it from committing. ``file`` is a path or an already opened inbox
    file; ``limits`` bounds what it may cost (the settings' ``ingest_*``).
    """
    holder_id = holder_id if holder_id is not None else actor.participant_id
    resource_ref = CatalogResource(participant_id=holder_id)
    with db.read() as session:
        authorize(actor=actor, action=Actions.RESOURCE_REGISTER, resource=resource_ref)
        if holder_id is None:
            raise Forbidden(
                "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
            )
        holder = lookup.participant(session, holder_id)
        kind = holder.kind
    with Staging(home, holder_id) as staging:
        analysis = _analysis.analyze_file(
            file=file,
            dest=staging.folder / "v1.parquet",
            holder_kind=kind,
            tags=data.tags,
            frequency=data.update_frequency.value,
            job_name=f"ingest/{holder_id}/{file.name}",
            encoding=encoding,
            sheet=sheet,
            progress=progress,
            limits=limits,
        )
        try:
            return _register(
                db=db,
                actor=actor,
                data=data,
                holder_id=holder_id,
                staging=staging,
                analysis=analysis,
                recheck=recheck,
            )
        except BaseException:
            # The transaction failed (or was interrupted): nothing staged stays.
            staging.discard()
            raise


def _register(
    *,
    db: Database,
    actor: Principal,
    data: ResourceBase,
    holder_id: int,
    staging: Staging,
    analysis: Analysis,
    recheck: Recheck | None,
) -> Recorded[ResourcePublic]:
    """The write transaction of :func:`register_resource`; it moves the staged folder in place."""
    resource_ref = CatalogResource(participant_id=holder_id)
    with db.write() as session:
        actor = recheck(session) if recheck else actor
        authorize(actor=actor, action=Actions.RESOURCE_REGISTER, resource=resource_ref)
        # Sequences are per holder: lock the holder so two registrations
        # cannot take the same number.
        holder = lookup.participant(session, holder_id, lock=True)
        sequence = 1 + (
            session.scalar(select(func.count()).where(Resource.holder_id == holder.id)) or 0
        )
        code = codes.make_code(
            region=holder.region_code, holder_uscc=holder.uscc, sequence=sequence
        )
        resource = Resource(
            code=code.text,
            holder_id=holder.id,
            search_terms=" ".join(
                search.terms(" ".join([data.name, data.name_en or "", *data.tags]))
            ),
            **data.model_dump(mode="json", include=set(ResourceBase.model_fields)),
        )
        _apply_proposal(resource, analysis)
        session.add(resource)
        session.flush()
        folder = staging.publish()
        version = _version_row(resource, 1, folder / "v1.parquet", analysis)
        session.add(version)
        session.flush()
        recorded = record_events(
            session,
            actor=actor,
            events=[
                NewEvent(
                    EventType.RESOURCE_REGISTERED,
                    "resource",
                    resource.id,
                    {
                        "code": resource.code,
                        "holder_id": holder.id,
                        "share_type": resource.share_type,
                        "open_type": resource.open_type,
                    },
                ),
                *_version_events(resource, version),
            ],
        )
        return Recorded(view(resource), recorded[0].seq)


def ingest_version(
    *,
    db: Database,
    home: Path,
    actor: Principal,
    resource_id: int,
    file: Path | PinnedFile,
    encoding: str | None = None,
    sheet: str | int | None = None,
    progress: Progress | None = None,
    job_kind: JobKind = JobKind.INGESTION,
    derived_from: int | None = None,
    recheck: Recheck | None = None,
    limits: IngestLimits | None = None,
    review: ShapeReview | None,
    code_lists: Mapping[str, Mapping[str, str]] | None = None,
) -> Recorded[ResourcePublic]:
    """Ingest ``file`` as the next immutable version of a resource; earlier ones are kept.

    ``derived_from`` names the version a derivation (``job_kind``) started from.
    ``code_lists`` gives columns whose code list is known (a data standard's
    codes and labels) in place of the one inferred from the values.

    When the new columns differ from the latest version's, the change is in the
    result (``latest.changes``) and the event; a change that removes or retypes
    a column goes to ``review`` (the policy layer's grant review) in the same
    transaction, before anything is published. ``review`` has no default: a
    caller that passes ``None`` says that no grant can be affected.
    """
    with db.read() as session:
        resource = _resource(session, resource_id)
        ref = CatalogResource(participant_id=resource.holder_id)
        authorize(actor=actor, action=Actions.RESOURCE_REGISTER, resource=ref)
        kind = resource.holder.kind
        tags, frequency, code = list(resource.tags), resource.update_frequency, resource.code
    with Staging(home, ref.participant_id or 0) as staging:
        analysis = _analysis.analyze_file(
            file=file,
            dest=staging.folder / "data.parquet",
            holder_kind=kind,
            tags=tags,
            frequency=frequency,
            job_name=f"{job_kind.value.lower()}/{code}",
            job_kind=job_kind,
            encoding=encoding,
            sheet=sheet,
            progress=progress,
            limits=limits,
        )
        if code_lists:
            dictionary = analysis.dictionary
            for column, entries in code_lists.items():
                dictionary = dictionary.edit(column, type="code", code_list=dict(entries))
            analysis = dataclasses.replace(analysis, dictionary=dictionary)
        try:
            return _add_version(
                db=db,
                actor=actor,
                resource_id=resource_id,
                ref=ref,
                staging=staging,
                analysis=analysis,
                derived_from=derived_from,
                recheck=recheck,
                review=review,
            )
        except BaseException:
            staging.discard()
            raise


def _add_version(
    *,
    db: Database,
    actor: Principal,
    resource_id: int,
    ref: CatalogResource,
    staging: Staging,
    analysis: Analysis,
    derived_from: int | None,
    recheck: Recheck | None,
    review: ShapeReview | None,
) -> Recorded[ResourcePublic]:
    """The write transaction of :func:`ingest_version`."""
    with db.write() as session:
        actor = recheck(session) if recheck else actor
        resource = _resource(session, resource_id, lock=True)
        authorize(actor=actor, action=Actions.RESOURCE_REGISTER, resource=ref)
        number = 1 + max((v.number for v in resource.versions), default=0)
        previous = resource.versions[-1] if resource.versions else None
        change = schema_change(previous.columns, _columns(analysis)) if previous else None
        reviewed: list[NewEvent] = []
        flagged: list[int] = []
        if change is not None and change.touched and review is not None:
            # Before anything is published: a refusal leaves only the staging to discard.
            reviewed, flagged = review(
                session, actor=actor, resource=resource, version=number, change=change
            )
        _apply_proposal(resource, analysis, keep_decision=True)
        folder = staging.publish()
        version = _version_row(resource, number, folder / "data.parquet", analysis)
        session.add(version)
        session.flush()
        recorded = record_events(
            session,
            actor=actor,
            events=[
                *_version_events(resource, version, derived_from, change, flagged),
                *reviewed,
            ],
        )
        return Recorded(view(resource), recorded[0].seq)


def _curated(session: Session, actor: Principal, resource_id: int) -> Resource:
    """The resource, locked, once the actor is allowed to curate it."""
    resource = _resource(session, resource_id, lock=True)
    authorize(
        actor=actor,
        action=Actions.RESOURCE_CURATE,
        resource=CatalogResource(participant_id=resource.holder_id),
    )
    return resource


def decide_grade(
    *, session: Session, actor: Principal, resource_id: int, decision: GradeDecisionIn
) -> Recorded[ResourcePublic]:
    """A data steward confirms the proposed grade or overrides it with a reason."""
    resource = _curated(session, actor, resource_id)
    if decision.decision == "confirm":
        if decision.grade is not None and decision.grade.value != resource.grade:
            raise InvalidInput(
                "确认时不能改变分级，请使用 override / confirming keeps the proposed grade; "
                "use override to change it",
                details={"field": "grade"},
            )
        resource.grade_status = "confirmed"
        event_type, payload = EventType.RESOURCE_GRADE_CONFIRMED, {"grade": resource.grade}
    else:
        if decision.grade is None or not decision.reason:
            raise InvalidInput(
                "调整分级需给出分级和理由 / an override needs a grade and a reason",
                details={"fields": ["grade", "reason"]},
            )
        previous = resource.grade
        resource.grade = decision.grade.value
        resource.grade_status = "overridden"
        event_type = EventType.RESOURCE_GRADE_OVERRIDDEN
        payload = {"from": previous, "to": resource.grade, "reason": decision.reason}
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(event_type, "resource", resource.id, payload)],
    )
    return Recorded(view(resource), event.seq)


def update_dictionary(
    *, session: Session, actor: Principal, resource_id: int, edits: Sequence[ColumnEdit]
) -> Recorded[ResourcePublic]:
    """Edit descriptions, units and code lists of the latest version's columns."""
    resource = _curated(session, actor, resource_id)
    latest = resource.versions[-1]
    columns = [dict(c) for c in latest.columns]
    by_name = {c["name"]: c for c in columns}
    for edit in edits:
        column = by_name.get(edit.name)
        if column is None:
            raise InvalidInput(
                f"列不存在 / no column named '{edit.name}' in the latest version",
                details={"column": edit.name},
            )
        if edit.code_list is not None and column.get("pii"):
            # A code list of a personal column would publish people's values.
            raise PolicyViolation(
                f"个人信息列不能附代码表 / column '{edit.name}' holds personal information: "
                "no code list",
                details={"column": edit.name, "rule": "dictionary.personal_code_list"},
            )
        for field in ("description", "unit", "code_list"):
            value = getattr(edit, field)
            if value is not None:
                column[field] = value
    latest.columns = columns
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.RESOURCE_DICTIONARY_UPDATED,
                "resource",
                resource.id,
                {"version": latest.number, "columns": sorted(e.name for e in edits)},
            )
        ],
    )
    return Recorded(view(resource), event.seq)


def catalog_ref(resource: Resource) -> CatalogResource:
    """The resource as ``authorize`` sees it: its holder, share type and open type."""
    return CatalogResource(
        participant_id=resource.holder_id,
        share_type=resource.share_type,
        open_type=resource.open_type,
        private=resource.private,
    )


def readable(session: Session, actor: Principal, resource_id: int) -> Resource:
    """The resource, once ``actor`` may read its catalog entry.

    One not published is, for an anonymous caller, as missing as one that
    does not exist: the same ``404`` with the same details.
    """
    missing = NotFound("数据资源不存在 / resource not found", details={"resource_id": resource_id})
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise missing
    authorize(
        actor=actor, action=Actions.RESOURCE_READ, resource=catalog_ref(resource), missing=missing
    )
    return resource


def readable_by_code(session: Session, actor: Principal, code: str) -> Resource:
    """The resource registered under ``code`` (its dataset URI), as :func:`readable`."""
    text = codes.parse_code(code).text
    missing = NotFound("数据资源不存在 / resource not found", details={"code": text})
    resource = session.scalar(select(Resource).where(Resource.code == text))
    if resource is None:
        raise missing
    authorize(
        actor=actor, action=Actions.RESOURCE_READ, resource=catalog_ref(resource), missing=missing
    )
    return resource


def get_resource(*, session: Session, actor: Principal, resource_id: int) -> ResourcePublic:
    return view(readable(session, actor, resource_id))


def search_resources(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    holder_id: int | None = None,
    grade: GradeCode | None = None,
    share_type: str | None = None,
    theme: str | None = None,
    limit: int = 50,
) -> list[ResourcePublic]:
    """Full text (jieba for Chinese) over names, tags and descriptions, with filters.

    Only the entries the actor may read are candidates (an anonymous caller
    sees the published ones).
    """
    return search_catalog(
        session=session,
        actor=actor,
        query=query,
        holder_id=holder_id,
        grade=grade,
        share_type=share_type,
        theme=theme,
        limit=limit,
    ).data


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    """A catalog entry as a listing reads it: what ``authorize``, the ranking and the facets need.

    A listing decides, ranks and counts every entry but shows only a page of
    them, so it reads these columns (no versions, no grade reasons) and builds
    the full view of the shown entries alone.
    """

    id: int
    holder_id: int
    holder_name: str
    name: str
    name_en: str | None
    description: str
    tags: list[str]
    themes: list[str]
    grade: str | None
    share_type: str
    open_type: str
    update_frequency: str
    private: bool

    @property
    def ref(self) -> CatalogResource:
        return CatalogResource(
            participant_id=self.holder_id,
            share_type=self.share_type,
            open_type=self.open_type,
            private=self.private,
        )


def _entries(
    session: Session,
    actor: Principal,
    *,
    holder_id: int | None,
    grade: GradeCode | None,
    share_type: str | None,
    theme: str | None,
) -> list[_Entry]:
    """The entries the filters keep and the actor may read, in id order."""
    rows = (
        select(
            Resource.id,
            Resource.holder_id,
            Participant.name,
            Resource.name,
            Resource.name_en,
            Resource.description,
            Resource.tags,
            Resource.themes,
            Resource.grade,
            Resource.share_type,
            Resource.open_type,
            Resource.update_frequency,
            Resource.private,
        )
        .join(Participant, Participant.id == Resource.holder_id)
        .order_by(Resource.id)
    )
    if holder_id is not None:
        rows = rows.where(Resource.holder_id == holder_id)
    if grade is not None:
        rows = rows.where(Resource.grade == grade.value)
    if share_type is not None:
        rows = rows.where(Resource.share_type == share_type)
    entries = (_Entry(*tuple(row)) for row in session.execute(rows))
    return [
        e
        for e in entries
        if (theme is None or theme in e.themes)
        and decide(actor=actor, action=Actions.RESOURCE_READ, resource=e.ref).allowed
    ]


def _ranked(session: Session, query: str, candidates: Sequence[_Entry], limit: int) -> list[_Entry]:
    """At most ``limit`` candidates matching ``query``, best first; for a query without a
    word, every candidate in the order :func:`search.rank` gives it (by id)."""
    documents = [
        search.Document(
            id=str(e.id),
            fields={
                "name_zh": e.name,
                "name_en": e.name_en or "",
                "tags": " ".join(e.tags),
                "description_zh": e.description,
            },
        )
        for e in candidates
    ]
    boosts: dict[str, float] = {}
    if search.terms(query):
        # Ratings only reorder scored hits: a query without a word lists in id order.
        rated = rating_aggregates(session, kind="data", ids=[e.id for e in candidates])
        boosts = {
            str(rid): search.rating_boost(a.overall, a.count)
            for rid, a in rated.items()
            if a.overall is not None
        }
    by_id = {str(e.id): e for e in candidates}
    return [by_id[hit.id] for hit in search.rank(query, documents, limit=limit, boosts=boosts)]


def _views(session: Session, ids: Sequence[int]) -> list[ResourcePublic]:
    """The full views of the resources ``ids``, in that order: one query each for the
    resources, their holders and their versions, however many there are."""
    if not ids:
        return []
    rows = session.scalars(
        select(Resource)
        .where(Resource.id.in_(list(ids)))
        .options(selectinload(Resource.versions), selectinload(Resource.holder))
    )
    by_id = {r.id: r for r in rows}
    return [view(by_id[i]) for i in ids]


def search_catalog(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    holder_id: int | None = None,
    grade: GradeCode | None = None,
    share_type: str | None = None,
    theme: str | None = None,
    limit: int = 50,
) -> SearchResult:
    """:func:`search_resources`, saying why when nothing is found."""
    authorize(actor=actor, action=Actions.RESOURCE_READ, resource=PublicListing())
    candidates = _entries(
        session, actor, holder_id=holder_id, grade=grade, share_type=share_type, theme=theme
    )
    found = _views(session, [e.id for e in _ranked(session, query, candidates, limit)])
    reason = None
    if not found:
        given = {
            "holder": holder_id,
            "grade": grade,
            "share_type": share_type,
            "theme": theme,
        }
        filters = [name for name, value in given.items() if value is not None]
        reason = _why_empty(session, actor, filters, len(candidates), search.terms(query))
    return SearchResult(data=found, empty_reason=reason)


#: The facets of a catalog listing, each a field of the resource.
FACETS = ("holder", "theme", "grade", "share_type", "open_type", "update_frequency")


class FacetValue(NamedTuple):
    """One value of a facet among a listing's results, how a page names it, and its count."""

    value: str
    label: str
    hits: int


@dataclasses.dataclass(frozen=True)
class CatalogListing:
    """One page of a catalog search, with the total and the facets of every result."""

    data: list[ResourcePublic]
    total: int
    #: Each facet's values over all the results (not only the page's), most frequent first.
    facets: dict[str, list[FacetValue]]
    page: int
    pages: int


def _facets(entries: Sequence[_Entry]) -> dict[str, list[FacetValue]]:
    counts: dict[str, Counter[tuple[str, str]]] = {name: Counter() for name in FACETS}
    for e in entries:
        counts["holder"][(str(e.holder_id), e.holder_name)] += 1
        for theme in e.themes:
            counts["theme"][(theme, theme)] += 1
        if e.grade:
            counts["grade"][(e.grade, e.grade)] += 1
        counts["share_type"][(e.share_type, e.share_type)] += 1
        counts["open_type"][(e.open_type, e.open_type)] += 1
        counts["update_frequency"][(e.update_frequency, e.update_frequency)] += 1
    # most_common keeps first-seen order among equal counts, i.e. the ranking's order.
    return {
        name: [FacetValue(value, label, n) for (value, label), n in counter.most_common()]
        for name, counter in counts.items()
    }


def list_catalog(
    *,
    session: Session,
    actor: Principal,
    query: str = "",
    holder_id: int | None = None,
    grade: GradeCode | None = None,
    share_type: str | None = None,
    theme: str | None = None,
    open_type: str | None = None,
    update_frequency: str | None = None,
    limit: int = 5000,
    page: int = 1,
    page_size: int = 20,
) -> CatalogListing:
    """A page of the catalog as a browser shows it: the page's resources, the total and facets.

    The results are :func:`search_resources`'s (the same ``authorize`` rules, the
    same ranking, at most ``limit``), then kept to ``open_type`` and
    ``update_frequency``; ``page`` is clamped to the last page. Only the page's
    resources get a full view; the facets are counted over every result.
    """
    authorize(actor=actor, action=Actions.RESOURCE_READ, resource=PublicListing())
    candidates = _entries(
        session, actor, holder_id=holder_id, grade=grade, share_type=share_type, theme=theme
    )
    results = [
        e
        for e in _ranked(session, query, candidates, limit)
        if (open_type is None or e.open_type == open_type)
        and (update_frequency is None or e.update_frequency == update_frequency)
    ]
    pages = max(1, -(-len(results) // page_size))
    page = min(max(page, 1), pages)
    shown = results[(page - 1) * page_size : page * page_size]
    return CatalogListing(
        data=_views(session, [e.id for e in shown]),
        total=len(results),
        facets=_facets(results),
        page=page,
        pages=pages,
    )


def _why_empty(
    session: Session, actor: Principal, filters: list[str], candidates: int, words: list[str]
) -> str:
    """Why a search found nothing: an empty catalog, the filters, or no hit for its words.

    A query without a word (blank, or punctuation only) lists every resource
    the filters keep, so it is empty only through the first two. "Empty"
    counts only the entries the actor may read: an anonymous caller learns
    nothing about unpublished ones.
    """
    refs = session.execute(
        select(Resource.holder_id, Resource.share_type, Resource.open_type, Resource.private)
    )
    readable = (
        decide(
            actor=actor,
            action=Actions.RESOURCE_READ,
            resource=CatalogResource(
                participant_id=holder, share_type=share, open_type=opened, private=private
            ),
        ).allowed
        for holder, share, opened, private in refs
    )
    if not any(readable):
        return "目录中还没有可查看的数据资源 / the catalog holds no resource you may see yet"
    if not candidates:
        named = ", ".join(filters)
        return f"没有资源同时满足筛选条件 {named} / no resource meets every filter given ({named})"
    shown = ", ".join(dict.fromkeys(words))
    return (
        f"符合条件的 {candidates} 个资源的名称、标签和描述中都没有这些词：{shown} / none of the "
        f"{candidates} resources meeting the filters has any of these words in its name, tags "
        f"or description: {shown}"
    )


def _version_view(
    version: ResourceVersion, previous: ResourceVersion | None = None
) -> VersionPublic:
    change = schema_change(previous.columns, version.columns) if previous else None
    return VersionPublic(
        number=version.number,
        rows=version.rows,
        bytes=version.bytes,
        source_sha256=version.source_sha256,
        source_format=version.source_format,
        source_encoding=version.source_encoding,
        columns=version.columns,
        pii=version.pii,
        quality=version.quality,
        warnings=version.warnings,
        changes=change.to_dict() if change is not None else None,
        created_at=version.created_at,
    )


def _latest_view(versions: Sequence[ResourceVersion]) -> VersionPublic | None:
    if not versions:
        return None
    return _version_view(versions[-1], versions[-2] if len(versions) > 1 else None)


def view(resource: Resource) -> ResourcePublic:
    holder: Participant = resource.holder
    # A stored code is checked whenever it is read: a corrupted one is refused, not shown.
    code = codes.parse_code(resource.code).text
    return ResourcePublic(
        id=resource.id,
        code=code,
        holder_id=resource.holder_id,
        holder_name=holder.name,
        name=resource.name,
        name_en=resource.name_en,
        description=resource.description,
        source_system=resource.source_system,
        themes=resource.themes,
        tags=resource.tags,
        update_frequency=resource.update_frequency,
        share_type=resource.share_type,
        open_type=resource.open_type,
        private=resource.private,
        category=resource.category,
        grade=resource.grade,
        personal=resource.personal,
        sensitive_personal=resource.sensitive_personal,
        sensitive_categories=resource.sensitive_categories,
        grade_status=resource.grade_status,
        grade_reasons=resource.grade_reasons,
        versions=len(resource.versions),
        quality_trend=[
            {"version": v.number, "overall": v.quality.get("overall"), "rows": v.rows}
            for v in resource.versions
        ],
        latest=_latest_view(resource.versions),
        created_at=resource.created_at,
    )


def sweep_orphans(*, db: Database, home: Path) -> int:
    """Remove staged data no committed version refers to (left by a crash); returns how many.

    Age plays no part: a folder goes once its ingestion's lock is free, that
    is once the ingestion has ended, in this process or any other (see
    :mod:`datacompact.catalog._staging`). The API runs this at start-up, and
    so do the CLI's ingestion commands.
    """
    return _staging.sweep(db=db, home=home)

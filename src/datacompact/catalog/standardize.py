"""Data standards applied to resources: conformance reports and derived versions.

"Formats not unified" is answered here: a steward maps columns of
a resource to the elements of a standard (``catalog.standards``), sees the
share of conforming values per element, and can derive a new version with
every mapped column in the standard's form. The derived version is an
ordinary immutable version, logged and traced as an OpenLineage derivation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from datacompact.catalog import standards
from datacompact.catalog.lineage import JobKind
from datacompact.catalog.resources import Recheck, ingest_version
from datacompact.catalog.schemas import MappingIn, ResourcePublic
from datacompact.catalog.shape import ShapeReview
from datacompact.catalog.standard_sql import conformance, derive
from datacompact.catalog.standards_registry import registered
from datacompact.errors import NotFound
from datacompact.events import Recorded
from datacompact.permissions import Actions, CatalogResource, Principal, authorize
from datacompact.store.models import Resource, ResourceVersion
from datacompact.store.session import Database


def _mappings(
    version: ResourceVersion, mappings: Sequence[MappingIn]
) -> list[standards.ColumnMapping]:
    # Columns with personal information never show sample values in a report.
    personal = {f["column"] for f in version.pii}
    return [
        standards.ColumnMapping(
            column=m.column,
            standard=m.standard,
            element=m.element,
            aliases=dict(m.aliases),
            personal=m.column in personal,
        )
        for m in mappings
    ]


def _latest(session: Session, actor: Principal, resource_id: int) -> ResourceVersion:
    resource = session.get(Resource, resource_id)
    if resource is None or not resource.versions:
        raise NotFound("数据资源不存在 / resource not found", details={"resource_id": resource_id})
    authorize(
        actor=actor,
        action=Actions.RESOURCE_CURATE,
        resource=CatalogResource(participant_id=resource.holder_id),
    )
    return resource.versions[-1]


def conformance_report(
    *,
    session: Session,
    home: Path,
    actor: Principal,
    resource_id: int,
    mappings: Sequence[MappingIn],
) -> dict[str, Any]:
    """% of conforming values per mapped column of the latest version (read only)."""
    version = _latest(session, actor, resource_id)
    report = conformance(
        parquet=home / version.path,
        mappings=_mappings(version, mappings),
        standards=registered(session),
    )
    return {
        "version": version.number,
        "rows": report.rows,
        "elements": [
            {
                "column": e.column,
                "standard": e.standard,
                "element": e.element,
                "values": e.values,
                "conforming": e.conforming,
                "by_code": e.by_code,
                "by_label": e.by_label,
                "failing": e.failing,
                "nulls": e.nulls,
                "percent": e.percent,
                "samples": list(e.samples),
            }
            for e in report.elements
        ],
    }


def derive_standard_version(
    *,
    db: Database,
    home: Path,
    actor: Principal,
    resource_id: int,
    mappings: Sequence[MappingIn],
    recheck: Recheck | None = None,
    review: ShapeReview | None,
) -> Recorded[ResourcePublic]:
    """A new version of the resource with the mapped columns in their standards' form.

    A mapping may change a column's type; ``review`` sees that change as it
    sees any new version's (see :func:`~datacompact.catalog.resources.ingest_version`).
    """
    with db.read() as session:
        version = _latest(session, actor, resource_id)
        source, number = home / version.path, version.number
        column_mappings = _mappings(version, mappings)
        extra = registered(session)
    # The derived columns hold the standard's codes: their code list is the
    # standard's, with its labels (a standard's list names no one's values).
    code_lists = {}
    for m in column_mappings:
        standard = extra.get(m.standard) or standards.get_standard(m.standard)
        element = standard.element(m.element)
        if element.codes:
            code_lists[m.column] = {c.code: c.label_zh for c in element.codes}
    workdir = Path(tempfile.mkdtemp(prefix="dc-derive-"))
    try:
        derived = workdir / "standardized.parquet"
        derive(parquet=source, mappings=column_mappings, output=derived, standards=extra)
        return ingest_version(
            db=db,
            home=home,
            actor=actor,
            resource_id=resource_id,
            file=derived,
            job_kind=JobKind.DERIVATION,
            derived_from=number,
            recheck=recheck,
            code_lists=code_lists,
            review=review,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

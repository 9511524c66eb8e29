"""Registering data standards: a department's or a sector's own code lists and formats.

The built-in standards (``catalog.standards``) cover the national ones the
platform ships; anyone who curates data can register more, such as a local
standard (地方标准, ``DB33/T ...``) or an enterprise standard. A registered
standard is validated as the built-in ones are, logged, and usable in
conformance reports and standardized versions by its identifier.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.catalog import standards
from datacompact.catalog.schemas import StandardCreate
from datacompact.errors import DuplicateRegistration, Forbidden, InvalidInput, NotFound
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, CatalogResource, Principal, authorize
from datacompact.store.models import DataStandard


def _standard(
    code: str, title_zh: str, title_en: str, elements: list[dict[str, Any]]
) -> standards.Standard:
    return standards.Standard(
        id=code,
        title_zh=title_zh,
        title_en=title_en,
        elements=tuple(
            standards.DataElement(
                id=e["id"],
                name_zh=e["name_zh"],
                name_en=e.get("name_en", ""),
                type=standards.ElementType(e["type"]),
                format=e.get("format"),
                codes=tuple(
                    standards.Code(
                        code=c["code"],
                        label_zh=c["label_zh"],
                        label_en=c.get("label_en", ""),
                        aliases=tuple(c.get("aliases", ())),
                    )
                    for c in e.get("codes", ())
                ),
                personal=bool(e.get("personal", False)),
            )
            for e in elements
        ),
    )


def register_standard(
    *, session: Session, actor: Principal, data: StandardCreate
) -> Recorded[dict[str, Any]]:
    """Validate and store a standard; its identifier must be new, built-ins included."""
    authorize(
        actor=actor,
        action=Actions.STANDARD_REGISTER,
        resource=CatalogResource(participant_id=actor.participant_id),
    )
    taken = {s.id for s in standards.builtin_standards()}
    if data.id in taken or session.scalar(
        select(DataStandard.id).where(DataStandard.code == data.id)
    ):
        raise DuplicateRegistration(
            "数据标准标识已存在 / a standard with this identifier exists", details={"field": "id"}
        )
    elements = [e.model_dump(mode="json") for e in data.elements]
    # Built as the library builds its own: malformed code lists are refused here,
    # including one spelling that would name two codes.
    built = _standard(data.id, data.title_zh, data.title_en, elements)
    if len({e.id for e in built.elements}) != len(built.elements):
        raise InvalidInput("数据元标识重复 / expected distinct element ids, got a repeat")
    for element in built.elements:
        element.aliases()
    if actor.participant_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    row = DataStandard(
        code=data.id,
        title_zh=data.title_zh,
        title_en=data.title_en,
        owner_id=actor.participant_id,
        elements=elements,
    )
    session.add(row)
    session.flush()
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.STANDARD_REGISTERED,
                "standard",
                row.id,
                {"id": data.id, "elements": [e["id"] for e in elements]},
            )
        ],
    )
    return Recorded(
        _describe(_standard(row.code, row.title_zh, row.title_en, row.elements), False), event.seq
    )


def registered(session: Session) -> dict[str, standards.Standard]:
    """Every registered standard by identifier, for conformance and derivation."""
    return {
        row.code: _standard(row.code, row.title_zh, row.title_en, row.elements)
        for row in session.scalars(select(DataStandard).order_by(DataStandard.id))
    }


def _describe(standard: standards.Standard, builtin: bool) -> dict[str, Any]:
    return {
        "id": standard.id,
        "title_zh": standard.title_zh,
        "title_en": standard.title_en,
        "builtin": builtin,
        "elements": [
            {"id": e.id, "name_zh": e.name_zh, "type": e.type.value, "codes": len(e.codes)}
            for e in standard.elements
        ],
    }


def list_standards(*, session: Session, actor: Principal) -> list[dict[str, Any]]:
    authorize(actor=actor, action=Actions.RESOURCE_READ, resource=CatalogResource())
    return [_describe(s, True) for s in standards.builtin_standards()] + [
        _describe(s, False) for s in registered(session).values()
    ]


def get_registered(session: Session, code: str) -> standards.Standard:
    found = registered(session).get(code)
    if found is None:
        raise NotFound("数据标准不存在 / unknown data standard", details={"standard": code})
    return found

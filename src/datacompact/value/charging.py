"""Which uses are free: purpose classes, the reviewers' decisions, and findings of misuse.

Products and services for public governance and public-interest purposes are
free whoever applies; those for industry and sector development may be
charged. Each purpose of the vocabulary has its class
(``PurposeInfo.public_interest``). A reviewer (a regulator's admin, reviewer
or auditor) decides the class of one grant with :func:`assign_purpose_class`,
logged with the reason: the meter follows the latest decision.

A reviewer may class a commercial purpose public-interest (a start-up's
product for the city's elderly, say), but never the reverse: a
public-interest purpose is free by rule, so charging it is refused.

Misuse, a commercial use under a public-interest grant, is an auditable
finding (:func:`findings`):

* ``misuse_reported``: a regulator or auditor reported it (:func:`report_misuse`);
* ``resold_public_interest``: the grantee sells, at a price above zero, a
  derived dataset or an API on the very resource it has free;
* ``unclassed_commercial``: a grant whose stated purpose is commercial was
  classed public-interest by a reviewer, so its uses go unbilled: listed so
  that an auditor sees every such decision.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.errors import NotFound, PolicyViolation
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import Actions, PartyResource, Principal, authorize
from datacompact.registry.participants import approved_of_kind
from datacompact.store.models import Application, Event, Grant
from datacompact.value.metering import Replay, public_interest
from datacompact.value.schemas import ChargingPublic, Finding, MisuseIn, PurposeClassIn

__all__ = ["assign_purpose_class", "charging_of", "findings", "report_misuse"]

#: Who classes purposes and reports misuse.
REVIEWERS = ("regulator", "auditor")


def _grant(session: Session, grant_id: int) -> tuple[Grant, Application]:
    grant = session.get(Grant, grant_id)
    application = None if grant is None else session.get(Application, grant.application_id)
    if grant is None or application is None:
        raise NotFound(
            f"授权不存在 / no grant {grant_id}", details={"kind": "grant", "id": grant_id}
        )
    return grant, application


def _reviewed(session: Session, actor: Principal, grant: Grant) -> None:
    authorize(
        actor=actor,
        action=Actions.BILLING_CLASSIFY,
        resource=PartyResource(
            participant_id=grant.grantee_id,
            parties=frozenset({grant.holder_id}),
            reviewers=frozenset(approved_of_kind(session, REVIEWERS)),
        ),
    )


def charging_of(session: Session, grant_id: int) -> ChargingPublic:
    """The class the meter applies to a grant's uses, from the latest logged decision."""
    grant, application = _grant(session, grant_id)
    assigned = session.scalar(
        select(Event.payload)
        .where(
            Event.type == EventType.PURPOSE_CLASS_ASSIGNED.value,
            Event.object_type == "grant",
            Event.object_id == str(grant.id),
        )
        .order_by(Event.seq.desc())
        .limit(1)
    )
    if assigned is not None:
        return ChargingPublic(
            grant_id=grant.id,
            purpose=application.purpose,
            purpose_class=assigned["purpose_class"],
            assigned=True,
        )
    free = public_interest(application.purpose)
    return ChargingPublic(
        grant_id=grant.id,
        purpose=application.purpose,
        purpose_class="public_interest" if free else "commercial",
        assigned=False,
    )


def assign_purpose_class(
    *, session: Session, actor: Principal, grant_id: int, data: PurposeClassIn
) -> Recorded[ChargingPublic]:
    """A reviewer's decision on whether a grant's uses are free; a free purpose stays free."""
    grant, application = _grant(session, grant_id)
    _reviewed(session, actor, grant)
    if data.purpose_class == "commercial" and public_interest(application.purpose):
        raise PolicyViolation(
            "公益用途不得收费 / a public-interest purpose is free whoever applies: it cannot "
            "be classed commercial",
            details={"rule": "charging.free_purpose", "grant_id": grant.id},
        )
    event = record_event(
        session,
        actor=actor,
        type=EventType.PURPOSE_CLASS_ASSIGNED,
        object_type="grant",
        object_id=grant.id,
        payload={
            "grant_id": grant.id,
            "purpose": application.purpose,
            "purpose_class": data.purpose_class,
            "reason": data.reason,
        },
    )
    return Recorded(
        ChargingPublic(
            grant_id=grant.id,
            purpose=application.purpose,
            purpose_class=data.purpose_class,
            assigned=True,
        ),
        event.seq,
    )


def report_misuse(
    *, session: Session, actor: Principal, grant_id: int, data: MisuseIn
) -> Recorded[Finding]:
    """Record a commercial use under a public-interest grant as an audit finding."""
    grant, _ = _grant(session, grant_id)
    _reviewed(session, actor, grant)
    charging = charging_of(session, grant.id)
    if charging.purpose_class != "public_interest":
        raise PolicyViolation(
            "该授权按经营用途收费，不构成公益授权下的经营使用 / the grant is charged as "
            "commercial: there is no public-interest grant to misuse",
            details={"rule": "charging.not_free", "grant_id": grant.id},
        )
    event = record_event(
        session,
        actor=actor,
        type=EventType.MISUSE_REPORTED,
        object_type="grant",
        object_id=grant.id,
        payload={"grant_id": grant.id, "reason": data.reason},
    )
    return Recorded(
        Finding(
            kind="misuse_reported", grant_id=grant.id, message=data.reason, log_index=event.seq
        ),
        event.seq,
    )


def findings(replay: Replay, *, operator_id: int | None = None) -> list[Finding]:
    """The findings of misuse the log shows at the replay's point, by grant."""
    found: list[Finding] = []
    paid_on = {
        (item.operator_id, item.resource_id)
        for item in replay.items.values()
        if item.kind in ("derived_dataset", "api") and item.price > 0
    }
    for grant_id, grant in sorted(replay.grants.items()):
        if operator_id is not None and not any(
            i.operator_id == operator_id and i.resource_id == grant.resource_id
            for i in replay.items.values()
        ):
            continue
        if grant_id in replay.misuse:
            reason, seq = replay.misuse[grant_id]
            found.append(
                Finding(kind="misuse_reported", grant_id=grant_id, message=reason, log_index=seq)
            )
        if grant.public_interest and (grant.user_id, grant.resource_id) in paid_on:
            found.append(
                Finding(
                    kind="resold_public_interest",
                    grant_id=grant_id,
                    message="免费取得的数据被有偿转售 / the grantee sells a product on the "
                    "resource it has free under a public-interest grant",
                )
            )
        if grant.assigned == "public_interest" and not public_interest(grant.purpose):
            found.append(
                Finding(
                    kind="unclassed_commercial",
                    grant_id=grant_id,
                    message="经营用途被认定为公益，不收费 / a commercial purpose classed "
                    "public-interest by a reviewer: its uses are free",
                )
            )
    return found

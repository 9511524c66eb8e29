"""Open data, used under an automatic grant: no application, no reviewer, the same receipts.

A resource opened to society (open type ``open``) under an open licence
needs nobody's approval to be queried. Any member with the ``admin`` or
``analyst`` role takes its automatic grant with :func:`open_data_grant`: a
grant issued by rule, at once, for the purpose ``open_data_use``, on every
column of the latest version, with the ``records`` output the open licence
allows. Queries then run under it as under any grant (``POST /api/v1/queries``)
and get the same receipt. A token is still needed: each query is attributable
to a member and counts against the rate limits and the grant's quota.

Only harmless data qualifies, checked here in this order, each refusal a
``403 policy_violation`` naming its rule:

* ``open_data.not_open``: the open type is not ``open`` (conditionally open
  data is granted on application only);
* ``open_data.grade_unconfirmed``: no data steward has confirmed the grade;
* ``open_data.grade``: graded above general-2 (GB/T 43697-2024: general-3 and
  up, important, core);
* ``open_data.personal``: the resource or a column of its latest version holds
  personal information.

Taking the grant again while an earlier one is active, unexpired and has
queries left returns that one (``issued: false``) and writes nothing. A new
grant is logged as ``application.submitted`` and ``grant.issued``, both with
``"automatic": true`` and ``"rule": "open_data"``, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.catalog.resources import catalog_ref, latest_version, readable
from datacompact.clock import utcnow
from datacompact.errors import Forbidden, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, Principal, authorize
from datacompact.policy import grants
from datacompact.policy._issuance import counts_as_open_data, grant_events, issue_grants
from datacompact.policy.purposes import Purpose
from datacompact.policy.schemas import GrantPublic
from datacompact.store.models import Application, Event, Grant, Resource, ResourceVersion

__all__ = ["OPEN_DATA_DAYS", "OPEN_DATA_QUERIES", "OpenGrant", "eligibility", "open_data_grant"]

#: How long an automatic grant lasts; taking it again afterwards issues a new one.
OPEN_DATA_DAYS = 90
#: How many queries an automatic grant allows.
OPEN_DATA_QUERIES = 1000
#: The grades that count as public enough (GB/T 43697-2024 general data, levels 1 and 2).
OPEN_GRADES = ("general-1", "general-2")
RULE = "open_data"


@dataclass(frozen=True)
class OpenGrant:
    """The grant, and whether this call issued it (False: an active one was returned)."""

    grant: GrantPublic
    issued: bool


def _personal_columns(version: ResourceVersion | None) -> list[str]:
    if version is None:
        return []
    return [
        c["name"]
        for c in version.columns
        if c.get("personal") not in (None, "none")
        or any(f.get("personal") for f in c.get("pii") or [])
    ]


def eligibility(resource: Resource, version: ResourceVersion | None) -> ResourceVersion:
    """The version to grant; :class:`PolicyViolation` unless ``resource`` qualifies."""
    code = resource.code
    if resource.open_type != "open":
        raise PolicyViolation(
            f"资源 {code} 不是开放数据，须提交使用申请 / resource {code} is not open data "
            f"(open type {resource.open_type}): apply for it instead",
            details={"rule": "open_data.not_open", "resource_id": resource.id},
        )
    if resource.grade is None or resource.grade_status == "proposed":
        raise PolicyViolation(
            f"资源 {code} 的分级尚未经数据专员确认 / the grade of resource {code} is not "
            "confirmed by a data steward yet",
            details={"rule": "open_data.grade_unconfirmed", "resource_id": resource.id},
        )
    if resource.grade not in OPEN_GRADES:
        raise PolicyViolation(
            f"资源 {code} 分级为 {resource.grade}，高于开放数据允许的一般数据2级 / resource "
            f"{code} is graded {resource.grade}, above the general-2 open data allows: "
            "apply for it instead",
            details={"rule": "open_data.grade", "resource_id": resource.id},
        )
    personal = _personal_columns(version)
    if resource.personal or personal:
        raise PolicyViolation(
            f"资源 {code} 含个人信息，不能自动授权 / resource {code} holds personal "
            "information: apply for it instead",
            details={"rule": "open_data.personal", "resource_id": resource.id, "columns": personal},
        )
    if version is None:
        raise PolicyViolation(
            f"资源 {code} 尚无数据版本 / resource {code} has no version to query yet",
            details={"rule": "open_data.no_version", "resource_id": resource.id},
        )
    # The platform's own rule for loosening output agrees (policy.modes).
    if not counts_as_open_data(resource):
        raise PolicyViolation(
            f"资源 {code} 不符合开放数据规则 / resource {code} does not qualify as open data",
            details={"rule": "open_data.not_open", "resource_id": resource.id},
        )
    return version


def _active(session: Session, resource: Resource, grantee: int) -> Grant | None:
    """An automatic grant of ``grantee`` on ``resource`` that can still be queried."""
    now = utcnow()
    rows = session.scalars(
        select(Grant)
        .join(Application, Application.id == Grant.application_id)
        .where(
            Grant.resource_id == resource.id,
            Grant.grantee_id == grantee,
            Grant.status == "active",
            Application.purpose == Purpose.OPEN_DATA_USE.value,
        )
        .order_by(Grant.id.desc())
    )
    return next((g for g in rows if g.expires_at > now and g.queries_used < g.max_queries), None)


def _issued_at(session: Session, grant: Grant) -> int:
    """The log index of the first event of ``grant``'s issuance (its automatic application)."""
    seq = session.scalar(
        select(Event.seq).where(
            Event.type == EventType.APPLICATION_SUBMITTED.value,
            Event.object_type == "application",
            Event.object_id == str(grant.application_id),
        )
    )
    if seq is None:
        raise RuntimeError(f"the application of grant {grant.id} has no event")
    return seq


def open_data_grant(*, session: Session, actor: Principal, resource_id: int) -> Recorded[OpenGrant]:
    """The actor's automatic grant on an open resource: an active one, or a new one issued by rule."""
    resource = readable(session, actor, resource_id)
    authorize(actor=actor, action=Actions.OPEN_DATA_USE, resource=catalog_ref(resource))
    if actor.participant_id is None or actor.member_id is None:
        raise Forbidden(
            "须以参与方成员身份操作 / expected an actor acting for a participant, got one without"
        )
    # Lock the resource: two concurrent calls issue one grant, not two.
    session.refresh(resource, with_for_update=True)
    version = eligibility(resource, latest_version(session, resource.id))
    found = _active(session, resource, actor.participant_id)
    if found is not None:
        return Recorded(OpenGrant(grants.view(found), issued=False), _issued_at(session, found))
    columns = [c["name"] for c in version.columns]
    application = Application(
        applicant_id=actor.participant_id,
        member_id=actor.member_id,
        scenario="开放数据利用（按规则自动授权）/ open data use, granted automatically by rule",
        purpose=Purpose.OPEN_DATA_USE.value,
        purpose_text="",
        requests=[{"resource_id": resource.id, "columns": columns}],
        output={"mode": "records", "min_group_size": None, "k": None},
        duration_days=OPEN_DATA_DAYS,
        expected_queries=OPEN_DATA_QUERIES,
        epsilon=None,
        reviewers=[],
        status="approved",
    )
    session.add(application)
    session.flush()
    issued = issue_grants(session, application)
    automatic = {"automatic": True, "rule": RULE}
    submitted = NewEvent(
        EventType.APPLICATION_SUBMITTED,
        "application",
        application.id,
        {
            "purpose": application.purpose,
            "resources": [resource.id],
            "mode": "records",
            "duration_days": OPEN_DATA_DAYS,
            "expected_queries": OPEN_DATA_QUERIES,
            **automatic,
        },
    )
    granted = [
        NewEvent(e.type, e.object_type, e.object_id, {**e.payload, **automatic})
        for e in grant_events(application, issued)
    ]
    recorded = record_events(session, actor=actor, events=[submitted, *granted])
    # The receipt is the first event of the call, as for every other write.
    return Recorded(OpenGrant(grants.view(issued[0]), issued=True), recorded[0].seq)

"""Permission-matrix rows of the cooperation-project routes.

``PROJECT_ENDPOINTS`` has the shape of ``_endpoints.ENDPOINTS`` and
``PROJECT_EXPECTED`` the shape of ``test_permission_matrix.BY_ACTOR``. The
objects a call needs are built through the services and cached in
``world.ids``. Every project is owned by the department (only a government
department owns one), so neither matrix actor manages projects: the regulator
decides modes and exceptions and scores as a committee member, an enterprise
bids and scores as a committee member, but never its own bid.

``PROJECT_RECEIPT_CALLS`` names an (actor, target) for which each mutating
call succeeds, for the receipt test: owner-only calls need the department.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from datacompact.clock import utcnow
from datacompact.events import EventType
from datacompact.procurement import lots, projects, tenders
from datacompact.procurement.schemas import LotCreate, ProjectCreate, TenderCreate

from ..conftest import World
from ._endpoint_base import Call, Endpoint, _resource_of

EVERYONE = frozenset({"admin", "data_steward", "analyst", "reviewer", "auditor"})
ADMIN = frozenset({"admin"})
REVIEWERS = frozenset({"admin", "reviewer"})
NOBODY: frozenset[str] = frozenset()
SUPPLIERS = ("enterprise", "enterprise2")
V = "/api/v1"
HOUR_S = 3600


def _supplier(target: str) -> str:
    return target if target in SUPPLIERS else "enterprise"


def _project(world: World, *, approved: bool = False) -> int:
    key = "project.approved" if approved else "project"
    if key not in world.ids:
        body = {
            "name": "城市大脑一期",
            "domain": "city",
            "sponsor_id": world.ids["department"],
            "technical_id": world.ids["regulator"],
            "budget": "9000000.00",
            "mode": "government_purchase",
        }
        with world.platform.db.write() as session:
            world.ids[key] = projects.create_project(
                session=session,
                actor=world.principal("department.admin"),
                data=ProjectCreate.model_validate(body),
            ).value.id
        if approved:
            with world.platform.db.write() as session:
                projects.decide_mode(
                    session=session,
                    actor=world.principal("regulator.reviewer"),
                    project_id=world.ids[key],
                    decision="approve",
                    reason="符合规则",
                )
    return world.ids[key]


LOT = {
    "title": "政务云运维",
    "description": "7×24 监控与故障处置",
    "category": "operations",
    "system": "政务云",
    "budget": "500000.00",
    "open_source": False,
    "code_escrow": True,
}


def _lot(world: World, key: str = "lot") -> int:
    if key not in world.ids:
        with world.platform.db.write() as session:
            world.ids[key] = lots.create_lot(
                session=session,
                actor=world.principal("department.admin"),
                project_id=_project(world, approved=True),
                data=LotCreate.model_validate(LOT),
            ).value.id
    return world.ids[key]


def _tender_body(committee: list[int], *, closed: bool, method: str) -> dict[str, Any]:
    now = utcnow().timestamp()
    opens, deadline = (now - 3 * HOUR_S, now - HOUR_S) if closed else (now - HOUR_S, now + 86400)
    return {
        "method": method,
        "weights": {"price": 40, "technical": 60} if method == "comprehensive" else None,
        "opens_at": datetime.fromtimestamp(opens, UTC).isoformat(),
        "deadline": datetime.fromtimestamp(deadline, UTC).isoformat(),
        "committee": committee,
    }


def _tender(
    world: World,
    key: str,
    *,
    closed: bool,
    committee: list[int] | None = None,
    bidder: str | None = None,
    method: str = "lowest_price",
    opened: bool = False,
) -> int:
    """A tender (open now, or closed with ``bidder``'s bid in it, opened if asked)."""
    if key in world.ids:
        return world.ids[key]
    start = utcnow() - timedelta(hours=4) if closed else utcnow()
    members = committee or [world.members["regulator.reviewer"]]
    with world.platform.db.write() as session:
        tender_id = tenders.publish_tender(
            session=session,
            actor=world.principal("department.admin"),
            lot_id=_lot(world, f"{key}.lot"),
            data=TenderCreate.model_validate(_tender_body(members, closed=closed, method=method)),
            now=start,
        ).value.id
    if bidder is not None:
        with world.platform.db.write() as session:
            world.ids[f"{key}.bid"] = tenders.submit_bid(
                session=session,
                actor=world.principal(f"{bidder}.admin"),
                secret=world.platform.secret,
                tender_id=tender_id,
                price="400000",
                document=b"bid document",
                now=utcnow() - timedelta(hours=2),
            ).value.id
    if opened:
        with world.platform.db.write() as session:
            tenders.open_bids(
                session=session,
                actor=world.principal("department.admin"),
                secret=world.platform.secret,
                tender_id=tender_id,
            )
    world.ids[key] = tender_id
    return tender_id


def _scored_bid(world: World, actor: str, role: str, target: str) -> int:
    """A bid of ``target`` (an enterprise) in an opened tender whose committee has the actor."""
    acting = f"{actor}.{role}"
    member = acting if role in REVIEWERS else f"{actor}.reviewer"
    key = f"score.{member}.{_supplier(target)}"
    _tender(
        world,
        key,
        closed=True,
        committee=[world.members[member]],
        bidder=_supplier(target),
        method="comprehensive",
        opened=True,
    )
    return world.ids[f"{key}.bid"]


MEETING = {
    "held_on": "2026-01-05",
    "attendees": [],
    "decisions": ["同意分为开发与运维两个标段"],
}


def _meeting(world: World) -> dict[str, Any]:
    return {**MEETING, "attendees": [world.ids["department"], world.ids["regulator"]]}


PROJECT_ENDPOINTS: dict[str, Endpoint] = {
    "projects.create": Endpoint(
        "POST",
        f"{V}/projects",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/projects",
            {
                "name": "一网通办二期",
                "domain": "services",
                "owner_id": w.ids[t],
                "sponsor_id": w.ids["department"],
                "technical_id": w.ids["regulator"],
                "budget": "1000000",
                "mode": "government_purchase",
            },
        ),
        EventType.PROJECT_CREATED,
    ),
    "projects.list": Endpoint(
        "GET", f"{V}/projects", lambda w, a, r, t: Call("GET", f"{V}/projects")
    ),
    "projects.show": Endpoint(
        "GET",
        f"{V}/projects/{{project_id}}",
        lambda w, a, r, t: Call("GET", f"{V}/projects/{_project(w)}"),
    ),
    "projects.link": Endpoint(
        "POST",
        f"{V}/projects/{{project_id}}/resources",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/projects/{_project(w)}/resources",
            {"resource_ids": [_resource_of(w, "department")]},
        ),
        EventType.PROJECT_RESOURCES_LINKED,
    ),
    "projects.propose_mode": Endpoint(
        "POST",
        f"{V}/projects/{{project_id}}/mode",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/projects/{_project(w)}/mode",
            {"mode": "jv_platform", "reason": "改由合资平台公司承担"},
        ),
        EventType.PROJECT_MODE_DECIDED,
    ),
    "projects.decide_mode": Endpoint(
        "POST",
        f"{V}/projects/{{project_id}}/mode-decisions",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/projects/{_project(w)}/mode-decisions",
            {"decision": "approve", "reason": "符合规则"},
        ),
        EventType.PROJECT_MODE_DECIDED,
    ),
    "projects.meeting": Endpoint(
        "POST",
        f"{V}/projects/{{project_id}}/meetings",
        lambda w, a, r, t: Call("POST", f"{V}/projects/{_project(w)}/meetings", _meeting(w)),
        EventType.MEETING_RECORDED,
    ),
    "lots.create": Endpoint(
        "POST",
        f"{V}/projects/{{project_id}}/lots",
        lambda w, a, r, t: Call("POST", f"{V}/projects/{_project(w)}/lots", LOT),
        EventType.LOT_CREATED,
    ),
    "lots.cancel": Endpoint(
        "POST",
        f"{V}/lots/{{lot_id}}/cancellation",
        lambda w, a, r, t: Call(
            "POST", f"{V}/lots/{_lot(w)}/cancellation", {"reason": "需求调整 / scope changed"}
        ),
        EventType.LOT_CANCELLED,
    ),
    "lots.show": Endpoint(
        "GET", f"{V}/lots/{{lot_id}}", lambda w, a, r, t: Call("GET", f"{V}/lots/{_lot(w)}")
    ),
    "lots.matches": Endpoint(
        "GET",
        f"{V}/lots/{{lot_id}}/matches",
        lambda w, a, r, t: Call("GET", f"{V}/lots/{_lot(w)}/matches"),
    ),
    "lots.exception": Endpoint(
        "POST",
        f"{V}/lots/{{lot_id}}/exceptions",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/lots/{_lot(w)}/exceptions",
            {
                "supplier_id": w.ids[_supplier(t)],
                "rule": "separation.dev_ops",
                "reason": "系统专有技术，唯一可维护方",
            },
        ),
        EventType.RULE_EXCEPTION_GRANTED,
    ),
    "tenders.publish": Endpoint(
        "POST",
        f"{V}/lots/{{lot_id}}/tender",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/lots/{_lot(w)}/tender",
            _tender_body([w.members["regulator.reviewer"]], closed=False, method="comprehensive"),
        ),
        EventType.TENDER_PUBLISHED,
    ),
    "tenders.show": Endpoint(
        "GET",
        f"{V}/tenders/{{tender_id}}",
        lambda w, a, r, t: Call("GET", f"{V}/tenders/{_tender(w, 'tender.open', closed=False)}"),
    ),
    "bids.submit": Endpoint(
        "POST",
        f"{V}/tenders/{{tender_id}}/bids",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/tenders/{_tender(w, 'tender.open', closed=False)}/bids",
            {
                "price": "420000.00",
                "document": base64.b64encode(b"%PDF sealed bid").decode(),
                "bidder_id": w.ids[t],
            },
        ),
        EventType.BID_SUBMITTED,
    ),
    "tenders.open": Endpoint(
        "POST",
        f"{V}/tenders/{{tender_id}}/opening",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/tenders/{_tender(w, 'tender.closed', closed=True, bidder='enterprise')}/opening",
        ),
        EventType.BIDS_OPENED,
    ),
    "bids.score": Endpoint(
        "POST",
        f"{V}/bids/{{bid_id}}/scores",
        lambda w, a, r, t: Call(
            "POST", f"{V}/bids/{_scored_bid(w, a, r, t)}/scores", {"technical": "88.5"}
        ),
        EventType.BID_SCORED,
    ),
    "tenders.award": Endpoint(
        "POST",
        f"{V}/tenders/{{tender_id}}/award",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/tenders/"
            f"{_tender(w, 'tender.opened', closed=True, bidder='enterprise', opened=True)}/award",
            {},
        ),
        EventType.LOT_AWARDED,
    ),
}

_READ = {"regulator": {"own": EVERYONE, "other": EVERYONE}}
_READ["enterprise"] = _READ["regulator"]
# Owner-only calls: the department owns every project, so neither actor may.
_OWNER_ONLY = {
    "regulator": {"own": NOBODY, "other": NOBODY},
    "enterprise": {"own": NOBODY, "other": NOBODY},
}
# The regulator decides on other participants' projects; enterprises never do.
_REGULATOR_DECIDES = {
    "regulator": {"own": REVIEWERS, "other": REVIEWERS},
    "enterprise": {"own": NOBODY, "other": NOBODY},
}

PROJECT_EXPECTED: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    # Only a government department owns a project: not the regulator, not an enterprise.
    "projects.create": _OWNER_ONLY,
    "projects.list": _READ,
    "projects.show": _READ,
    "projects.link": _OWNER_ONLY,
    "projects.propose_mode": _OWNER_ONLY,
    "projects.decide_mode": _REGULATOR_DECIDES,
    "projects.meeting": _OWNER_ONLY,
    "lots.create": _OWNER_ONLY,
    "lots.cancel": _OWNER_ONLY,
    "lots.show": _READ,
    "lots.matches": _READ,
    "lots.exception": _REGULATOR_DECIDES,
    "tenders.publish": _OWNER_ONLY,
    "tenders.show": _READ,
    # An enterprise's admin bids for itself only; the regulator never bids.
    "bids.submit": {
        "regulator": {"own": NOBODY, "other": NOBODY},
        "enterprise": {"own": ADMIN, "other": NOBODY},
    },
    "tenders.open": _OWNER_ONLY,
    # Committee members (admins or reviewers) score; nobody scores their own bid.
    "bids.score": {
        "regulator": {"own": REVIEWERS, "other": REVIEWERS},
        "enterprise": {"own": NOBODY, "other": REVIEWERS},
    },
    "tenders.award": _OWNER_ONLY,
}

#: (actor, target) for which each mutating call succeeds with the actor's admin.
PROJECT_RECEIPT_CALLS: dict[str, tuple[str, str]] = dict.fromkeys(
    (
        "projects.create",
        "projects.link",
        "projects.propose_mode",
        "projects.meeting",
        "lots.create",
        "lots.cancel",
        "tenders.publish",
        "tenders.open",
        "tenders.award",
    ),
    ("department", "department"),
) | {
    "projects.decide_mode": ("regulator", "enterprise"),
    "lots.exception": ("regulator", "enterprise"),
    "bids.submit": ("enterprise", "enterprise"),
    "bids.score": ("regulator", "enterprise"),
}

"""Permission-matrix rows of the delivery and transparency endpoints.

Merged into ``ENDPOINTS``, ``BY_ACTOR`` and ``PUBLIC`` of the permission
matrix. A builder takes ``(world, actor, role, target participant)``; the
objects it needs are written once per world and cached in ``world.ids``:

* a contract *owned* by the target: the target's project, awarded to the
  department (the supplier), signed by the target's admin;
* a contract *supplied* by the target: the department's project, awarded to
  the target;
* deliverables of a contract owned by the target, deposited by the department:
  key code in escrow (the contract ends within 30 days, with no successor, so
  that the owner may release it) and an open-source file.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

from datacompact.clock import today_cst
from datacompact.delivery import contracts, deliverables
from datacompact.events import EventType

from ..conftest import World
from ..delivery._delivery import MET, award_for, contract_body, report, sign
from ._endpoint_base import Call, Endpoint

ROLES = ("admin", "data_steward", "analyst", "reviewer", "auditor")
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

C = "/api/v1/contracts"
SUPPLIER = "department"


def _cached(world: World, key: str, make: Any) -> int:
    if key not in world.ids:
        world.ids[key] = make()
    return world.ids[key]


def unsigned_award_of(world: World, owner: str) -> int:
    """An award of ``owner``'s project without a contract yet."""
    return _cached(world, f"{owner}.award", lambda: award_for(world, owner, SUPPLIER))


def contract_owned_by(world: World, owner: str, *, met: bool = False) -> int:
    """A contract of ``owner``'s project; with ``met``, no milestones and every KPI reported met."""

    def make() -> int:
        award = award_for(world, owner, SUPPLIER)
        if not met:
            return sign(world, owner, award)
        contract_id = sign(world, owner, award, milestones=[])
        report(world, SUPPLIER, contract_id, "2025-04", MET)
        return contract_id

    return _cached(world, f"{owner}.contract{'.met' if met else ''}", make)


def milestone_ready(world: World, owner: str) -> tuple[int, int]:
    """A contract of ``owner`` whose first milestone's KPIs are met, and that milestone."""
    contract_id = _cached(
        world,
        f"{owner}.contract.milestone",
        lambda: sign(world, owner, award_for(world, owner, SUPPLIER)),
    )
    if f"{owner}.milestone" not in world.ids:
        report(world, SUPPLIER, contract_id, "2025-04", MET)
        with world.platform.db.read() as session:
            view = contracts.get_contract(
                session=session, actor=world.principal(f"{owner}.admin"), contract_id=contract_id
            )
        world.ids[f"{owner}.milestone"] = view.milestones[0].id
    return contract_id, world.ids[f"{owner}.milestone"]


def contract_supplied_by(world: World, supplier: str) -> int:
    """A contract of the department's project, awarded to ``supplier``."""
    return _cached(
        world,
        f"{supplier}.supplied",
        lambda: sign(world, "department", award_for(world, "department", supplier)),
    )


KEY_CODE = b"int verify_signature(const char *cert);\n"
OPEN_SOURCE = b"# MIT License\n"


def _deposit_as_supplier(world: World, contract_id: int, kind: str, content: bytes) -> int:
    with world.platform.db.write() as session:
        return deliverables.deposit(
            session=session,
            actor=world.principal(f"{SUPPLIER}.admin"),
            home=world.platform.settings.home,
            secret=world.platform.secret,
            contract_id=contract_id,
            kind=kind,
            name="verify.c" if kind == "key_code" else "LICENSE",
            content=content,
        ).value.id


def escrowed(world: World, owner: str) -> tuple[int, str]:
    """A contract of ``owner`` ending in 30 days with no successor, and its key code in escrow."""

    def make() -> int:
        today = today_cst()
        award = award_for(world, owner, SUPPLIER, code_escrow=True)
        term = {
            "starts_on": (today - timedelta(days=300)).isoformat(),
            "ends_on": (today + timedelta(days=30)).isoformat(),
        }
        contract_id = sign(world, owner, award, milestones=[], **term)
        _deposit_as_supplier(world, contract_id, "key_code", KEY_CODE)
        return contract_id

    return _cached(world, f"{owner}.escrowed", make), hashlib.sha256(KEY_CODE).hexdigest()


def open_deliverable(world: World, owner: str) -> tuple[int, str]:
    """A contract of ``owner`` with an open-source file deposited."""
    contract_id = contract_owned_by(world, owner)
    _cached(
        world,
        f"{owner}.open_deliverable",
        lambda: _deposit_as_supplier(world, contract_id, "open_source", OPEN_SOURCE),
    )
    return contract_id, hashlib.sha256(OPEN_SOURCE).hexdigest()


def _deposit(world: World, actor: str, role: str, target: str) -> Call:
    content = base64.b64encode(f"open data deposited by {actor}.{role}\n".encode()).decode()
    body = {"kind": "open_data", "name": "cases.csv", "content": content}
    return Call("POST", f"{C}/{contract_supplied_by(world, target)}/deliverables", body)


def _release(world: World, actor: str, role: str, target: str) -> Call:
    contract_id, sha256 = escrowed(world, target)
    body = {"reason": "运维接续风险 / continuity at risk"}
    return Call("POST", f"{C}/{contract_id}/deliverables/{sha256}/release", body)


def _public_deliverable(world: World, actor: str, role: str, target: str) -> Call:
    contract_id, sha256 = open_deliverable(world, target)
    return Call("GET", f"/public/deliverables/{contract_id}/{sha256}")


def _accept_milestone(world: World, actor: str, role: str, target: str) -> Call:
    contract_id, milestone_id = milestone_ready(world, target)
    return Call("POST", f"{C}/{contract_id}/milestones/{milestone_id}/acceptance")


def _public_ocds(world: World, actor: str, role: str, target: str) -> Call:
    contract_owned_by(world, target)
    return Call("GET", "/public/ocds/release-package.json")


SLA_BODY = {"period": "2025-04", "values": MET}

DELIVERY_ENDPOINTS: dict[str, Endpoint] = {
    "contracts.sign": Endpoint(
        "POST",
        C,
        lambda w, a, r, t: Call("POST", C, contract_body(unsigned_award_of(w, t))),
        EventType.CONTRACT_SIGNED,
    ),
    "contracts.list": Endpoint("GET", C, lambda w, a, r, t: Call("GET", C)),
    "contracts.show": Endpoint(
        "GET",
        C + "/{contract_id}",
        lambda w, a, r, t: Call("GET", f"{C}/{contract_owned_by(w, t)}"),
    ),
    "contracts.handover": Endpoint(
        "PUT",
        C + "/{contract_id}/handover",
        lambda w, a, r, t: Call(
            "PUT",
            f"{C}/{contract_owned_by(w, t)}/handover",
            {"documentation": True, "credentials": True, "code_escrow": False},
        ),
        EventType.CONTRACT_HANDOVER_UPDATED,
    ),
    "contracts.sla": Endpoint(
        "POST",
        C + "/{contract_id}/sla-reports",
        lambda w, a, r, t: Call("POST", f"{C}/{contract_supplied_by(w, t)}/sla-reports", SLA_BODY),
        EventType.SLA_REPORTED,
    ),
    "contracts.accept_milestone": Endpoint(
        "POST",
        C + "/{contract_id}/milestones/{milestone_id}/acceptance",
        _accept_milestone,
        EventType.MILESTONE_ACCEPTED,
    ),
    "contracts.accept": Endpoint(
        "POST",
        C + "/{contract_id}/acceptance",
        lambda w, a, r, t: Call("POST", f"{C}/{contract_owned_by(w, t, met=True)}/acceptance"),
        EventType.CONTRACT_ACCEPTED,
    ),
    "deliverables.deposit": Endpoint(
        "POST", C + "/{contract_id}/deliverables", _deposit, EventType.DELIVERABLE_DEPOSITED
    ),
    "deliverables.list": Endpoint(
        "GET",
        C + "/{contract_id}/deliverables",
        lambda w, a, r, t: Call("GET", f"{C}/{contract_owned_by(w, t)}/deliverables"),
    ),
    "deliverables.release": Endpoint(
        "POST",
        C + "/{contract_id}/deliverables/{sha256}/release",
        _release,
        EventType.ESCROW_RELEASED,
    ),
    "alerts": Endpoint(
        "GET",
        "/api/v1/alerts",
        lambda w, a, r, t: Call("GET", "/api/v1/alerts", params={"max_share": "0.5"}),
    ),
    "public.projects": Endpoint(
        "GET", "/public/projects", lambda w, a, r, t: Call("GET", "/public/projects")
    ),
    "public.ocds": Endpoint("GET", "/public/ocds/release-package.json", _public_ocds),
    "public.deliverable": Endpoint(
        "GET", "/public/deliverables/{contract_id}/{sha256}", _public_deliverable
    ),
}

# Contracts are managed by the project owner's admins (never another participant's,
# not even the regulator's), and only they release key code from escrow; SLA figures
# and deliverables come from the supplier's admins; anyone on the platform reads
# contracts and deliverables; the public listing and open deliverables need
# no token at all. Alerts are for the supervising parties only (the regulator here).
_OWN_ADMIN = {"own": ADMIN, "other": NOBODY}
_ALL = {"own": EVERYONE, "other": EVERYONE}
DELIVERY_EXPECTED: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    name: {"regulator": dict(rule), "enterprise": dict(rule)}
    for name, rule in {
        "contracts.sign": _OWN_ADMIN,
        "contracts.list": _ALL,
        "contracts.show": _ALL,
        "contracts.handover": _OWN_ADMIN,
        "contracts.sla": _OWN_ADMIN,
        "contracts.accept_milestone": _OWN_ADMIN,
        "contracts.accept": _OWN_ADMIN,
        "deliverables.deposit": _OWN_ADMIN,
        "deliverables.list": _ALL,
        "deliverables.release": _OWN_ADMIN,
        "public.projects": _ALL,
        "public.ocds": _ALL,
        "public.deliverable": _ALL,
    }.items()
}

_SUPERVISING = frozenset({"admin", "reviewer", "auditor"})
DELIVERY_EXPECTED["alerts"] = {
    "regulator": {"own": _SUPERVISING, "other": _SUPERVISING},
    "enterprise": {"own": NOBODY, "other": NOBODY},
}

DELIVERY_PUBLIC: set[str] = {"public.projects", "public.ocds", "public.deliverable"}

"""Permission-matrix rows of the price list and billing endpoints.

Merged into ``ENDPOINTS``, ``BY_ACTOR``, ``PUBLIC`` and the receipt calls. A
builder takes ``(world, actor, role, target participant)``; the objects it
needs are written once per world and cached in ``world.ids``:

* a PSI item listed by the target (no resource, so anyone may list one; its
  price may be set to zero without a ceiling);
* the target's statement of January 2020 (a month long ended, with no uses);
* a grant held by the target (``_grant_of``: a public-service application,
  so a public-interest grant).
"""

from __future__ import annotations

from typing import Any

from datacompact.events import EventType
from datacompact.value import prices, statements
from datacompact.value.schemas import PriceItemCreate

from ..conftest import World
from ._endpoint_base import Call, Endpoint

ROLES = ("admin", "data_steward", "analyst", "reviewer", "auditor")
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()
REVIEWERS = frozenset({"admin", "reviewer"})
AUDITORS = frozenset({"admin", "reviewer", "auditor"})

P = "/api/v1/prices"
B = "/api/v1/billing"
PAST = "2020-01"


def _cached(world: World, key: str, make: Any) -> int:
    if key not in world.ids:
        world.ids[key] = make()
    return world.ids[key]


def item_of(world: World, operator: str) -> int:
    def make() -> int:
        with world.platform.db.write() as session:
            return prices.list_item(
                session=session,
                actor=world.principal(f"{operator}.admin"),
                data=PriceItemCreate(
                    code="psi",
                    title="隐私求交",
                    kind="psi_service",
                    form="service_count",
                    unit="service",
                ),
            ).value.id

    return _cached(world, f"{operator}.price_item", make)


def statement_of(world: World, operator: str) -> int:
    def make() -> int:
        with world.platform.db.write() as session:
            return statements.issue_statement(
                session=session, actor=world.principal(f"{operator}.admin"), period=PAST
            ).value.id

    return _cached(world, f"{operator}.statement", make)


def grant_of(world: World, grantee: str) -> int:
    from ._endpoints import _grant_of

    return _grant_of(world, grantee)


def _add(world: World, actor: str, role: str, target: str) -> Call:
    body = {
        "code": f"{actor}-{role.replace('_', '-')}",
        "title": "接口 / API",
        "kind": "api",
        "form": "call_volume",
        "unit": "thousand_calls",
    }
    return Call("POST", P, body)


def _statement(world: World, actor: str, role: str, target: str) -> Call:
    statement_of(world, target)
    return Call("GET", f"{B}/statements/{world.ids[target]}/{PAST}")


def _usage(world: World, actor: str, role: str, target: str) -> Call:
    body = {"item_id": item_of(world, target), "grant_id": grant_of(world, target), "quantity": "1"}
    return Call("POST", f"{B}/usage", body)


BILLING_ENDPOINTS: dict[str, Endpoint] = {
    "prices.public_list": Endpoint(
        "GET", "/public/prices", lambda w, a, r, t: Call("GET", "/public/prices")
    ),
    "prices.public_show": Endpoint(
        "GET",
        "/public/prices/{item_id}",
        lambda w, a, r, t: Call("GET", f"/public/prices/{item_of(w, t)}"),
    ),
    "prices.add": Endpoint("POST", P, _add, EventType.PRICE_ITEM_LISTED),
    "prices.ceiling": Endpoint(
        "POST",
        P + "/{item_id}/ceiling",
        lambda w, a, r, t: Call("POST", f"{P}/{item_of(w, t)}/ceiling", {"value": "10"}),
        EventType.PRICE_CEILING_SET,
    ),
    "prices.price": Endpoint(
        "POST",
        P + "/{item_id}/price",
        lambda w, a, r, t: Call("POST", f"{P}/{item_of(w, t)}/price", {"value": "0.00"}),
        EventType.PRICE_SET,
    ),
    "grants.purpose_class": Endpoint(
        "POST",
        "/api/v1/grants/{grant_id}/purpose-class",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/grants/{grant_of(w, t)}/purpose-class",
            {"purpose_class": "public_interest", "reason": "公共服务 / a public service"},
        ),
        EventType.PURPOSE_CLASS_ASSIGNED,
    ),
    "grants.misuse": Endpoint(
        "POST",
        "/api/v1/grants/{grant_id}/misuse",
        lambda w, a, r, t: Call(
            "POST", f"/api/v1/grants/{grant_of(w, t)}/misuse", {"reason": "转售 / resold"}
        ),
        EventType.MISUSE_REPORTED,
    ),
    "billing.usage": Endpoint("POST", f"{B}/usage", _usage, EventType.USAGE_RECORDED),
    "billing.issue": Endpoint(
        "POST",
        f"{B}/statements",
        lambda w, a, r, t: Call("POST", f"{B}/statements", {"period": PAST}),
        EventType.STATEMENT_ISSUED,
    ),
    "billing.statement": Endpoint("GET", B + "/statements/{operator_id}/{period}", _statement),
    "billing.audit": Endpoint(
        "GET", f"{B}/audit", lambda w, a, r, t: Call("GET", f"{B}/audit", params={"period": PAST})
    ),
    "billing.cap": Endpoint(
        "POST",
        B + "/caps/{operator_id}",
        lambda w, a, r, t: Call(
            "POST", f"{B}/caps/{w.ids[t]}", {"year": 2030, "maximum": "1000000.00"}
        ),
        EventType.REVENUE_CAP_SET,
    ),
    "billing.revenue": Endpoint(
        "GET",
        B + "/revenue/{operator_id}/{year}",
        lambda w, a, r, t: Call("GET", f"{B}/revenue/{w.ids[t]}/2030"),
    ),
    "billing.report": Endpoint(
        "GET",
        B + "/reports/{operator_id}/{year}",
        lambda w, a, r, t: Call("GET", f"{B}/reports/{w.ids[t]}/2030"),
    ),
    "billing.file_report": Endpoint(
        "POST",
        B + "/reports/{year}",
        lambda w, a, r, t: Call("POST", f"{B}/reports/2030"),
        EventType.ANNUAL_REPORT_FILED,
    ),
}

BILLING_PUBLIC: set[str] = {"prices.public_list", "prices.public_show"}

#: Endpoints whose outcome does not depend on the actor's kind.
BILLING_EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "prices.public_list": {"own": EVERYONE},
    "prices.public_show": {"own": EVERYONE, "other": EVERYONE},
    "prices.add": {"own": ADMIN},
    "prices.price": {"own": ADMIN, "other": NOBODY},
    "billing.usage": {"own": ADMIN, "other": NOBODY},
    "billing.issue": {"own": ADMIN},
    "billing.file_report": {"own": ADMIN},
}

# The regulator sets ceilings and caps, classes grants and audits, never on its
# own objects; it reads every operator's statements and revenue.
_REGULATOR_READS = {
    "regulator": {"own": EVERYONE, "other": EVERYONE},
    "enterprise": {"own": EVERYONE, "other": NOBODY},
}
BILLING_BY_ACTOR: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    "prices.ceiling": {
        "regulator": {"own": NOBODY, "other": REVIEWERS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "billing.cap": {
        "regulator": {"own": NOBODY, "other": REVIEWERS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "grants.purpose_class": {
        "regulator": {"own": NOBODY, "other": AUDITORS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "grants.misuse": {
        "regulator": {"own": NOBODY, "other": AUDITORS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "billing.audit": {
        "regulator": {"own": AUDITORS, "other": AUDITORS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "billing.statement": _REGULATOR_READS,
    "billing.revenue": _REGULATOR_READS,
    "billing.report": _REGULATOR_READS,
}

#: (actor, target) for which each mutating call succeeds with the actor's admin.
BILLING_RECEIPT_CALLS: dict[str, tuple[str, str]] = dict.fromkeys(
    ("prices.ceiling", "billing.cap", "grants.purpose_class", "grants.misuse"),
    ("regulator", "enterprise"),
)

"""Permission-matrix rows of the value endpoints: share rules, distributions, earnings, ratings.

Merged into ``ENDPOINTS`` and ``BY_ACTOR`` of the permission matrix. The
objects a row needs are written once per world and cached in ``world.ids``:

* a resource held by the target with an ended grant to the department, who ran
  a query and rated the data (the target is the rated party);
* a resource of the department with an ended grant to the target, used by the
  target (the target may rate it), and the target's rating of another one;
* a distribution by the regulator of revenue from the target's resource;
* a contract of the target's project with a milestone accepted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from datacompact.events import EventType
from datacompact.store.project_models import Milestone
from datacompact.value import contribution, ratings

from ..conftest import World
from ..delivery._delivery import award_for, sign
from ..value._value import executed, grant, resource
from ._endpoint_base import Call, Endpoint

ROLES = ("admin", "data_steward", "analyst", "reviewer", "auditor")
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()
REVIEWERS = frozenset({"admin", "reviewer"})
ANALYSTS = frozenset({"admin", "analyst"})
STEWARDS = frozenset({"admin", "data_steward"})

V = "/api/v1"
DATA = {"accuracy": 4, "completeness": 4, "timeliness": 5, "usefulness": 3}
WORK = {"quality": 4, "timeliness": 4, "om_response": 5}


def _cached(world: World, key: str, make: Any) -> int:
    if key not in world.ids:
        world.ids[key] = make()
    return world.ids[key]


def _used_grant(world: World, holder: str, grantee: str, tag: str) -> tuple[int, int, int]:
    """A resource of ``holder``, an ended grant of it to ``grantee``, and a query under it."""
    ids = world.ids
    with world.platform.db.write() as session:
        rid = resource(session, ids[holder], f"V-{tag}-{holder}-{grantee}")
        gid = grant(session, resource_id=rid, holder_id=ids[holder], grantee_id=ids[grantee])
        qid = executed(session, world, grant_id=gid, grantee_id=ids[grantee], rows_scanned=3)
    return rid, gid, qid


def grant_used_by(world: World, target: str) -> int:
    return _cached(
        world, f"{target}.value.grant", lambda: _used_grant(world, "department", target, "g")[1]
    )


def query_on(world: World, target: str) -> int:
    return _cached(
        world, f"{target}.value.query", lambda: _used_grant(world, target, "department", "q")[2]
    )


def _rate(world: World, rater: str, gid: int) -> int:
    with world.platform.db.write() as session:
        return ratings.rate_data(
            session=session, actor=world.principal(f"{rater}.admin"), grant_id=gid, scores=DATA
        ).value.id


def rating_of(world: World, target: str) -> int:
    """A rating of the data of ``target``'s resource, by the department."""

    def make() -> int:
        _, gid, _ = _used_grant(world, target, "department", "r")
        return _rate(world, "department", gid)

    return _cached(world, f"{target}.value.rated", make)


def rating_by(world: World, target: str) -> int:
    """A rating by ``target`` of the data of a department's resource."""

    def make() -> int:
        _, gid, _ = _used_grant(world, "department", target, "b")
        return _rate(world, target, gid)

    return _cached(world, f"{target}.value.rating", make)


def distribution_paying(world: World, target: str) -> int:
    def make() -> int:
        qid = query_on(world, target)
        with world.platform.db.write() as session:
            return contribution.distribute(
                session=session,
                actor=world.principal("regulator.admin"),
                product=f"matrix-{target}",
                period="2026-10",
                uses=[(qid, "5.00")],
            ).value.id

    return _cached(world, f"{target}.value.distribution", make)


def contract_with_milestone(world: World, target: str) -> int:
    def make() -> int:
        contract_id = sign(world, target, award_for(world, target, "department"))
        with world.platform.db.write() as session:
            first = session.scalars(
                select(Milestone).where(Milestone.contract_id == contract_id)
            ).first()
            assert first is not None
            first.status = "accepted"
        return contract_id

    return _cached(world, f"{target}.value.contract", make)


def _distribute(world: World, actor: str, role: str, target: str) -> Call:
    body = {"period": "2026-11", "uses": [{"query_id": query_on(world, target), "revenue": "1.00"}]}
    return Call("POST", f"{V}/products/matrix/distributions", body)


VALUE_ENDPOINTS: dict[str, Endpoint] = {
    "value.share_rule.set": Endpoint(
        "PUT",
        V + "/products/{product}/share-rule",
        lambda w, a, r, t: Call("PUT", f"{V}/products/matrix/share-rule", {"rule": "equal"}),
        EventType.SHARE_RULE_SET,
    ),
    "value.share_rule.get": Endpoint(
        "GET",
        V + "/products/{product}/share-rule",
        lambda w, a, r, t: Call("GET", f"{V}/products/matrix/share-rule"),
    ),
    "value.distribute": Endpoint(
        "POST",
        V + "/products/{product}/distributions",
        _distribute,
        EventType.SHARES_DISTRIBUTED,
    ),
    "value.distribution": Endpoint(
        "GET",
        V + "/distributions/{distribution_id}",
        lambda w, a, r, t: Call("GET", f"{V}/distributions/{distribution_paying(w, t)}"),
    ),
    "value.recompute": Endpoint(
        "GET",
        V + "/distributions/{distribution_id}/recompute",
        lambda w, a, r, t: Call("GET", f"{V}/distributions/{distribution_paying(w, t)}/recompute"),
    ),
    "value.earnings": Endpoint(
        "GET",
        V + "/participants/{participant_id}/earnings",
        lambda w, a, r, t: Call("GET", f"{V}/participants/{w.ids[t]}/earnings"),
    ),
    "value.rate_data": Endpoint(
        "POST",
        V + "/ratings/data",
        lambda w, a, r, t: Call(
            "POST", f"{V}/ratings/data", {"grant_id": grant_used_by(w, t), "scores": DATA}
        ),
        EventType.RATING_SUBMITTED,
    ),
    "value.rate_contractor": Endpoint(
        "POST",
        V + "/ratings/contractor",
        lambda w, a, r, t: Call(
            "POST",
            f"{V}/ratings/contractor",
            {"contract_id": contract_with_milestone(w, t), "scores": WORK},
        ),
        EventType.RATING_SUBMITTED,
    ),
    "value.ratings": Endpoint(
        "GET", V + "/ratings", lambda w, a, r, t: Call("GET", f"{V}/ratings")
    ),
    "value.rating": Endpoint(
        "GET",
        V + "/ratings/{rating_id}",
        lambda w, a, r, t: Call("GET", f"{V}/ratings/{rating_of(w, t)}"),
    ),
    "value.revise": Endpoint(
        "POST",
        V + "/ratings/{rating_id}/revisions",
        lambda w, a, r, t: Call(
            "POST", f"{V}/ratings/{rating_by(w, t)}/revisions", {"scores": DATA}
        ),
        EventType.RATING_REVISED,
    ),
    "value.answer": Endpoint(
        "POST",
        V + "/ratings/{rating_id}/replies",
        lambda w, a, r, t: Call(
            "POST", f"{V}/ratings/{rating_of(w, t)}/replies", {"text": "谢谢 / thank you"}
        ),
        EventType.RATING_ANSWERED,
    ),
    "value.resource_rating": Endpoint(
        "GET",
        V + "/resources/{resource_id}/rating",
        lambda w, a, r, t: Call("GET", f"{V}/resources/{w.ids['department']}/rating"),
    ),
    "value.participant_rating": Endpoint(
        "GET",
        V + "/participants/{participant_id}/rating",
        lambda w, a, r, t: Call("GET", f"{V}/participants/{w.ids[t]}/rating"),
    ),
}


def _both(own: frozenset[str], other: frozenset[str]) -> dict[str, frozenset[str]]:
    return {"own": own, "other": other}


VALUE_EXPECTED: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    # The regulator sets the rules and, as the operator under data_governance,
    # shares the revenue out; no target object, so own and other alike.
    "value.share_rule.set": {
        "regulator": _both(REVIEWERS, REVIEWERS),
        "enterprise": _both(NOBODY, NOBODY),
    },
    "value.distribute": {
        "regulator": _both(ADMIN, ADMIN),
        "enterprise": _both(NOBODY, NOBODY),
    },
    # A distribution and earnings: the holders paid and the regulator.
    "value.distribution": {
        "regulator": _both(EVERYONE, EVERYONE),
        "enterprise": _both(EVERYONE, NOBODY),
    },
    "value.recompute": {
        "regulator": _both(EVERYONE, EVERYONE),
        "enterprise": _both(EVERYONE, NOBODY),
    },
    "value.earnings": {
        "regulator": _both(EVERYONE, EVERYONE),
        "enterprise": _both(EVERYONE, NOBODY),
    },
    # Only the user rates (admin or analyst), only the rater revises, only the rated answers.
    **{
        name: {"regulator": _both(ANALYSTS, NOBODY), "enterprise": _both(ANALYSTS, NOBODY)}
        for name in ("value.rate_data", "value.rate_contractor", "value.revise")
    },
    "value.answer": {
        "regulator": _both(STEWARDS, NOBODY),
        "enterprise": _both(STEWARDS, NOBODY),
    },
    **{
        name: {"regulator": _both(EVERYONE, EVERYONE), "enterprise": _both(EVERYONE, EVERYONE)}
        for name in (
            "value.share_rule.get",
            "value.ratings",
            "value.rating",
            "value.resource_rating",
            "value.participant_rating",
        )
    },
}

#: Who makes the calls that the receipt tests replay: the regulator sets share rules and distributes.
VALUE_RECEIPT_CALLS: dict[str, tuple[str, str]] = dict.fromkeys(
    ("value.share_rule.set", "value.distribute"), ("regulator", "enterprise")
)

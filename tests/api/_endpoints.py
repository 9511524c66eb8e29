"""One request per API endpoint, built for an actor and a target participant.

Shared by the permission matrix and the receipt tests. ``ENDPOINTS`` maps a
name to the route it exercises and a builder; an endpoint may have several
rows (a token for oneself, a token for a fellow member), and every route of
the app must have at least one (``test_matrix_covers_every_route``).
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import func, select

from datacompact.catalog.inbox import inbox_folder
from datacompact.events import EventType
from datacompact.fusion import open_psi
from datacompact.policy._grant_view import table_name
from datacompact.policy.applications import review_application, submit_application
from datacompact.policy.queries import run_query
from datacompact.policy.schemas import ApplicationCreate
from datacompact.store.models import Event, Grant

from ..conftest import World, valid_uscc
from ._endpoint_base import (
    _ROSTER,
    RESOURCE,
    Call,
    Endpoint,
    _open_resource_of,
    _resource_of,
    code_of,
)
from ._endpoints_billing import BILLING_ENDPOINTS
from ._endpoints_delivery import DELIVERY_ENDPOINTS
from ._endpoints_projects import PROJECT_ENDPOINTS
from ._endpoints_value import VALUE_ENDPOINTS
from .conftest import token_id

PASSWORD = "correct horse battery"  # the admins' password in the minimal world
NEW_USCC = valid_uscc("91330106MA2D00001")


def peer(world: World, participant: str, role: str) -> int:
    """A member of ``participant`` who is not the acting member."""
    return world.members[f"{participant}.{'auditor' if role == 'analyst' else 'analyst'}"]


def new_registration(username: str = "newcomer.admin", uscc: str = NEW_USCC) -> dict[str, Any]:
    return {
        "kind": "enterprise",
        "name": "示范新企业有限公司",
        "uscc": uscc,
        "region_code": "330106",
        "ownership": "private",
        "contacts": [{"name": "张三", "phone": "13800138000"}],
        "admin": {"username": username, "display_name": "张三", "password": PASSWORD},
    }


def _decide(world: World, actor: str, role: str, target: str) -> Call:
    # Another participant: the pending applicant; one's own: suspending oneself.
    if target == actor:
        body = {"decision": "suspend", "reason": "self-suspension attempt"}
    else:
        body = {"decision": "approve", "reason": "documents checked"}
        target = "pending"
    return Call("POST", f"/api/v1/participants/{world.ids[target]}/decisions", body)


QUALIFICATION = {
    "name": "ISO/IEC 27001",
    "level": "certified",
    "issuer": "CNCA",
    "valid_from": "2025-01-01",
    "valid_until": "2027-12-31",
    "evidence_sha256": "ab" * 32,
}

P = "/api/v1/participants"


def _p(world: World, target: str) -> int:
    return world.ids[target]


ENDPOINTS: dict[str, Endpoint] = {
    "healthz": Endpoint("GET", "/healthz", lambda w, a, r, t: Call("GET", "/healthz")),
    "readyz": Endpoint("GET", "/readyz", lambda w, a, r, t: Call("GET", "/readyz")),
    "openapi": Endpoint(
        "GET", "/api/v1/openapi.json", lambda w, a, r, t: Call("GET", "/api/v1/openapi.json")
    ),
    "governance": Endpoint(
        "GET", "/api/v1/governance", lambda w, a, r, t: Call("GET", "/api/v1/governance")
    ),
    "participants.register": Endpoint(
        "POST",
        P,
        lambda w, a, r, t: Call("POST", P, new_registration()),
        EventType.PARTICIPANT_REGISTERED,
    ),
    "participants.list": Endpoint("GET", P, lambda w, a, r, t: Call("GET", P)),
    "participants.show": Endpoint(
        "GET", P + "/{participant_id}", lambda w, a, r, t: Call("GET", f"{P}/{_p(w, t)}")
    ),
    "participants.decide": Endpoint(
        "POST", P + "/{participant_id}/decisions", _decide, EventType.PARTICIPANT_APPROVED
    ),
    "participants.contacts": Endpoint(
        "PUT",
        P + "/{participant_id}/contacts",
        lambda w, a, r, t: Call(
            "PUT",
            f"{P}/{_p(w, t)}/contacts",
            {"contacts": [{"name": "李四", "phone": "13900139000"}]},
        ),
        EventType.PARTICIPANT_CONTACTS_UPDATED,
    ),
    "qualifications.add": Endpoint(
        "POST",
        P + "/{participant_id}/qualifications",
        lambda w, a, r, t: Call("POST", f"{P}/{_p(w, t)}/qualifications", QUALIFICATION),
        EventType.QUALIFICATION_ADDED,
    ),
    "qualifications.list": Endpoint(
        "GET",
        P + "/{participant_id}/qualifications",
        lambda w, a, r, t: Call("GET", f"{P}/{_p(w, t)}/qualifications"),
    ),
    "members.create": Endpoint(
        "POST",
        P + "/{participant_id}/members",
        lambda w, a, r, t: Call(
            "POST",
            f"{P}/{_p(w, t)}/members",
            {"username": "new.member", "display_name": "新成员", "roles": ["analyst"]},
        ),
        EventType.MEMBER_CREATED,
    ),
    "members.list": Endpoint(
        "GET",
        P + "/{participant_id}/members",
        lambda w, a, r, t: Call("GET", f"{P}/{_p(w, t)}/members"),
    ),
    "members.set_roles": Endpoint(
        "PUT",
        "/api/v1/members/{member_id}/roles",
        lambda w, a, r, t: Call(
            "PUT", f"/api/v1/members/{peer(w, t, r)}/roles", {"roles": ["analyst", "reviewer"]}
        ),
        EventType.MEMBER_ROLES_CHANGED,
    ),
    "members.deactivate": Endpoint(
        "POST",
        "/api/v1/members/{member_id}/deactivate",
        lambda w, a, r, t: Call("POST", f"/api/v1/members/{peer(w, t, r)}/deactivate"),
        EventType.MEMBER_DEACTIVATED,
    ),
    "me": Endpoint("GET", "/api/v1/me", lambda w, a, r, t: Call("GET", "/api/v1/me")),
    "auth.login": Endpoint(
        "POST",
        "/api/v1/auth/token",
        lambda w, a, r, t: Call(
            "POST", "/api/v1/auth/token", {"username": f"{t}.admin", "password": PASSWORD}
        ),
        EventType.TOKEN_ISSUED,
    ),
    "tokens.issue_self": Endpoint(
        "POST",
        "/api/v1/tokens",
        lambda w, a, r, t: Call("POST", "/api/v1/tokens", {"label": "mine"}),
        EventType.TOKEN_ISSUED,
    ),
    "tokens.issue_member": Endpoint(
        "POST",
        "/api/v1/tokens",
        lambda w, a, r, t: Call(
            "POST", "/api/v1/tokens", {"label": "theirs", "member_id": peer(w, t, r)}
        ),
        EventType.TOKEN_ISSUED,
    ),
    "tokens.list_self": Endpoint(
        "GET", "/api/v1/tokens", lambda w, a, r, t: Call("GET", "/api/v1/tokens")
    ),
    "tokens.list_member": Endpoint(
        "GET",
        "/api/v1/tokens",
        lambda w, a, r, t: Call("GET", "/api/v1/tokens", params={"member_id": peer(w, t, r)}),
    ),
    "tokens.revoke_self": Endpoint(
        "DELETE",
        "/api/v1/tokens/{token_id}",
        lambda w, a, r, t: Call(
            "DELETE", f"/api/v1/tokens/{token_id(w.platform, w.tokens[f'{a}.{r}'])}"
        ),
        EventType.TOKEN_REVOKED,
    ),
    "tokens.revoke_member": Endpoint(
        "DELETE",
        "/api/v1/tokens/{token_id}",
        lambda w, a, r, t: Call(
            "DELETE",
            f"/api/v1/tokens/{token_id(w.platform, _token_of_member(w, peer(w, t, r)))}",
        ),
        EventType.TOKEN_REVOKED,
    ),
    "events": Endpoint("GET", "/api/v1/events", lambda w, a, r, t: Call("GET", "/api/v1/events")),
    "ledger.key": Endpoint("GET", "/ledger/key", lambda w, a, r, t: Call("GET", "/ledger/key")),
    "ledger.checkpoint": Endpoint(
        "GET", "/ledger/checkpoint", lambda w, a, r, t: Call("GET", "/ledger/checkpoint")
    ),
    "ledger.recoveries": Endpoint(
        "GET", "/ledger/recoveries", lambda w, a, r, t: Call("GET", "/ledger/recoveries")
    ),
    "ledger.tile": Endpoint(
        "GET",
        "/ledger/tile/{path:path}",
        lambda w, a, r, t: Call("GET", f"/ledger/tile/entries/000.p/{event_count(w)}"),
    ),
    "ledger.proof": Endpoint(
        "GET", "/ledger/proof/{index}", lambda w, a, r, t: Call("GET", "/ledger/proof/0")
    ),
    "ledger.bundle": Endpoint(
        "GET", "/ledger/bundle/{index}", lambda w, a, r, t: Call("GET", "/ledger/bundle/0")
    ),
    "resources.register": Endpoint(
        "POST",
        "/api/v1/resources",
        lambda w, a, r, t: Call(
            "POST", "/api/v1/resources", {**RESOURCE, "inbox_file": _inbox(w, a)}
        ),
        EventType.RESOURCE_REGISTERED,
    ),
    "resources.add_version": Endpoint(
        "POST",
        "/api/v1/resources/{resource_id}/versions",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/resources/{_resource_of(w, t)}/versions",
            {"inbox_file": _inbox(w, a)},
        ),
        EventType.RESOURCE_VERSION_INGESTED,
    ),
    "uploads.create": Endpoint(
        "POST",
        "/api/v1/uploads",
        lambda w, a, r, t: Call(
            "POST", "/api/v1/uploads", files={"file": (_upload_name(), _ROSTER.encode())}
        ),
    ),
    "resources.search": Endpoint(
        "GET",
        "/api/v1/resources",
        lambda w, a, r, t: Call("GET", "/api/v1/resources", params={"q": "名册"}),
    ),
    "resources.show": Endpoint(
        "GET",
        "/api/v1/resources/{resource_id}",
        lambda w, a, r, t: Call("GET", f"/api/v1/resources/{_resource_of(w, t)}"),
    ),
    "resources.grade": Endpoint(
        "POST",
        "/api/v1/resources/{resource_id}/grade",
        lambda w, a, r, t: Call(
            "POST", f"/api/v1/resources/{_resource_of(w, t)}/grade", {"decision": "confirm"}
        ),
        EventType.RESOURCE_GRADE_CONFIRMED,
    ),
    "resources.dictionary": Endpoint(
        "PATCH",
        "/api/v1/resources/{resource_id}/dictionary",
        lambda w, a, r, t: Call(
            "PATCH",
            f"/api/v1/resources/{_resource_of(w, t)}/dictionary",
            {"columns": [{"name": "部门", "description": "所属部门"}]},
        ),
        EventType.RESOURCE_DICTIONARY_UPDATED,
    ),
    "resources.conformance": Endpoint(
        "POST",
        "/api/v1/resources/{resource_id}/conformance",
        lambda w, a, r, t: Call(
            "POST", f"/api/v1/resources/{_resource_of(w, t)}/conformance", STANDARDIZE
        ),
    ),
    "resources.standardized": Endpoint(
        "POST",
        "/api/v1/resources/{resource_id}/standardized",
        lambda w, a, r, t: Call(
            "POST", f"/api/v1/resources/{_resource_of(w, t)}/standardized", STANDARDIZE
        ),
        EventType.RESOURCE_VERSION_INGESTED,
    ),
    "standards.register": Endpoint(
        "POST",
        "/api/v1/standards",
        lambda w, a, r, t: Call(
            "POST",
            "/api/v1/standards",
            {
                "id": f"Q/TEST {a}-{r}",
                "title_zh": "测试标准",
                "elements": [{"id": "flag", "name_zh": "标志", "type": "string"}],
            },
        ),
        EventType.STANDARD_REGISTERED,
    ),
    "standards.list": Endpoint(
        "GET", "/api/v1/standards", lambda w, a, r, t: Call("GET", "/api/v1/standards")
    ),
    "applications.submit": Endpoint(
        "POST",
        "/api/v1/applications",
        lambda w, a, r, t: Call("POST", "/api/v1/applications", _application_body(w)),
        EventType.APPLICATION_SUBMITTED,
    ),
    "applications.list": Endpoint(
        "GET",
        "/api/v1/applications",
        lambda w, a, r, t: Call("GET", "/api/v1/applications", params={"awaiting": "me"}),
    ),
    "applications.show": Endpoint(
        "GET",
        "/api/v1/applications/{application_id}",
        lambda w, a, r, t: Call("GET", f"/api/v1/applications/{_application_of(w, t)}"),
    ),
    "applications.decide": Endpoint(
        "POST",
        "/api/v1/applications/{application_id}/decisions",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/applications/{_held_by_holder(w, t)}/decisions",
            {"decision": "approve", "reason": "材料齐全"},
        ),
        EventType.APPLICATION_REVIEWED,
    ),
    "applications.amend": Endpoint(
        "POST",
        "/api/v1/applications/{application_id}/revisions",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/applications/{_sent_back(w, t)}/revisions",
            {"note": "已按意见压缩查询次数 / fewer queries, as asked", "expected_queries": 5},
        ),
        EventType.APPLICATION_AMENDED,
    ),
    "applications.revisions": Endpoint(
        "GET",
        "/api/v1/applications/{application_id}/revisions",
        lambda w, a, r, t: Call("GET", f"/api/v1/applications/{_sent_back(w, t)}/revisions"),
    ),
    "applications.withdraw": Endpoint(
        "POST",
        "/api/v1/applications/{application_id}/withdrawal",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/applications/{_application_of(w, t)}/withdrawal",
            {"reason": "场景已取消 / the scenario was cancelled"},
        ),
        EventType.APPLICATION_WITHDRAWN,
    ),
    "inbox": Endpoint("GET", "/api/v1/inbox", lambda w, a, r, t: Call("GET", "/api/v1/inbox")),
    "grants.list": Endpoint(
        "GET", "/api/v1/grants", lambda w, a, r, t: Call("GET", "/api/v1/grants")
    ),
    "grants.show": Endpoint(
        "GET",
        "/api/v1/grants/{grant_id}",
        lambda w, a, r, t: Call("GET", f"/api/v1/grants/{_grant_of(w, t)}"),
    ),
    "grants.status": Endpoint(
        "POST",
        "/api/v1/grants/{grant_id}/status",
        lambda w, a, r, t: Call(
            "POST",
            f"/api/v1/grants/{_grant_of(w, t)}/status",
            {"decision": "suspend", "reason": "监督检查"},
        ),
        EventType.GRANT_SUSPENDED,
    ),
    "queries.run": Endpoint(
        "POST",
        "/api/v1/queries",
        lambda w, a, r, t: Call("POST", "/api/v1/queries", _query_body(w, t)),
        EventType.QUERY_EXECUTED,
    ),
    "queries.list": Endpoint(
        "GET",
        "/api/v1/queries",
        lambda w, a, r, t: Call("GET", "/api/v1/queries", params={"grant_id": _grant_of(w, t)}),
    ),
    "queries.overlaps": Endpoint(
        "GET",
        "/api/v1/queries/overlaps",
        lambda w, a, r, t: Call("GET", "/api/v1/queries/overlaps"),
    ),
    "queries.show": Endpoint(
        "GET",
        "/api/v1/queries/{query_id}",
        lambda w, a, r, t: Call("GET", f"/api/v1/queries/{_query_of(w, t)}"),
    ),
    "queries.rows": Endpoint(
        "GET",
        "/api/v1/queries/{query_id}/rows",
        lambda w, a, r, t: Call("GET", f"/api/v1/queries/{_query_of(w, t)}/rows"),
    ),
    "psi.open": Endpoint(
        "POST",
        "/api/v1/psi/runs",
        lambda w, a, r, t: Call("POST", "/api/v1/psi/runs", _psi_body(w, t)),
        EventType.PSI_OPENED,
    ),
    "psi.exchange": Endpoint(
        "POST",
        "/api/v1/psi/exchange",
        lambda w, a, r, t: Call(
            "POST",
            "/api/v1/psi/exchange",
            {"run_id": _psi_run_of(w, t), "holder_points": "", "requester_points": ""},
        ),
        EventType.PSI_EXECUTED,
    ),
    "psi.list": Endpoint(
        "GET",
        "/api/v1/psi/runs",
        lambda w, a, r, t: Call("GET", "/api/v1/psi/runs", params={"grant_id": _grant_of(w, t)}),
    ),
    "psi.show": Endpoint(
        "GET",
        "/api/v1/psi/runs/{run_id}",
        lambda w, a, r, t: Call("GET", f"/api/v1/psi/runs/{_psi_run_of(w, t)}"),
    ),
    "catalog.turtle": Endpoint(
        "GET", "/api/v1/catalog.ttl", lambda w, a, r, t: Call("GET", "/api/v1/catalog.ttl")
    ),
    "catalog.jsonld": Endpoint(
        "GET", "/api/v1/catalog.jsonld", lambda w, a, r, t: Call("GET", "/api/v1/catalog.jsonld")
    ),
    # A dataset URI of the export; the test client accepts anything: JSON-LD.
    "datasets.page": Endpoint(
        "GET",
        "/resources/{code}",
        lambda w, a, r, t: Call("GET", f"/resources/{code_of(w, _resource_of(w, t))}"),
    ),
    "open_data.grant": Endpoint(
        "POST",
        "/api/v1/resources/{resource_id}/open-grant",
        lambda w, a, r, t: Call("POST", f"/api/v1/resources/{_open_resource_of(w, t)}/open-grant"),
        EventType.APPLICATION_SUBMITTED,
    ),
    # Signing a checkpoint records no event: the signed checkpoint is its own record.
    "ledger.sign": Endpoint(
        "POST",
        "/api/v1/ledger/checkpoints",
        lambda w, a, r, t: Call("POST", "/api/v1/ledger/checkpoints"),
    ),
    "metrics": Endpoint("GET", "/metrics", lambda w, a, r, t: Call("GET", "/metrics")),
}


def _query_body(world: World, grantee: str) -> dict[str, Any]:
    grant_id = _grant_of(world, grantee)
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        table = table_name(grant.resource)
    return {"grant_id": grant_id, "sql": f"SELECT 部门, 人数 FROM {table} ORDER BY 人数"}


def _query_of(world: World, grantee: str) -> int:
    """A query run under ``grantee``'s grant, through the service."""
    key = f"{grantee}.query"
    if key not in world.ids:
        body = _query_body(world, grantee)
        world.ids[key] = run_query(
            db=world.platform.db,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal(f"{grantee}.admin"),
            grant_id=body["grant_id"],
            sql=body["sql"],
        ).value.query.id
    return world.ids[key]


def _psi_body(world: World, grantee: str) -> dict[str, Any]:
    # The roster's unit names are no USCCs: the holder's set is empty, and the run still opens.
    return {
        "grant_id": _grant_of(world, grantee),
        "mode": "cardinality",
        "key_column": "部门",
        "key_kind": "uscc",
        "declared_size": 10,
    }


def _psi_run_of(world: World, grantee: str) -> int:
    """A PSI run opened under ``grantee``'s grant, through the service."""
    key = f"{grantee}.psi"
    if key not in world.ids:
        body = _psi_body(world, grantee)
        world.ids[key] = open_psi(
            db=world.platform.db,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal(f"{grantee}.admin"),
            grant_id=body["grant_id"],
            mode=body["mode"],
            key_column=body["key_column"],
            key_kind=body["key_kind"],
            declared_size=body["declared_size"],
        ).value.run_id
    return world.ids[key]


def event_count(world: World) -> int:
    with world.platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def _token_of_member(world: World, member_id: int) -> str:
    key = next(k for k, v in world.members.items() if v == member_id)
    return world.tokens[key]


STANDARDIZE: dict[str, Any] = {
    "mappings": [{"column": "部门", "standard": "GB/T 4754-2017", "element": "industry_section"}]
}


_uploads = itertools.count()


def _upload_name() -> str:
    # The inbox is not rolled back with the store: every call uploads a new name.
    return f"upload-{next(_uploads)}.csv"


def _inbox(world: World, participant: str) -> str:
    """A small file placed in the participant's inbox; its name for ``inbox_file``."""
    folder = inbox_folder(world.platform.settings.home, world.ids[participant])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "roster.csv").write_text(_ROSTER, encoding="utf-8")
    return "roster.csv"


def _application_body(world: World) -> dict[str, Any]:
    # The department's roster: no personal data, so records may leave.
    return {
        "scenario": "统计各部门人数 / count staff per unit",
        "purpose": "public_service",
        "resources": [
            {
                "resource_id": _resource_of(world, "department"),
                "columns": ["部门", "人数"],
                "psi_keys": ["部门"],
            }
        ],
        "output": {"mode": "records"},
        "duration_days": 30,
        "expected_queries": 10,
    }


def _application_of(world: World, applicant: str, tag: str = "") -> int:
    """An application by ``applicant``'s admin, submitted through the service (one per ``tag``)."""
    key = f"{applicant}.application{tag}"
    if key not in world.ids:
        with world.platform.db.write() as session:
            world.ids[key] = submit_application(
                session=session,
                actor=world.principal(f"{applicant}.admin"),
                data=ApplicationCreate.model_validate(_application_body(world)),
            ).value.id
    return world.ids[key]


def _held_by_holder(world: World, applicant: str) -> int:
    """``applicant``'s application once its holder (the department) approved: the regulator's turn."""
    key = f"{applicant}.application.held.approved"
    if key not in world.ids:
        application_id = _application_of(world, applicant, ".held")
        with world.platform.db.write() as session:
            review_application(
                session=session,
                actor=world.principal("department.admin"),
                application_id=application_id,
                decision="approve",
                reason="持有方同意 / the holder agrees",
            )
        world.ids[key] = application_id
    return world.ids[key]


def _sent_back(world: World, applicant: str) -> int:
    """``applicant``'s application, sent back for changes by its holder (the department)."""
    key = f"{applicant}.application.sent_back.reviewed"
    if key not in world.ids:
        application_id = _application_of(world, applicant, ".sent_back")
        with world.platform.db.write() as session:
            review_application(
                session=session,
                actor=world.principal("department.admin"),
                application_id=application_id,
                decision="request_changes",
                reason="请减少查询次数 / fewer queries, please",
            )
        world.ids[key] = application_id
    return world.ids[key]


def _grant_of(world: World, grantee: str) -> int:
    """A grant held by ``grantee``: its application approved by every reviewing party."""
    key = f"{grantee}.grant"
    if key not in world.ids:
        application_id = _application_of(world, grantee)
        for reviewer in ("department", "regulator"):
            if reviewer == grantee:
                continue
            with world.platform.db.write() as session:
                review_application(
                    session=session,
                    actor=world.principal(f"{reviewer}.admin"),
                    application_id=application_id,
                    decision="approve",
                    reason="test approval",
                )
        with world.platform.db.read() as session:
            found = session.scalar(select(Grant.id).where(Grant.application_id == application_id))
        assert found is not None
        world.ids[key] = found
    return world.ids[key]


# Cooperation projects: procurement, then delivery and transparency (their own modules).
ENDPOINTS.update(PROJECT_ENDPOINTS)
ENDPOINTS.update(DELIVERY_ENDPOINTS)
ENDPOINTS.update(VALUE_ENDPOINTS)
ENDPOINTS.update(BILLING_ENDPOINTS)

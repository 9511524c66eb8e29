"""Roles × endpoints × own or other participant, against a table written out by hand.

The expected outcomes below are the policy of the foundation issue, spelled
out independently of ``datacompact.permissions``: if the code and this table
disagree, one of them is wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datacompact.api import create_app
from datacompact.config import GovernanceMode, Settings
from datacompact.ledger.log import checkpoints
from datacompact.platform import Platform
from datacompact.registry import participants
from datacompact.registry.schemas import ParticipantCreate

from ..conftest import (
    USCC_ENTERPRISE,
    USCC_REGULATOR,
    PgServer,
    Saved,
    SharedWorld,
    Template,
    World,
    shared_world,
    valid_uscc,
)
from ._endpoints import ENDPOINTS, PASSWORD, new_registration
from ._endpoints_billing import BILLING_BY_ACTOR, BILLING_EXPECTED, BILLING_PUBLIC
from ._endpoints_delivery import DELIVERY_EXPECTED, DELIVERY_PUBLIC
from ._endpoints_projects import PROJECT_EXPECTED
from ._endpoints_value import VALUE_EXPECTED
from .conftest import ApiClient, app_routes, bearer, forget

ROLES = ("admin", "data_steward", "analyst", "reviewer", "auditor")
EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

# Endpoints that need no token at all.
PUBLIC = {
    "healthz",
    "readyz",
    "openapi",
    "governance",
    "participants.register",
    "auth.login",
    # The transparency log holds no personal data, and anyone must be able to audit it.
    "ledger.key",
    "ledger.checkpoint",
    "ledger.recoveries",
    "ledger.tile",
    "ledger.proof",
    "ledger.bundle",
    # The published part of the catalog and the participants' public profiles
    # (the matrix's resources are shared, its participants approved).
    "participants.list",
    "participants.show",
    "qualifications.list",
    "resources.search",
    "resources.show",
    "catalog.turtle",
    "catalog.jsonld",
    "datasets.page",
}

# endpoint -> {target: roles allowed}. "own" is the actor's participant (or the
# actor's fellow member), "other" another participant (or one of its members).
# Endpoints without a target object are listed under "own" only.
STEWARD = frozenset({"admin", "data_steward"})
ANALYSTS = frozenset({"admin", "analyst"})

EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    "healthz": {"own": EVERYONE},
    "readyz": {"own": EVERYONE},
    "openapi": {"own": EVERYONE},
    "governance": {"own": EVERYONE},
    "participants.register": {"own": EVERYONE},
    "participants.list": {"own": EVERYONE},
    "participants.show": {"own": EVERYONE, "other": EVERYONE},
    "participants.contacts": {"own": ADMIN, "other": NOBODY},
    "qualifications.add": {"own": ADMIN, "other": NOBODY},
    "qualifications.list": {"own": EVERYONE, "other": EVERYONE},
    "members.create": {"own": ADMIN, "other": NOBODY},
    "members.list": {"own": ADMIN, "other": NOBODY},
    "members.set_roles": {"own": ADMIN, "other": NOBODY},
    "members.deactivate": {"own": ADMIN, "other": NOBODY},
    "me": {"own": EVERYONE},
    "auth.login": {"own": EVERYONE, "other": EVERYONE},  # the password is the credential
    "tokens.issue_self": {"own": EVERYONE},
    "tokens.issue_member": {"own": ADMIN, "other": NOBODY},
    "tokens.list_self": {"own": EVERYONE},
    "tokens.list_member": {"own": ADMIN, "other": NOBODY},
    "tokens.revoke_self": {"own": EVERYONE},
    "tokens.revoke_member": {"own": ADMIN, "other": NOBODY},
    "events": {"own": EVERYONE},
    "ledger.key": {"own": EVERYONE},
    "ledger.checkpoint": {"own": EVERYONE},
    "ledger.recoveries": {"own": EVERYONE},
    "ledger.tile": {"own": EVERYONE},
    "ledger.proof": {"own": EVERYONE},
    "ledger.bundle": {"own": EVERYONE},
    "ledger.sign": {"own": frozenset({"admin", "auditor"})},
    "resources.register": {"own": STEWARD},
    "uploads.create": {"own": STEWARD},
    "resources.add_version": {"own": STEWARD, "other": NOBODY},
    "resources.search": {"own": EVERYONE},
    "resources.show": {"own": EVERYONE, "other": EVERYONE},
    "resources.grade": {"own": STEWARD, "other": NOBODY},
    "resources.dictionary": {"own": STEWARD, "other": NOBODY},
    "resources.conformance": {"own": STEWARD, "other": NOBODY},
    "resources.standardized": {"own": STEWARD, "other": NOBODY},
    "standards.register": {"own": STEWARD},
    "standards.list": {"own": EVERYONE},
    "applications.submit": {"own": frozenset({"admin", "analyst"})},
    "applications.list": {"own": EVERYONE},
    # Only the applicant's participant amends or withdraws its application.
    "applications.amend": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    "applications.withdraw": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    "inbox": {"own": EVERYONE},
    "grants.list": {"own": EVERYONE},
    "catalog.turtle": {"own": EVERYONE},
    "catalog.jsonld": {"own": EVERYONE},
    "datasets.page": {"own": EVERYONE, "other": EVERYONE},
    # Open data: any member who may query takes the automatic grant, no approval.
    "open_data.grant": {"own": ANALYSTS, "other": ANALYSTS},
}

# Applications and grants: regulators see every data flow, and decide on
# other participants' applications and grants (never on their own).
REVIEWERS = frozenset({"admin", "reviewer"})
AUDITORS = frozenset({"admin", "reviewer", "auditor"})
BY_ACTOR: dict[str, dict[str, dict[str, frozenset[str]]]] = {
    "applications.show": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    "applications.revisions": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    # In its turn: the holder has approved, the regulator decides next.
    "applications.decide": {
        "regulator": {"own": NOBODY, "other": REVIEWERS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "grants.show": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    "queries.list": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    "queries.show": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    # The rows of a result are for the grantee's members who may run queries,
    # not for everyone who may read the query's record.
    "queries.rows": {
        "regulator": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
        "enterprise": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    },
    # The regulator audits every grantee's queries for differencing attacks.
    "queries.overlaps": {
        "regulator": {"own": AUDITORS, "other": AUDITORS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    # Only the grantee runs queries under its grant, whoever else may read them.
    "queries.run": {
        "regulator": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
        "enterprise": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    },
    # A PSI run is a use of the grant, as a query is; its record is read as a query's.
    "psi.open": {
        "regulator": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
        "enterprise": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    },
    "psi.exchange": {
        "regulator": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
        "enterprise": {"own": frozenset({"admin", "analyst"}), "other": NOBODY},
    },
    "psi.list": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    "psi.show": {
        "regulator": {"own": EVERYONE, "other": EVERYONE},
        "enterprise": {"own": EVERYONE, "other": NOBODY},
    },
    # The operator's admins and auditors (the regulator approves registrations
    # under data_governance); there is no target object.
    "metrics": {
        "regulator": {
            "own": frozenset({"admin", "auditor"}),
            "other": frozenset({"admin", "auditor"}),
        },
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
    "grants.status": {
        # Never one's own grant, not even for the regulator.
        "regulator": {"own": NOBODY, "other": REVIEWERS},
        "enterprise": {"own": NOBODY, "other": NOBODY},
    },
}

# Cooperation projects (tests/api/_endpoints_projects.py, _endpoints_delivery.py).
BY_ACTOR.update(PROJECT_EXPECTED)
BY_ACTOR.update(DELIVERY_EXPECTED)
BY_ACTOR.update(VALUE_EXPECTED)
PUBLIC |= DELIVERY_PUBLIC
# The price list and billing (tests/api/_endpoints_billing.py).
EXPECTED.update(BILLING_EXPECTED)
BY_ACTOR.update(BILLING_BY_ACTOR)
PUBLIC |= BILLING_PUBLIC

# Decisions on participants depend on the actor's kind: under data_governance
# only the regulator's admins and reviewers decide, and never on themselves.
DECISIONS: dict[str, dict[str, frozenset[str]]] = {
    "regulator": {"own": NOBODY, "other": frozenset({"admin", "reviewer"})},
    "enterprise": {"own": NOBODY, "other": NOBODY},
}

ACTORS = ("regulator", "enterprise")


def expected_roles(endpoint: str, actor: str, target: str) -> frozenset[str]:
    if endpoint == "participants.decide":
        return DECISIONS[actor][target]
    if endpoint in BY_ACTOR:
        return BY_ACTOR[endpoint][actor][target]
    return EXPECTED[endpoint][target]


def targets(endpoint: str) -> list[str]:
    if endpoint == "participants.decide" or endpoint in BY_ACTOR:
        return ["own", "other"]
    return list(EXPECTED[endpoint])


CASES = [
    pytest.param(endpoint, actor, role, target, id=f"{endpoint}-{actor}.{role}-{target}")
    for endpoint in ENDPOINTS
    for actor in ACTORS
    for role in ROLES
    for target in targets(endpoint)
]


def other_of(actor: str) -> str:
    return "enterprise2" if actor == "enterprise" else "enterprise"


def call(
    client: ApiClient,
    world: World,
    endpoint: str,
    actor: str,
    role: str,
    target: str,
    *,
    token: bool = True,
) -> Any:
    participant = actor if target == "own" else other_of(actor)
    request = ENDPOINTS[endpoint].build(world, actor, role, participant)
    return client.request(
        request.method,
        request.path,
        json=request.json,
        params=request.params,
        files=request.files,
        headers=bearer(world, f"{actor}.{role}") if token else {},
    )


def test_matrix_covers_every_route(client: ApiClient) -> None:
    covered = {(e.method, e.route) for e in ENDPOINTS.values()}
    assert app_routes(client.app) == covered
    assert set(EXPECTED) | {"participants.decide"} | set(BY_ACTOR) == set(ENDPOINTS)


# Authorization is decided in Python, not in the store: the matrix runs on SQLite
# only, while the store-dependent tests below run on both backends.
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


class Matrix:
    """One world and one app for the whole matrix, rolled back before every case.

    The objects an endpoint's rows need (a grant, a tender, a contract, ...)
    are built once per endpoint, for every (actor, role, target) of its rows,
    and saved; each case starts from that saved state, so no case sees what
    another case's request changed, and none pays for building a platform,
    signing a checkpoint or building an app.
    """

    def __init__(self, shared: SharedWorld) -> None:
        self.shared = shared
        self.world = shared.world
        self.client = ApiClient(create_app(shared.platform))
        self.base = shared.save()
        self.saved: dict[str, Saved] = {}

    def world_for(self, endpoint: str) -> World:
        """The world as the endpoint's rows start from, with their objects built."""
        if endpoint not in self.saved:
            self.shared.restore(self.base)
            for actor in ACTORS:
                for role in ROLES:
                    for target in targets(endpoint):
                        participant = actor if target == "own" else other_of(actor)
                        ENDPOINTS[endpoint].build(self.world, actor, role, participant)
            # A served platform signs a checkpoint at start (the app's lifespan,
            # which in-process clients do not run); do the same so the log reads work.
            platform = self.world.platform
            checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
            self.saved[endpoint] = self.shared.save()
        self.shared.restore(self.saved[endpoint])
        forget(self.client.app)
        return self.world


@pytest.fixture(scope="module")
def matrix(
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[Matrix]:
    shared = shared_world("sqlite", _templates, tmp_path_factory, pg_server)
    yield Matrix(shared)
    shared.close()


@SQLITE_ONLY
@pytest.mark.parametrize(("endpoint", "actor", "role", "target"), CASES)
def test_permission_matrix(
    matrix: Matrix, backend: str, endpoint: str, actor: str, role: str, target: str
) -> None:
    world = matrix.world_for(endpoint)
    response = call(matrix.client, world, endpoint, actor, role, target)
    if role in expected_roles(endpoint, actor, target):
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert error["code"] == "forbidden"
        assert error["details"]["reason"]


@SQLITE_ONLY
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_without_a_token(matrix: Matrix, backend: str, endpoint: str) -> None:
    target = targets(endpoint)[-1]
    world = matrix.world_for(endpoint)
    response = call(matrix.client, world, endpoint, "enterprise", "admin", target, token=False)
    if endpoint in PUBLIC:
        assert 200 <= response.status_code < 300, response.text
    else:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthenticated"


# -- private objects ------------------------------------------------------------------------


def test_contacts_are_private_to_their_participant(client: ApiClient, world: World) -> None:
    own = world.ids["enterprise"]
    update = client.put(
        f"/api/v1/participants/{own}/contacts",
        json={"contacts": [{"name": "钱七", "phone": "13700137000", "email": "q@example.cn"}]},
        headers=bearer(world, "enterprise.admin"),
    )
    assert update.status_code == 200, update.text
    for role in ROLES:
        mine = client.get(
            f"/api/v1/participants/{own}", headers=bearer(world, f"enterprise.{role}")
        )
        assert mine.json()["data"]["contacts"][0]["phone"] == "13700137000"
        for reader in ("enterprise2", "regulator"):
            headers = bearer(world, f"{reader}.{role}")
            theirs = client.get(f"/api/v1/participants/{own}", headers=headers)
            assert theirs.status_code == 200
            assert "contacts" not in theirs.json()["data"]
            assert "13700137000" not in theirs.text
            assert "钱七" not in theirs.text
            listing = client.get("/api/v1/participants", headers=headers)
            assert "13700137000" not in listing.text
            assert "钱七" not in listing.text


def test_another_participants_members_and_tokens_stay_hidden(
    client: ApiClient, world: World
) -> None:
    other = world.ids["enterprise2"]
    member = world.members["enterprise2.analyst"]
    for reader in ("enterprise.admin", "regulator.admin"):
        members = client.get(f"/api/v1/participants/{other}/members", headers=bearer(world, reader))
        assert members.status_code == 403
        assert "enterprise2.analyst" not in members.text
        tokens = client.get(
            "/api/v1/tokens", params={"member_id": member}, headers=bearer(world, reader)
        )
        assert tokens.status_code == 403


def test_scoped_token_narrows_the_endpoint_matrix(client: ApiClient, world: World) -> None:
    # A member with admin+analyst holding an analyst-only token cannot manage members.
    admin_id = world.members["enterprise.admin"]
    client.put(
        f"/api/v1/members/{admin_id}/roles",
        json={"roles": ["admin", "analyst"]},
        headers=bearer(world, "enterprise.admin"),
    ).raise_for_status()
    # The old token was issued for "admin" only, so a fresh login carries both roles.
    full = client.post(
        "/api/v1/auth/token",
        json={"username": "enterprise.admin", "password": "correct horse battery"},
    ).json()["data"]["token"]
    narrow = client.post(
        "/api/v1/tokens", json={"scopes": ["analyst"]}, headers={"Authorization": f"Bearer {full}"}
    ).json()["data"]["token"]
    headers = {"Authorization": f"Bearer {narrow}"}
    me = client.get("/api/v1/me", headers=headers).json()["data"]
    assert me["effective_roles"] == ["analyst"]
    assert sorted(me["roles"]) == ["admin", "analyst"]
    denied = client.get(f"/api/v1/participants/{world.ids['enterprise']}/members", headers=headers)
    assert denied.status_code == 403
    # A narrowed token cannot mint a wider one: not by asking, not by default.
    wider = client.post("/api/v1/tokens", json={"scopes": ["admin"]}, headers=headers)
    assert wider.status_code == 400
    assert wider.json()["error"]["code"] == "invalid_input"
    default = client.post("/api/v1/tokens", json={}, headers=headers)
    assert default.status_code == 201
    assert default.json()["data"]["scopes"] == ["analyst"]


# -- jv_operated: the JV platform company decides on registrations -----------------------

JV_USCC = valid_uscc("91330106MA2J00001")


@pytest.fixture
def jv_world(empty_platform: Platform) -> Iterator[ApiClient]:
    """A jv_operated platform: the JV bootstrapped, a regulator and an enterprise pending."""
    settings = Settings(
        home=empty_platform.settings.home,
        database_url=empty_platform.settings.database_url,
        governance_mode=GovernanceMode.JV_OPERATED,
    )
    platform = Platform(settings)
    jv = new_registration(username="jv.admin", uscc=JV_USCC)
    jv.pop("ownership")
    jv |= {
        "kind": "jv_platform",
        "shareholders": [
            {"holder_name": "示范数字集团", "holder_uscc": USCC_ENTERPRISE, "stake_percent": "51"},
            {"holder_name": "云栖信息", "holder_uscc": USCC_REGULATOR, "stake_percent": "49"},
        ],
    }
    with platform.db.write() as session:
        participants.bootstrap_platform(
            session=session,
            secret=platform.secret,
            governance=settings.governance_mode,
            data=ParticipantCreate.model_validate(jv),
        )
    client = ApiClient(create_app(platform))
    for username, uscc, kind in (
        ("reg.admin", USCC_REGULATOR, "regulator"),
        ("ent.admin", USCC_ENTERPRISE, "enterprise"),
    ):
        body = new_registration(username=username, uscc=uscc) | {"kind": kind}
        if kind != "enterprise":
            body.pop("ownership")
        client.post("/api/v1/participants", json=body).raise_for_status()
    yield client
    platform.close()


def _login(client: ApiClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def _decide(client: ApiClient, headers: dict[str, str], pid: int, decision: str) -> Any:
    return client.post(
        f"/api/v1/participants/{pid}/decisions",
        json={"decision": decision, "reason": "jv_operated test"},
        headers=headers,
    )


def test_jv_operated_mode_lets_the_jv_platform_decide(jv_world: ApiClient) -> None:
    client = jv_world
    jv = _login(client, "jv.admin")
    rules = client.get("/api/v1/governance").json()["data"]
    assert rules["mode"] == "jv_operated"
    listing = client.get("/api/v1/participants", headers=jv).json()["data"]
    ids = {p["kind"]: p["id"] for p in listing}
    # The JV approves the regulator; the regulator then may not decide on the enterprise.
    assert _decide(client, jv, ids["regulator"], "approve").status_code == 200
    regulator = _login(client, "reg.admin")
    denied = _decide(client, regulator, ids["enterprise"], "approve")
    assert denied.status_code == 403
    assert denied.json()["error"]["details"]["reason"]
    # Nor may the JV decide on itself.
    assert _decide(client, jv, ids["jv_platform"], "suspend").status_code == 403
    assert _decide(client, jv, ids["enterprise"], "approve").status_code == 200

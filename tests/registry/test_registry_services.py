"""Registry services on both backends: life cycle, registration rules, tokens, login, keys."""

from __future__ import annotations

import base64
import secrets
from datetime import date, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from datacompact.errors import (
    ConfigurationError,
    Forbidden,
    InvalidIdentifier,
    InvalidInput,
    InvalidTransition,
    Unauthenticated,
)
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.registry import keys, members, participants, qualifications, tokens
from datacompact.registry.identifiers import validate_region_code
from datacompact.registry.schemas import (
    Decision,
    ParticipantCreate,
    ParticipantKind,
    ParticipantStatus,
    QualificationCreate,
)
from datacompact.store.models import ApiToken, Event, Member, Participant, ParticipantKey

from ..conftest import USCC_ENTERPRISE, USCC_ENTERPRISE_2, World, registration, valid_uscc

S = ParticipantStatus
D = Decision

# How to bring the pending applicant into each status.
PATHS: dict[ParticipantStatus, list[Decision]] = {
    S.PENDING: [],
    S.APPROVED: [D.APPROVE],
    S.REJECTED: [D.REJECT],
    S.SUSPENDED: [D.APPROVE, D.SUSPEND],
    S.REVOKED: [D.APPROVE, D.REVOKE],
}

# The life cycle of the foundation issue, written out: (from, decision) -> to.
ALLOWED: dict[tuple[ParticipantStatus, Decision], ParticipantStatus] = {
    (S.PENDING, D.APPROVE): S.APPROVED,
    (S.PENDING, D.REJECT): S.REJECTED,
    (S.APPROVED, D.SUSPEND): S.SUSPENDED,
    (S.APPROVED, D.REVOKE): S.REVOKED,
    (S.SUSPENDED, D.REINSTATE): S.APPROVED,
    (S.SUSPENDED, D.REVOKE): S.REVOKED,
}


def decide(world: World, key: str, decision: Decision, *, by: str = "regulator.admin") -> Any:
    with world.platform.db.write() as session:
        return participants.decide_participant(
            session=session,
            actor=world.principal(by),
            participant_id=world.ids[key],
            decision=decision,
            reason="test decision",
        )


def status_of(world: World, key: str) -> str:
    with world.platform.db.read() as session:
        participant = session.get(Participant, world.ids[key])
        assert participant is not None
        return participant.status


def event_count(platform: Platform) -> int:
    with platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def register(platform: Platform, data: ParticipantCreate) -> Participant:
    with platform.db.write() as session:
        return participants.register_participant(
            session=session,
            actor=Principal.anonymous(platform.settings.governance_mode),
            secret=platform.secret,
            data=data,
        ).value


# -- the status life cycle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "decision"),
    [(start, decision) for start in PATHS for decision in Decision],
    ids=lambda v: str(v.value),
)
def test_life_cycle(world: World, start: ParticipantStatus, decision: Decision) -> None:
    for step in PATHS[start]:
        decide(world, "pending", step)
    assert status_of(world, "pending") == start
    events = event_count(world.platform)
    if (start, decision) in ALLOWED:
        recorded = decide(world, "pending", decision)
        assert status_of(world, "pending") == ALLOWED[(start, decision)]
        assert recorded.log_index == events
        assert event_count(world.platform) == events + 1
    else:
        with pytest.raises(InvalidTransition):
            decide(world, "pending", decision)
        assert status_of(world, "pending") == start
        assert event_count(world.platform) == events


@pytest.mark.parametrize("decision", [D.SUSPEND, D.REVOKE])
def test_members_of_a_suspended_or_revoked_participant_cannot_authenticate(
    world: World, decision: Decision
) -> None:
    world.principal("enterprise.analyst")  # works before
    decide(world, "enterprise", decision)
    for role in Role:
        with pytest.raises(Forbidden) as caught:
            world.principal(f"enterprise.{role.value}")
        assert caught.value.details["reason"] == "participant_not_approved"
    world.principal("enterprise2.analyst")  # other participants are unaffected
    if decision is D.SUSPEND:
        decide(world, "enterprise", D.REINSTATE)
        assert world.principal("enterprise.analyst").roles == {Role.ANALYST}


def test_pending_applicant_cannot_log_in(world: World) -> None:
    # The same answer as a wrong password: a right password is not confirmed.
    with pytest.raises(Unauthenticated) as caught:
        login(world, "pending.admin", "correct horse battery")
    assert caught.value.message == "用户名或密码错误 / wrong username or password"


# -- registration rules ------------------------------------------------------------------------

NEW_USCC = valid_uscc("91330106MA2E00001")
HOLDER_A = USCC_ENTERPRISE
HOLDER_B = USCC_ENTERPRISE_2


def jv(*stakes: tuple[str, str]) -> ParticipantCreate:
    return registration(
        ParticipantKind.JV_PLATFORM,
        NEW_USCC,
        "jv.admin",
        shareholders=[
            {"holder_name": f"holder {i}", "holder_uscc": uscc, "stake_percent": pct}
            for i, (uscc, pct) in enumerate(stakes)
        ],
    )


def test_jv_with_51_49_is_registered(world: World) -> None:
    participant = register(world.platform, jv((HOLDER_A, "51"), (HOLDER_B, "49")))
    with world.platform.db.read() as session:
        stored = session.get(Participant, participant.id)
        assert stored is not None
        stakes = {s.holder_uscc: (s.stake_bp, s.holder_participant_id) for s in stored.shareholders}
    assert stakes == {
        HOLDER_A: (5100, world.ids["enterprise"]),
        HOLDER_B: (4900, world.ids["enterprise2"]),
    }
    assert participant.status == S.PENDING


def test_a_holder_registered_after_its_jv_is_linked_to_its_stake(world: World) -> None:
    later = valid_uscc("91330106MA2LATER0")
    participant = register(world.platform, jv((HOLDER_A, "51"), (later, "49")))
    holder = register(
        world.platform,
        registration(
            ParticipantKind.ENTERPRISE, later, "later.admin", **{"ownership": "state_owned"}
        ),
    )
    with world.platform.db.read() as session:
        stored = session.get(Participant, participant.id)
        assert stored is not None
        linked = {s.holder_uscc: s.holder_participant_id for s in stored.shareholders}
    assert linked == {HOLDER_A: world.ids["enterprise"], later: holder.id}


@pytest.mark.parametrize(
    "stakes",
    [
        pytest.param([(HOLDER_A, "51"), (HOLDER_B, "48")], id="sum-99"),
        pytest.param([(HOLDER_A, "51"), (HOLDER_B, "49.01")], id="sum-100.01"),
        pytest.param([(HOLDER_A, "100")], id="single-holder"),
        pytest.param([], id="no-holders"),
        pytest.param([(HOLDER_A, "50"), (HOLDER_A, "50")], id="duplicate-holder"),
    ],
)
def test_jv_shareholder_rules(world: World, stakes: list[tuple[str, str]]) -> None:
    before = event_count(world.platform)
    with pytest.raises(InvalidInput) as caught:
        register(world.platform, jv(*stakes))
    assert caught.value.details["field"] == "shareholders"
    assert event_count(world.platform) == before


def test_shareholders_on_a_non_jv_are_refused(world: World) -> None:
    data = registration(
        ParticipantKind.ENTERPRISE,
        NEW_USCC,
        "firm.admin",
        ownership="mixed",
        shareholders=[
            {"holder_name": "a", "holder_uscc": HOLDER_A, "stake_percent": "51"},
            {"holder_name": "b", "holder_uscc": HOLDER_B, "stake_percent": "49"},
        ],
    )
    with pytest.raises(InvalidInput) as caught:
        register(world.platform, data)
    assert caught.value.details["field"] == "shareholders"


@pytest.mark.parametrize(
    ("kind", "field"),
    [(ParticipantKind.ENTERPRISE, "ownership"), (ParticipantKind.THIRD_PARTY, "third_party_type")],
)
def test_required_kind_attributes(world: World, kind: ParticipantKind, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        register(world.platform, registration(kind, NEW_USCC, "firm.admin"))
    assert caught.value.details["field"] == field


@pytest.mark.parametrize(
    "code",
    ["800000", "110199", "33010", "3301066", "930106", "03301A", "33O106", ""],
    ids=["unknown", "unknown-county", "short", "long", "bad-first", "letters", "letter-O", "empty"],
)
def test_region_code_is_refused(code: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_region_code(code)
    assert caught.value.details["standard"] == "GB/T 2260"
    if code:
        assert code not in caught.value.message


@pytest.mark.parametrize("code", ["330106", "110000", "440305"])
def test_region_code_is_accepted(code: str) -> None:
    assert validate_region_code(code) == code


def test_unknown_region_code_at_registration(world: World) -> None:
    data = registration(ParticipantKind.ENTERPRISE, NEW_USCC, "firm.admin", ownership="private")
    data = data.model_copy(update={"region_code": "800000"})
    with pytest.raises(InvalidIdentifier):
        register(world.platform, data)


# -- tokens and login --------------------------------------------------------------------------


def issue(world: World, by: str, scopes: list[Role] | None, member: str | None = None) -> str:
    with world.platform.db.write() as session:
        recorded = tokens.issue_token(
            session=session,
            actor=world.principal(by),
            label="t",
            scopes=scopes,
            ttl=timedelta(days=1),
            member_id=world.members[member] if member else None,
        )
    return recorded.value[1]


def authenticate(world: World, value: str) -> Principal:
    with world.platform.db.read() as session:
        return tokens.authenticate(
            session=session, token=value, governance=world.platform.settings.governance_mode
        )


def set_roles(world: World, member: str, roles: list[Role]) -> None:
    with world.platform.db.write() as session:
        members.set_member_roles(
            session=session,
            actor=world.principal("enterprise.admin"),
            member_id=world.members[member],
            roles=roles,
        )


@pytest.mark.parametrize(
    "scopes", [[Role.ADMIN], [Role.ANALYST, Role.REVIEWER], []], ids=["other", "partly", "empty"]
)
def test_token_scopes_must_be_a_nonempty_subset_of_roles(world: World, scopes: list[Role]) -> None:
    with pytest.raises(InvalidInput):
        issue(world, "enterprise.analyst", scopes)


def test_token_value_is_stored_only_as_a_hash(world: World) -> None:
    value = issue(world, "enterprise.analyst", None)
    assert value.startswith("dct_")
    assert len(value) == 47
    with world.platform.db.read() as session:
        stored = [t.token_sha256 for t in session.scalars(select(ApiToken))]
    assert value not in stored
    assert tokens.token_digest(value) in stored


def test_effective_roles_are_roles_narrowed_by_scopes(world: World) -> None:
    set_roles(world, "enterprise.analyst", [Role.ANALYST, Role.REVIEWER])
    both = issue(world, "enterprise.admin", None, member="enterprise.analyst")
    narrow = issue(world, "enterprise.admin", [Role.REVIEWER], member="enterprise.analyst")
    assert authenticate(world, both).roles == {Role.ANALYST, Role.REVIEWER}
    assert authenticate(world, narrow).roles == {Role.REVIEWER}
    # Taking a role from the member takes it from every token they hold.
    set_roles(world, "enterprise.analyst", [Role.ANALYST])
    assert authenticate(world, both).roles == {Role.ANALYST}
    assert authenticate(world, narrow).roles == frozenset()


def login(world: World, username: str, password: str) -> str:
    recorded = tokens.login(
        db=world.platform.db,
        governance=world.platform.settings.governance_mode,
        username=username,
        password=password,
        label="console",
        ttl=timedelta(hours=1),
    )
    return recorded.value[1]


def test_login_with_an_argon2_password(world: World) -> None:
    with world.platform.db.read() as session:
        admin = session.scalar(select(Member).where(Member.username == "enterprise.admin"))
        assert admin is not None
        assert admin.password_hash is not None
        assert admin.password_hash.startswith("$argon2id$")
        assert "correct horse battery" not in admin.password_hash
    principal = authenticate(world, login(world, "enterprise.admin", "correct horse battery"))
    assert principal.member_id == world.members["enterprise.admin"]
    assert principal.roles == {Role.ADMIN}


def test_login_failures_do_not_say_which_part_was_wrong(world: World) -> None:
    failures = []
    for username, password in (
        ("enterprise.admin", "wrong horse battery"),
        ("nobody.here", "correct horse battery"),
        ("enterprise.analyst", "correct horse battery"),  # a member without a password
    ):
        with pytest.raises(Unauthenticated) as caught:
            login(world, username, password)
        failures.append((type(caught.value), caught.value.message, caught.value.details))
    assert len(set(map(repr, failures))) == 1


def test_password_helpers() -> None:
    digest = members.hash_password("s3cret-passphrase")
    assert members.verify_password(digest, "s3cret-passphrase")
    assert not members.verify_password(digest, "s3cret-passphrasE")
    assert not members.verify_password(None, "s3cret-passphrase")
    assert not members.verify_password("not-a-hash", "s3cret-passphrase")


# -- qualifications ----------------------------------------------------------------------------


def qualification(valid_from: date, valid_until: date) -> QualificationCreate:
    return QualificationCreate(
        name="CMMI",
        level="ML3",
        issuer="CMMI Institute",
        valid_from=valid_from,
        valid_until=valid_until,
        evidence_sha256="cd" * 32,
    )


def test_qualification_validity(world: World) -> None:
    with world.platform.db.write() as session:
        qualifications.add_qualification(
            session=session,
            actor=world.principal("enterprise.admin"),
            participant_id=world.ids["enterprise"],
            data=qualification(date(2025, 1, 1), date(2026, 12, 31)),
        )
    reader = world.principal("enterprise2.analyst")
    for today, valid in (
        (date(2024, 12, 31), False),
        (date(2025, 1, 1), True),
        (date(2026, 12, 31), True),
        (date(2027, 1, 1), False),
    ):
        with world.platform.db.read() as session:
            (shown,) = qualifications.list_qualifications(
                session=session, actor=reader, participant_id=world.ids["enterprise"], today=today
            )
        assert shown.valid_today is valid, today
        assert shown.evidence_sha256 == "cd" * 32


def test_qualification_ending_before_it_starts_is_refused(world: World) -> None:
    before = event_count(world.platform)
    with pytest.raises(InvalidInput), world.platform.db.write() as session:
        qualifications.add_qualification(
            session=session,
            actor=world.principal("enterprise.admin"),
            participant_id=world.ids["enterprise"],
            data=qualification(date(2026, 1, 1), date(2025, 1, 1)),
        )
    assert event_count(world.platform) == before


# -- participant signing keys ------------------------------------------------------------------


def key_of(world: World, participant: str) -> ParticipantKey:
    with world.platform.db.read() as session:
        key = session.scalar(
            select(ParticipantKey).where(ParticipantKey.participant_id == world.ids[participant])
        )
        assert key is not None
        return key


def test_private_seed_is_encrypted_and_signs_for_the_public_key(world: World) -> None:
    key = key_of(world, "enterprise")
    private = keys.signing_key(key, secret=world.platform.secret)
    seed = private.private_bytes_raw()
    assert len(seed) == 32
    assert seed not in key.encrypted_seed
    assert key.encrypted_seed != seed
    message = b"datacompact test message"
    # Verified with the published key alone, not with the decrypted one.
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(private.sign(message), message)


def test_published_verifier_key_is_the_public_key(world: World) -> None:
    with world.platform.db.read() as session:
        participant = session.get(Participant, world.ids["enterprise"])
        assert participant is not None
        published = participants.public_view(participant).public_key
    assert published is not None
    name, _key_id, blob = published.split("+", 2)
    assert name.endswith(USCC_ENTERPRISE)
    raw = base64.b64decode(blob)
    assert raw[0] == 0x01
    assert raw[1:] == key_of(world, "enterprise").public_key


def test_another_secret_cannot_unseal_the_key(world: World) -> None:
    key = key_of(world, "enterprise")
    with pytest.raises(ConfigurationError):
        keys.signing_key(key, secret=secrets.token_bytes(32))


def test_a_sealed_key_moved_to_another_participant_does_not_unseal(world: World) -> None:
    key = key_of(world, "enterprise")
    moved = ParticipantKey(
        participant_id=world.ids["enterprise2"],
        public_key=key.public_key,
        encrypted_seed=key.encrypted_seed,
        nonce=key.nonce,
    )
    with pytest.raises(ConfigurationError):
        keys.signing_key(moved, secret=world.platform.secret)


def test_every_participant_gets_its_own_key(world: World) -> None:
    publics = {key_of(world, name).public_key for name in ("regulator", "enterprise", "pending")}
    assert len(publics) == 3


def test_concurrent_approve_and_reject_cannot_both_commit(world: World) -> None:
    """Row locks make the status check and change atomic, on both backends."""
    import threading

    actor = world.principal("regulator.admin")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(decision: Decision) -> None:
        barrier.wait()
        try:
            with world.platform.db.write() as session:
                participants.decide_participant(
                    session=session,
                    actor=actor,
                    participant_id=world.ids["pending"],
                    decision=decision,
                    reason="concurrent decision",
                )
            outcomes.append(decision.value)
        except InvalidTransition:
            outcomes.append("refused")

    threads = [
        threading.Thread(target=decide, args=(d,)) for d in (Decision.APPROVE, Decision.REJECT)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2
    assert outcomes.count("refused") == 1
    with world.platform.db.read() as session:
        decided = session.scalars(
            select(Event.type).where(
                Event.object_type == "participant",
                Event.object_id == str(world.ids["pending"]),
                Event.type.in_(["participant.approved", "participant.rejected"]),
            )
        ).all()
    assert len(decided) == 1

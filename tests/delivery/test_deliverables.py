"""Contract deliverables and code escrow, in the store, on both backends.

Every refused deposit is checked to leave nothing behind: no deliverable row,
no log entry and no file under the platform home.
"""

from __future__ import annotations

import base64
import hashlib
import stat
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from datacompact.delivery import contracts, deliverables
from datacompact.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidTransition,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
    VerificationFailed,
)
from datacompact.events import EventType
from datacompact.store.models import Event
from datacompact.store.project_models import Contract, Deliverable

from ..conftest import World
from ._delivery import MET, award_for, build, report, sign

CODE = b"int verify_signature(const char *cert) { return check(cert); }\n"
SOURCE = b"def handle(case):\n    return case.route()\n"
DATA = "区县,件数\n西湖区,120\n".encode()
# The contract of _delivery.contract_body ends on 2026-02-28.
FAR_FROM_END = date(2025, 6, 1)
NEAR_END = date(2026, 1, 15)


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _home(world: World) -> Path:
    return world.platform.settings.home


def _contract(world: World, **lot: Any) -> int:
    options = {"open_source": True, "code_escrow": True} | lot
    return sign(world, "department", award_for(world, "department", "enterprise", **options))


def _deposit(
    world: World,
    contract_id: int,
    kind: str,
    content: bytes,
    name: str = "file.bin",
    actor: str = "enterprise.admin",
) -> Any:
    with world.platform.db.write() as session:
        return deliverables.deposit(
            session=session,
            actor=world.principal(actor),
            home=_home(world),
            secret=world.platform.secret,
            contract_id=contract_id,
            kind=kind,
            name=name,
            content=content,
        )


def _release(
    world: World,
    contract_id: int,
    sha256: str,
    today: date = NEAR_END,
    actor: str = "department.admin",
    secret: bytes | None = None,
) -> Any:
    with world.platform.db.write() as session:
        return deliverables.release_escrow(
            session=session,
            actor=world.principal(actor),
            home=_home(world),
            secret=secret or world.platform.secret,
            contract_id=contract_id,
            sha256=sha256,
            reason="原供应商退出 / the supplier withdrew",
            today=today,
        )


def _public(world: World, contract_id: int, sha256: str) -> tuple[str, bytes]:
    with world.platform.db.read() as session:
        return deliverables.public_file(
            session=session, home=_home(world), contract_id=contract_id, sha256=sha256
        )


def _state(world: World) -> tuple[int, int, list[str]]:
    """Deliverable rows, log entries and the files under ``<home>/deliverables``."""
    with world.platform.db.read() as session:
        rows = session.scalar(select(func.count()).select_from(Deliverable)) or 0
        events = session.scalar(select(func.count()).select_from(Event)) or 0
    folder = _home(world) / "deliverables"
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return rows, events, files


def _event(world: World, seq: int) -> Event:
    with world.platform.db.read() as session:
        event = session.get(Event, seq)
        assert event is not None
        return event


@pytest.fixture
def contract(world: World) -> int:
    return _contract(world)


# -- deposits --------------------------------------------------------------------------------


def test_open_files_and_key_code_are_kept_apart(world: World, contract: int) -> None:
    opened = _deposit(world, contract, "open_source", SOURCE, "handler.py")
    _deposit(world, contract, "open_data", DATA, "件数.csv")
    sealed = _deposit(world, contract, "key_code", CODE, "verify.c")
    assert not opened.value.sealed
    assert sealed.value.sealed
    assert sealed.value.sha256 == _sha(CODE)
    assert sealed.value.size == len(CODE)
    home = _home(world)
    public = home / "deliverables" / "public" / str(contract)
    escrow = home / "deliverables" / "escrow" / str(contract)
    assert (public / _sha(SOURCE)).read_bytes() == SOURCE
    assert (public / _sha(DATA)).read_bytes() == DATA
    stored = (escrow / f"{_sha(CODE)}.sealed").read_bytes()
    assert CODE not in stored
    assert b"verify_signature" not in stored
    assert sorted(p.name for p in escrow.iterdir()) == [f"{_sha(CODE)}.sealed"]
    assert stat.S_IMODE((escrow / f"{_sha(CODE)}.sealed").stat().st_mode) == 0o600
    for folder in (home / "deliverables", home / "deliverables" / "escrow", escrow, public):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    event = _event(world, sealed.log_index)
    assert event.type == EventType.DELIVERABLE_DEPOSITED
    assert event.object_id == str(contract)
    assert event.payload == {
        "contract_id": contract,
        "kind": "key_code",
        "name": "verify.c",
        "sha256": _sha(CODE),
        "size": len(CODE),
    }
    with world.platform.db.read() as session:
        listed = deliverables.list_deliverables(
            session=session, actor=world.principal("enterprise2.analyst"), contract_id=contract
        )
        shown = contracts.get_contract(
            session=session, actor=world.principal("department.admin"), contract_id=contract
        )
    assert [(d.kind, d.sealed) for d in listed] == [
        ("open_source", False),
        ("open_data", False),
        ("key_code", True),
    ]
    assert shown.handover["code_escrow"]
    assert not shown.handover["documentation"]


def test_public_download_of_open_files_only(world: World, contract: int) -> None:
    _deposit(world, contract, "open_data", DATA, "件数.csv")
    _deposit(world, contract, "key_code", CODE, "verify.c")
    assert _public(world, contract, _sha(DATA)) == ("件数.csv", DATA)
    for sha in (_sha(CODE), _sha(b"never deposited"), "not-a-hash"):
        with pytest.raises(NotFound) as caught:
            _public(world, contract, sha)
        assert caught.value.details == {"contract_id": contract}
    secret = _contract(world, classified=True)
    _deposit(world, secret, "open_data", DATA, "件数.csv")
    with pytest.raises(NotFound):
        _public(world, secret, _sha(DATA))


def test_a_public_file_altered_on_disk_is_refused(world: World, contract: int) -> None:
    _deposit(world, contract, "open_source", SOURCE, "handler.py")
    path = _home(world) / "deliverables" / "public" / str(contract) / _sha(SOURCE)
    path.write_bytes(SOURCE + b"# backdoor\n")
    with pytest.raises(VerificationFailed):
        _public(world, contract, _sha(SOURCE))


def test_key_code_only_where_the_lot_provides_for_escrow(world: World) -> None:
    plain = _contract(world, code_escrow=False, open_source=False)
    _deposit(world, plain, "open_source", SOURCE)  # open kinds are always welcome
    before = _state(world)
    with pytest.raises(PolicyViolation) as caught:
        _deposit(world, plain, "key_code", CODE)
    assert caught.value.details["rule"] == "deliverables.escrow_not_required"
    assert _state(world) == before


@pytest.mark.parametrize(
    ("kind", "name", "content", "error"),
    [
        ("open_data", "empty.csv", b"", InvalidInput),
        ("key_code", "big.bin", b"x" * 65, PayloadTooLarge),
        ("open_data", "../escape.csv", DATA, InvalidInput),
        ("open_data", "sub/dir.csv", DATA, InvalidInput),
        ("open_data", "back\\slash.csv", DATA, InvalidInput),
        ("open_data", "line\nbreak.csv", DATA, InvalidInput),
        ("open_data", "..", DATA, InvalidInput),
        ("binary", "file.bin", DATA, InvalidInput),
    ],
)
def test_bad_deposits_leave_nothing(
    world: World,
    contract: int,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    name: str,
    content: bytes,
    error: type[Exception],
) -> None:
    monkeypatch.setattr(deliverables, "MAX_DELIVERABLE_BYTES", 64)
    before = _state(world)
    with pytest.raises(error):
        _deposit(world, contract, kind, content, name)
    assert _state(world) == before


def test_the_same_file_twice_is_a_conflict(world: World, contract: int) -> None:
    _deposit(world, contract, "key_code", CODE)
    before = _state(world)
    with pytest.raises(Conflict):
        _deposit(world, contract, "open_source", CODE, "again.c")
    assert _state(world) == before
    # Another contract may hold the same file.
    other = _contract(world)
    _deposit(world, other, "key_code", CODE)


def test_content_must_be_strict_base64() -> None:
    assert deliverables.parse_content(base64.b64encode(CODE).decode()) == CODE
    for text in ("not base64!", "QUJD\n", "QUJ", "QUJD====", "QU=JD", "QUJ=", "QUJD\u00e9"):
        with pytest.raises(MalformedInput):
            deliverables.parse_content(text)


def test_a_rolled_back_deposit_leaves_no_file(world: World, contract: int) -> None:
    before = _state(world)
    # The raise inside the transaction is the point: it must roll back.
    with pytest.raises(RuntimeError), world.platform.db.write() as session:  # noqa: PT012
        deliverables.deposit(
            session=session,
            actor=world.principal("enterprise.admin"),
            home=_home(world),
            secret=world.platform.secret,
            contract_id=contract,
            kind="key_code",
            name="verify.c",
            content=CODE,
        )
        assert (_home(world) / "deliverables" / "escrow" / str(contract)).is_dir()
        raise RuntimeError("the transaction fails after the file was written")
    assert _state(world) == before
    _deposit(world, contract, "key_code", CODE)  # and it can be deposited afresh


@pytest.mark.parametrize("actor", ["department.admin", "enterprise2.admin", "enterprise.analyst"])
def test_only_the_suppliers_admins_deposit(world: World, contract: int, actor: str) -> None:
    before = _state(world)
    with pytest.raises(Forbidden):
        _deposit(world, contract, "open_data", DATA, actor=actor)
    assert _state(world) == before


def test_deposits_only_to_an_active_contract(world: World, contract: int) -> None:
    with world.platform.db.write() as session:
        row = session.get(Contract, contract)
        assert row is not None
        row.status = "terminated"
    with pytest.raises(InvalidTransition):
        _deposit(world, contract, "open_data", DATA)
    with pytest.raises(NotFound):
        _deposit(world, 10**9, "open_data", DATA)


# -- release from escrow ---------------------------------------------------------------------


def test_release_refused_while_the_contract_runs(world: World, contract: int) -> None:
    _deposit(world, contract, "key_code", CODE)
    _, events, _ = _state(world)
    with pytest.raises(PolicyViolation) as caught:
        _release(world, contract, _sha(CODE), today=FAR_FROM_END)
    assert caught.value.details["rule"] == "escrow.not_released"
    assert _state(world)[1] == events


def test_release_near_the_end_without_a_successor(world: World, contract: int) -> None:
    _deposit(world, contract, "key_code", CODE)
    recorded = _release(world, contract, _sha(CODE))
    assert recorded.value == CODE
    event = _event(world, recorded.log_index)
    assert event.type == EventType.ESCROW_RELEASED
    assert event.payload == {
        "contract_id": contract,
        "sha256": _sha(CODE),
        "reason": "原供应商退出 / the supplier withdrew",
        "grounds": "continuity",
    }


def test_a_successor_lot_keeps_the_code_in_escrow(world: World, contract: int) -> None:
    _deposit(world, contract, "key_code", CODE)
    with world.platform.db.write() as session:
        row = session.get(Contract, contract)
        assert row is not None
        build(session, owner=world.ids["department"], supplier=None, successor_of=row.lot_id)
    with pytest.raises(PolicyViolation):
        _release(world, contract, _sha(CODE))


@pytest.mark.parametrize("status", ["accepted", "terminated"])
def test_release_once_the_contract_is_over(world: World, contract: int, status: str) -> None:
    _deposit(world, contract, "key_code", CODE)
    with world.platform.db.write() as session:
        row = session.get(Contract, contract)
        assert row is not None
        row.status = status
    recorded = _release(world, contract, _sha(CODE), today=FAR_FROM_END)
    assert recorded.value == CODE
    assert _event(world, recorded.log_index).payload["grounds"] == f"contract_{status}"


@pytest.mark.parametrize("actor", ["enterprise.admin", "regulator.admin", "department.analyst"])
def test_only_the_owners_admins_release(world: World, contract: int, actor: str) -> None:
    _deposit(world, contract, "key_code", CODE)
    with pytest.raises(Forbidden):
        _release(world, contract, _sha(CODE), actor=actor)


def test_open_files_are_not_released_from_escrow(world: World, contract: int) -> None:
    _deposit(world, contract, "open_source", SOURCE)
    with pytest.raises(NotFound):
        _release(world, contract, _sha(SOURCE))


@pytest.mark.parametrize("damage", ["flip", "swap", "secret"])
def test_tampered_escrow_is_detected(world: World, contract: int, damage: str) -> None:
    _deposit(world, contract, "key_code", CODE)
    _deposit(world, contract, "key_code", SOURCE)
    escrow = _home(world) / "deliverables" / "escrow" / str(contract)
    path = escrow / f"{_sha(CODE)}.sealed"
    secret = None
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[0] ^= 0x01
        path.write_bytes(bytes(data))
    elif damage == "swap":
        path.write_bytes((escrow / f"{_sha(SOURCE)}.sealed").read_bytes())
    else:
        secret = b"another platform's secret, 32 b"
    _, events, _ = _state(world)
    with pytest.raises(VerificationFailed):
        _release(world, contract, _sha(CODE), secret=secret)
    assert _state(world)[1] == events


# -- final acceptance -----------------------------------------------------------------------


def test_final_acceptance_needs_the_required_deliverables(world: World) -> None:
    contract_id = sign(
        world,
        "department",
        award_for(world, "department", "enterprise", open_source=True, code_escrow=True),
        milestones=[],
    )
    report(world, "enterprise", contract_id, "2025-04", MET)

    def accept() -> Any:
        with world.platform.db.write() as session:
            return contracts.accept_contract(
                session=session, actor=world.principal("department.admin"), contract_id=contract_id
            )

    with pytest.raises(PolicyViolation) as caught:
        accept()
    assert caught.value.details == {
        "rule": "deliverables.missing",
        "missing": ["open_source", "key_code"],
    }
    _deposit(world, contract_id, "open_data", DATA)  # open data is not open source
    _deposit(world, contract_id, "open_source", SOURCE)
    with pytest.raises(PolicyViolation) as caught:
        accept()
    assert caught.value.details["missing"] == ["key_code"]
    _deposit(world, contract_id, "key_code", CODE)
    assert accept().value.status == "accepted"

"""The platform pushes its checkpoints to witnesses: one cosigns, one refuses, one is down.

The witnesses are real ``Witness`` instances with their own keys and state,
reached over HTTP (an in-process transport per host); the down one refuses
the connection. The quorum decides what the published checkpoint is worth.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.note import Ed25519Signer, Note
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.log import checkpoints
from datacompact.ledger.witness import Witness, create_app, logs_from_vkeys
from datacompact.store.models import Checkpoint, WitnessProgress

from ..conftest import World
from .test_audit import _SyncASGITransport
from .test_store_log import _grow


class Hosts(httpx.BaseTransport):
    """Routes each host to its witness app; hosts without one refuse the connection."""

    def __init__(self, apps: dict[str, _SyncASGITransport]) -> None:
        self.apps = apps

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        app = self.apps.get(request.url.host)
        if app is None:
            raise httpx.ConnectError("connection refused", request=request)
        return app.handle_request(request)


def _witness(name: str, log_vkey: str, state: Path) -> tuple[CosignatureSigner, Witness]:
    signer = CosignatureSigner.generate(name)
    return signer, Witness(signer=signer, logs=logs_from_vkeys([log_vkey]), state_dir=state)


Setup = tuple[World, Policy, "Hosts", dict[str, Witness]]


@pytest.fixture
def setup(world: World, tmp_path: Path) -> Setup:
    log_vkey = world.platform.log_signer.verifier().vkey
    honest_signer, honest = _witness("audit-office", log_vkey, tmp_path / "honest")
    # Knows another log under our origin: it refuses our checkpoints (403).
    stranger_key = Ed25519Signer.generate(world.platform.settings.log_origin).verifier().vkey
    refusing_signer, refusing = _witness("alliance", stranger_key, tmp_path / "refusing")
    down_signer = CosignatureSigner.generate("enterprise-council")
    policy = Policy.from_text(
        f"log {log_vkey}\n"
        f"witness audit-office {honest_signer.verifier().vkey} http://honest\n"
        f"witness alliance {refusing_signer.verifier().vkey} http://refusing\n"
        f"witness enterprise-council {down_signer.verifier().vkey} http://down\n"
        "group any-one 1 audit-office alliance enterprise-council\n"
        "group two 2 audit-office alliance enterprise-council\n"
        "quorum any-one\n"
    )
    hosts = Hosts(
        {
            "honest": _SyncASGITransport(create_app(honest)),
            "refusing": _SyncASGITransport(create_app(refusing)),
        }
    )
    return world, policy, hosts, {"honest": honest, "refusing": refusing}


def _push(world: World, policy: Policy, hosts: Hosts) -> Checkpoint:
    platform = world.platform
    with platform.db.write() as session:
        row = checkpoints.sign_checkpoint(session, signer=platform.log_signer, policy=policy)
        size = row.size
    with httpx.Client(transport=hosts) as client:
        return checkpoints.gather_cosignatures(
            platform.db, checkpoint_size=size, policy=policy, client=client
        )


def test_refusing_and_down_witnesses_cost_only_their_cosignatures(setup: Setup) -> None:
    world, policy, hosts, witnesses = setup
    row = _push(world, policy, hosts)
    assert row.cosigners == ["audit-office"]
    assert row.witnessed  # quorum: any one of the three
    note = Note.from_text(row.note)
    assert [s.name for s in note.signatures] == [world.platform.settings.log_origin, "audit-office"]
    open_checkpoint(row.note, [world.platform.log_signer.verifier()])
    assert policy.check_checkpoint(row.note).size == row.size
    assert witnesses["refusing"].state.load(world.platform.settings.log_origin) is None

    strict = Policy.from_text(policy_text(policy).replace("quorum any-one", "quorum two"))
    _grow(world, 2)
    stricter = _push(world, strict, hosts)
    assert stricter.cosigners == ["audit-office"]
    assert not stricter.witnessed


def test_a_witness_that_moved_on_is_proved_consistent_from_its_own_size(setup: Setup) -> None:
    world, policy, hosts, _witnesses = setup
    first = _push(world, policy, hosts)
    # The log forgets how far the witness got; the witness answers 409 with
    # its size, and the log retries with a proof from there.
    with world.platform.db.write() as session:
        session.query(WitnessProgress).delete()
    _grow(world, 3)
    second = _push(world, policy, hosts)
    assert second.size == first.size + 3
    assert second.cosigners == ["audit-office"]
    with world.platform.db.read() as session:
        progress = session.get(WitnessProgress, "audit-office")
        assert progress is not None
        assert progress.size == second.size


def test_the_published_checkpoint_is_the_newest_witnessed_one(setup: Setup) -> None:
    world, policy, hosts, _witnesses = setup
    witnessed = _push(world, policy, hosts)
    _grow(world, 1)
    down = Hosts({})  # every witness unreachable now
    unwitnessed = _push(world, policy, down)
    assert not unwitnessed.witnessed
    with world.platform.db.read() as session:
        published = checkpoints.published(session, policy)
    assert published is not None
    assert published.size == witnessed.size


def policy_text(policy: Policy) -> str:
    lines = [f"log {log.vkey}" for log in policy.logs]
    lines += [f"witness {w.name} {w.verifier.vkey} {w.url}" for w in policy.witnesses.values()]
    lines += [f"group {g.name} {g.threshold} {' '.join(g.members)}" for g in policy.groups.values()]
    return "\n".join([*lines, f"quorum {policy.quorum}"]) + "\n"

"""The demo city's witnesses: own keys and state, a 2-of-2 policy, real separate processes."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from datacompact.demo import witnesses
from datacompact.errors import Conflict
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.merkle import root_from_leaves
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.witness import AddCheckpointRequest, submit_checkpoint, witness_reachable

ORIGIN = "demo.example/log"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def log() -> Ed25519Signer:
    return Ed25519Signer.generate(ORIGIN)


def test_each_witness_has_its_own_key_and_state_and_the_policy_needs_both(
    tmp_path: Path, log: Ed25519Signer
) -> None:
    vkey = log.verifier().vkey
    found, path = witnesses.prepare_witnesses(tmp_path, log_vkey=vkey, ports=(9101, 9102))
    assert [w.name for w in found] == list(witnesses.NAMES)
    assert len({w.vkey for w in found}) == 2
    for witness in found:
        assert stat.S_IMODE(witness.key_path.stat().st_mode) == 0o600
        assert (witness.folder / "state").is_dir()
    policy = Policy.from_text(path.read_text())
    assert policy.logs == (log.verifier(),)
    assert policy.quorum_text() == f"2 of ({', '.join(witnesses.NAMES)})"
    assert [w.url for w in policy.witnesses.values()] == [
        "http://127.0.0.1:9101",
        "http://127.0.0.1:9102",
    ]
    assert not policy.satisfied_by([witnesses.NAMES[0]])
    # Run again (other ports): the same keys, a rewritten policy.
    again, _path = witnesses.prepare_witnesses(tmp_path, log_vkey=vkey, ports=(9201, 9202))
    assert [w.vkey for w in again] == [w.vkey for w in found]
    assert "127.0.0.1:9201" in path.read_text()


def test_a_port_in_use_is_refused_before_anything_starts(
    tmp_path: Path, log: Ed25519Signer
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        found, _path = witnesses.prepare_witnesses(
            tmp_path, log_vkey=log.verifier().vkey, ports=(_free_ports(1)[0], port)
        )
        with pytest.raises(Conflict, match=f"port {port} is in use"):
            witnesses.start_witnesses(found, log_vkey=log.verifier().vkey)


@pytest.fixture
def running(
    tmp_path: Path, log: Ed25519Signer
) -> Iterator[tuple[list[witnesses.DemoWitness], Path, list]]:
    found, path = witnesses.prepare_witnesses(
        tmp_path, log_vkey=log.verifier().vkey, ports=_free_ports(2)
    )
    processes = witnesses.start_witnesses(found, log_vkey=log.verifier().vkey)
    yield found, path, processes
    witnesses.stop_witnesses(processes)


@pytest.mark.slow
def test_the_witness_processes_cosign_and_one_stopped_breaks_the_quorum(
    running: tuple[list[witnesses.DemoWitness], Path, list], log: Ed25519Signer
) -> None:
    found, path, processes = running
    policy = Policy.from_text(path.read_text())
    entries = [b"one", b"two", b"three"]
    body = Checkpoint(ORIGIN, len(entries), root_from_leaves(entries)).to_text()
    note = sign_note(body, [log])
    request = AddCheckpointRequest(0, (), note)
    cosigs = []
    for witness in policy.witnesses.values():
        assert witness.url is not None
        cosigs += submit_checkpoint(witness.url, request=request, witness=witness.verifier)
    cosigned = Note(note.text, note.signatures + tuple(cosigs))
    assert policy.check_checkpoint(cosigned).size == 3
    # Each witness persisted its own state: asked again from size 0, it answers
    # with the size it cosigned (tlog-witness 409).
    for witness in policy.witnesses.values():
        assert witness.url is not None
        with pytest.raises(Conflict) as moved:
            submit_checkpoint(witness.url, request=request, witness=witness.verifier)
        assert moved.value.details["size"] == 3

    # Stop one: it no longer answers, the other still does.
    processes[1].terminate()
    processes[1].wait(timeout=10)
    assert not witness_reachable(found[1].url, timeout=0.5)
    assert witness_reachable(found[0].url, timeout=0.5)
    good, _bad = policy.cosigners(Note(note.text, note.signatures + tuple(cosigs[:1])))
    assert not policy.satisfied_by(good)

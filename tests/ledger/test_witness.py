"""C2SP tlog-witness: the add-checkpoint handler, its ASGI app, client, and a real process."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from datacompact.errors import (
    Conflict,
    Forbidden,
    MalformedInput,
    NotFound,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.merkle import consistency_proof
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note, verify_note
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Witness,
    WitnessState,
    create_app,
    logs_from_vkeys,
    submit_checkpoint,
)

from .conftest import MemoryLog

NOW = 1_700_000_000


class _SyncASGITransport(httpx.BaseTransport):
    """Drives an ASGI app in-process from a sync ``httpx.Client``, one event loop per call."""

    def __init__(self, app: object) -> None:
        self._inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(run())


def TestClient(app: object) -> httpx.Client:  # reads like the Starlette helper
    return httpx.Client(transport=_SyncASGITransport(app), base_url="http://testserver")


def make_witness(log: MemoryLog, state: Path, name: str = "witness.example/w1") -> Witness:
    return Witness(
        signer=CosignatureSigner.generate(name),
        logs=logs_from_vkeys([log.signer.verifier().vkey]),
        state_dir=state,
        clock=lambda: NOW,
    )


def body(log: MemoryLog, old: int, new: int, proof: list[bytes] | None = None) -> bytes:
    if proof is None:
        proof = consistency_proof(old, new, log.hashes)
    return AddCheckpointRequest(old, tuple(proof), log.signed(new)).to_bytes()


def test_first_checkpoint_then_a_consistent_advance(memory_log: MemoryLog, tmp_path: Path) -> None:
    witness = make_witness(memory_log, tmp_path)
    first = witness.handle(body(memory_log, 0, 10))
    assert first.status == 200
    lines = first.body.decode()
    assert lines.startswith("\u2014 witness.example/w1 ")
    assert lines.endswith("\n")
    # The client may append the response to the checkpoint and open it as a note.
    opened = verify_note(memory_log.signed(10).to_text() + lines, [witness.signer.verifier()])
    assert opened.verified_names == {"witness.example/w1"}
    assert (
        witness.signer.verifier().timestamp_of(
            memory_log.checkpoint(10).to_text(), opened.verified[0].signature
        )
        == NOW
    )
    second = witness.handle(body(memory_log, 10, 33))
    assert second.status == 200
    assert WitnessState(tmp_path).load(memory_log.origin) == memory_log.checkpoint(33)


def test_request_body_round_trips_and_matches_the_spec_layout(memory_log: MemoryLog) -> None:
    raw = body(memory_log, 10, 33)
    text = raw.decode()
    head, _, rest = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "old 10"
    assert all(len(base64.b64decode(line)) == 32 for line in lines[1:])
    assert rest.startswith(memory_log.origin + "\n33\n")
    assert AddCheckpointRequest.from_bytes(raw).to_bytes() == raw


def test_stale_old_size_gets_409_with_the_current_size(
    memory_log: MemoryLog, tmp_path: Path
) -> None:
    witness = make_witness(memory_log, tmp_path)
    assert witness.handle(body(memory_log, 0, 20)).status == 200
    stale = witness.handle(body(memory_log, 10, 30))
    assert (stale.status, stale.content_type, stale.body) == (409, SIZE_CONTENT_TYPE, b"20\n")
    fresh = witness.handle(body(memory_log, 0, 30))
    assert (fresh.status, fresh.body) == (409, b"20\n")


def test_bad_proof_gets_422_and_changes_nothing(memory_log: MemoryLog, tmp_path: Path) -> None:
    witness = make_witness(memory_log, tmp_path)
    assert witness.handle(body(memory_log, 0, 13)).status == 200
    proof = consistency_proof(13, 29, memory_log.hashes)
    proof[1] = bytes(32)
    assert witness.handle(body(memory_log, 13, 29, proof)).status == 422
    assert witness.handle(body(memory_log, 13, 29, [])).status == 422
    assert WitnessState(tmp_path).load(memory_log.origin) == memory_log.checkpoint(13)


def test_proof_must_be_empty_from_zero(memory_log: MemoryLog, tmp_path: Path) -> None:
    witness = make_witness(memory_log, tmp_path)
    extra = consistency_proof(5, 9, memory_log.hashes)
    assert witness.handle(body(memory_log, 0, 9, extra)).status == 422


def test_same_size_same_root_is_cosigned_again_other_root_is_409(
    memory_log: MemoryLog, tmp_path: Path
) -> None:
    witness = make_witness(memory_log, tmp_path)
    assert witness.handle(body(memory_log, 0, 8)).status == 200
    assert witness.handle(body(memory_log, 8, 8)).status == 200
    forked = Checkpoint(memory_log.origin, 8, bytes(32)).to_text()
    note = sign_note(forked, [memory_log.signer])
    answer = witness.handle(AddCheckpointRequest(8, (), note).to_bytes())
    assert answer.status == 409
    assert answer.content_type != SIZE_CONTENT_TYPE


def test_old_size_above_checkpoint_size_is_400(memory_log: MemoryLog, tmp_path: Path) -> None:
    witness = make_witness(memory_log, tmp_path)
    request = AddCheckpointRequest(11, (), memory_log.signed(10)).to_bytes()
    assert witness.handle(request).status == 400


def test_unknown_origin_is_404_and_bad_signatures_403(
    memory_log: MemoryLog, tmp_path: Path
) -> None:
    witness = make_witness(memory_log, tmp_path)
    other = MemoryLog(Ed25519Signer.generate("example.com/other"), origin="example.com/other")
    other.append(3)
    assert witness.handle(body(other, 0, 3)).status == 404
    # Signed by an unknown key under the log's name: no trusted signature.
    impostor = Ed25519Signer.generate(memory_log.origin)
    note = sign_note(memory_log.checkpoint(5).to_text(), [impostor])
    assert witness.handle(AddCheckpointRequest(0, (), note).to_bytes()).status == 403
    # Right key, altered text: the known key's signature fails.
    good = memory_log.signed(5)
    altered = Note(memory_log.checkpoint(6).to_text(), good.signatures)
    assert witness.handle(AddCheckpointRequest(0, (), altered).to_bytes()).status == 403
    assert WitnessState(tmp_path).load(memory_log.origin) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"old 01\n\n",
        b"old -1\n\n",
        b"new 1\n\n",
        b"old 0\nnot-base64\n\n",
        b"old 0\n" + b"AAAA\n" + b"\n",
        b"old 0\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n",
        b"old 0\n",
        b"\xff\xfe",
        b"old 0\n\nnot a note\n",
    ],
)
def test_malformed_requests_are_400(raw: bytes, tmp_path: Path, memory_log: MemoryLog) -> None:
    witness = make_witness(memory_log, tmp_path)
    assert witness.handle(raw).status == 400
    with pytest.raises(MalformedInput):
        AddCheckpointRequest.from_bytes(raw)


def test_state_is_persisted_before_the_cosignature_is_made(
    memory_log: MemoryLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = make_witness(memory_log, tmp_path)
    real_cosign = witness.signer.cosign
    seen: list[Checkpoint | None] = []

    def cosign(text: str, timestamp: int):
        # A fresh reader of the directory must already see the new state.
        seen.append(WitnessState(tmp_path).load(memory_log.origin))
        return real_cosign(text, timestamp)

    monkeypatch.setattr(witness.signer, "cosign", cosign)
    assert witness.handle(body(memory_log, 0, 17)).status == 200
    assert seen == [memory_log.checkpoint(17)]
    # No temporary files are left behind.
    assert sorted(p.name for p in next(tmp_path.iterdir()).iterdir()) == ["checkpoint", "lock"]


def test_failed_persistence_answers_503_without_a_cosignature(
    memory_log: MemoryLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    witness = make_witness(memory_log, tmp_path)

    def broken_fsync(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    answer = witness.handle(body(memory_log, 0, 5))
    assert answer.status == 503
    assert "\u2014" not in answer.body.decode()
    monkeypatch.undo()
    assert WitnessState(tmp_path).load(memory_log.origin) is None
    assert not any(p.name.endswith(".tmp") for p in next(tmp_path.iterdir()).iterdir())


def test_asgi_app_and_client(memory_log: MemoryLog, tmp_path: Path) -> None:
    witness = make_witness(memory_log, tmp_path)
    verifier = witness.signer.verifier()
    with TestClient(create_app(witness)) as client:
        request = AddCheckpointRequest(0, (), memory_log.signed(12))
        sigs = submit_checkpoint(
            "http://testserver", request=request, witness=verifier, client=client
        )
        assert [s.name for s in sigs] == ["witness.example/w1"]
        response = client.post("/add-checkpoint", content=request.to_bytes())
        assert response.status_code == 409
        assert response.headers["content-type"] == SIZE_CONTENT_TYPE
        assert response.text == "12\n"
        with pytest.raises(Conflict) as caught:
            submit_checkpoint("http://testserver", request=request, witness=verifier, client=client)
        assert caught.value.details == {"size": 12}
        bad = AddCheckpointRequest(12, (bytes(32),), memory_log.signed(20))
        with pytest.raises(VerificationFailed):
            submit_checkpoint("http://testserver", request=bad, witness=verifier, client=client)
        impostor = sign_note(memory_log.checkpoint(20).to_text(), [Ed25519Signer.generate("x")])
        with pytest.raises(Forbidden):
            submit_checkpoint(
                "http://testserver",
                request=AddCheckpointRequest(12, (), impostor),
                witness=verifier,
                client=client,
            )
        other = Checkpoint("elsewhere", 1, bytes(32)).to_text()
        with pytest.raises(NotFound):
            submit_checkpoint(
                "http://testserver",
                request=AddCheckpointRequest(
                    0, (), sign_note(other, [Ed25519Signer.generate("y")])
                ),
                witness=verifier,
                client=client,
            )
        assert client.post("/add-checkpoint", content=b"x" * (70 * 1024)).status_code == 413
        assert client.get("/add-checkpoint").status_code == 405
        # A cosignature from some other witness key is not accepted by the client.
        stranger = CosignatureSigner.generate("witness.example/w1").verifier()
        good = AddCheckpointRequest(
            12, tuple(consistency_proof(12, 20, memory_log.hashes)), memory_log.signed(20)
        )
        with pytest.raises(VerificationFailed, match="by the witness key"):
            submit_checkpoint("http://testserver", request=good, witness=stranger, client=client)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_witness_that_is_down_is_unavailable_and_misses_the_quorum(
    memory_log: MemoryLog, tmp_path: Path
) -> None:
    up = make_witness(memory_log, tmp_path / "up", "w-up.example")
    down = CosignatureSigner.generate("w-down.example")
    request = AddCheckpointRequest(0, (), memory_log.signed(9))
    with pytest.raises(StoreUnavailable, match="no response"):
        submit_checkpoint(
            f"http://127.0.0.1:{_free_port()}", request=request, witness=down.verifier(), timeout=2
        )
    with TestClient(create_app(up)) as client:
        sigs = submit_checkpoint(
            "http://testserver", request=request, witness=up.signer.verifier(), client=client
        )
    policy_text = (
        f"log {memory_log.signer.verifier().vkey}\n"
        f"witness up {up.signer.verifier().vkey}\n"
        f"witness down {down.verifier().vkey}\n"
        "group both all up down\ngroup either any up down\n"
    )
    note = Note(request.note.text, (*request.note.signatures, *sigs))
    assert Policy.from_text(policy_text + "quorum either\n").check_checkpoint(note).size == 9
    with pytest.raises(VerificationFailed, match="quorum"):
        Policy.from_text(policy_text + "quorum both\n").check_checkpoint(note)


def _start_witness(key: Path, log_vkey: str, state: Path, port: int) -> subprocess.Popen[bytes]:
    code = "from datacompact.cli._ledger_offline import witness_app; witness_app()"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            "--key",
            str(key),
            "--log-key",
            log_vkey,
            "--state",
            str(state),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("witness process did not start listening")


@pytest.mark.slow
def test_witness_process_persists_across_restarts(memory_log: MemoryLog, tmp_path: Path) -> None:
    signer = CosignatureSigner.generate("witness.example/proc")
    key = tmp_path / "witness.key"
    key.write_text(signer.skey + "\n")
    state = tmp_path / "state"
    vkey = memory_log.signer.verifier().vkey
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = _start_witness(key, vkey, state, port)
    try:
        first = AddCheckpointRequest(0, (), memory_log.signed(10))
        assert submit_checkpoint(url, request=first, witness=signer.verifier())
    finally:
        process.kill()
        process.wait()
    with pytest.raises(StoreUnavailable):
        submit_checkpoint(url, request=first, witness=signer.verifier(), timeout=2)
    process = _start_witness(key, vkey, state, port)
    try:
        with pytest.raises(Conflict) as caught:
            submit_checkpoint(url, request=first, witness=signer.verifier())
        assert caught.value.details == {"size": 10}
        proof = tuple(consistency_proof(10, 25, memory_log.hashes))
        advance = AddCheckpointRequest(10, proof, memory_log.signed(25))
        with httpx.Client() as client:
            assert submit_checkpoint(url, request=advance, witness=signer.verifier(), client=client)
    finally:
        process.kill()
        process.wait()

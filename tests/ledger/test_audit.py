"""``datacompact audit``: mirror a served log, recompute it, and catch every tamper case.

The log is served by a small Starlette app with real C2SP tlog-tiles endpoints
over the in-memory log of ``conftest.py``, driven in-process through
``httpx.ASGITransport``. Tampering is done on what the app serves, the way an
operator editing its database would change it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import typer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from datacompact.cli import _audit as audit_cli
from datacompact.errors import (
    DataCompactError,
    InvalidInput,
    MalformedInput,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.ledger.auditor._mirror import segment_name
from datacompact.ledger.auditor.audit import AuditResult, Finding, audit_log
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.merkle import leaf_hash
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note
from datacompact.ledger.formats.tiles import (
    encode_entry_bundle,
    parse_entry_bundle,
    parse_tile_path,
    tile_for,
    tile_hashes,
)

from .conftest import LOG_ORIGIN, MemoryLog

URL = "http://log.test/ledger"
NOW = 1_700_000_000


@dataclass
class ServedLog:
    """What the operator serves: a log's entries, tiles and cosigned checkpoint, tamperable."""

    log: MemoryLog
    cosigners: list[CosignatureSigner]
    size: int = 0
    entries: list[bytes] = field(default_factory=list)
    overrides: dict[str, bytes] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    note: str | None = None
    requests: list[str] = field(default_factory=list)

    def publish(self) -> None:
        """Serve the log as it is now: honest entries and a fresh cosigned checkpoint."""
        self.size = len(self.log.entries)
        self.entries = list(self.log.entries)
        self.note = self.cosigned(self.log.signed(self.size))

    def cosigned(self, note: Note, cosigners: list[CosignatureSigner] | None = None) -> str:
        signers = self.cosigners if cosigners is None else cosigners
        cosigs = tuple(c.cosign(note.text, NOW) for c in signers)
        return Note(note.text, note.signatures + cosigs).to_text()

    def respond(self, path: str) -> tuple[int, bytes]:
        self.requests.append(path)
        if path in self.missing:
            return 404, b"not found\n"
        if path in self.overrides:
            return 200, self.overrides[path]
        if path == "checkpoint":
            return 200, (self.note or "").encode()
        try:
            tile = parse_tile_path(path)
        except DataCompactError:
            return 400, b"bad path\n"
        if tile.entries:
            start = tile.index * 256
            if start + tile.width > self.size:
                return 404, b"beyond the tree\n"
            return 200, encode_entry_bundle(self.entries[start : start + tile.width])
        try:
            last = tile.first_hash_index + tile.width - 1
            if tile_for(tile.level, last, self.size) != tile:
                return 404, b"no such tile\n"
        except DataCompactError:
            return 404, b"beyond the tree\n"
        return 200, tile_hashes(tile, self.log.hashes)

    def app(self) -> Starlette:
        async def checkpoint(request: Request) -> Response:
            status, body = self.respond("checkpoint")
            return Response(body, status, media_type="text/plain; charset=utf-8")

        async def tile(request: Request) -> Response:
            status, body = self.respond("tile/" + request.path_params["rest"])
            return Response(body, status, media_type="application/octet-stream")

        return Starlette(
            routes=[
                Route("/ledger/checkpoint", checkpoint),
                Route("/ledger/tile/{rest:path}", tile),
            ]
        )


class _SyncASGITransport(httpx.BaseTransport):
    """Drives the ASGI app from a sync ``httpx.Client``: one event loop per request."""

    def __init__(self, app: Starlette) -> None:
        self._inner = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            response = await self._inner.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(run())


def extend(log: MemoryLog, entries: list[bytes]) -> None:
    """Append chosen entries (MemoryLog.append only makes ``entry {i}``)."""
    log.entries.extend(entries)
    log.hashes.add(log.edge.append(leaf_hash(e) for e in entries).nodes)


@dataclass
class Auditor:
    """The audit's fixed inputs: keys, state directory and a client on the served log."""

    served: ServedLog
    state: Path
    log_vkey: str
    witness_vkeys: list[str]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=_SyncASGITransport(self.served.app()))

    def run(self, *, quorum: int | None = None, log_vkey: str | None = None) -> AuditResult:
        with self.client() as client:
            return audit_log(
                url=URL,
                log_key=log_vkey or self.log_vkey,
                state_dir=self.state,
                witness_keys=self.witness_vkeys,
                quorum=quorum,
                client=client,
            )

    def fails(self, finding: Finding, error: type[DataCompactError] = VerificationFailed) -> str:
        with pytest.raises(error) as caught:
            self.run()
        assert caught.value.details["finding"] == finding.value, caught.value.message
        assert caught.value.message.startswith("expected")
        return caught.value.message


@pytest.fixture
def witnesses() -> list[CosignatureSigner]:
    return [CosignatureSigner.generate(f"witness.example/w{i}") for i in (1, 2)]


@pytest.fixture
def served(memory_log: MemoryLog, witnesses: list[CosignatureSigner]) -> ServedLog:
    memory_log.append(600 - len(memory_log.entries))
    served = ServedLog(memory_log, witnesses)
    served.publish()
    return served


@pytest.fixture
def auditor(served: ServedLog, witnesses: list[CosignatureSigner], tmp_path: Path) -> Auditor:
    return Auditor(
        served,
        tmp_path / "state",
        served.log.signer.verifier().vkey,
        [w.verifier().vkey for w in witnesses],
    )


def mirrored_entries(state: Path, size: int) -> list[bytes]:
    data = (state / "entries" / segment_name(0, size)).read_bytes()
    entries: list[bytes] = []
    while data:
        # A segment is bundles back to back; re-split it bundle by bundle.
        pos, count = 0, 0
        while pos < len(data) and count < 256:
            pos += 2 + int.from_bytes(data[pos : pos + 2], "big")
            count += 1
        entries += parse_entry_bundle(data[:pos])
        data = data[pos:]
    return entries


# --- verified runs -------------------------------------------------------------------------


def test_first_audit_verifies_and_mirrors_every_entry(auditor: Auditor) -> None:
    result = auditor.run()
    assert (result.size, result.previous_size, result.entries_fetched) == (600, 0, 600)
    assert result.root_hash == auditor.served.log.checkpoint(600).root_hash
    assert result.witnesses == ("witness.example/w1", "witness.example/w2")
    assert result.quorum == 2
    assert mirrored_entries(auditor.state, 600) == auditor.served.log.entries
    state = json.loads((auditor.state / "state.json").read_text())
    assert state["size"] == 600
    assert state["origin"] == LOG_ORIGIN
    assert state["checkpoint"] == auditor.served.note
    assert (auditor.state / "checkpoint").read_text() == auditor.served.note
    # 3 bundles + 3 level-0 tiles + 1 level-1 tile + the checkpoint.
    assert result.requests == 8
    assert sorted(p.name for p in (auditor.state / "entries").iterdir()) == ["000000.600"]


def test_second_run_after_appends_is_incremental(auditor: Auditor) -> None:
    auditor.run()
    auditor.served.log.append(300)
    auditor.served.publish()
    auditor.served.requests.clear()
    result = auditor.run()
    assert (result.size, result.previous_size, result.entries_fetched) == (900, 600, 300)
    # Bundle 2 (partial before) is fetched again; bundles 0 and 1 are not.
    # The fetch pool answers in any order; which bundles were fetched is what counts.
    bundles = sorted(p for p in auditor.served.requests if p.startswith("tile/entries/"))
    assert bundles == ["tile/entries/002", "tile/entries/003.p/132"]
    assert mirrored_entries(auditor.state, 900) == auditor.served.log.entries
    assert sorted(p.name for p in (auditor.state / "entries").iterdir()) == ["000000.900"]
    again = auditor.run()
    assert (again.size, again.entries_fetched) == (900, 0)


def test_runs_from_an_empty_log_and_across_bundle_boundaries(
    witnesses: list[CosignatureSigner], tmp_path: Path
) -> None:
    log = MemoryLog(Ed25519Signer.generate(LOG_ORIGIN))
    served = ServedLog(log, witnesses)
    served.publish()
    auditor = Auditor(served, tmp_path, log.signer.verifier().vkey, [])
    assert auditor.run().size == 0
    for step in (1, 255, 256, 1, 511, 3):
        log.append(step)
        served.publish()
        result = auditor.run()
        assert result.size == len(log.entries)
    assert mirrored_entries(tmp_path, len(log.entries)) == log.entries


@pytest.mark.slow
def test_segments_roll_over_at_65536_entries(
    witnesses: list[CosignatureSigner], tmp_path: Path
) -> None:
    log = MemoryLog(Ed25519Signer.generate(LOG_ORIGIN))
    log.append(65_000)
    served = ServedLog(log, witnesses)
    served.publish()
    auditor = Auditor(served, tmp_path, log.signer.verifier().vkey, [])
    auditor.run()
    log.append(1_000)
    served.publish()
    assert auditor.run().entries_fetched == 1_000
    names = sorted(p.name for p in (tmp_path / "entries").iterdir())
    assert names == ["000000.65536", "000001.464"]


def test_quorum_defaults_to_all_witnesses_and_can_be_lowered(auditor: Auditor) -> None:
    served = auditor.served
    served.note = served.cosigned(served.log.signed(600), served.cosigners[:1])
    auditor.fails(Finding.QUORUM)
    assert auditor.run(quorum=1).witnesses == ("witness.example/w1",)


# --- tampering on the first run --------------------------------------------------------------


def test_modified_entry_is_detected(auditor: Auditor) -> None:
    auditor.served.entries[300] = b"entry 300, edited"
    auditor.fails(Finding.ALTERED_ENTRY)
    assert not (auditor.state / "state.json").exists()


def test_deleted_entry_short_bundle_is_a_missing_entry(auditor: Auditor) -> None:
    del auditor.served.entries[10]
    auditor.served.entries.append(b"padding so the total stays the same")
    # The operator serves bundle 0 without the deleted entry.
    bundle = encode_entry_bundle(
        auditor.served.log.entries[:10] + auditor.served.log.entries[11:256]
    )
    auditor.served.overrides["tile/entries/000"] = bundle
    assert "got 255" in auditor.fails(Finding.MISSING_ENTRY)


def test_deleted_bundle_404_is_a_missing_entry(auditor: Auditor) -> None:
    auditor.served.missing.add("tile/entries/001")
    auditor.fails(Finding.MISSING_ENTRY)


def test_reordered_entries_are_detected(auditor: Auditor) -> None:
    entries = auditor.served.entries
    entries[5], entries[6] = entries[6], entries[5]
    auditor.fails(Finding.ALTERED_ENTRY)


def test_inserted_entry_is_detected(auditor: Auditor) -> None:
    auditor.served.entries.insert(400, b"an entry that was never logged")
    auditor.fails(Finding.ALTERED_ENTRY)


@pytest.mark.parametrize("path", ["tile/0/000", "tile/0/002.p/88", "tile/1/000.p/2"])
def test_altered_hash_tile_is_detected(auditor: Auditor, path: str) -> None:
    status, honest = auditor.served.respond(path)
    assert status == 200
    auditor.served.overrides[path] = honest[:-1] + bytes([honest[-1] ^ 1])
    assert path.split("/")[1] in auditor.fails(Finding.ALTERED_TILE)


def test_missing_hash_tile_is_detected(auditor: Auditor) -> None:
    auditor.served.missing.add("tile/1/000.p/2")
    auditor.fails(Finding.MISSING_TILE)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("tile/entries/000", b"\x00\x10short"),
        ("tile/entries/002.p/88", encode_entry_bundle([b"x"] * 89)),
        ("tile/0/001", b"\x00" * 31),
        ("checkpoint", b"not a signed note"),
        ("checkpoint", b"\xff\xfe"),
    ],
)
def test_malformed_bundles_tiles_and_notes_are_malformed_input(
    auditor: Auditor, path: str, body: bytes
) -> None:
    auditor.served.overrides[path] = body
    auditor.fails(Finding.MALFORMED, MalformedInput)


# --- signatures and witnesses ------------------------------------------------------------------


def test_bad_log_signature_is_detected(auditor: Auditor) -> None:
    served = auditor.served
    impostor = Ed25519Signer.generate(LOG_ORIGIN)
    note = sign_note(served.log.checkpoint(600).to_text(), [impostor])
    # Same name, other key: the signature line does not match the known key ID.
    served.note = served.cosigned(note)
    auditor.fails(Finding.BAD_SIGNATURE)
    good = served.log.signed(600)
    sig = good.signatures[0]
    forged = Note(good.text, (type(sig)(sig.name, sig.key_id, bytes(64)),))
    served.note = served.cosigned(forged)
    auditor.fails(Finding.BAD_SIGNATURE)


def test_origin_must_be_the_key_name(auditor: Auditor, served: ServedLog) -> None:
    other = Ed25519Signer.generate("other.example/log")
    served.note = served.cosigned(sign_note(served.log.checkpoint(600).to_text(), [other]))
    with pytest.raises(VerificationFailed) as caught:
        auditor.run(log_vkey=other.verifier().vkey)
    assert caught.value.details["finding"] == Finding.BAD_SIGNATURE.value
    assert "origin" in caught.value.message


def test_witness_cosignature_over_another_checkpoint_does_not_count(auditor: Auditor) -> None:
    served = auditor.served
    note = served.log.signed(600)
    w1, w2 = served.cosigners
    wrong = w2.cosign(served.log.checkpoint(599).to_text(), NOW)
    served.note = Note(note.text, (*note.signatures, w1.cosign(note.text, NOW), wrong)).to_text()
    assert "got 1" in auditor.fails(Finding.QUORUM)
    # The same witness twice is still one witness.
    twice = (w1.cosign(note.text, NOW), w1.cosign(note.text, NOW + 1))
    served.note = Note(note.text, (*note.signatures, *twice)).to_text()
    auditor.fails(Finding.QUORUM)


def test_unknown_cosigners_are_ignored(auditor: Auditor) -> None:
    served = auditor.served
    stranger = CosignatureSigner.generate("witness.example/stranger")
    served.note = served.cosigned(served.log.signed(600), [*served.cosigners, stranger])
    assert len(auditor.run().witnesses) == 2


# --- state between runs: forks, rollbacks, changes on re-fetch ---------------------------------


def test_fork_with_the_same_key_is_detected_on_the_second_run(auditor: Auditor) -> None:
    auditor.run()
    fork = MemoryLog(auditor.served.log.signer)
    extend(fork, [f"forked entry {i}".encode() for i in range(900)])
    forked = ServedLog(fork, auditor.served.cosigners)
    forked.publish()
    auditor.served = forked
    assert "extend" in auditor.fails(Finding.FORK)


def test_fork_of_only_the_old_part_is_detected(auditor: Auditor) -> None:
    auditor.run()
    fork = MemoryLog(auditor.served.log.signer)
    extend(fork, [b"rewritten history", *auditor.served.log.entries[1:]])
    fork.append(300)
    forked = ServedLog(fork, auditor.served.cosigners)
    forked.publish()
    auditor.served = forked
    auditor.fails(Finding.FORK)


def test_same_size_other_root_is_a_fork(auditor: Auditor) -> None:
    auditor.run()
    fork = MemoryLog(auditor.served.log.signer)
    extend(fork, [f"forked entry {i}".encode() for i in range(600)])
    forked = ServedLog(fork, auditor.served.cosigners)
    forked.publish()
    auditor.served = forked
    auditor.fails(Finding.FORK)


def test_smaller_checkpoint_is_a_rollback(auditor: Auditor) -> None:
    auditor.run()
    served = auditor.served
    served.size = 500
    served.note = served.cosigned(served.log.signed(500))
    assert "rollback" in auditor.fails(Finding.FORK)


def test_mirrored_entry_changed_on_refetch_is_detected(auditor: Auditor) -> None:
    auditor.run()
    served = auditor.served
    served.log.append(300)
    served.publish()
    served.entries[520] = b"changed after it was mirrored"
    auditor.fails(Finding.ALTERED_ENTRY)


def test_altered_tile_on_a_later_run_is_detected(auditor: Auditor) -> None:
    auditor.run()
    served = auditor.served
    served.log.append(300)
    served.publish()
    # Tiles the consistency proof reads, and the ones that grew. Full tiles
    # before the old partial bundle are not fetched again: they were checked.
    for path in ("tile/0/002", "tile/0/003.p/132", "tile/1/000.p/3"):
        _status, honest = served.respond(path)
        served.overrides = {path: bytes(32) + honest[32:]}
        auditor.fails(Finding.ALTERED_TILE)


def test_a_failed_run_keeps_the_last_commit(auditor: Auditor) -> None:
    auditor.run()
    before = (auditor.state / "state.json").read_bytes()
    auditor.served.log.append(70)
    auditor.served.publish()
    auditor.served.entries[650] = b"tampered"
    auditor.fails(Finding.ALTERED_ENTRY)
    assert (auditor.state / "state.json").read_bytes() == before
    auditor.served.publish()
    assert auditor.run().entries_fetched == 70


# --- bad local state, bad options, unreachable logs --------------------------------------------


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: "{not json",
        lambda s: s.replace('"size": 600', '"size": 601'),
        lambda s: s.replace('"format": 1', '"format": 2'),
        lambda s: json.dumps({**json.loads(s), "edge": ["AAAA"]}),
        lambda s: json.dumps({**json.loads(s), "checkpoint": "forged\n"}),
    ],
)
def test_corrupt_state_is_reported(auditor: Auditor, edit: Callable[[str], str]) -> None:
    auditor.run()
    path = auditor.state / "state.json"
    path.write_text(edit(path.read_text()))
    auditor.fails(Finding.STATE, MalformedInput)


def test_missing_segment_is_reported(auditor: Auditor) -> None:
    auditor.run()
    (auditor.state / "entries" / "000000.600").unlink()
    auditor.served.log.append(10)
    auditor.served.publish()
    auditor.fails(Finding.STATE, MalformedInput)


def test_state_of_another_log_is_refused(auditor: Auditor, tmp_path: Path) -> None:
    auditor.run()
    other = MemoryLog(Ed25519Signer.generate("other.example/log"), "other.example/log")
    other.append(5)
    served = ServedLog(other, [])
    served.publish()
    second = Auditor(served, auditor.state, other.signer.verifier().vkey, [])
    second.fails(Finding.STATE, MalformedInput)


def test_bad_options_are_invalid_input(auditor: Auditor) -> None:
    with pytest.raises(InvalidInput):
        auditor.run(quorum=3)
    with pytest.raises(MalformedInput):
        auditor.run(log_vkey="not a key")
    auditor.witness_vkeys = [auditor.witness_vkeys[0]] * 2
    with pytest.raises(InvalidInput):
        auditor.run()
    auditor.witness_vkeys = [auditor.log_vkey]  # a type 0x01 key is not a cosigner key
    with pytest.raises(MalformedInput):
        auditor.run()


def test_unreachable_log_and_server_errors(auditor: Auditor) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(StoreUnavailable) as caught,
    ):
        audit_log(url=URL, log_key=auditor.log_vkey, state_dir=auditor.state, client=client)
    assert caught.value.details["finding"] == Finding.UNREACHABLE.value
    auditor.served.missing.add("checkpoint")
    auditor.fails(Finding.UNREACHABLE, StoreUnavailable)
    auditor.served.missing.clear()

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/checkpoint"):
            return httpx.Response(200, content=(auditor.served.note or "").encode())
        return httpx.Response(503)

    with (
        httpx.Client(transport=httpx.MockTransport(flaky)) as client,
        pytest.raises(StoreUnavailable),
    ):
        audit_log(
            url=URL,
            log_key=auditor.log_vkey,
            state_dir=auditor.state,
            witness_keys=auditor.witness_vkeys,
            client=client,
        )


def test_oversized_responses_are_refused(auditor: Auditor) -> None:
    auditor.served.overrides["tile/0/000"] = bytes(8193)
    auditor.fails(Finding.MALFORMED, MalformedInput)


# --- the command line --------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli(auditor: Auditor, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    app = typer.Typer()
    app.command()(audit_cli.audit)
    monkeypatch.setattr(audit_cli, "make_client", auditor.client)
    return app


def _args(auditor: Auditor, *extra: str) -> list[str]:
    args = ["--url", URL, "--key", auditor.log_vkey, "--state", str(auditor.state)]
    for vkey in auditor.witness_vkeys:
        args += ["--witness", vkey]
    return [*args, *extra]


def test_cli_verifies_and_prints_a_summary(auditor: Auditor, cli: typer.Typer) -> None:
    result = runner.invoke(cli, _args(auditor))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("已验证 / verified: ")
    assert "size 600" in result.stdout
    assert "witnesses 2" in result.stdout
    result = runner.invoke(cli, _args(auditor, "--json"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verified"] is True
    assert data["size"] == 600
    assert data["entries_fetched"] == 0
    assert data["root"] == auditor.served.log.checkpoint(600).root_hash.hex()


@pytest.mark.parametrize(
    ("tamper", "code", "prefix"),
    [
        (
            lambda s: s.entries.__setitem__(3, b"x"),
            8,
            "验证失败 / verification failed [verification_failed] [条目被篡改 / altered entry]: expected",
        ),
        (
            lambda s: s.missing.add("tile/entries/001"),
            8,
            "验证失败 / verification failed [verification_failed] [条目缺失 / missing entry]: expected",
        ),
        (
            lambda s: s.overrides.__setitem__("checkpoint", b"junk"),
            2,
            "输入无效 / invalid input [malformed_input] [格式错误 / malformed]: expected",
        ),
        (
            lambda s: s.missing.add("checkpoint"),
            9,
            "存储不可用 / store unavailable [store_unavailable] [日志不可达 / unreachable]: expected",
        ),
    ],
)
def test_cli_failures_are_one_line_with_an_exit_code(
    auditor: Auditor,
    cli: typer.Typer,
    tamper: Callable[[ServedLog], object],
    code: int,
    prefix: str,
) -> None:
    tamper(auditor.served)
    result = runner.invoke(cli, _args(auditor))
    assert result.exit_code == code
    assert result.stderr.startswith(prefix), result.stderr
    assert result.stderr.count("\n") == 1
    result = runner.invoke(cli, _args(auditor, "--json"))
    assert result.exit_code == code
    assert json.loads(result.stderr)["error"]["details"]["finding"]


def test_cli_fork_and_quorum(auditor: Auditor, cli: typer.Typer) -> None:
    assert runner.invoke(cli, _args(auditor)).exit_code == 0
    served = auditor.served
    served.size = 10
    served.note = served.cosigned(served.log.signed(10))
    result = runner.invoke(cli, _args(auditor))
    assert result.exit_code == 8
    assert result.stderr.startswith(
        "验证失败 / verification failed [verification_failed] [分叉 / fork]"
    )
    served.publish()
    served.note = served.cosigned(served.log.signed(600), [])
    result = runner.invoke(cli, _args(auditor))
    assert result.exit_code == 8
    assert "[见证不足 / quorum]" in result.stderr
    assert runner.invoke(cli, _args(auditor, "--quorum", "0")).exit_code == 0


def test_cli_bad_key_is_exit_2(auditor: Auditor, cli: typer.Typer) -> None:
    args = _args(auditor)
    args[3] = "garbage"
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("输入无效 / invalid input [malformed_input]: expected")


# --- over real HTTP --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
def test_audit_over_real_http_with_uvicorn(auditor: Auditor) -> None:
    import uvicorn

    port = _free_port()
    config = uvicorn.Config(auditor.served.app(), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"http://127.0.0.1:{port}/ledger"
        result = audit_log(
            url=url,
            log_key=auditor.log_vkey,
            state_dir=auditor.state,
            witness_keys=auditor.witness_vkeys,
        )
        assert result.size == 600
    finally:
        server.should_exit = True
        thread.join(timeout=10)

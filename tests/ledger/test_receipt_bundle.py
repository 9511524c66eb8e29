"""Receipt bundles verified offline: the good one, and each tampering with its own message."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from datacompact.cli._ledger_offline import verify_app
from datacompact.errors import MalformedInput, VerificationFailed
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.merkle import inclusion_proof
from datacompact.ledger.formats.note import Ed25519Signer, Note, Signature
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.formats.receipt import (
    BUNDLE_FORMAT,
    Receipt,
    make_bundle,
    verify_receipt,
    witness_status,
)

from .conftest import LOG_ORIGIN, MemoryLog

INDEX = 7
SIZE = 40
runner = CliRunner()


@pytest.fixture
def witnesses() -> dict[str, CosignatureSigner]:
    return {name: CosignatureSigner.generate(name) for name in ("w-alpha", "w-beta")}


def _policy(log: MemoryLog, witnesses: dict[str, CosignatureSigner], quorum: str = "2") -> Policy:
    lines = [f"log {log.signer.verifier().vkey}"]
    lines += [f"witness {n} {s.verifier().vkey}" for n, s in witnesses.items()]
    lines += [f"group both {quorum} {' '.join(witnesses)}", "quorum both"]
    return Policy.from_text("\n".join(lines) + "\n")


def _note(log: MemoryLog, cosigners: list[CosignatureSigner]) -> Note:
    note = log.signed(SIZE)
    cosigs = tuple(s.cosign(note.text, 1_700_000_000) for s in cosigners)
    return Note(note.text, note.signatures + cosigs)


def _bundle(log: MemoryLog, cosigners: list[CosignatureSigner], policy: Policy) -> dict[str, Any]:
    return make_bundle(
        log_key=log.signer.verifier(),
        index=INDEX,
        entry=log.entries[INDEX],
        proof=inclusion_proof(INDEX, SIZE, log.hashes),
        note=_note(log, cosigners),
        policy=policy,
    )


def _verify(bundle: dict[str, Any], log: MemoryLog, policy: Policy | None) -> Any:
    receipt = Receipt.from_json(json.dumps(bundle))
    return verify_receipt(receipt, log_key=log.signer.verifier(), policy=policy)


def _check_of(excinfo: pytest.ExceptionInfo[VerificationFailed]) -> str:
    return str(excinfo.value.details["check"])


def test_a_bundle_is_self_contained_and_verifies(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    assert bundle["format"] == BUNDLE_FORMAT
    assert bundle["origin"] == LOG_ORIGIN
    assert bundle["log_key"] == memory_log.signer.verifier().vkey
    assert len(bundle["cosignatures"]) == 2
    # The checkpoint carries the log's signature only; cosignatures stand apart.
    assert len(Note.from_text(bundle["checkpoint"]).signatures) == 1
    assert bundle["witnessed"] is True
    assert bundle["cosigners"] == ["w-alpha", "w-beta"]
    assert bundle["witness_policy"]["quorum"] == "2 of (w-alpha, w-beta)"
    verdict = _verify(bundle, memory_log, policy)
    assert (verdict.index, verdict.tree_size, verdict.witnessed) == (INDEX, SIZE, True)
    assert verdict.cosigners == ("w-alpha", "w-beta")
    line = verdict.summary()
    assert "\n" not in line
    assert f"entry {INDEX}" in line
    assert f"size {SIZE}" in line
    assert "w-alpha, w-beta (quorum 2 of (w-alpha, w-beta))" in line


def test_without_a_policy_the_witnesses_are_not_claimed(memory_log: MemoryLog) -> None:
    note = _note(memory_log, [])
    assert witness_status(None, note)["witnessed"] is False
    bundle = _bundle(memory_log, [], Policy.from_text("quorum none\n"))
    assert bundle["witnessed"] is False  # quorum none witnesses nothing
    verdict = _verify(bundle, memory_log, None)
    assert verdict.witnessed is None
    assert "witnesses not checked" in verdict.summary()


def test_a_tampered_proof_fails_the_inclusion_check(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    first = bytearray.fromhex(bundle["inclusion_proof"][0])
    first[0] ^= 1
    bundle["inclusion_proof"][0] = first.hex()
    with pytest.raises(VerificationFailed, match="inclusion proof does not lead") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "inclusion_proof"


def test_a_proof_for_another_index_fails(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    bundle["inclusion_proof"] = bundle["inclusion_proof"][:-1]
    with pytest.raises(VerificationFailed) as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "inclusion_proof"


def test_a_tampered_entry_fails_the_entry_check(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    bundle["entry"] = base64.b64encode(b"entry 8").decode()
    with pytest.raises(VerificationFailed, match="does not hash to the leaf") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "entry"


def test_a_tampered_checkpoint_fails_its_signature(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    # Another root under the log's old signature.
    body, _sep, sigs = bundle["checkpoint"].partition("\n\n")
    origin, size, _root = body.split("\n")
    forged = base64.b64encode(bytes(32)).decode()
    bundle["checkpoint"] = f"{origin}\n{size}\n{forged}\n\n{sigs}"
    bundle["root_hash"] = bytes(32).hex()
    with pytest.raises(VerificationFailed, match="checkpoint's signature") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "checkpoint"


def test_a_receipt_size_that_is_not_the_checkpoints_fails(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    bundle["tree_size"] = SIZE - 1
    with pytest.raises(VerificationFailed, match="differs from its signed checkpoint") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "checkpoint"


def test_a_tampered_cosignature_fails_and_names_the_witness(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    sig = Signature.from_line(bundle["cosignatures"][1])
    blob = bytearray(sig.signature)
    blob[-1] ^= 1
    bundle["cosignatures"][1] = Signature(sig.name, sig.key_id, bytes(blob)).to_line().strip()
    with pytest.raises(VerificationFailed, match="cosignature of witness w-beta") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "cosignature"


def test_a_cosignature_over_another_checkpoint_fails(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    other = memory_log.signed(SIZE - 1)
    beta = witnesses["w-beta"].cosign(other.text, 1_700_000_000)
    bundle["cosignatures"][1] = beta.to_line().strip()
    with pytest.raises(VerificationFailed) as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "cosignature"


def test_a_missing_cosigner_fails_the_quorum_and_is_named(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, [witnesses["w-alpha"]], policy)
    assert bundle["witnessed"] is False
    assert bundle["missing"] == ["w-beta"]
    with pytest.raises(VerificationFailed, match="cosigned by w-alpha, missing w-beta") as excinfo:
        _verify(bundle, memory_log, policy)
    assert _check_of(excinfo) == "quorum"
    # One of two is enough under a 1-of-2 policy.
    verdict = _verify(bundle, memory_log, _policy(memory_log, witnesses, quorum="1"))
    assert verdict.witnessed is True
    assert verdict.missing == ("w-beta",)


def test_a_bundle_of_another_log_is_refused(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    bundle = _bundle(memory_log, list(witnesses.values()), policy)
    other = Ed25519Signer.generate("other.example/log").verifier()
    with pytest.raises(VerificationFailed, match="for another log: its origin") as excinfo:
        verify_receipt(Receipt.from_json(bundle), log_key=other, policy=policy)
    assert _check_of(excinfo) == "log"
    # Same origin, another key: a second log under our name.
    impostor = Ed25519Signer.generate(LOG_ORIGIN).verifier()
    with pytest.raises(VerificationFailed, match="names another log key") as excinfo:
        verify_receipt(Receipt.from_json(bundle), log_key=impostor, policy=policy)
    assert _check_of(excinfo) == "log"
    # Without the key field, the checkpoint's signature still gives it away.
    stripped = copy.deepcopy(bundle)
    del stripped["log_key"]
    with pytest.raises(VerificationFailed) as excinfo:
        verify_receipt(Receipt.from_json(stripped), log_key=impostor, policy=policy)
    assert _check_of(excinfo) == "checkpoint"


def test_a_plain_receipt_with_cosignatures_in_its_note_verifies(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner]
) -> None:
    policy = _policy(memory_log, witnesses)
    note = _note(memory_log, list(witnesses.values()))
    plain = {
        "index": INDEX,
        "entry": base64.b64encode(memory_log.entries[INDEX]).decode(),
        "tree_size": SIZE,
        "inclusion_proof": [h.hex() for h in inclusion_proof(INDEX, SIZE, memory_log.hashes)],
        "checkpoint": note.to_text(),
    }
    assert _verify(plain, memory_log, policy).witnessed is True
    wrapped = {"data": {}, "receipt": {"log_index": INDEX, "proof": plain}}
    assert _verify(wrapped, memory_log, policy).index == INDEX


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(format="another/v9"),
        lambda b: b.update(index="7"),
        lambda b: b.update(inclusion_proof=["zz"]),
        lambda b: b.update(entry="not base64!"),
        lambda b: b.update(cosignatures="— w x"),
        lambda b: b.pop("checkpoint"),
    ],
)
def test_malformed_bundles_are_input_errors(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner], mutate: Any
) -> None:
    bundle = _bundle(memory_log, list(witnesses.values()), _policy(memory_log, witnesses))
    mutate(bundle)
    with pytest.raises(MalformedInput):
        Receipt.from_json(json.dumps(bundle))


def test_text_that_is_not_json_is_an_input_error() -> None:
    with pytest.raises(MalformedInput, match="not JSON"):
        Receipt.from_json(b"\x00 not json")


def test_the_command_line_separates_usage_errors_from_failed_checks(
    memory_log: MemoryLog, witnesses: dict[str, CosignatureSigner], tmp_path: Path
) -> None:
    policy = _policy(memory_log, witnesses)
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(_bundle(memory_log, list(witnesses.values()), policy)))
    vkey = memory_log.signer.verifier().vkey

    no_key = runner.invoke(verify_app, ["receipt", str(path)])
    assert no_key.exit_code == 2
    assert "expected --log-key" in no_key.stderr

    plain = runner.invoke(verify_app, ["receipt", str(path), "--log-key", vkey, "--json"])
    assert plain.exit_code == 0, plain.stderr
    assert json.loads(plain.stdout)["witnessed"] is None

    other = Ed25519Signer.generate("other.example/log").verifier().vkey
    wrong = runner.invoke(verify_app, ["receipt", str(path), "--log-key", other])
    assert wrong.exit_code == 8
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert "the receipt is for another log" in wrong.stderr

    path.write_text("{}")
    malformed = runner.invoke(verify_app, ["receipt", str(path), "--log-key", vkey])
    assert malformed.exit_code == 2
    assert "malformed receipt" in malformed.stderr

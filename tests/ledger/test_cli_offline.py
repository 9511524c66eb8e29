"""The offline CLI: verify note/inclusion/consistency and witness keygen, with exit codes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacompact.cli._ledger_offline import verify_app, witness_app
from datacompact.ledger.formats.cosignature import CosignatureSigner, CosignatureVerifier
from datacompact.ledger.formats.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
)
from datacompact.ledger.formats.note import Note

from .conftest import MemoryLog
from .test_note import SUMDB_NOTE, SUMDB_VKEY

runner = CliRunner()


def _hexes(items: list[bytes]) -> str:
    return ",".join(h.hex() for h in items)


def test_verify_note_with_a_published_key(tmp_path: Path) -> None:
    path = tmp_path / "sumdb.note"
    path.write_text(SUMDB_NOTE)
    result = runner.invoke(verify_app, ["note", str(path), "--key", SUMDB_VKEY])
    assert result.exit_code == 0, result.stderr
    assert "sum.golang.org" in result.stdout


def test_verify_note_failures_print_one_line(tmp_path: Path, memory_log: MemoryLog) -> None:
    path = tmp_path / "sumdb.note"
    path.write_text(SUMDB_NOTE)
    other = memory_log.signer.verifier().vkey
    result = runner.invoke(verify_app, ["note", str(path), "--key", other])
    assert result.exit_code == 8
    assert result.stderr.startswith(
        "验证失败 / verification failed [verification_failed]: expected"
    )
    assert result.stderr.count("\n") == 1
    path.write_text("garbage")
    result = runner.invoke(verify_app, ["note", str(path), "--key", SUMDB_VKEY])
    assert result.exit_code == 2
    assert result.stderr.startswith("输入无效 / invalid input [malformed_input]: expected")
    result = runner.invoke(verify_app, ["note", str(tmp_path / "missing"), "--key", SUMDB_VKEY])
    assert result.exit_code == 6
    result = runner.invoke(verify_app, ["note", str(path), "--key", "not a key"])
    assert result.exit_code == 2


def test_verify_inclusion_against_a_root_and_a_checkpoint(
    tmp_path: Path, memory_log: MemoryLog
) -> None:
    size, index = 37, 11
    proof = inclusion_proof(index, size, memory_log.hashes)
    args = [
        "inclusion",
        "--leaf-hash",
        leaf_hash(memory_log.entries[index]).hex(),
        "--index",
        str(index),
        "--size",
        str(size),
        "--proof",
        _hexes(proof),
    ]
    root = tree_root(size, memory_log.hashes).hex()
    assert runner.invoke(verify_app, [*args, "--root", root]).exit_code == 0
    checkpoint = tmp_path / "checkpoint"
    checkpoint.write_text(memory_log.signed(size).to_text())
    vkey = memory_log.signer.verifier().vkey
    result = runner.invoke(verify_app, [*args, "--checkpoint", str(checkpoint), "--key", vkey])
    assert result.exit_code == 0, result.stderr
    tampered = [*args[:-1], _hexes([bytes(32), *proof[1:]])]
    result = runner.invoke(verify_app, [*tampered, "--root", root])
    assert result.exit_code == 8
    assert result.stderr.startswith("验证失败")
    result = runner.invoke(verify_app, [*args, "--root", root, "--checkpoint", str(checkpoint)])
    assert result.exit_code == 2
    result = runner.invoke(verify_app, [*args, "--checkpoint", str(checkpoint)])
    assert result.exit_code == 2
    wrong_size = [*args[:6], str(size + 1), *args[7:]]
    result = runner.invoke(
        verify_app, [*wrong_size, "--checkpoint", str(checkpoint), "--key", vkey]
    )
    assert result.exit_code == 8
    result = runner.invoke(verify_app, [*args, "--root", root[:-2]])
    assert result.exit_code == 2
    assert "expected 64 hex digits of root hash, got 62" in result.stderr


def test_verify_single_leaf_inclusion_with_an_empty_proof(memory_log: MemoryLog) -> None:
    leaf = leaf_hash(memory_log.entries[0]).hex()
    args = ["inclusion", "--leaf-hash", leaf, "--index", "0", "--size", "1", "--root", leaf]
    assert runner.invoke(verify_app, args).exit_code == 0


def test_verify_consistency(memory_log: MemoryLog) -> None:
    proof = consistency_proof(13, 40, memory_log.hashes)
    args = [
        "consistency",
        "--old-size",
        "13",
        "--old-root",
        tree_root(13, memory_log.hashes).hex(),
        "--new-size",
        "40",
        "--new-root",
        tree_root(40, memory_log.hashes).hex(),
    ]
    assert runner.invoke(verify_app, [*args, "--proof", _hexes(proof)]).exit_code == 0
    result = runner.invoke(verify_app, [*args, "--proof", _hexes(proof[:-1])])
    assert result.exit_code == 8
    result = runner.invoke(verify_app, [*args, "--proof", "zz"])
    assert result.exit_code == 2


def test_witness_keygen_writes_a_private_file(tmp_path: Path) -> None:
    out = tmp_path / "witness.key"
    result = runner.invoke(
        witness_app, ["keygen", "--name", "witness.example/w9", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    signer = CosignatureSigner.from_skey(out.read_text())
    assert CosignatureVerifier.from_vkey(result.stdout.strip()) == signer.verifier()
    again = runner.invoke(witness_app, ["keygen", "--name", "w", "--out", str(out)])
    assert again.exit_code == 7
    assert CosignatureSigner.from_skey(out.read_text()).skey == signer.skey
    bad = runner.invoke(
        witness_app, ["keygen", "--name", "has space", "--out", str(tmp_path / "k")]
    )
    assert bad.exit_code == 2


def test_witness_serve_refuses_a_bad_key_file(tmp_path: Path, memory_log: MemoryLog) -> None:
    key = tmp_path / "bad.key"
    key.write_text(memory_log.signer.skey)  # a log key (type 0x01), not a witness key
    args = [
        "serve",
        "--key",
        str(key),
        "--log-key",
        memory_log.signer.verifier().vkey,
        "--state",
        str(tmp_path / "state"),
        "--port",
        "1",
    ]
    result = runner.invoke(witness_app, args)
    assert result.exit_code == 2
    assert "type 0x04" in result.stderr


@pytest.mark.parametrize("command", ["note", "inclusion", "consistency"])
def test_help_is_bilingual(command: str) -> None:
    result = runner.invoke(verify_app, [command, "--help"])
    assert result.exit_code == 0
    assert "/" in result.stdout


def test_cosigned_note_verifies_with_a_witness_key(tmp_path: Path, memory_log: MemoryLog) -> None:
    witness = CosignatureSigner.generate("witness.example/w1")
    signed = memory_log.signed(7)
    note = Note(signed.text, (*signed.signatures, witness.cosign(signed.text, 5)))
    path = tmp_path / "cosigned"
    path.write_text(note.to_text())
    result = runner.invoke(verify_app, ["note", str(path), "--key", witness.verifier().vkey])
    assert result.exit_code == 0, result.stderr

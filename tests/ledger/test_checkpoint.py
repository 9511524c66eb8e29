"""C2SP tlog-checkpoint bodies: the spec example, round-trips and each malformed case."""

from __future__ import annotations

import base64

import pytest

from datacompact.errors import MalformedInput, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint, open_checkpoint
from datacompact.ledger.formats.merkle import EMPTY_ROOT
from datacompact.ledger.formats.note import Ed25519Signer, Ed25519Verifier, sign_note

# The example body of c2sp.org/tlog-checkpoint.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


def test_spec_example_parses_and_round_trips() -> None:
    checkpoint = Checkpoint.from_text(SPEC_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode(ROOT_B64)
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == SPEC_BODY


def test_extension_lines_and_spaces_in_origin_round_trip() -> None:
    text = "go.sum database tree\n0\n" + base64.b64encode(EMPTY_ROOT).decode() + "\next one\next2\n"
    checkpoint = Checkpoint.from_text(text)
    assert checkpoint.size == 0
    assert checkpoint.extensions == ("ext one", "ext2")
    assert checkpoint.to_text() == text
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


def test_largest_size_is_accepted() -> None:
    text = f"o\n{2**63 - 1}\n{ROOT_B64}\n"
    assert Checkpoint.from_text(text).size == 2**63 - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("o\n1\n" + ROOT_B64, "ending in a newline"),
        ("o\n1\n", "at least 3 checkpoint lines, got 2"),
        ("\n1\n" + ROOT_B64 + "\n", "non-empty origin"),
        ("o\n01\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n00\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("o\n-1\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n+1\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n 1\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n1.0\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n\uff11\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n\n" + ROOT_B64 + "\n", "ASCII decimal"),
        ("o\n" + "9" * 20 + "\n" + ROOT_B64 + "\n", "ASCII decimal"),
        (f"o\n{2**63}\n" + ROOT_B64 + "\n", "at most 2\\*\\*63-1"),
        ("o\n1\nnot-base64!\n", "base64 root hash"),
        ("o\n1\n" + base64.b64encode(b"x" * 31).decode() + "\n", "32-byte root hash, got 31"),
        ("o\n1\n" + ROOT_B64.rstrip("=") + "\n", "base64 root hash"),
        ("o\n1\n" + ROOT_B64 + "\n\n", "non-empty extension"),
        ("o\n1\n" + ROOT_B64 + "\next\n\nmore\n", "non-empty extension"),
        ("o\tx\n1\n" + ROOT_B64 + "\n", "without controls"),
        ("o" * 1025 + "\n1\n" + ROOT_B64 + "\n", "at most 1024"),
    ],
)
def test_malformed_checkpoints(text: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Checkpoint.from_text(text)


def test_checkpoints_built_in_code_check_themselves() -> None:
    with pytest.raises(MalformedInput, match="32-byte root hash"):
        Checkpoint("o", 1, b"short")
    with pytest.raises(MalformedInput, match="tree size"):
        Checkpoint("o", -1, EMPTY_ROOT)
    with pytest.raises(MalformedInput, match="origin"):
        Checkpoint("", 1, EMPTY_ROOT)


def test_open_checkpoint_verifies_before_parsing() -> None:
    signer = Ed25519Signer.generate("example.com/log")
    body = Checkpoint("example.com/log", 5, EMPTY_ROOT).to_text()
    note = sign_note(body, [signer])
    signed = open_checkpoint(note.to_text(), [signer.verifier()])
    assert signed.checkpoint.size == 5
    assert signed.note.verified_names == {"example.com/log"}
    other = Ed25519Verifier.from_vkey(Ed25519Signer.generate("example.com/log").verifier().vkey)
    with pytest.raises(VerificationFailed):
        open_checkpoint(note.to_text(), [other])
    # A signed text that is not a checkpoint is refused after verification.
    garbage = sign_note("not a checkpoint\n", [signer])
    with pytest.raises(MalformedInput, match="at least 3"):
        open_checkpoint(garbage, [signer.verifier()])

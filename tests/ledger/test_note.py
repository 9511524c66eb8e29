"""C2SP signed-note: published Go vectors, round-trips and every malformed case."""

from __future__ import annotations

import base64
import hashlib

import pytest

from datacompact.errors import MalformedInput, PayloadTooLarge, VerificationFailed
from datacompact.ledger.formats.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    Signature,
    generate_key,
    key_id,
    parse_skey,
    parse_vkey,
    sign_note,
    verify_note,
)

# golang.org/x/mod/sumdb/note documentation example.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLo"
    "x33WWd1RvMc+QQ=\n"
)

# The published key of the Go checksum database and one of its checkpoints.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_NOTE = (
    "go.sum database tree\n"
    "63096908\n"
    "8lHrQPRYe4KT4WQ9/Qk8/taKnD6IRHbFgfN7vQE2Y54=\n"
    "\n"
    "\u2014 sum.golang.org Az3gri/oVBN1jAhNZ/iS+W31psFAWRT20/GyrhpU6taFwulQGetBkH5S7wpGXdS935jiIGi"
    "UUAXBVHzT/P6fYhqAmAk=\n"
)


def test_go_signer_key_reproduces_the_published_signature() -> None:
    signer = Ed25519Signer.from_skey(GO_SKEY)
    assert signer.verifier().vkey == GO_VKEY
    assert signer.skey == GO_SKEY
    assert sign_note(GO_TEXT, [signer]).to_text() == GO_TEXT + "\n" + GO_SIG


def test_go_verifier_key_opens_the_published_note() -> None:
    verifier = Ed25519Verifier.from_vkey(GO_VKEY)
    assert verifier.key_id == 0xC74F20A3
    opened = verify_note(GO_TEXT + "\n" + GO_SIG, [verifier])
    assert opened.text == GO_TEXT
    assert opened.verified_names == {"PeterNeumann"}


def test_unknown_signatures_are_kept_aside() -> None:
    opened = verify_note(
        GO_TEXT + "\n" + GO_SIG + GO_ENOCH_SIG, [Ed25519Verifier.from_vkey(GO_VKEY)]
    )
    assert [s.name for s in opened.unverified] == ["EnochRoot"]


def test_sumdb_checkpoint_verifies_with_its_published_key() -> None:
    opened = verify_note(SUMDB_NOTE.encode(), [Ed25519Verifier.from_vkey(SUMDB_VKEY)])
    assert opened.text.startswith("go.sum database tree\n63096908\n")
    tampered = SUMDB_NOTE.replace("63096908", "63096909")
    with pytest.raises(VerificationFailed):
        verify_note(tampered, [Ed25519Verifier.from_vkey(SUMDB_VKEY)])


def test_key_id_derivation_matches_the_spec() -> None:
    pub = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + pub).digest()
    assert key_id("PeterNeumann", 0x01, pub) == int.from_bytes(digest[:4], "big") == 0xC74F20A3


def test_generated_keys_round_trip() -> None:
    skey, vkey = generate_key("example.com/log")
    signer = Ed25519Signer.from_skey(skey)
    assert signer.verifier() == Ed25519Verifier.from_vkey(vkey)
    note = sign_note("hello\n", [signer])
    assert Note.from_text(note.to_text()) == note
    assert verify_note(note.to_text(), [Ed25519Verifier.from_vkey(vkey)]).text == "hello\n"


def test_resigning_replaces_the_signature_of_the_same_key() -> None:
    signer = Ed25519Signer.generate("a.example")
    other = Ed25519Signer.generate("b.example")
    first = sign_note("text\n", [signer])
    both = sign_note("text\n", [other, signer], existing=first.signatures)
    assert [s.name for s in both.signatures] == ["b.example", "a.example"]


def test_text_may_contain_blank_lines_split_at_the_last_one() -> None:
    signer = Ed25519Signer.generate("a.example")
    note = sign_note("para one\n\npara two\n", [signer])
    assert verify_note(note.to_text(), [signer.verifier()]).text == "para one\n\npara two\n"


def test_unknown_only_note_is_rejected() -> None:
    stranger = Ed25519Signer.generate("PeterNeumann")  # same name, other key ID
    with pytest.raises(VerificationFailed, match="known key, got none"):
        verify_note(GO_TEXT + "\n" + GO_SIG, [stranger.verifier()])
    with pytest.raises(VerificationFailed):
        verify_note(GO_TEXT + "\n" + GO_SIG, [])


def test_same_id_other_name_is_ignored() -> None:
    verifier = Ed25519Verifier.from_vkey(GO_VKEY)
    renamed = GO_SIG.replace("PeterNeumann", "PeterNeumann2")
    with pytest.raises(VerificationFailed, match="known key, got none"):
        verify_note(GO_TEXT + "\n" + renamed, [verifier])


def test_bad_signature_from_a_known_key_rejects_the_note() -> None:
    signer = Ed25519Signer.generate("a.example")
    good = sign_note("text\n", [signer])
    forged = Note("text\n", (Signature("a.example", signer.key_id, b"\x00" * 64),))
    both = Note("text\n", (*good.signatures, *forged.signatures))
    with pytest.raises(VerificationFailed, match="bad one"):
        verify_note(forged, [signer.verifier()])
    # A repeated (name, ID) is only checked once, like Go's note.Open.
    assert verify_note(both, [signer.verifier()]).verified == good.signatures


def test_ambiguous_known_keys_are_refused() -> None:
    verifier = Ed25519Verifier.from_vkey(GO_VKEY)
    with pytest.raises(MalformedInput, match="distinct known keys"):
        verify_note(GO_TEXT + "\n" + GO_SIG, [verifier, verifier])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("no blank line\n\u2014 a AAAAAAA=\n", "blank line"),
        (GO_TEXT + "\n", "signature lines"),
        (GO_TEXT + "\n" + GO_SIG.rstrip("\n"), "signature lines"),
        (GO_TEXT + "\n" + GO_SIG.replace("\u2014 ", "- "), "starting with"),
        (GO_TEXT + "\n" + "\u2014 PeterNeumann\n", "one field"),
        (GO_TEXT + "\n" + "\u2014 Peter+Neumann AAAAAAA=\n", "key name"),
        (GO_TEXT + "\n" + "\u2014  AAAAAAA=\n", "non-empty key name"),
        (GO_TEXT + "\n" + "\u2014 a !!!!\n", "base64"),
        (GO_TEXT + "\n" + "\u2014 a AAAAAA==\n", "key ID and signature, got 4 bytes"),
        (GO_TEXT + "\n" + "\u2014 a AAAAAAB=\n", "canonical"),
        (GO_TEXT.replace("\n", "\r\n", 1) + "\n" + GO_SIG, "control"),
        ("tab\there\n\n" + GO_SIG, "control"),
    ],
)
def test_malformed_notes(data: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Note.from_text(data)


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedInput, match="UTF-8"):
        Note.from_text(b"\xff\xfe\n\n" + GO_SIG.encode())


def test_too_many_signatures_and_too_large_notes() -> None:
    lines = "".join(
        Signature(f"k{i}", i, b"\x01" * 64).to_line() for i in range(MAX_SIGNATURES + 1)
    )
    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_SIGNATURES} signatures"):
        Note.from_text("text\n\n" + lines)
    with pytest.raises(PayloadTooLarge, match="bytes"):
        Note.from_text(b"x" * (MAX_NOTE_BYTES + 1))
    with pytest.raises(PayloadTooLarge):
        Note.from_text("x" * (MAX_NOTE_BYTES + 1))


def test_notes_built_in_code_check_themselves() -> None:
    with pytest.raises(MalformedInput, match="ending in a newline"):
        Note("no newline")
    with pytest.raises(MalformedInput, match="at least one signature"):
        Note("text\n").to_text()
    with pytest.raises(MalformedInput, match="key name"):
        Ed25519Signer.generate("has space")


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("PeterNeumann+c74f20a3", "3 '\\+'-separated"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20zz+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key ID to match"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "non-empty"),
        ("PeterNeumann+c74f20a3+not base64", "base64"),
        ("PeterNeumann+c74f20a3+AQ==", "type byte and key"),
    ],
)
def test_malformed_verifier_keys(vkey: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Ed25519Verifier.from_vkey(vkey)


def test_verifier_key_of_wrong_type_or_size() -> None:
    pub = b"\x07" * 32
    wrong_type = f"n+{key_id('n', 2, pub):08x}+" + base64.b64encode(b"\x02" + pub).decode()
    with pytest.raises(MalformedInput, match="type 0x01"):
        Ed25519Verifier.from_vkey(wrong_type)
    short = pub[:31]
    wrong_size = f"n+{key_id('n', 1, short):08x}+" + base64.b64encode(b"\x01" + short).decode()
    with pytest.raises(MalformedInput, match="expected 32-byte Ed25519 public key, got 31 bytes"):
        Ed25519Verifier.from_vkey(wrong_size)
    assert parse_vkey(wrong_type).sig_type == 2


@pytest.mark.parametrize(
    ("skey", "message"),
    [
        (
            "PRIVATE+KEX+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
            "PRIVATE",
        ),
        ("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "match"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr", "32-byte Ed25519 seed"),
        ("PRIVATE+KEY+PeterNeumann", "3 '\\+'-separated"),
    ],
)
def test_malformed_signer_keys(skey: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Ed25519Signer.from_skey(skey)


def test_signer_key_fields_parse() -> None:
    material = parse_skey(GO_SKEY)
    assert (material.name, material.key_id, material.sig_type) == ("PeterNeumann", 0xC74F20A3, 1)

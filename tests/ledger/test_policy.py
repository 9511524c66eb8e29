"""C2SP tlog-policy: parsing, every malformed case, and quorum evaluation."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from datacompact.errors import MalformedInput, PayloadTooLarge, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.merkle import EMPTY_ROOT
from datacompact.ledger.formats.note import Ed25519Signer, Note, sign_note
from datacompact.ledger.formats.policy import Group, Policy


def _seeded(name: str) -> Ed25519PrivateKey:
    # Fixed keys: they appear in the ids of the parametrized cases below, which
    # must be the same in every pytest-xdist worker.
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(name.encode()).digest())


LOG = Ed25519Signer("example.com/log", _seeded("example.com/log"))
WITNESSES = {
    name: CosignatureSigner(f"{name}.example", _seeded(f"{name}.example"))
    for name in ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
}


def spec_policy() -> str:
    """The two-level example of c2sp.org/tlog-policy, with real keys."""
    w = {name: signer.verifier().vkey for name, signer in WITNESSES.items()}
    return f"""\
# the example from the spec
log {LOG.verifier().vkey} https://log.example/

witness X1 {w["X1"]}
witness X2 {w["X2"]}
\twitness X3 {w["X3"]}   https://x3.example/
group X-witnesses 2 X1 X2 X3

witness Y1 {w["Y1"]}
witness Y2 {w["Y2"]}
witness Y3 {w["Y3"]}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
"""


def test_spec_example_quorum() -> None:
    policy = Policy.from_text(spec_policy())
    assert policy.quorum == "X-and-Y"
    assert policy.groups["X-witnesses"].threshold == 2
    assert policy.groups["X-and-Y"].threshold == 2
    assert policy.witnesses["X3"].url == "https://x3.example/"
    names = list(WITNESSES)
    for r in range(len(names) + 1):
        for chosen in itertools.combinations(names, r):
            xs = sum(n.startswith("X") for n in chosen)
            ys = sum(n.startswith("Y") for n in chosen)
            assert policy.satisfied_by(set(chosen)) == (xs >= 2 and ys >= 1)


def test_quorum_none_and_single_witness() -> None:
    vkey = WITNESSES["X1"].verifier().vkey
    assert Policy.from_text("quorum none\n").satisfied_by(set())
    policy = Policy.from_text(f"witness a {vkey}\nquorum a\n")
    assert policy.satisfied_by({"a"})
    assert not policy.satisfied_by(set())
    assert not policy.satisfied_by({"b"})


def _line(name: str) -> str:
    return f"witness {name} {WITNESSES[name].verifier().vkey}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "one quorum line, got none"),
        ("# only a comment\n", "one quorum line, got none"),
        (_line("X1") + "quorum X1\nquorum X1\n", "got a second"),
        ("quorum X1\n" + _line("X1"), "naming an earlier item"),
        (_line("X1") + "group g 1\nquorum g\n", "group <name> <k> <member>"),
        (_line("X1") + "group g 2 X1\nquorum g\n", "between 1 and 1, got 2"),
        (_line("X1") + "group g 0 X1\nquorum g\n", "between 1 and 1, got 0"),
        (_line("X1") + "group g 01 X1\nquorum g\n", "decimal threshold"),
        (_line("X1") + "group g some X1\nquorum g\n", "decimal threshold"),
        (_line("X1") + "group g any X1 X1\nquorum g\n", "at most once"),
        (_line("X1") + "group g any X1 none\nquorum g\n", "defined earlier"),
        (_line("X1") + "group g any X1 h\ngroup h any X1\nquorum g\n", "defined earlier"),
        (_line("X1") + "group X1 any X1\nquorum X1\n", "new witness or group name"),
        (_line("X1") + _line("X1").replace("X1 ", "Z ", 1) + "quorum X1\n", "duplicate key"),
        (f"witness none {WITNESSES['X1'].verifier().vkey}\nquorum none\n", "reserved"),
        (f"log {LOG.verifier().vkey}\nlog {LOG.verifier().vkey}\nquorum none\n", "duplicate"),
        ("log\nquorum none\n", "log <vkey>"),
        ("witness a\nquorum none\n", "witness <name> <vkey>"),
        (f"witness a {LOG.verifier().vkey}\nquorum none\n", "type 0x04"),
        (f"log {WITNESSES['X1'].verifier().vkey}\nquorum none\n", "type 0x01"),
        ("quorum\n", "quorum <name>"),
        ("frobnicate x\nquorum none\n", "log, witness, group or quorum"),
        ("quorum none\x00\n", "control"),
        ("quorum none\r\n", "control"),
    ],
)
def test_malformed_policies(text: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Policy.from_text(text)


def test_oversized_policy() -> None:
    with pytest.raises(PayloadTooLarge):
        Policy.from_text("#" * (64 * 1024 + 1))


def test_combinators_reject_empty_inputs() -> None:
    with pytest.raises(MalformedInput, match="at least one member"):
        Group("g", 1, ())
    with pytest.raises(MalformedInput, match="quorum"):
        Policy((), {}, {}, "missing")


def _cosigned(body: str, names: list[str], bad: str | None = None) -> Note:
    note = sign_note(body, [LOG])
    sigs = list(note.signatures)
    for name in names:
        sig = WITNESSES[name].cosign(body, 1_700_000_000)
        if name == bad:
            # Flip a bit: overwriting the last byte leaves it valid when it already matched.
            sig = type(sig)(
                sig.name, sig.key_id, sig.signature[:-1] + bytes([sig.signature[-1] ^ 1])
            )
        sigs.append(sig)
    return Note(body, tuple(sigs))


def test_check_checkpoint_counts_only_valid_known_cosignatures() -> None:
    policy = Policy.from_text(spec_policy())
    body = Checkpoint("example.com/log", 3, EMPTY_ROOT).to_text()
    assert policy.check_checkpoint(_cosigned(body, ["X1", "X2", "Y3"]).to_text()).size == 3
    with pytest.raises(VerificationFailed, match="quorum"):
        policy.check_checkpoint(_cosigned(body, ["X1", "Y3"]))
    # A forged cosignature does not count, and does not cancel the others.
    with pytest.raises(VerificationFailed, match="quorum"):
        policy.check_checkpoint(_cosigned(body, ["X1", "X2", "Y3"], bad="X2"))
    assert policy.check_checkpoint(_cosigned(body, ["X1", "X2", "X3", "Y1"], bad="X2")).size == 3


def test_check_checkpoint_requires_the_origin_log() -> None:
    policy = Policy.from_text(spec_policy())
    other_origin = Checkpoint("example.com/other", 3, EMPTY_ROOT).to_text()
    with pytest.raises(VerificationFailed, match="log of this origin"):
        policy.check_checkpoint(_cosigned(other_origin, ["X1", "X2", "Y1"]))
    stranger = Ed25519Signer.generate("example.com/log")
    body = Checkpoint("example.com/log", 3, EMPTY_ROOT).to_text()
    with pytest.raises(VerificationFailed, match="known key"):
        policy.check_checkpoint(sign_note(body, [stranger]))


@pytest.mark.parametrize("url", ["http://[::1", "ftp://witness.example", "witness.example/add"])
def test_witness_urls_must_be_absolute_http(url: str) -> None:
    text = f"witness w {WITNESSES['X1'].verifier().vkey} {url}\nquorum w\n"
    with pytest.raises(MalformedInput, match="witness URL"):
        Policy.from_text(text)

"""C2SP tlog-policy: which logs are trusted and which witnesses form a quorum.

A policy file is line based (tlog-policy, "Policy file syntax and structure")::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>

Items are separated by spaces or tabs; blank lines and ``#`` comments are
ignored. A group or the quorum may only name witnesses and groups defined on
earlier lines (so cycles cannot occur), each member at most once, and
``1 <= k <= n``. ``none`` is predefined for "no cosignature needed" and is not a
valid member. Exactly one quorum line is required, and a log or witness key may
appear only once. Empty groups and policies without a quorum are rejected:
combinators never silently allow everything.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import httpx

from datacompact.errors import MalformedInput, PayloadTooLarge, VerificationFailed
from datacompact.ledger.formats.checkpoint import Checkpoint
from datacompact.ledger.formats.cosignature import CosignatureVerifier
from datacompact.ledger.formats.note import Ed25519Verifier, Note, verify_note

NONE = "none"
#: The spec recommends supporting at least 32 of each; larger files are refused.
MAX_POLICY_BYTES = 64 * 1024
MAX_ITEMS = 256


@dataclass(frozen=True)
class PolicyWitness:
    """A witness: its local policy name, its cosignature key, and an optional URL."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class Group:
    """At least ``threshold`` of ``members`` (witness or group names) must have witnessed."""

    name: str
    threshold: int
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise MalformedInput("expected a group with at least one member, got none")
        if len(set(self.members)) != len(self.members):
            raise MalformedInput("expected each group member at most once, got a repeat")
        if not 1 <= self.threshold <= len(self.members):
            raise MalformedInput(
                f"expected a threshold between 1 and {len(self.members)}, got {self.threshold}"
            )


@dataclass(frozen=True)
class Policy:
    """Known logs, known witnesses, groups and the quorum rule."""

    logs: tuple[Ed25519Verifier, ...]
    witnesses: dict[str, PolicyWitness] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    def __post_init__(self) -> None:
        known = self.quorum in self.witnesses or self.quorum in self.groups
        if self.quorum != NONE and not known:
            raise MalformedInput("expected the quorum to name a witness or group, got neither")

    @classmethod
    def from_text(cls, text: str) -> Policy:
        """Parse a policy file, checking every rule of the spec."""
        return _parse(text)

    def satisfied_by(self, witnessed: Collection[str]) -> bool:
        """Whether the witnesses named in ``witnessed`` (policy names) meet the quorum."""
        if self.quorum == NONE:
            return True
        return self._witnessed(self.quorum, frozenset(witnessed))

    def _witnessed(self, name: str, witnessed: frozenset[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in witnessed
        count = sum(self._witnessed(member, witnessed) for member in group.members)
        return count >= group.threshold

    @property
    def has_witnesses(self) -> bool:
        """Whether the quorum asks for at least one cosignature (not ``none``)."""
        return self.quorum != NONE

    def quorum_text(self, name: str | None = None) -> str:
        """The quorum rule in words: ``2 of (a, b)`` for a group, the name for a witness.

        >>> Policy((), {}, {}, NONE).quorum_text()
        'none'
        """
        name = self.quorum if name is None else name
        group = self.groups.get(name)
        if group is None:
            return name
        members = ", ".join(self.quorum_text(member) for member in group.members)
        return f"{group.threshold} of ({members})"

    def quorum_witnesses(self, name: str | None = None) -> tuple[str, ...]:
        """The witnesses the quorum rule can count, in policy order, each once."""
        name = self.quorum if name is None else name
        if name == NONE:
            return ()
        group = self.groups.get(name)
        if group is None:
            return (name,)
        found: dict[str, None] = {}
        for member in group.members:
            found.update(dict.fromkeys(self.quorum_witnesses(member)))
        return tuple(found)

    def cosigners(self, note: Note) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The policy names whose cosignatures on ``note`` verify, and those whose do not.

        Only cosignatures by a witness key of this policy are judged; lines by
        other keys (the log's own signature among them) are neither.
        """
        by_key = {(w.verifier.name, w.verifier.key_id): w for w in self.witnesses.values()}
        message = note.text.encode("utf-8")
        good: dict[str, None] = {}
        bad: dict[str, None] = {}
        for sig in note.signatures:
            witness = by_key.get((sig.name, sig.key_id))
            if witness is None:
                continue
            if witness.verifier.verify(message, sig.signature):
                good[witness.name] = None
            else:
                bad[witness.name] = None
        return tuple(good), tuple(name for name in bad if name not in good)

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary: the quorum rule and its witnesses (names and keys)."""
        return {
            "quorum": self.quorum_text(),
            "witnesses": [
                {"name": w.name, "key": w.verifier.vkey} for w in self.witnesses.values()
            ],
        }

    def check_checkpoint(self, data: str | bytes | Note) -> Checkpoint:
        """Verify a cosigned checkpoint against this policy and return its body.

        A log whose key name equals the origin must have signed it (tlog-policy,
        "Defining a log"), and the verified cosigners must meet the quorum.
        """
        note = data if isinstance(data, Note) else Note.from_text(data)
        log_note = verify_note(note, self.logs)
        checkpoint = Checkpoint.from_text(log_note.text)
        if not any(sig.name == checkpoint.origin for sig in log_note.verified):
            raise VerificationFailed("expected a signature by the log of this origin, got none")
        by_key = {(w.verifier.name, w.verifier.key_id): w for w in self.witnesses.values()}
        message = note.text.encode("utf-8")
        witnessed: set[str] = set()
        for sig in note.signatures:
            witness = by_key.get((sig.name, sig.key_id))
            # Each cosignature is judged alone: a bad one from a known witness
            # does not count, and it cannot cancel the good ones of others.
            if witness is not None and witness.verifier.verify(message, sig.signature):
                witnessed.add(witness.name)
        if not self.satisfied_by(witnessed):
            raise VerificationFailed(
                f"expected cosignatures meeting the quorum, got {len(witnessed)} that do not"
            )
        return checkpoint


def _check_url(url: str, where: str) -> str:
    """A witness URL must be absolute http(s): the log will POST to it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise MalformedInput(
            f"expected an http(s) witness URL {where}, got a malformed one"
        ) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MalformedInput(f"expected an http(s) witness URL {where}, got another form")
    return url


def _check_charset(text: str) -> None:
    # tlog-policy "Character set": tab, newline, 0x20-0x7E and non-ASCII only.
    if any((ord(ch) < 0x20 and ch not in "\t\n") or ord(ch) == 0x7F for ch in text):
        raise MalformedInput("expected a policy without control characters, got one with")


def _parse(text: str) -> Policy:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PayloadTooLarge(f"expected a policy of at most {MAX_POLICY_BYTES} bytes, got more")
    _check_charset(text)
    logs: list[Ed25519Verifier] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, Group] = {}
    quorum: str | None = None
    keys: set[bytes] = set()
    for number, raw in enumerate(text.split("\n"), start=1):
        items = raw.replace("\t", " ").split()
        if not items or items[0].startswith("#"):
            continue
        if len(logs) + len(witnesses) + len(groups) >= MAX_ITEMS:
            raise PayloadTooLarge(f"expected at most {MAX_ITEMS} policy items, got more")
        keyword, args = items[0], items[1:]
        where = f"on line {number}"
        if keyword == "log":
            if len(args) not in (1, 2):
                raise MalformedInput(
                    f"expected 'log <vkey> [<url>]' {where}, got {len(args)} items"
                )
            log = Ed25519Verifier.from_vkey(args[0])
            if log.public_key in keys:
                raise MalformedInput(f"expected each key once {where}, got a duplicate key")
            keys.add(log.public_key)
            logs.append(log)
        elif keyword == "witness":
            if len(args) not in (2, 3):
                raise MalformedInput(
                    f"expected 'witness <name> <vkey> [<url>]' {where}, got {len(args)} items"
                )
            name = _new_name(args[0], witnesses, groups, where)
            verifier = CosignatureVerifier.from_vkey(args[1])
            if verifier.public_key in keys:
                raise MalformedInput(f"expected each key once {where}, got a duplicate key")
            keys.add(verifier.public_key)
            url = _check_url(args[2], where) if len(args) == 3 else None
            witnesses[name] = PolicyWitness(name, verifier, url)
        elif keyword == "group":
            if len(args) < 3:
                raise MalformedInput(
                    f"expected 'group <name> <k> <member>...' {where}, got {len(args)} items"
                )
            name = _new_name(args[0], witnesses, groups, where)
            members = tuple(args[2:])
            for member in members:
                if member not in witnesses and member not in groups:
                    raise MalformedInput(f"expected members defined earlier {where}, got another")
            groups[name] = Group(name, _threshold(args[1], len(members), where), members)
        elif keyword == "quorum":
            if len(args) != 1:
                raise MalformedInput(f"expected 'quorum <name>' {where}, got {len(args)} items")
            if quorum is not None:
                raise MalformedInput(f"expected exactly one quorum line, got a second {where}")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise MalformedInput(
                    f"expected a quorum naming an earlier item {where}, got another"
                )
            quorum = args[0]
        else:
            raise MalformedInput(f"expected log, witness, group or quorum {where}, got another")
    if quorum is None:
        raise MalformedInput("expected exactly one quorum line, got none")
    return Policy(tuple(logs), witnesses, groups, quorum)


def _new_name(
    name: str, witnesses: dict[str, PolicyWitness], groups: dict[str, Group], where: str
) -> str:
    if name == NONE:
        raise MalformedInput(f"expected a name other than the reserved 'none' {where}, got it")
    if name in witnesses or name in groups:
        raise MalformedInput(f"expected a new witness or group name {where}, got a repeat")
    return name


def _threshold(text: str, members: int, where: str) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise MalformedInput(f"expected all, any or a decimal threshold {where}, got another")
    return int(text)

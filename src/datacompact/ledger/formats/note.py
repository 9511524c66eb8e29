"""C2SP signed-note: text signed by one or more keys, with Ed25519 keys.

A note is a text ending in a newline, a blank line, and one or more signature
lines ``— <key name> base64(key ID || signature)`` (C2SP signed-note, "Format").
Keys are identified by their name and a 32-bit key ID, the first four bytes of
``SHA-256(name || 0x0A || type || public key)`` ("Signatures"). Key strings
follow the Go ``golang.org/x/mod/sumdb/note`` encoding, which C2SP calls vkeys:

- verifier key: ``<name>+<8 hex key ID>+base64(type || public key)``;
- signer key: ``PRIVATE+KEY+<name>+<8 hex key ID>+base64(type || seed)``.

Verification follows the spec's rules: signatures from unknown keys are ignored
(even when they share a name or an ID, but not both, with a known key); a
known key whose signature fails rejects the whole note; a note with no
verified signature is rejected. Parsing is strict, and every failure is a
:class:`~datacompact.errors.MalformedInput` saying what was expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, Self, TypeVar, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from datacompact.errors import MalformedInput, PayloadTooLarge, VerificationFailed

#: Signature type byte of plain Ed25519 note signatures (signed-note, "Signature types").
ED25519_TYPE = 0x01
#: The spec asks verifiers to cap signatures and to accept at least 16; Go caps at 100.
MAX_SIGNATURES = 100
#: A bound on the whole note, so a hostile note costs little to refuse.
MAX_NOTE_BYTES = 1 << 20
_SIG_PREFIX = "\u2014 "
_PRIVATE_PREFIX = "PRIVATE+KEY+"


def decode_base64(text: str, what: str, size: int | None = None) -> bytes:
    """Decode standard base64 (RFC 4648 §4) strictly, optionally of an exact size.

    Non-canonical encodings are refused too, so one value has one spelling.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise MalformedInput(f"expected base64 {what}, got text that is not base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedInput(f"expected canonical base64 {what}, got a non-canonical encoding")
    if size is not None and len(raw) != size:
        raise MalformedInput(f"expected {size}-byte {what}, got {len(raw)} bytes")
    return raw


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid key name: non-empty, no spaces, no ``+``."""
    if not name:
        raise MalformedInput("expected a non-empty key name, got an empty one")
    if any(ch.isspace() or ch == "+" or ord(ch) < 0x20 for ch in name):
        raise MalformedInput("expected a key name without spaces, '+' or controls, got one with")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


@dataclass(frozen=True)
class KeyMaterial:
    """A parsed key string: name, key ID, signature type and raw key bytes."""

    name: str
    key_id: int
    sig_type: int
    key: bytes


def _parse_key_fields(name: str, hex_id: str, encoded: str, what: str) -> KeyMaterial:
    check_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdefABCDEF" for c in hex_id):
        raise MalformedInput(f"expected 8 hex digits of key ID in {what}, got another form")
    raw = decode_base64(encoded, f"{what} data")
    if len(raw) < 2:
        raise MalformedInput(f"expected a type byte and key in {what}, got {len(raw)} bytes")
    return KeyMaterial(name, int(hex_id, 16), raw[0], raw[1:])


def parse_vkey(vkey: str) -> KeyMaterial:
    """Parse ``<name>+<hex key ID>+<base64(type || public key)>`` and check its key ID."""
    parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
    if len(parts) != 3:
        raise MalformedInput(f"expected 3 '+'-separated verifier key fields, got {len(parts)}")
    material = _parse_key_fields(parts[0], parts[1], parts[2], "verifier key")
    if key_id(material.name, material.sig_type, material.key) != material.key_id:
        raise MalformedInput("expected the verifier key ID to match its key, got another ID")
    return material


def parse_skey(skey: str) -> KeyMaterial:
    """Parse ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || seed)>``.

    The key ID can only be checked against the derived public key, which the
    typed signer classes do.
    """
    text = skey.strip()
    if not text.startswith(_PRIVATE_PREFIX):
        raise MalformedInput("expected a signer key starting PRIVATE+KEY+, got another prefix")
    parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise MalformedInput(f"expected 3 '+'-separated signer key fields, got {len(parts)}")
    return _parse_key_fields(parts[0], parts[1], parts[2], "signer key")


def format_vkey(name: str, sig_type: int, public_key: bytes) -> str:
    """Encode a verifier key string."""
    check_name(name)
    encoded = base64.b64encode(bytes([sig_type]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, sig_type, public_key):08x}+{encoded}"


def format_skey(name: str, sig_type: int, public_key: bytes, seed: bytes) -> str:
    """Encode a signer key string; the key ID is that of the public key."""
    check_name(name)
    encoded = base64.b64encode(bytes([sig_type]) + seed).decode("ascii")
    return f"{_PRIVATE_PREFIX}{name}+{key_id(name, sig_type, public_key):08x}+{encoded}"


def load_ed25519_public(key: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from 32 bytes; a wrong size is ``MalformedInput``."""
    if len(key) != 32:
        raise MalformedInput(f"expected 32-byte Ed25519 public key, got {len(key)} bytes")
    try:
        return Ed25519PublicKey.from_public_bytes(key)
    except ValueError as exc:
        raise MalformedInput("expected an Ed25519 public key, got unusable bytes") from exc


def load_ed25519_private(seed: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32-byte seed."""
    if len(seed) != 32:
        raise MalformedInput(f"expected 32-byte Ed25519 seed, got {len(seed)} bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_bytes(private: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of an Ed25519 private key."""
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def seed_bytes(private: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte seed of an Ed25519 private key."""
    return private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


class Verifier(Protocol):
    """A known key: its name, key ID, and a check of a signature over the note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (key ID already removed) signs the note text ``message``."""
        ...


@dataclass(frozen=True)
class VerifierKey:
    """A verifier key of one signature type: name, key ID and Ed25519 public key.

    Subclasses fix ``SIG_TYPE`` and say what a signature of that type means.
    """

    SIG_TYPE: ClassVar[int] = ED25519_TYPE
    KIND: ClassVar[str] = "an Ed25519 (type 0x01)"

    name: str
    key_id: int
    public_key: bytes

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse a verifier key string of this class's signature type."""
        material = parse_vkey(vkey)
        if material.sig_type != cls.SIG_TYPE:
            raise MalformedInput(f"expected {cls.KIND} verifier key, got another type")
        load_ed25519_public(material.key)
        return cls(material.name, material.key_id, material.key)

    @property
    def vkey(self) -> str:
        """The verifier key string."""
        return format_vkey(self.name, self.SIG_TYPE, self.public_key)


@dataclass(frozen=True)
class Ed25519Verifier(VerifierKey):
    """A signed-note Ed25519 verifier key (type 0x01)."""

    def verify(self, message: bytes, signature: bytes) -> bool:
        """RFC 8032 verification of ``signature`` over ``message``."""
        try:
            load_ed25519_public(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


V = TypeVar("V", bound=VerifierKey)


class SignerKey(Generic[V]):
    """A private Ed25519 key of one signature type, with its name and key ID."""

    SIG_TYPE: ClassVar[int]
    KIND: ClassVar[str]
    VERIFIER: ClassVar[type[VerifierKey]]

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = check_name(name)
        self._private = private_key
        self._public = public_bytes(private_key)
        self._key_id = key_id(name, self.SIG_TYPE, self._public)

    @classmethod
    def generate(cls, name: str) -> Self:
        """A new random key pair."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse ``PRIVATE+KEY+<name>+<id>+base64(type || seed)`` and check its key ID."""
        material = parse_skey(skey)
        if material.sig_type != cls.SIG_TYPE:
            raise MalformedInput(f"expected {cls.KIND} signer key, got another type")
        signer = cls(material.name, load_ed25519_private(material.key))
        if signer.key_id != material.key_id:
            raise MalformedInput("expected the signer key ID to match its key, got another ID")
        return signer

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> int:
        """The 32-bit key ID, derived with this key's signature type."""
        return self._key_id

    @property
    def skey(self) -> str:
        """The secret signer key string; keep it out of logs."""
        return format_skey(self._name, self.SIG_TYPE, self._public, seed_bytes(self._private))

    def verifier(self) -> V:
        """The matching verifier."""
        return cast(V, self.VERIFIER(self._name, self._key_id, self._public))


class Ed25519Signer(SignerKey[Ed25519Verifier]):
    """A signed-note Ed25519 signer (type 0x01)."""

    SIG_TYPE = ED25519_TYPE
    KIND = "an Ed25519 (type 0x01)"
    VERIFIER = Ed25519Verifier

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature over ``message``."""
        return self._private.sign(message)


def generate_key(name: str) -> tuple[str, str]:
    """A new Ed25519 note key pair as ``(signer key, verifier key)`` strings."""
    signer = Ed25519Signer.generate(name)
    return signer.skey, signer.verifier().vkey


@dataclass(frozen=True)
class Signature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes

    def to_line(self) -> str:
        """``— <name> base64(key ID || signature)`` followed by a newline."""
        blob = struct.pack(">I", self.key_id) + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"

    @classmethod
    def from_line(cls, line: str) -> Signature:
        """Parse one signature line, without its trailing newline."""
        if not line.startswith(_SIG_PREFIX):
            raise MalformedInput("expected a signature line starting with '— ', got another")
        name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep:
            raise MalformedInput("expected '<name> <signature>' after '— ', got one field")
        check_name(name)
        blob = decode_base64(encoded, "signature")
        if len(blob) < 5:
            raise MalformedInput(f"expected a key ID and signature, got {len(blob)} bytes")
        return cls(name, struct.unpack(">I", blob[:4])[0], blob[4:])


def _check_text(text: str, what: str) -> None:
    # signed-note "Format": valid UTF-8 and no ASCII control character but newline;
    # this also refuses CR, so CRLF notes are malformed rather than silently rewritten.
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise MalformedInput(f"expected {what} without control characters, got one with")


@dataclass(frozen=True)
class Note:
    """A note text (ending in a newline) and its signatures, in order."""

    text: str
    signatures: tuple[Signature, ...] = ()

    def __post_init__(self) -> None:
        if not self.text.endswith("\n"):
            raise MalformedInput("expected note text ending in a newline, got another ending")
        _check_text(self.text, "note text")
        if len(self.signatures) > MAX_SIGNATURES:
            raise PayloadTooLarge(
                f"expected at most {MAX_SIGNATURES} signatures, got {len(self.signatures)}"
            )

    @classmethod
    def from_text(cls, data: str | bytes) -> Note:
        """Parse a signed note; the text ends at the last blank line (signed-note, "Format")."""
        if isinstance(data, bytes):
            if len(data) > MAX_NOTE_BYTES:
                raise PayloadTooLarge(
                    f"expected a note of at most {MAX_NOTE_BYTES} bytes, got {len(data)}"
                )
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedInput("expected a UTF-8 note, got invalid UTF-8") from exc
        elif len(data.encode("utf-8", "surrogatepass")) > MAX_NOTE_BYTES:
            raise PayloadTooLarge(f"expected a note of at most {MAX_NOTE_BYTES} bytes, got more")
        _check_text(data, "a note")
        split = data.rfind("\n\n")
        if split < 0:
            raise MalformedInput("expected a blank line before the signatures, got none")
        text, block = data[: split + 1], data[split + 2 :]
        if not block or not block.endswith("\n"):
            raise MalformedInput("expected signature lines ending in a newline, got none")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise PayloadTooLarge(f"expected at most {MAX_SIGNATURES} signatures, got {len(lines)}")
        return cls(text, tuple(Signature.from_line(line) for line in lines))

    def to_text(self) -> str:
        """The note in its wire form; it round-trips with :meth:`from_text`."""
        if not self.signatures:
            raise MalformedInput("expected at least one signature, got none")
        return self.text + "\n" + "".join(sig.to_line() for sig in self.signatures)


def sign_note(
    text: str, signers: Sequence[Ed25519Signer], existing: Iterable[Signature] = ()
) -> Note:
    """Sign ``text`` with each signer; keep ``existing`` signatures by other keys first.

    Like Go's ``note.Sign``, a new signature replaces an existing one by the
    same name and key ID.
    """
    check = Note(text)  # validates the text before any key is used
    message = check.text.encode("utf-8")
    fresh = [Signature(s.name, s.key_id, s.sign(message)) for s in signers]
    replaced = {(sig.name, sig.key_id) for sig in fresh}
    kept = [sig for sig in existing if (sig.name, sig.key_id) not in replaced]
    return Note(text, tuple(kept + fresh))


@dataclass(frozen=True)
class VerifiedNote:
    """A note whose text is vouched for by ``verified``; ``unverified`` were from unknown keys."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]

    @property
    def verified_names(self) -> frozenset[str]:
        """The key names whose signatures verified."""
        return frozenset(sig.name for sig in self.verified)


def verify_note(data: str | bytes | Note, verifiers: Iterable[Verifier]) -> VerifiedNote:
    """Open a signed note against known keys (signed-note, "Signatures").

    Raises ``VerificationFailed`` when a known key's signature fails or when
    no known key signed the note; ``MalformedInput`` when it does not parse.
    """
    note = data if isinstance(data, Note) else Note.from_text(data)
    known: dict[tuple[str, int], Verifier] = {}
    for v in verifiers:
        ident = (v.name, v.key_id)
        if ident in known:
            # Two keys with one name and ID make the note ambiguous; refuse
            # rather than let the order of configuration decide.
            raise MalformedInput("expected distinct known keys, got two with one name and ID")
        known[ident] = v
    message = note.text.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for sig in note.signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            unverified.append(sig)
            continue
        if ident in seen:
            continue
        seen.add(ident)
        if not verifier.verify(message, sig.signature):
            raise VerificationFailed("expected valid signatures from known keys, got a bad one")
        verified.append(sig)
    if not verified:
        raise VerificationFailed("expected a signature by a known key, got none")
    return VerifiedNote(note.text, tuple(verified), tuple(unverified))

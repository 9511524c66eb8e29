"""An independent witness speaking C2SP tlog-witness ``add-checkpoint``, and its client.

The request body is an ``old <size>`` line, up to 63 base64 consistency proof
lines, an empty line, then the signed checkpoint (tlog-witness,
"add-checkpoint"). The witness answers:

- 200 with its cosignature line(s) when all checks pass;
- 400 for a malformed body or an old size above the checkpoint size;
- 403 when no trusted log key signed the checkpoint (or a trusted one failed);
- 404 when the origin is not a configured log;
- 409 with a ``text/x.tlog.size`` body of the last cosigned size when the old
  size is not that size, and 409 when equal sizes carry different roots;
- 422 when the consistency proof does not verify.

The state is one directory per log, named by the SHA-256 of its origin, holding
the last cosigned checkpoint. Checking the old size and writing the new state
happen under one lock, and the state is persisted (temp file, fsync,
``os.replace``, fsync of the directory) *before* the answer, so a crash can
never roll back a size that was cosigned — the race the spec warns about.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from datacompact.errors import (
    Conflict,
    DataCompactError,
    Forbidden,
    InvalidInput,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.ledger.formats.checkpoint import Checkpoint, parse_size
from datacompact.ledger.formats.cosignature import CosignatureSigner, CosignatureVerifier
from datacompact.ledger.formats.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from datacompact.ledger.formats.note import (
    Ed25519Verifier,
    Note,
    Signature,
    decode_base64,
    verify_note,
)

SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_PROOF_LINES = 63
MAX_REQUEST_BYTES = 64 * 1024
_STATE_FILE = "checkpoint"


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpointRequest:
        """Parse a request body strictly; every deviation is ``MalformedInput``."""
        if len(body) > MAX_REQUEST_BYTES:
            raise PayloadTooLarge(
                f"expected a body of at most {MAX_REQUEST_BYTES} bytes, got {len(body)}"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("expected a UTF-8 request body, got invalid UTF-8") from exc
        head, sep, rest = text.partition("\n")
        if not sep or not head.startswith("old "):
            raise MalformedInput("expected a first line 'old <size>', got another")
        old_size = parse_size(head[4:], "old size")
        proof: list[bytes] = []
        while True:
            line, sep, rest = rest.partition("\n")
            if not sep:
                raise MalformedInput("expected an empty line before the checkpoint, got none")
            if not line:
                break
            if len(proof) == MAX_PROOF_LINES:
                raise MalformedInput(f"expected at most {MAX_PROOF_LINES} proof lines, got more")
            proof.append(decode_base64(line, "proof hash", HASH_SIZE))
        return cls(old_size, tuple(proof), Note.from_text(rest))

    def to_bytes(self) -> bytes:
        """The request body in wire form."""
        lines = [f"old {self.old_size}\n"]
        lines += [base64.b64encode(h).decode("ascii") + "\n" for h in self.proof]
        return ("".join(lines) + "\n" + self.note.to_text()).encode("utf-8")


@dataclass(frozen=True)
class WitnessResponse:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` durably: temp file, fsync, rename, fsync directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        # Without this the rename itself may be lost on power failure.
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class WitnessState:
    """The last cosigned checkpoint per log, one directory per origin."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _dir(self, origin: str) -> Path:
        # Origins may hold spaces and slashes; a hash is always a safe name.
        return self.root / hashlib.sha256(origin.encode("utf-8")).hexdigest()

    @contextlib.contextmanager
    def locked(self, origin: str) -> Iterator[None]:
        """Hold the log's lock across check-and-persist (threads and processes)."""
        with self._guard:
            lock = self._locks.setdefault(origin, threading.Lock())
        directory = self._dir(origin)
        directory.mkdir(parents=True, exist_ok=True)
        with lock, open(directory / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, origin: str) -> Checkpoint | None:
        """The last cosigned checkpoint of ``origin``, or ``None`` if never cosigned."""
        try:
            text = (self._dir(origin) / _STATE_FILE).read_text("utf-8")
        except FileNotFoundError:
            return None
        checkpoint = Checkpoint.from_text(text)
        if checkpoint.origin != origin:
            raise MalformedInput("expected witness state for this origin, got another origin")
        return checkpoint

    def store(self, checkpoint: Checkpoint) -> None:
        """Persist ``checkpoint`` atomically and durably."""
        directory = self._dir(checkpoint.origin)
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / _STATE_FILE, checkpoint.to_text().encode("utf-8"))


def logs_from_vkeys(vkeys: Sequence[str]) -> dict[str, list[Ed25519Verifier]]:
    """Group log verifier keys by origin, taking each key's name as its origin."""
    logs: dict[str, list[Ed25519Verifier]] = {}
    for vkey in vkeys:
        verifier = Ed25519Verifier.from_vkey(vkey)
        logs.setdefault(verifier.name, []).append(verifier)
    return logs


class Witness:
    """The pure ``add-checkpoint`` handler: bytes in, cosignatures or typed errors out."""

    def __init__(
        self,
        *,
        signer: CosignatureSigner,
        logs: Mapping[str, Sequence[Ed25519Verifier]],
        state_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not logs:
            raise InvalidInput("expected at least one log key for the witness, got none")
        self.signer = signer
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state = WitnessState(state_dir)
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> list[Signature]:
        """Check one request and cosign it, raising the error that fixes the status."""
        request = AddCheckpointRequest.from_bytes(body)
        checkpoint = Checkpoint.from_text(request.note.text)
        keys = self.logs.get(checkpoint.origin)
        if keys is None:
            raise NotFound("expected a checkpoint of a known log, got an unknown origin")
        try:
            verify_note(request.note, keys)
        except VerificationFailed as exc:
            raise Forbidden("expected a checkpoint signed by the log's key, got none") from exc
        if request.old_size > checkpoint.size:
            raise MalformedInput("expected old size <= checkpoint size, got a larger old size")
        with self.state.locked(checkpoint.origin):
            latest = self.state.load(checkpoint.origin)
            latest_size = latest.size if latest else 0
            if request.old_size != latest_size:
                raise Conflict(
                    "expected the old size to be the last cosigned size, got another",
                    details={"size": latest_size},
                )
            old_root = latest.root_hash if latest else EMPTY_ROOT
            if latest and latest.size == checkpoint.size and old_root != checkpoint.root_hash:
                raise Conflict("expected the same root for the same size, got another root")
            verify_consistency(
                old_size=request.old_size,
                new_size=checkpoint.size,
                old_root=old_root,
                new_root=checkpoint.root_hash,
                proof=request.proof,
            )
            try:
                self.state.store(checkpoint)
            except OSError as exc:
                raise StoreUnavailable(
                    "expected to persist the witness state, got a failure"
                ) from exc
            # Signed only once the state is durable, per tlog-witness.
            return [self.signer.cosign(checkpoint.to_text(), int(self._clock()))]

    def handle(self, body: bytes) -> WitnessResponse:
        """Map :meth:`add_checkpoint` onto the statuses tlog-witness prescribes."""
        try:
            signatures = self.add_checkpoint(body)
        except Conflict as exc:
            if "size" in exc.details:
                size = f"{exc.details['size']}\n".encode("ascii")
                return WitnessResponse(409, size, SIZE_CONTENT_TYPE)
            return _error(409, exc)
        except MalformedInput as exc:
            return _error(400, exc)
        except DataCompactError as exc:
            return _error(exc.status, exc)
        body_text = "".join(sig.to_line() for sig in signatures)
        return WitnessResponse(200, body_text.encode("utf-8"), TEXT_CONTENT_TYPE)


def _error(status: int, exc: DataCompactError) -> WitnessResponse:
    return WitnessResponse(status, f"{exc.message}\n".encode(), TEXT_CONTENT_TYPE)


def create_app(witness: Witness) -> Starlette:
    """A small ASGI app serving ``POST /add-checkpoint``."""

    async def add_checkpoint(request: Request) -> Response:
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_REQUEST_BYTES:
                message = f"expected a body of at most {MAX_REQUEST_BYTES} bytes, got more\n"
                return Response(message, 413, headers={"content-type": TEXT_CONTENT_TYPE})
            chunks.append(chunk)
        # fsync blocks, so the handler runs off the event loop.
        result = await run_in_threadpool(witness.handle, b"".join(chunks))
        return Response(result.body, result.status, headers={"content-type": result.content_type})

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])


def submit_checkpoint(
    url: str,
    *,
    request: AddCheckpointRequest,
    witness: CosignatureVerifier,
    client: httpx.Client | None = None,
    timeout: float = 10.0,
) -> list[Signature]:
    """Ask a witness to cosign; return its verified cosignatures or raise a typed error.

    A 409 with a size raises ``Conflict`` whose ``details["size"]`` is the
    witness's last cosigned size, so the caller can retry with a fresh proof.
    An unreachable witness raises ``StoreUnavailable``.
    """
    endpoint = url.rstrip("/") + "/add-checkpoint"
    body = request.to_bytes()
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                response = own.post(endpoint, content=body)
        else:
            response = client.post(endpoint, content=body, timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise StoreUnavailable("expected the witness to answer, got no response") from exc
    if response.status_code == 409 and response.headers.get("content-type") == SIZE_CONTENT_TYPE:
        size = parse_size(response.text.removesuffix("\n"), "witness size")
        raise Conflict("expected the witness at our old size, got another", details={"size": size})
    failures: dict[int, type[DataCompactError]] = {
        400: MalformedInput,
        403: Forbidden,
        404: NotFound,
        409: Conflict,
        413: PayloadTooLarge,
        422: VerificationFailed,
    }
    if response.status_code != 200:
        error = failures.get(response.status_code, StoreUnavailable)
        raise error(f"expected the witness to cosign, got HTTP {response.status_code}")
    text = request.note.text
    cosignatures: list[Signature] = []
    for line in response.text.splitlines():
        sig = Signature.from_line(line)
        if (sig.name, sig.key_id) == (witness.name, witness.key_id):
            witness.timestamp_of(text, sig.signature)
            cosignatures.append(sig)
    if not cosignatures:
        raise VerificationFailed("expected a cosignature by the witness key, got none")
    return cosignatures


def witness_reachable(
    url: str, *, client: httpx.Client | None = None, timeout: float = 1.0
) -> bool:
    """Whether a witness answers HTTP at all at ``url``.

    tlog-witness defines only ``POST /add-checkpoint``, so any HTTP answer
    (a 404 or 405 included) means the witness process is up; only a refused
    or timed-out connection counts as down. Nothing is submitted.
    """
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                own.get(url)
        else:
            client.get(url, timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL):
        return False
    return True

"""Server-side inboxes: where a participant's files wait to be registered.

Government files are often large and arrive by SFTP or removable media, or
through ``POST /api/v1/uploads`` (:func:`begin_upload`). The API registers a
file by its name in the participant's inbox,
``$DATACOMPACT_HOME/inbox/<participant id>/``, and never by an arbitrary server
path.

An inbox file is opened once, component by component from the home folder's
descriptor with ``O_NOFOLLOW`` (``inbox``, then the participant's folder, then
the name), and checked on the open descriptor: a symbolic link anywhere on the
way, a FIFO, a device or a second hard link is refused with a 400, and a name
swapped after the open changes nothing, since the ingestion reads the
descriptor (see :mod:`datacompact.ingest.pinned`).

An upload is written the same way, relative to descriptors: into a new 0600
file of the private ``.uploads`` folder (0700) of the inbox, counted against
its limit before each chunk is written, checked for its type on its first
bytes, synced, then linked into place under its name with ``linkat``, which
fails rather than replace a file of that name, and unlinked from the staging
folder. Whatever stops it first (a limit, a wrong type, a client that goes
away) removes the partial file; a name in the inbox always holds a whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from datacompact.errors import (
    Conflict,
    DataCompactError,
    InvalidCharacter,
    InvalidInput,
    MalformedInput,
    NotFound,
    PayloadTooLarge,
)
from datacompact.ingest import (
    UPLOAD_HEAD_BYTES,
    PinnedFile,
    check_upload_type,
    open_at,
    open_dir_at,
)
from datacompact.permissions import Actions, ParticipantResource, Principal, authorize
from datacompact.schemas_base import first_non_character

INBOX_DIR = "inbox"
#: The private folder of an inbox where uploads are written before they get their name.
UPLOADS_DIR = ".uploads"
#: The route that fills an inbox over HTTP, named in the error for a missing file.
UPLOAD_ROUTE = "POST /api/v1/uploads"
#: A file name is one path component: at most this many bytes of UTF-8.
MAX_NAME_BYTES = 255
#: A part file this old was left by a process killed mid-upload; the next upload removes it.
STALE_PART_SECONDS = 24 * 3600


def inbox_folder(home: Path, participant_id: int) -> Path:
    return home / INBOX_DIR / str(participant_id)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidInput(
            "收件箱文件名无效 / expected a plain file name in your inbox, got a path",
            details={"field": "inbox_file"},
        )


def _missing(participant_id: int) -> NotFound:
    # The inbox is named relative to the home folder: the participant's own
    # folder is no secret to it, but the server's layout above it is.
    inbox = f"{INBOX_DIR}/{participant_id}/"
    return NotFound(
        f"收件箱中没有该文件；请先用 {UPLOAD_ROUTE} 上传，或由运维人员放入本方收件箱 {inbox} "
        f"/ no such file in your inbox ({inbox} in the platform's home folder): upload it "
        f"first with {UPLOAD_ROUTE}, or have the operator place it there",
        details={"field": "inbox_file", "inbox": inbox, "upload": UPLOAD_ROUTE},
    )


def open_inbox_file(home: Path, participant_id: int, name: str) -> PinnedFile:
    """The named file of the participant's inbox, opened; no other file can come out of here.

    The caller closes the returned :class:`PinnedFile` (it is a context manager).
    """
    _check_name(name)
    try:
        home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise _missing(participant_id) from exc
    descriptors = [home_fd]
    try:
        for component in (INBOX_DIR, str(participant_id)):
            descriptors.append(open_dir_at(descriptors[-1], component))
        return open_at(descriptors[-1], name)
    except NotFound as exc:
        raise _missing(participant_id) from exc
    except DataCompactError as exc:
        exc.details["field"] = "inbox_file"
        raise
    finally:
        for fd in descriptors:
            os.close(fd)


# -- uploads ---------------------------------------------------------------------------------


def check_upload_name(name: str) -> None:
    """Refuse a name that could leave the inbox, hide in it or not be a file name at all.

    >>> check_upload_name("2026年人口.csv")
    >>> check_upload_name("../key.csv")
    Traceback (most recent call last):
    ...
    datacompact.errors.InvalidInput: 文件名无效 / expected a plain file name for your inbox, got a path
    """
    # DEL and the C1 controls too: a file name is shown in listings and terminals.
    if first_non_character(name) is not None or any(0x7F <= ord(c) < 0xA0 for c in name):
        raise InvalidCharacter(
            "文件名含有控制字符或非字符 / expected a file name without NUL, control characters, "
            "surrogates or noncharacters",
            details={"field": "file", "reason": "character"},
        )
    kind = None
    if not name.strip():
        kind = ("empty", "an empty name")
    elif "/" in name or "\\" in name or name in (".", ".."):
        kind = ("path", "a path")
    elif name.startswith("."):
        kind = ("hidden", "a hidden name (starting with '.')")
    elif name != name.strip():
        kind = ("whitespace", "a name that starts or ends with a space")
    elif len(name.encode("utf-8")) > MAX_NAME_BYTES:
        kind = ("too_long", f"a name longer than {MAX_NAME_BYTES} bytes")
    if kind is not None:
        raise InvalidInput(
            f"文件名无效 / expected a plain file name for your inbox, got {kind[1]}",
            details={"field": "file", "reason": kind[0]},
        )


@dataclass(frozen=True)
class Uploaded:
    """A file now in the inbox under ``name``: ``size`` bytes whose SHA-256 is ``sha256``."""

    name: str
    size: int
    sha256: str


def _dir_at(dir_fd: int, name: str) -> int:
    """The folder ``name`` in ``dir_fd``, made (0700) if missing; never a symlink.

    A folder that exists keeps its mode: the operator may have given an SFTP
    account group access to it.
    """
    made = True
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    except FileExistsError:
        made = False
    except OSError as exc:
        raise InvalidInput("无法创建收件箱 / the inbox folder cannot be created") from exc
    fd = open_dir_at(dir_fd, name)
    if made:
        # mkdir's mode is masked by the umask; the platform's folders are 0700 whatever it is.
        os.fchmod(fd, 0o700)
    return fd


def _sweep_stale(staging_fd: int) -> None:
    """Remove part files a killed process left; an upload in progress writes to its own recently."""
    cutoff = time.time() - STALE_PART_SECONDS
    with os.scandir(staging_fd) as entries:
        for entry in entries:
            if not entry.name.endswith(".part") or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.name, dir_fd=staging_fd)


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _taken() -> Conflict:
    return Conflict(
        "收件箱中已有同名文件，请换一个文件名 / a file of that name is already in your inbox; "
        "upload under another name (an inbox file is never replaced)",
        details={"field": "file", "reason": "exists"},
    )


class InboxUpload:
    """A file being streamed into an inbox; :meth:`commit` names it, :meth:`abort` drops it.

    Use it as a context manager: leaving the block without a commit (an error,
    a cancelled request) removes the partial file.
    """

    def __init__(self, *, folders: list[int], name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.size = 0
        self._folders = folders  # home, inbox, participant's inbox, staging; closed at the end
        self._temp = f"{secrets.token_hex(16)}.part"
        self._fd: int | None = os.open(
            self._temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=self._staging,
        )
        os.fchmod(self._fd, 0o600)
        self._hash = hashlib.sha256()
        self._head = b""
        self._checked = False

    @property
    def _inbox(self) -> int:
        return self._folders[-2]

    @property
    def _staging(self) -> int:
        return self._folders[-1]

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``, unless it would take the file over its limit or shows the wrong type."""
        if self._fd is None:
            raise ValueError("the upload is closed")
        if self.size + len(chunk) > self.max_bytes:
            # Refused before a byte of it is written.
            raise PayloadTooLarge(
                f"文件过大 / expected a file of at most {self.max_bytes} bytes, got more",
                details={"field": "file", "limit": self.max_bytes},
            )
        if not self._checked:
            self._head += chunk[: UPLOAD_HEAD_BYTES - len(self._head)]
            if len(self._head) >= UPLOAD_HEAD_BYTES:
                self._check_type()
        view = memoryview(chunk)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._hash.update(chunk)
        self.size += len(chunk)

    def _check_type(self) -> None:
        check_upload_type(self.name, self._head)
        self._checked = True

    def commit(self) -> Uploaded:
        """Sync the file and give it its name in the inbox; refuse an empty file or a taken name."""
        if self._fd is None:
            raise ValueError("the upload is closed")
        if self.size == 0:
            raise MalformedInput(
                "文件为空 / expected data, got an empty file",
                details={"field": "file", "got": "empty"},
            )
        if not self._checked:
            self._check_type()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        try:
            # linkat never replaces an existing name (unlike rename), so two
            # uploads of one name cannot overwrite each other.
            os.link(
                self._temp,
                self.name,
                src_dir_fd=self._staging,
                dst_dir_fd=self._inbox,
                follow_symlinks=False,
            )
        except FileExistsError as exc:
            raise _taken() from exc
        finally:
            self._drop()
        os.fsync(self._inbox)
        return Uploaded(name=self.name, size=self.size, sha256=self._hash.hexdigest())

    def _drop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._temp:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temp, dir_fd=self._staging)
            self._temp = ""

    def abort(self) -> None:
        """Remove the partial file and close the folders; safe to call more than once."""
        self._drop()
        while self._folders:
            os.close(self._folders.pop())

    def __enter__(self) -> InboxUpload:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def begin_upload(*, home: Path, actor: Principal, name: str, max_bytes: int) -> InboxUpload:
    """Start writing ``name`` into the actor's participant's inbox; at most ``max_bytes``.

    The name and its suffix are checked first (400/422, 415), and a name
    already in the inbox is refused (409) before any byte is received; the
    commit checks it again, atomically.
    """
    participant_id = actor.participant_id
    authorize(
        actor=actor,
        action=Actions.INBOX_UPLOAD,
        resource=ParticipantResource(participant_id=participant_id),
    )
    if participant_id is None:  # authorize refuses this; the check narrows the type
        raise InvalidInput("须以参与方成员身份上传 / expected a member of a participant")
    check_upload_name(name)
    check_upload_type(name)
    try:
        home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidInput("平台主目录不可用 / the platform's home folder is unavailable") from exc
    folders = [home_fd]
    try:
        for component in (INBOX_DIR, str(participant_id), UPLOADS_DIR):
            folders.append(_dir_at(folders[-1], component))
        if _exists(folders[-2], name):
            raise _taken()
        _sweep_stale(folders[-1])
        return InboxUpload(folders=folders, name=name, max_bytes=max_bytes)
    except BaseException:
        for fd in reversed(folders):
            os.close(fd)
        raise


def discard_upload(*, home: Path, actor: Principal, name: str) -> None:
    """Remove ``name`` from the actor's participant's inbox, as an upload's own undo.

    For a caller that uploads and registers in one step (the console): when
    the registration refuses the file, the file it just put there goes too,
    so that nothing of a refused upload stays behind and the same name can be
    sent again. A name that is already gone is not an error.
    """
    participant_id = actor.participant_id
    authorize(
        actor=actor,
        action=Actions.INBOX_UPLOAD,
        resource=ParticipantResource(participant_id=participant_id),
    )
    if participant_id is None:  # authorize refuses this; the check narrows the type
        raise InvalidInput("须以参与方成员身份上传 / expected a member of a participant")
    check_upload_name(name)
    try:
        home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    folders = [home_fd]
    try:
        for component in (INBOX_DIR, str(participant_id)):
            folders.append(open_dir_at(folders[-1], component))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folders[-1])
    except NotFound:
        return
    finally:
        for fd in reversed(folders):
            os.close(fd)

"""Server-side inboxes: where a participant's files wait to be registered.

Government files are often large and arrive by SFTP or removable media rather
than through an HTTP upload. The API therefore registers a file by its name in
the participant's inbox, ``$DATACOMPACT_HOME/inbox/<participant id>/``, and
never by an arbitrary server path.

An inbox file is opened once, component by component from the home folder's
descriptor with ``O_NOFOLLOW`` (``inbox``, then the participant's folder, then
the name), and checked on the open descriptor: a symbolic link anywhere on the
way, a FIFO, a device or a second hard link is refused with a 400, and a name
swapped after the open changes nothing, since the ingestion reads the
descriptor (see :mod:`datacompact.ingest.pinned`).
"""

from __future__ import annotations

import os
from pathlib import Path

from datacompact.errors import DataCompactError, InvalidInput, NotFound
from datacompact.ingest import PinnedFile, open_at, open_dir_at

INBOX_DIR = "inbox"


def inbox_folder(home: Path, participant_id: int) -> Path:
    return home / INBOX_DIR / str(participant_id)


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidInput(
            "收件箱文件名无效 / expected a plain file name in your inbox, got a path",
            details={"field": "inbox_file"},
        )


def open_inbox_file(home: Path, participant_id: int, name: str) -> PinnedFile:
    """The named file of the participant's inbox, opened; no other file can come out of here.

    The caller closes the returned :class:`PinnedFile` (it is a context manager).
    """
    _check_name(name)
    try:
        home_fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise NotFound(
            "收件箱中没有该文件 / no such file in your inbox", details={"field": "inbox_file"}
        ) from exc
    descriptors = [home_fd]
    try:
        for component in (INBOX_DIR, str(participant_id)):
            descriptors.append(open_dir_at(descriptors[-1], component))
        return open_at(descriptors[-1], name)
    except NotFound as exc:
        raise NotFound(
            "收件箱中没有该文件 / no such file in your inbox",
            details={"field": "inbox_file"},
        ) from exc
    except DataCompactError as exc:
        exc.details["field"] = "inbox_file"
        raise
    finally:
        for fd in descriptors:
            os.close(fd)

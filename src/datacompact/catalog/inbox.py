"""Server-side inboxes: where a participant's files wait to be registered.

Government files are often large and arrive by SFTP or removable media rather
than through an HTTP upload. The API therefore registers a file by its name in
the participant's inbox, ``$DATACOMPACT_HOME/inbox/<participant id>/``, and
never by an arbitrary server path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from datacompact.errors import InvalidInput, NotFound

INBOX_DIR = "inbox"


def inbox_folder(home: Path, participant_id: int) -> Path:
    return home / INBOX_DIR / str(participant_id)


def inbox_file(home: Path, participant_id: int, name: str) -> Path:
    """The named file of the participant's inbox; no other path can come out of here."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidInput(
            "收件箱文件名无效 / expected a plain file name in your inbox, got a path",
            details={"field": "inbox_file"},
        )
    folder = inbox_folder(home, participant_id).resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise NotFound(
            "收件箱中没有该文件 / no such file in your inbox", details={"field": "inbox_file"}
        )
    # A symlink or a second hard link could point an inbox name at a file the
    # participant may not read (a key, another holder's version): refuse both.
    info = os.lstat(folder / name)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        raise InvalidInput(
            "收件箱文件须为普通文件 / expected a plain file in your inbox, got a link",
            details={"field": "inbox_file"},
        )
    return path

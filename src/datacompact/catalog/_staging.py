"""Where an ingestion writes before its version commits, and the sweep of what a crash left.

Each ingestion stages into a fresh, unguessable folder of its own,
``<home>/staging/<token>/`` (0700, files 0600), and holds an exclusive
``flock`` on that folder for as long as it runs. Inside the transaction that
records the version, the folder is renamed to ``<home>/resources/<holder
id>/<token>/`` (one ``rename`` on one file system: atomic), where the version
row points; the lock stays held until the transaction has committed or the
folder has been removed.

A process killed mid-way leaves its folder behind, under ``staging/`` or, if
it died between the rename and the commit, under ``resources/`` with no
version referring to it. :func:`sweep` removes both, whatever their age: a
folder is removed only once the sweep holds its lock (a lock dies with its
process, so no live ingestion can lose its folder, in this process or any
other) and, under ``resources/``, only if no committed version refers to it
once the lock is held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import stat
from pathlib import Path
from types import TracebackType

from sqlalchemy import func, select

from datacompact.config import private_dir
from datacompact.store.models import ResourceVersion
from datacompact.store.session import Database

STAGING_DIR = "staging"
RESOURCES_DIR = "resources"
#: Attempts at a fresh staging folder when a sweep removed the one just made.
_ATTEMPTS = 3


def _lock(folder: Path) -> int | None:
    """A descriptor holding ``folder``'s exclusive lock, or None if another holder has it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


class Staging:
    """The locked staging folder of one ingestion (a context manager; closing unlocks)."""

    def __init__(self, home: Path, holder_id: int) -> None:
        root = private_dir(home / STAGING_DIR)
        for _attempt in range(_ATTEMPTS):
            token = secrets.token_hex(8)
            folder = root / token
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
            fd = _lock(folder)
            # A start-up sweep in another process may have taken the lock first
            # and removed the folder: then it is gone, and a new one is made.
            if fd is not None and _same(folder, fd):
                break
            if fd is not None:
                os.close(fd)
        else:  # pragma: no cover - three sweeps in a row would have to win the race
            raise OSError("could not make a staging folder")
        self._fd: int | None = fd
        self.home = home
        self.folder = folder
        self._final = home / RESOURCES_DIR / str(holder_id) / token

    def publish(self) -> Path:
        """Move the staged folder under ``resources/`` (before the commit); its path from home."""
        private_dir(self._final.parent)
        os.rename(self.folder, self._final)
        _fsync_dir(self.folder.parent)
        _fsync_dir(self._final.parent)
        self.folder = self._final
        return self._final.relative_to(self.home)

    def discard(self) -> None:
        """Remove whatever was staged, wherever it is now (the lock is still held)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _same(folder: Path, fd: int) -> bool:
    try:
        return os.stat(folder, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(entry: Path) -> None:
    if entry.is_symlink() or not entry.is_dir():
        entry.unlink(missing_ok=True)
    else:
        shutil.rmtree(entry, ignore_errors=True)


def _referenced(db: Database, relative: Path) -> bool:
    prefix = relative.as_posix() + "/"
    with db.read() as session:
        count = session.scalar(
            select(func.count())
            .select_from(ResourceVersion)
            .where(ResourceVersion.path.startswith(prefix, autoescape=True))
        )
    return bool(count)


def _sweep_folder(db: Database | None, home: Path, entry: Path) -> bool:
    """Remove ``entry`` unless a live ingestion holds it or (with ``db``) a version refers to it."""
    if entry.is_symlink() or not entry.is_dir():
        # Nothing the platform makes: a stray file or a planted link (never followed).
        _remove(entry)
        return True
    try:
        fd = _lock(entry)
    except FileNotFoundError:
        return False  # removed meanwhile by its own ingestion
    if fd is None:
        return False
    try:
        if db is not None and _referenced(db, entry.relative_to(home)):
            return False
        _remove(entry)
        return True
    finally:
        os.close(fd)


def _tighten(path: Path) -> None:
    """Mode 0700 for a folder, 0600 for a file (links are left alone, never followed)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
    if stat.S_IMODE(info.st_mode) != wanted:
        os.chmod(path, wanted, follow_symlinks=False)


def _tighten_tree(folder: Path) -> None:
    _tighten(folder)
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            _tighten_tree(entry)
        else:
            _tighten(entry)


def sweep(*, db: Database, home: Path) -> int:
    """Remove staged data no committed version refers to, whatever its age; how many entries.

    What stays under ``resources/`` is made private on the way (0700 folders,
    0600 files): earlier releases wrote versions with the umask's modes.
    """
    removed = 0
    staging = home / STAGING_DIR
    if staging.is_dir():
        _tighten(staging)
        # Nothing under staging/ is ever referenced: versions live under resources/.
        for entry in sorted(staging.iterdir()):
            removed += _sweep_folder(None, home, entry)
    resources = home / RESOURCES_DIR
    if resources.is_dir():
        with db.read() as session:
            referenced = {
                Path(p).parent.as_posix() for p in session.scalars(select(ResourceVersion.path))
            }
        _tighten(resources)
        for holder in sorted(resources.iterdir()):
            if holder.is_symlink() or not holder.is_dir():
                continue
            _tighten(holder)
            for entry in sorted(holder.iterdir()):
                with contextlib.suppress(FileNotFoundError):
                    if entry.relative_to(home).as_posix() not in referenced:
                        removed += _sweep_folder(db, home, entry)
                    elif entry.is_dir() and not entry.is_symlink():
                        _tighten_tree(entry)
    return removed

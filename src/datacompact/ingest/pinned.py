"""A data file opened once and then read through its descriptor only.

Checking a path (``lstat``, ``is_file``) and opening it later by the same path
leaves a window in which the file can be swapped, for a symlink to a key say.
A :class:`PinnedFile` closes that window: the file is opened once (with
``O_NOFOLLOW`` where the caller asks for it, and ``O_NONBLOCK`` so that a FIFO
cannot hang the open), what was opened is checked with ``fstat`` on the
descriptor, and every reader afterwards reaches the same open file through
:attr:`PinnedFile.path`, ``/proc/self/fd/<n>``. Opening that magic link gives
the inode the descriptor holds, never a fresh lookup of the original name, so
DuckDB, pyarrow and openpyxl (which all want a path) read exactly what was
checked, whatever happens to the name afterwards.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from datacompact.errors import ConfigurationError, InvalidInput, NotFound

__all__ = ["PinnedFile", "open_at", "pin"]

_PROC_FD = Path("/proc/self/fd")
#: Read-only, never a controlling terminal, not inherited by DuckDB's or a
#: transcoder's children, and non-blocking so that opening a FIFO returns.
_READ_FLAGS = os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


@dataclass
class PinnedFile:
    """An open regular file: its descriptor, the name it was opened by, its size."""

    fd: int
    name: str
    size: int

    @property
    def path(self) -> Path:
        """A path that opens this very file (the descriptor's inode), for path-only readers."""
        return _PROC_FD / str(self.fd)

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> PinnedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _pinned(fd: int, name: str, *, single_link: bool) -> PinnedFile:
    """Check what ``fd`` holds and keep it; the descriptor is closed on refusal."""
    try:
        if not _PROC_FD.is_dir():  # pragma: no cover - every Linux has /proc
            raise ConfigurationError(
                "需要 Linux /proc 文件系统 / reading pinned files needs Linux /proc/self/fd"
            )
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind(info.st_mode)
            raise InvalidInput(
                f"需要普通文件，实际是 {kind} / expected a regular file, got a {kind}",
                details={"field": "file", "reason": kind},
            )
        if single_link and info.st_nlink != 1:
            # A second hard link could point an inbox name at a file the
            # participant may not read (a key, another holder's version).
            raise InvalidInput(
                "文件须为普通文件，不能是链接 / expected a plain file, got a hard link",
                details={"field": "file", "reason": "hard_link"},
            )
        # Regular files ignore O_NONBLOCK, but readers get a plain descriptor.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return PinnedFile(fd=fd, name=name, size=info.st_size)


def pin(path: Path | str) -> PinnedFile:
    """Open a file named by the operator (CLI, tests): symlinks are followed, the result is checked."""
    path = Path(path)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError as exc:
        raise NotFound("文件不存在 / the file does not exist") from exc
    except OSError as exc:
        raise InvalidInput("无法读取文件 / the file cannot be read") from exc
    return _pinned(fd, path.name, single_link=False)


def _link_refused(exc: OSError) -> bool:
    # O_NOFOLLOW on a symlink: ELOOP; O_DIRECTORY on a symlink or a file: ENOTDIR.
    return exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


def open_dir_at(dir_fd: int, name: str) -> int:
    """Open the folder ``name`` inside ``dir_fd`` without following a symlink."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise NotFound("文件夹不存在 / no such folder", details={"reason": "missing"}) from exc
    except OSError as exc:
        if _link_refused(exc):
            raise InvalidInput(
                "路径中有链接或非文件夹 / expected a plain folder, got a link or a file",
                details={"reason": "symlink"},
            ) from exc
        raise InvalidInput("无法打开文件夹 / the folder cannot be opened") from exc


def open_at(dir_fd: int, name: str) -> PinnedFile:
    """Open the regular file ``name`` inside ``dir_fd``: no symlink, no hard link, no FIFO."""
    try:
        fd = os.open(name, _READ_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise NotFound("文件不存在 / no such file", details={"reason": "missing"}) from exc
    except OSError as exc:
        if _link_refused(exc):
            raise InvalidInput(
                "文件须为普通文件，不能是链接 / expected a plain file, got a symbolic link",
                details={"reason": "symlink"},
            ) from exc
        raise InvalidInput("无法读取文件 / the file cannot be read") from exc
    return _pinned(fd, name, single_link=True)

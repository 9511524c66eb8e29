"""The backup manifest: what a backup folder holds, with the SHA-256 of every file.

``manifest.json`` is written last, so a folder without one is an unfinished
backup. Restore reads it first and refuses the folder unless every listed
file is present with its sum and no other file is there (:func:`verify`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from datacompact.errors import MalformedInput, VerificationFailed

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20
_MAX_MANIFEST_BYTES = 16 << 20


@dataclass(frozen=True)
class StoreInfo:
    """The store in a backup: its kind, file, migration revision and the log it holds."""

    kind: str  # "sqlite" or "postgresql"
    file: str
    revision: str | None
    log_size: int
    log_root: bytes


@dataclass(frozen=True)
class Manifest:
    """A parsed ``manifest.json``."""

    created_at: str
    platform_version: str
    log_origin: str
    store: StoreInfo
    files: dict[str, str]

    def to_json(self) -> bytes:
        record: dict[str, Any] = {
            "format": FORMAT,
            "created_at": self.created_at,
            "platform_version": self.platform_version,
            "log_origin": self.log_origin,
            "store": {
                "kind": self.store.kind,
                "file": self.store.file,
                "revision": self.store.revision,
                "log_size": self.store.log_size,
                "log_root": self.store.log_root.hex(),
            },
            "files": dict(sorted(self.files.items())),
        }
        return json.dumps(record, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Parse strictly; any deviation is a ``MalformedInput``."""
        try:
            record = json.loads(data)
            if not isinstance(record, dict) or record.get("format") != FORMAT:
                raise ValueError("format")
            store = record["store"]
            files = record["files"]
            if not isinstance(store, dict) or not isinstance(files, dict):
                raise ValueError("shape")
            for name, digest in files.items():
                safe_relative(name)
                if not isinstance(digest, str) or len(bytes.fromhex(digest)) != 32:
                    raise ValueError("digest")
            kind = store["kind"]
            if kind not in ("sqlite", "postgresql") or store["file"] not in files:
                raise ValueError("store")
            size = store["log_size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ValueError("size")
            revision = store["revision"]
            if revision is not None and not isinstance(revision, str):
                raise ValueError("revision")
            root = bytes.fromhex(store["log_root"])
            if len(root) != 32:
                raise ValueError("root")
            return cls(
                created_at=str(record["created_at"]),
                platform_version=str(record["platform_version"]),
                log_origin=str(record["log_origin"]),
                store=StoreInfo(kind, str(store["file"]), revision, size, root),
                files={str(k): str(v) for k, v in files.items()},
            )
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise MalformedInput(
                "备份清单格式错误 / expected a backup manifest of format 1, got another document",
                details={"file": MANIFEST},
            ) from exc


def safe_relative(name: object) -> PurePosixPath:
    """A relative POSIX path inside the backup folder: no ``..``, no absolute path."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise ValueError("path")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("path")
    if name == MANIFEST:
        raise ValueError("path")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_private(source: Path, target: Path) -> str:
    """Copy one file to a new 0600 file, fsynced, keeping its mtime; return its SHA-256.

    Hashing while copying reads the source once; the sum is of the bytes
    actually written, so a file that changes under the copy cannot get the
    sum of another version.
    """
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(source, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            info = os.fstat(handle.fileno())
        os.fsync(fd)
    finally:
        os.close(fd)
    # Staged-resource sweeping judges folders by age: keep the original times.
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    return digest.hexdigest()


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents inside the backup with mode 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def listing(folder: Path) -> tuple[set[str], list[str]]:
    """Every regular file under ``folder`` (relative POSIX paths), and anything else found."""
    files: set[str] = set()
    strange: list[str] = []
    for current, dirs, names in os.walk(folder, followlinks=False):
        base = Path(current)
        for name in dirs:
            if (base / name).is_symlink():
                strange.append((base / name).relative_to(folder).as_posix())
        for name in names:
            path = base / name
            relative = path.relative_to(folder).as_posix()
            if stat.S_ISREG(os.lstat(path).st_mode):
                files.add(relative)
            else:
                strange.append(relative)
    files.discard(MANIFEST)
    return files, strange


def load(folder: Path) -> Manifest:
    path = folder / MANIFEST
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise VerificationFailed(
            "备份目录中没有可读的清单（备份未完成？）/ expected a readable manifest.json in the "
            "backup folder, got none (an unfinished backup?)",
            details={"file": MANIFEST},
        ) from exc
    if len(data) > _MAX_MANIFEST_BYTES:
        raise MalformedInput("expected a manifest of at most 16 MiB, got more")
    return Manifest.from_json(data)


def verify(folder: Path) -> Manifest:
    """The manifest, once every file matches it: same set of files, every sum equal."""
    manifest = load(folder)
    present, strange = listing(folder)
    listed = set(manifest.files)
    missing = sorted(listed - present)
    extra = sorted((present - listed) | set(strange))
    altered = sorted(
        name for name in listed & present if sha256_file(folder / name) != manifest.files[name]
    )
    if missing or extra or altered:
        raise VerificationFailed(
            "备份与清单不符，拒绝恢复 / the backup does not match its manifest: refusing to restore",
            details={"missing": missing, "extra": extra, "altered": altered},
        )
    return manifest


def remove_tree(path: Path) -> None:
    """Best-effort removal of a folder this code created (cleanup after a failure)."""
    shutil.rmtree(path, ignore_errors=True)

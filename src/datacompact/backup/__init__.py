"""Online backup and checked restore of a platform: the store plus the home folder's files.

A backup folder holds::

    DIR/
      manifest.json                    written last: sums, log size and root, versions
      store/datacompact.db             SQLite: a copy made with the online backup API
      store/datacompact.pgdump         PostgreSQL: pg_dump custom format
      home/platform.secret             the secret the participant keys are sealed under
      home/log.key                     the log's signer key
      home/log.signed                  the last checkpoint the key signed
      home/demo-credentials.json       (when present)
      home/resources/...               ingested versions (immutable Parquet)
      home/deliverables/...            contract deliverables and escrow
      home/releases/...                stored k-anonymous releases

Files are 0600 and folders 0700: the backup holds the same secrets as the
home. The store is copied first and the home files after it, so the
``log.signed`` in a backup is never older than the checkpoints in its store;
resource files registered after the store snapshot are copied too and are
swept as orphans after a restore. The inbox (files waiting to be ingested)
and the sandbox's spill folder are not backed up.

Restore checks the whole folder against its manifest before it writes
anything, writes only into an empty home and an empty database (unless
``force``), and then holds the log if any checkpoint it knows of outside the
restored store is ahead of it (:mod:`datacompact.ledger.log.recovery`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from datacompact import __version__
from datacompact.backup import manifest, postgres
from datacompact.backup.manifest import MANIFEST, Manifest, StoreInfo
from datacompact.config import SECRET_FILE, Settings
from datacompact.errors import (
    ConfigurationError,
    Conflict,
    DataCompactError,
    InvalidInput,
    StoreUnavailable,
    VerificationFailed,
)
from datacompact.ledger.formats.checkpoint import Checkpoint as CheckpointBody
from datacompact.ledger.formats.note import Ed25519Signer
from datacompact.ledger.log import checkpoints, recovery
from datacompact.ledger.witness import write_atomic
from datacompact.store import migrate

__all__ = ["BackupResult", "RestoreResult", "restore_backup", "take_backup"]

#: Home files and folders a backup holds, relative to the home.
HOME_FILES = (SECRET_FILE, checkpoints.LOG_KEY_FILE, checkpoints.SIGNED_STATE_FILE)
OPTIONAL_HOME_FILES = ("demo-credentials.json",)
HOME_FOLDERS = ("resources", "deliverables", "releases")
SQLITE_FILE = "store/datacompact.db"
PGDUMP_FILE = "store/datacompact.pgdump"


@dataclass(frozen=True)
class BackupResult:
    folder: Path
    manifest: Manifest

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "store": self.manifest.store.kind,
            "revision": self.manifest.store.revision,
            "log_size": self.manifest.store.log_size,
            "log_root": self.manifest.store.log_root.hex(),
            "files": len(self.manifest.files),
            "created_at": self.manifest.created_at,
        }


@dataclass(frozen=True)
class RestoreResult:
    home: Path
    manifest: Manifest
    replaced_home: Path | None
    held: bool
    published_size: int | None
    witness_sizes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "store": self.manifest.store.kind,
            "log_size": self.manifest.store.log_size,
            "log_root": self.manifest.store.log_root.hex(),
            "backup_created_at": self.manifest.created_at,
            "replaced_home": str(self.replaced_home) if self.replaced_home else None,
            "held": self.held,
            "published_size": self.published_size,
            "witness_sizes": self.witness_sizes,
        }


def _is_sqlite(settings: Settings) -> bool:
    return settings.resolved_database_url.startswith("sqlite")


def _sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.resolved_database_url).database
    if not database:
        raise ConfigurationError("expected a SQLite URL naming a file, got an in-memory database")
    return Path(database)


# ---------------------------------------------------------------------------- backup


def _prepare_out(out: Path) -> bool:
    """Make ``out`` a new 0700 folder or accept an empty one; True if it was created here."""
    if out.exists():
        if not out.is_dir() or any(out.iterdir()):
            raise Conflict(
                "备份目录必须是新的或空的 / expected a new or empty backup folder, got one with "
                "content",
                details={"folder": str(out)},
            )
        os.chmod(out, 0o700)
        return False
    try:
        out.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        raise InvalidInput(
            "无法创建备份目录 / cannot create the backup folder", details={"folder": str(out)}
        ) from exc
    return True


_HEAD_SQL = "SELECT size, root FROM ledger_head WHERE id = 1"
_REVISION_SQL = "SELECT version_num FROM alembic_version"


def _store_state(first_row: Callable[[str], Any]) -> tuple[int, bytes, str | None]:
    """Log size, root and migration revision, read through ``first_row(sql)`` in the snapshot."""
    size, root = first_row(_HEAD_SQL)
    revision = first_row(_REVISION_SQL)
    return int(size), bytes(root), str(revision[0]) if revision else None


def _backup_sqlite(settings: Settings, out: Path) -> StoreInfo:
    """SQLite's online backup API: a consistent copy while writers carry on (WAL)."""
    source_path = _sqlite_path(settings)
    if not source_path.exists():
        raise ConfigurationError(
            "SQLite 数据库不存在 / the SQLite store does not exist: run `datacompact init`",
            details={"path": str(source_path)},
        )
    target = out / SQLITE_FILE
    manifest.make_private_dirs(target.parent)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
        copy = sqlite3.connect(target)
        try:
            # pages=-1: the whole database in one step under one read
            # transaction, so the copy is one committed state of the store.
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")
            size, root, revision = _store_state(lambda sql: copy.execute(sql).fetchone())
        finally:
            copy.close()
            source.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(
            "SQLite 在线备份失败 / the SQLite online backup failed",
            details={"driver_error": type(exc).__name__},
        ) from exc
    return StoreInfo("sqlite", SQLITE_FILE, revision, size, root)


def _backup_postgres(settings: Settings, out: Path) -> StoreInfo:
    """``pg_dump`` of an exported snapshot, with the log head read in that same snapshot."""
    url = settings.resolved_database_url
    target = out / PGDUMP_FILE
    manifest.make_private_dirs(target.parent)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                size, root, revision = _store_state(
                    lambda sql: connection.exec_driver_sql(sql).first()
                )
                # The exporting transaction must stay open while pg_dump reads.
                postgres.dump(connection, url, str(snapshot), target)
    except DataCompactError:
        raise
    except Exception as exc:
        raise StoreUnavailable(
            "无法连接 PostgreSQL 进行备份 / cannot reach PostgreSQL for the backup",
            details={"driver_error": type(exc).__name__},
        ) from exc
    finally:
        engine.dispose()
    os.chmod(target, 0o600)
    return StoreInfo("postgresql", PGDUMP_FILE, revision, size, root)


def _home_sources(home: Path) -> list[tuple[Path, str]]:
    """(source, name in the backup) of every home file to back up, in a stable order."""
    found: list[tuple[Path, str]] = []
    for name in HOME_FILES:
        if not (home / name).is_file():
            if name == checkpoints.SIGNED_STATE_FILE:
                continue  # nothing signed yet
            raise ConfigurationError(
                "主目录缺少必需文件，请先运行 datacompact init / the home folder lacks a required "
                "file: run `datacompact init`",
                details={"file": name},
            )
        found.append((home / name, f"home/{name}"))
    for name in OPTIONAL_HOME_FILES:
        if (home / name).is_file():
            found.append((home / name, f"home/{name}"))
    for folder in HOME_FOLDERS:
        root = home / folder
        for current, dirs, names in os.walk(root, followlinks=False):
            dirs.sort()
            for name in sorted(names):
                path = Path(current) / name
                if path.is_file() and not path.is_symlink() and not name.startswith("."):
                    found.append((path, "home/" + path.relative_to(home).as_posix()))
    return found


def _copy_home(home: Path, out: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    for source, name in _home_sources(home):
        target = out / name
        manifest.make_private_dirs(target.parent)
        try:
            sums[name] = manifest.copy_private(source, target)
        except FileNotFoundError:
            # Removed while we copied (a superseded release): not part of any state.
            target.unlink(missing_ok=True)
    return sums


def take_backup(settings: Settings, out: Path) -> BackupResult:
    """Back up the store and the home folder into ``out`` while the platform keeps running."""
    created = _prepare_out(out)
    try:
        if _is_sqlite(settings):
            store = _backup_sqlite(settings, out)
        else:
            store = _backup_postgres(settings, out)
        files = {store.file: manifest.sha256_file(out / store.file)}
        files.update(_copy_home(settings.home, out))
        record = Manifest(
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            platform_version=__version__,
            log_origin=settings.log_origin,
            store=store,
            files=files,
        )
        write_atomic(out / MANIFEST, record.to_json())
    except BaseException:
        if created:
            manifest.remove_tree(out)
        else:
            for child in out.iterdir():
                manifest.remove_tree(child) if child.is_dir() else child.unlink()
        raise
    return BackupResult(out, record)


# ---------------------------------------------------------------------------- restore


def _check_compatible(settings: Settings, record: Manifest, folder: Path) -> Ed25519Signer:
    """Refuse a backup of another store kind, a newer schema or another log."""
    kind = "sqlite" if _is_sqlite(settings) else "postgresql"
    if record.store.kind != kind:
        raise InvalidInput(
            f"备份的存储类型与目标不同 / expected a backup of a {kind} store, got one of a "
            f"{record.store.kind} store",
            details={"backup": record.store.kind, "target": kind},
        )
    known = migrate.known_revisions()
    if record.store.revision is not None and record.store.revision not in known:
        raise InvalidInput(
            "备份来自更新版本的平台 / expected a store revision this platform knows, got a newer "
            "or foreign one",
            details={"revision": record.store.revision},
        )
    if record.log_origin != settings.log_origin:
        raise ConfigurationError(
            "备份的日志来源与配置不同 / expected the configured log origin, got a backup of "
            "another log",
            details={"backup": record.log_origin, "configured": settings.log_origin},
        )
    key = folder / "home" / checkpoints.LOG_KEY_FILE
    try:
        return Ed25519Signer.from_skey(key.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, DataCompactError) as exc:
        raise VerificationFailed(
            "备份中的日志私钥不可用 / expected the log key in the backup, got none usable"
        ) from exc


def _home_is_empty(home: Path) -> bool:
    return not home.exists() or (home.is_dir() and not any(home.iterdir()))


def _check_targets(settings: Settings, force: bool) -> None:
    """Refuse to overwrite a home or a database that holds anything, unless ``force``."""
    if force:
        return
    if not _home_is_empty(settings.home):
        raise Conflict(
            "目标主目录非空，需 --force 才会替换 / the target home folder is not empty: refusing "
            "to overwrite it without --force",
            details={"home": str(settings.home)},
        )
    if _is_sqlite(settings):
        path = _sqlite_path(settings)
        if path.exists() and path.stat().st_size > 0:
            raise Conflict(
                "目标数据库非空，需 --force 才会替换 / the target database is not empty: refusing "
                "to overwrite it without --force",
                details={"database": str(path)},
            )
        return
    engine = create_engine(settings.resolved_database_url, poolclass=NullPool)
    try:
        empty = postgres.is_empty(engine)
    except Exception as exc:
        raise StoreUnavailable(
            "无法连接目标数据库 / cannot reach the target database",
            details={"driver_error": type(exc).__name__},
        ) from exc
    finally:
        engine.dispose()
    if not empty:
        raise Conflict(
            "目标数据库非空，需 --force 才会替换 / the target database is not empty: refusing to "
            "overwrite it without --force",
            details={"database": make_url(settings.resolved_database_url).database},
        )


def _evidence(
    settings: Settings, signer: Ed25519Signer, checkpoint_file: Path | None
) -> list[tuple[CheckpointBody, str]]:
    """Checkpoints published outside the backup: the operator's file and the old home's record."""
    verifier = signer.verifier()
    found = []
    if checkpoint_file is not None:
        found.append(recovery.read_checkpoint_file(checkpoint_file, verifier))
    old = settings.home / checkpoints.SIGNED_STATE_FILE
    if old.is_file():
        # The home being replaced may belong to another log key: no evidence about this log.
        with contextlib.suppress(DataCompactError):
            found.append(recovery.read_checkpoint_file(old, verifier))
    return found


def _stage_home(folder: Path, record: Manifest, stage: Path, settings: Settings) -> None:
    """Copy the backup's home files (and a SQLite store kept in the home) into ``stage``."""
    for name, digest in record.files.items():
        if name.startswith("home/"):
            target = stage / name.removeprefix("home/")
        elif name == SQLITE_FILE and settings.database_url is None:
            target = stage / settings.default_database_path.name
        else:
            continue
        manifest.make_private_dirs(target.parent)
        if manifest.copy_private(folder / name, target) != digest:
            raise VerificationFailed(
                "备份文件在恢复过程中被改动 / a backup file changed while it was restored",
                details={"file": name},
            )


def _restore_sqlite_elsewhere(folder: Path, record: Manifest, settings: Settings) -> None:
    """A SQLite store named by ``database_url`` outside the home: copy, then rename into place."""
    path = _sqlite_path(settings)
    temp = path.with_name(f".{path.name}.restore-{secrets.token_hex(4)}")
    try:
        if manifest.copy_private(folder / SQLITE_FILE, temp) != record.files[SQLITE_FILE]:
            raise VerificationFailed(
                "备份文件在恢复过程中被改动 / a backup file changed while it was restored",
                details={"file": SQLITE_FILE},
            )
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _swap_home(stage: Path, home: Path) -> Path | None:
    """Put the staged home in place; a non-empty old home is kept beside it, renamed."""
    replaced = None
    if home.exists():
        if any(home.iterdir()):
            replaced = home.with_name(f"{home.name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(home, replaced)
        else:
            home.rmdir()
    os.replace(stage, home)
    os.chmod(home, 0o700)
    return replaced


def restore_backup(
    settings: Settings,
    folder: Path,
    *,
    force: bool = False,
    checkpoint_file: Path | None = None,
    witness_client: httpx.Client | None = None,
) -> RestoreResult:
    """Check ``folder`` against its manifest, then restore it into the configured home and store.

    Nothing is written before the manifest, the compatibility of the backup
    and the emptiness of the targets are checked. Afterwards the log is held
    if a checkpoint published outside the backup is ahead of it: the
    operator's ``checkpoint_file``, the replaced home's ``log.signed``, the
    backup's own ``log.signed``, or the size a configured witness last
    cosigned (asked through ``witness_client`` if given).
    """
    record = manifest.verify(folder)
    signer = _check_compatible(settings, record, folder)
    _check_targets(settings, force)
    evidence = _evidence(settings, signer, checkpoint_file)
    home = settings.home
    home.parent.mkdir(parents=True, exist_ok=True)
    stage = home.with_name(f".{home.name}.restore-{secrets.token_hex(4)}")
    stage.mkdir(mode=0o700)
    try:
        _stage_home(folder, record, stage, settings)
        if record.store.kind == "postgresql":
            _restore_postgres(folder, record, settings, force)
        elif settings.database_url is not None:
            _restore_sqlite_elsewhere(folder, record, settings)
        replaced = _swap_home(stage, home)
    except BaseException:
        manifest.remove_tree(stage)
        raise
    held, published, sizes = _hold(settings, signer, evidence, witness_client)
    return RestoreResult(home, record, replaced, held, published, sizes)


def _restore_postgres(folder: Path, record: Manifest, settings: Settings, force: bool) -> None:
    url = settings.resolved_database_url
    engine = create_engine(url, poolclass=NullPool)
    try:
        if force:
            postgres.clear(engine)
        postgres.restore(engine, url, folder / record.store.file)
    finally:
        engine.dispose()


def _hold(
    settings: Settings,
    signer: Ed25519Signer,
    evidence: list[tuple[CheckpointBody, str]],
    witness_client: httpx.Client | None,
) -> tuple[bool, int | None, dict[str, int]]:
    """Migrate the restored store, then hold its log if any evidence is ahead of it."""
    from datacompact.platform import Platform

    platform = Platform(settings)
    try:
        migrate.upgrade(platform.db.write_engine)
        own = recovery.home_checkpoint(settings.home, signer.verifier())
        with platform.db.read() as session:
            sizes = recovery.witness_sizes(session, platform.witness_policy, witness_client)
        with platform.db.write() as session:
            held = False
            for body, note in [*evidence, *([own] if own else [])]:
                held = recovery.hold_if_behind(session, body, note) or held
            for size in sizes.values():
                held = recovery.hold_at_size(session, size) or held
            status = recovery.hold_status(session)
        return held, status["published_size"], sizes
    finally:
        platform.close()

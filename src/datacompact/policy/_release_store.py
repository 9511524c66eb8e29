"""Stored k-anonymous releases: computed once per grant and resource version, receipted, then queried.

A k-anonymous grant's queries never see the granted slice. The first query
on a resource version computes the grant's *release* (:func:`ensure_release`):

1. the granted columns that may be output, minus identifiers and contact
   data (:func:`released_columns`), are read through the sandbox as masked
   records, so the platform's row filter and masks apply (:func:`sql_view`);
2. outside any transaction, the privacy engine's optimal search generalizes
   the whole slice to k-anonymity, every released column a quasi-identifier,
   at most 5 % suppressed (:func:`datacompact.policy._generalization.generalize`);
3. the rows, sorted by all columns so that their order says nothing about the
   source, are written as Parquet under ``<home>/releases/`` (a temporary file,
   then ``os.replace``: no half-written release is ever visible), named by
   their SHA-256;
4. one write transaction inserts the ``k_anonymous_releases`` row and records
   ``release.computed`` (the columns and their levels, rows kept and
   suppressed, the file's hash; never a value), so the release is receipted.

Every later query reads the row with one indexed select on
``(grant_id, version_id)`` and runs over the release as plain records. A
predicate selects release rows by their generalized values; it never causes
another generalization or suppression, so no two answers differ by a record
the release does not already show.

Two workers may compute at once: threads of one process wait on each other,
and across processes the unique constraint ``uq_k_release_version`` keeps the
first row; the loser reads it and removes its own file. A release is never
recomputed on the same version: a second, different generalization of the
same records could be differenced against the first. So a release whose file
no longer matches its receipt is refused, and so is one computed under other
masks than the grant's current view (a grade changed since): a new version of
the resource gets a new release.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlglot import exp

from datacompact.errors import (
    ConfigurationError,
    Conflict,
    PolicyViolation,
    VerificationFailed,
)
from datacompact.events import EventType, NewEvent, record_events
from datacompact.ledger.formats.entry import canonical_json
from datacompact.permissions import Principal
from datacompact.policy._generalization import SUPPRESSION_LIMIT, Generalized, generalize
from datacompact.sandbox import ColumnRule, Engine, GrantedTable, GrantView, Limits, govern
from datacompact.sandbox.engine import rows_in
from datacompact.store.models import KAnonymousRelease
from datacompact.store.session import Database

log = logging.getLogger("datacompact.releases")

RELEASES = "releases"


def identifiers(table: GrantedTable) -> frozenset[str]:
    """The granted columns that identify or reach a person: never in a release.

    The entity key, and every pseudonymized or partially masked column: a
    pseudonym is unique per person, so no k could hold with it, and a partial
    mask keeps most of a phone or ID number.
    """
    return frozenset(
        c
        for c, rule in table.columns.items()
        if c == table.entity_column or rule.entity_key or rule.mask in ("pseudonym", "partial")
    )


def released_columns(table: GrantedTable) -> tuple[str, ...]:
    """The columns of a grant's release, in grant order: those whose values may be output.

    Besides identifiers, a column constrained to anything but ``plain`` (a
    redacted column, or one the agreement allows only in comparisons) stays
    out: a predicate on a value the release does not show would select rows
    inside a class, and classes could then be split.
    """
    direct = identifiers(table)
    return tuple(
        c for c, rule in table.columns.items() if c not in direct and rule.constraint == "plain"
    )


def sql_view(view: GrantView, columns: tuple[str, ...]) -> GrantView:
    """The view the slice is read through: ``columns`` as masked records, with the row filter."""
    table = _only_table(view)
    masked = GrantedTable(
        name=table.name,
        parquet_path=table.parquet_path,
        columns={c: table.columns[c] for c in columns},
        row_filter=table.row_filter,
        output_mode="masked_records",
    )
    return GrantView(grant_id=view.grant_id, tables={table.name: masked})


@dataclass(frozen=True)
class ReleaseKey:
    """Which release: a grant's on one version, at k, under one view (its fingerprint)."""

    grant_id: int
    version_id: int
    k: int
    fingerprint: str


@dataclass(frozen=True)
class _Release:
    """A stored release as the hot path needs it, detached from any session."""

    path: str
    sha256: str
    columns: tuple[str, ...]
    #: The fingerprint of the grant's view it was computed under (:func:`_fingerprint`).
    view: str


def ensure_release(
    *,
    db: Database,
    home: Path,
    grant_id: int,
    version_id: int,
    view: GrantView,
    engine: Engine,
    k: int,
    actor: Principal,
) -> GrantView:
    """The view a k-anonymous grant's SQL runs on: its release on ``version_id``, computed once.

    ``view`` is the grant's own view on that version (one table, mode
    ``k_anonymous``). The returned view has the same table name over the
    release's Parquet file, in ``records`` mode, with the released columns
    only (text labels), no masks and no row filter: both were applied before
    the generalization. A column left out as an identifier is not in it, so
    check the query against ``view`` first
    (:func:`datacompact.policy._extracts.analysis_view`, before the charge).

    Raises ``PolicyViolation`` with rule ``k_anonymous.unreachable`` when the
    slice has fewer than k records (nothing is stored; the outcome is the
    same for every query of the grant), ``k_anonymous.no_columns`` when every
    granted column is an identifier, and ``k_anonymous.release_stale`` when
    the grant's view changed since the release; ``VerificationFailed`` when
    the release file does not match its receipt.
    """
    table = _only_table(view)
    columns = _columns_of(table)
    key = ReleaseKey(grant_id, version_id, k, _fingerprint(table, columns, k))
    release = _lookup(db, grant_id, version_id)
    if release is None:
        with _computing(grant_id, version_id):
            # Another thread of this process may have published it meanwhile.
            release = _lookup(db, grant_id, version_id) or _compute(
                db, home, actor, key, _slice(view, columns, engine)
            )
    if release.view != key.fingerprint:
        raise PolicyViolation(
            "k-匿名发布计算后授权视图已变化（如分级调整），请等待资源新版本 / the grant's view "
            "changed since its k-anonymous release was computed (a grade changed); a new "
            "version of the resource gets a new release",
            details={"rule": "k_anonymous.release_stale", "grant_id": grant_id},
        )
    file = _verified(home, release, grant_id)
    return _release_shaped(view, table, release.columns, str(file))


def release_shape(view: GrantView) -> GrantView:
    """The view of the release a k-anonymous grant's SQL will run on, from metadata only.

    Same table name, the released columns, ``records`` mode, over the source
    file's path as a placeholder: enough to analyze a query before the
    release is read or computed (which reads data, so it happens only after
    the query is charged). :func:`ensure_release` returns the same view over
    the release's own file.
    """
    table = _only_table(view)
    return _release_shaped(view, table, _columns_of(table), table.parquet_path)


def _columns_of(table: GrantedTable) -> tuple[str, ...]:
    columns = released_columns(table)
    if not columns:
        raise PolicyViolation(
            "授权的列都是标识符、联系方式或受约束的列，k-匿名发布没有可发布的列 / every granted "
            "column is an identifier, contact data or constrained, so the k-anonymous release "
            "has no column",
            details={"rule": "k_anonymous.no_columns"},
        )
    return columns


def _release_shaped(
    view: GrantView, table: GrantedTable, columns: Sequence[str], path: str
) -> GrantView:
    return GrantView(
        grant_id=view.grant_id,
        tables={
            table.name: GrantedTable(
                name=table.name,
                parquet_path=path,
                columns={c: ColumnRule() for c in columns},
                output_mode="records",
            )
        },
        epsilon_per_query=view.epsilon_per_query,
        max_contributions=view.max_contributions,
    )


def _only_table(view: GrantView) -> GrantedTable:
    if len(view.tables) != 1 or view.mode != "k_anonymous":
        raise ConfigurationError(
            "k-匿名发布需要单表的 k-匿名授权视图 / a k-anonymous release needs a k_anonymous "
            "grant view of one table",
            details={"tables": len(view.tables), "mode": view.mode},
        )
    (table,) = view.tables.values()
    return table


def _fingerprint(table: GrantedTable, columns: tuple[str, ...], k: int) -> str:
    """What the release depends on besides the version: its columns, their masks, the row filter, k."""
    described = {
        "table": table.name,
        "columns": [[c, table.columns[c].mask] for c in columns],
        "row_filter": table.row_filter,
        "k": k,
    }
    return hashlib.sha256(canonical_json(described)).hexdigest()


def _lookup(db: Database, grant_id: int, version_id: int) -> _Release | None:
    """The stored release, by the unique index on (grant_id, version_id)."""
    with db.read() as session:
        row = session.scalar(
            select(KAnonymousRelease).where(
                KAnonymousRelease.grant_id == grant_id,
                KAnonymousRelease.version_id == version_id,
            )
        )
        return None if row is None else _detached(row)


def _detached(row: KAnonymousRelease) -> _Release:
    transformation: dict[str, Any] = row.transformation
    return _Release(
        path=row.path,
        sha256=row.sha256,
        columns=tuple(c["name"] for c in transformation["columns"]),
        view=str(transformation["view"]),
    )


_GUARD = threading.Lock()
_LOCKS: dict[tuple[int, int], threading.Lock] = {}


@contextmanager
def _computing(grant_id: int, version_id: int) -> Iterator[None]:
    """Hold this process's lock on one release, so its threads compute it once."""
    key = (grant_id, version_id)
    with _GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    try:
        with lock:
            yield
    finally:
        # Dropped only after the release committed (or failed): a thread that
        # takes a new lock then finds the row.
        with _GUARD:
            if _LOCKS.get(key) is lock:
                del _LOCKS[key]


def _compute(
    db: Database, home: Path, actor: Principal, key: ReleaseKey, rows: pa.Table
) -> _Release:
    """Generalize the slice, write it and publish it; the search runs in no transaction."""
    generalized = generalize(rows, k=key.k)
    log.info(
        "k-anonymous release of grant %s on version %s: %s rows, %s suppressed, %.1f s",
        key.grant_id,
        key.version_id,
        generalized.table.num_rows,
        generalized.suppressed,
        generalized.seconds,
    )
    path, sha256 = write_release(home, key.grant_id, key.version_id, generalized.table)
    return publish(db, home, actor, key, generalized, path, sha256)


def _slice(view: GrantView, columns: tuple[str, ...], engine: Engine) -> pa.Table:
    """The released columns of the whole granted slice, row filter and masks applied."""
    table = _only_table(view)
    sql = exp.select(*columns).from_(table.name).sql(dialect="duckdb")
    # Every row of the slice, whatever the per-request row cap.
    limits = Limits(max_result_rows=max(rows_in(table.parquet_path), 1))
    rows: pa.Table = engine.execute(govern(sql, sql_view(view, columns), limits=limits)).rows
    return rows


def write_release(home: Path, grant_id: int, version_id: int, rows: pa.Table) -> tuple[str, str]:
    """Write ``rows`` sorted as Parquet under ``home``; the path relative to it and the SHA-256.

    The file appears whole or not at all (temporary file, ``fsync``, then
    ``os.replace``), readable by the platform's user only. Its name carries
    its hash, so two workers racing never overwrite each other's file.
    """
    folder = home / RELEASES
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    # Sorted by every column: the source's row order (often the order of
    # registration) would otherwise survive the generalization.
    ordered = rows.sort_by([(c, "ascending") for c in rows.column_names])
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".release-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:  # mkstemp: mode 0600
            pq.write_table(ordered, file)
            file.flush()
            os.fsync(file.fileno())
        sha256 = _sha256(Path(temporary))
        name = f"grant-{grant_id}-v{version_id}-{sha256[:16]}.parquet"
        os.replace(temporary, folder / name)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return f"{RELEASES}/{name}", sha256


def publish(
    db: Database,
    home: Path,
    actor: Principal,
    key: ReleaseKey,
    generalized: Generalized,
    path: str,
    sha256: str,
) -> _Release:
    """Insert the release's row and its ``release.computed`` event, or read the winner's row.

    The file at ``path`` (relative to ``home``) is already written. If another
    worker published first, its release stands and this worker's file is
    removed. Runs the one write transaction of a release.
    """
    try:
        with db.write() as session:
            winner = _insert(session, actor, key, generalized, path, sha256)
    except Conflict:
        # uq_k_release_version: another worker published first.
        found = _lookup(db, key.grant_id, key.version_id)
        if found is None:
            _discard(home, path)
            raise
        winner = found
    except BaseException:
        _discard(home, path)
        raise
    if winner.path != path:
        _discard(home, path)
    return winner


def _insert(
    session: Session,
    actor: Principal,
    key: ReleaseKey,
    generalized: Generalized,
    path: str,
    sha256: str,
) -> _Release:
    transformation = {
        "columns": [
            {
                "name": c,
                "level": generalized.levels[c],
                "height": generalized.heights[c],
                "hierarchy": generalized.hierarchies[c],
            }
            for c in generalized.levels
        ],
        "optimal": generalized.optimal,
        "suppression_limit": str(SUPPRESSION_LIMIT),
        "view": key.fingerprint,
    }
    row = KAnonymousRelease(
        grant_id=key.grant_id,
        version_id=key.version_id,
        path=path,
        k=key.k,
        transformation=transformation,
        rows=generalized.table.num_rows,
        suppressed=generalized.suppressed,
        sha256=sha256,
    )
    session.add(row)
    session.flush()
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.RELEASE_COMPUTED,
                "release",
                row.id,
                {
                    "grant_id": key.grant_id,
                    "version_id": key.version_id,
                    "k": key.k,
                    "columns": dict(generalized.levels),
                    "rows": row.rows,
                    "suppressed": row.suppressed,
                    "sha256": sha256,
                },
            )
        ],
    )
    row.log_index = event.seq
    return _detached(row)


def _discard(home: Path, path: str) -> None:
    with suppress(FileNotFoundError):
        (home / path).unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: set[tuple[str, str, int, int]] = set()


def _verified(home: Path, release: _Release, grant_id: int) -> Path:
    """The release's file, once its bytes were checked against the receipt in this process.

    Hashed again only when its size or modification time changed, so a query
    pays one ``stat``.
    """
    path = home / release.path
    try:
        status = path.stat()
    except OSError:
        status = None
    stamp = (status.st_size, status.st_mtime_ns) if status is not None else (-1, -1)
    key = (str(path), release.sha256, *stamp)
    if key in _VERIFIED:
        return path
    if status is None or _sha256(path) != release.sha256:
        log.error("k-anonymous release of grant %s does not match its receipt", grant_id)
        raise VerificationFailed(
            "k-匿名发布文件与其回执不符 / the stored k-anonymous release does not match its "
            "receipt; it is not served and is never recomputed on the same version",
            details={"rule": "k_anonymous.release_integrity", "grant_id": grant_id},
        )
    _VERIFIED.add(key)
    return path

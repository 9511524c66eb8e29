"""The parts of a PSI run that both rounds share: its secret, its shuffle, its matched rows.

A run's secret scalar and shuffle seed are sealed into its row under a key
derived from the platform secret, bound to the run's id, so a sealed state
copied to another run does not open. The shuffle is a keyed sort of the
holder's positions, so the second round finds the rows behind the points it
sent without the order ever being stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datacompact.catalog.resources import latest_version
from datacompact.crypto import SealingKey
from datacompact.errors import InvalidInput, MalformedInput, NotFound, PolicyViolation
from datacompact.events import Recorded
from datacompact.fusion.keys import canonical_key, normalize_keys
from datacompact.fusion.schemas import PsiRunPublic
from datacompact.permissions import Principal
from datacompact.policy import queries
from datacompact.privacy import psi as group
from datacompact.sandbox import Engine, GrantView
from datacompact.store.models import PsiRun, ResourceVersion
from datacompact.store.session import Database

#: Under the home folder: the matched rows of a run in mode ``attributes``,
#: kept only while its governed query runs.
PSI_DIR = "psi"
_SEAL_PURPOSE = b"datacompact/psi-run-state"


@dataclass(frozen=True)
class Claimed:
    run_id: int
    grant_id: int
    mode: str
    key_column: str
    key_kind: str
    version_id: int
    declared_size: int
    holder_size: int
    scalar: bytes
    seed: bytes
    min_group: int | None


def holder_keys(
    home: Path, version: ResourceVersion, column: str, kind: str
) -> tuple[tuple[str, ...], int]:
    """The distinct canonical keys of the column and how many of its values were malformed."""
    try:
        table = pq.read_table(home / version.path, columns=[column])
    except (OSError, pa.ArrowException) as exc:
        raise NotFound(
            "数据资源文件不可读 / the resource's file cannot be read",
            details={"version_id": version.id},
        ) from exc
    found = normalize_keys(kind, table.column(0).to_pylist())
    return found.keys, found.malformed


def shuffle_order(seed: bytes, count: int) -> list[int]:
    """The run's shuffle of ``count`` positions: a keyed sort, so round two can redo it.

    ``secrets`` alone would draw a fresh order that the second round could not
    find again without storing it; sorting by a keyed BLAKE2b of each position
    is a uniformly random permutation to anyone without the seed.
    """
    return sorted(
        range(count),
        key=lambda i: hashlib.blake2b(i.to_bytes(8, "big"), key=seed, digest_size=16).digest(),
    )


def _sealer(secret: bytes) -> SealingKey:
    return SealingKey.derive(secret, purpose=_SEAL_PURPOSE)


def seal_state(secret: bytes, run_id: int, scalar: bytes, seed: bytes) -> str:
    sealed = _sealer(secret).seal(scalar + seed, associated_data=b"psi-run:%d" % run_id)
    return (sealed.nonce + sealed.ciphertext).hex()


def open_state(secret: bytes, run_id: int, state: str) -> tuple[bytes, bytes]:
    raw = bytes.fromhex(state)
    plain = _sealer(secret).open(raw[:12], raw[12:], associated_data=b"psi-run:%d" % run_id)
    return plain[:32], plain[32:]


def matched_keys(
    db: Database, home: Path, claimed: Claimed, ours: Sequence[bytes], doubled: set[bytes]
) -> set[str]:
    """The holder's canonical keys at the matched positions of the run's shuffle."""
    with db.read() as session:
        version = session.get(ResourceVersion, claimed.version_id)
        latest = latest_version(session, version.resource_id) if version is not None else None
        if version is None or latest is None or latest.id != version.id:
            raise PolicyViolation(
                "资源已变更，请重新求交 / the resource changed since the run opened; run it again",
                details={"rule": "resource.changed"},
            )
        keys, _malformed = holder_keys(home, version, claimed.key_column, claimed.key_kind)
    order = shuffle_order(claimed.seed, len(keys))
    return {keys[order[j]] for j, point in enumerate(ours) if point in doubled}


def release_attributes(
    db: Database,
    home: Path,
    secret: bytes,
    actor: Principal,
    claimed: Claimed,
    keys: set[str],
    sql: str,
    engine: Engine | None,
    query_policy: queries.QueryPolicy | None,
) -> Recorded[Any]:
    """The grant's governed query on the holder's matched rows only, under every rule of the grant."""
    folder = home / PSI_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # Fresh names each time: the engine may keep what it read of a file by its path.
    written: list[Path] = []

    def restrict(view: GrantView) -> GrantView:
        # A grant of one resource has one table; the key column is the run's.
        tables = {}
        for name, table in view.tables.items():
            source = pq.read_table(table.parquet_path)
            canonical = [
                canonical_key(claimed.key_kind, v)
                for v in source.column(claimed.key_column).to_pylist()
            ]
            mask = pa.array([c is not None and c in keys for c in canonical])
            subset = folder / f"run-{claimed.run_id}-{secrets.token_hex(8)}.parquet"
            written.append(subset)
            pq.write_table(pc.filter(source, mask), subset)
            tables[name] = replace(table, parquet_path=str(subset))
        return replace(view, tables=tables)

    try:
        return queries.run_query(
            db=db,
            home=home,
            secret=secret,
            actor=actor,
            grant_id=claimed.grant_id,
            sql=sql,
            engine=engine,
            policy=query_policy,
            restrict=restrict,
        )
    finally:
        for subset in written:
            subset.unlink(missing_ok=True)


def run_view(run: PsiRun) -> PsiRunPublic:
    return PsiRunPublic(
        id=run.id,
        grant_id=run.grant_id,
        mode=run.mode,
        key_column=run.key_column,
        key_kind=run.key_kind,
        status=run.status,
        declared_size=run.declared_size,
        holder_size=run.holder_size,
        holder_malformed=run.holder_malformed,
        requester_size=run.requester_size,
        query_id=run.query_id,
        log_index=run.log_index,
    )


def read_points(text: str, field: str, limit: int) -> list[bytes]:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(
            f"元素编码错误 / malformed {field}: expected base64", details={"field": field}
        ) from exc
    try:
        return group.decode_points(raw, limit=limit)
    except MalformedInput as exc:
        raise MalformedInput(exc.message, details={**exc.details, "field": field}) from None


def check_distinct(points: Sequence[bytes], field: str) -> None:
    if len(set(points)) != len(points):
        # Equal points are equal keys: a repeat is either an unnormalized set
        # or a probe, and the requester is told to deduplicate.
        raise InvalidInput(
            "集合含重复元素 / duplicate elements: expected each key once, deduplicated after "
            "normalization",
            details={"field": field, "rule": "psi.duplicates"},
        )

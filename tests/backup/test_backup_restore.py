"""Backup under live writes, checked restore, the hold behind a published checkpoint, recovery.

Every test runs on SQLite and on PostgreSQL (``pg_dump``/``pg_restore``).
"""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from datacompact.api import create_app
from datacompact.backup import restore_backup, take_backup
from datacompact.backup.manifest import MANIFEST
from datacompact.config import Settings
from datacompact.errors import (
    Conflict,
    InvalidInput,
    LogBehind,
    VerificationFailed,
)
from datacompact.ledger import log
from datacompact.ledger.log import recovery
from datacompact.ledger.log.check import check_ledger
from datacompact.ledger.log.checkpoints import SIGNED_STATE_FILE
from datacompact.platform import Platform

from ..conftest import World, valid_uscc
from ..ledger.test_audit import _SyncASGITransport
from .conftest import Writer, append_events, audit


def _head(platform: Platform) -> tuple[int, bytes]:
    with platform.db.read() as session:
        head = log.read_head(session)
        return head.size, head.root


def _checked(platform: Platform) -> dict[str, Any]:
    with platform.db.read() as session:
        report = check_ledger(session, log_verifier=platform.log_signer.verifier())
    assert report.ok, report.problems
    return {"size": report.size, "recoveries": report.recoveries, "held": report.held_size}


def _recover(platform: Platform, evidence: Path) -> dict[str, object]:
    body, note = recovery.read_checkpoint_file(evidence, platform.log_signer.verifier())
    with platform.db.write() as session:
        return recovery.recover(
            session,
            signer=platform.log_signer,
            policy=None,
            evidence=body,
            note=note,
            state=platform.settings.home / SIGNED_STATE_FILE,
        )


def _client(platform: Platform) -> httpx.Client:
    app = create_app(platform)
    return httpx.Client(transport=_SyncASGITransport(app), base_url="http://platform")


async def _served_statuses(platform: Platform) -> tuple[int, int]:
    """Start the app as `serve` does (its lifespan), then read the log and try a write."""
    app = create_app(platform)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://platform") as client:
            read = await client.get("/ledger/checkpoint")
            write = await client.post("/api/v1/participants", json=_register_body())
            return read.status_code, write.status_code


def _register_body() -> dict[str, object]:
    return {
        "kind": "enterprise",
        "name": "恢复测试企业有限公司",
        "uscc": valid_uscc("91330106MA2C00009"),
        "region_code": "330106",
        "ownership": "private",
        "admin": {"username": "restore.admin", "display_name": "张三", "password": "x" * 16},
    }


def test_backup_under_live_writes_restores_one_consistent_state(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    platform.checkpoint()
    before = audit(platform, tmp_path / "mirror")
    writer = Writer(platform)
    thread = threading.Thread(target=writer.run)
    thread.start()
    try:
        while writer.written < 20:
            time.sleep(0.005)
        during = writer.written
        result = take_backup(platform.settings, tmp_path / "backup")
        while writer.written < during + 20:
            time.sleep(0.005)
    finally:
        writer.stop.set()
        thread.join()
    assert not writer.errors
    store = result.manifest.store
    live_size, _ = _head(platform)
    assert before.size + during <= store.log_size < live_size
    with platform.db.read() as session:
        # The snapshot is one committed state: its root is the live log's root at its size.
        assert log.root_at(session, store.log_size) == store.log_root

    for path in [tmp_path / "backup", *(tmp_path / "backup").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path

    settings = target("restored")
    restored_result = restore_backup(settings, tmp_path / "backup")
    assert not restored_result.held
    restored = Platform(settings)
    try:
        assert _head(restored) == (store.log_size, store.log_root)
        assert _checked(restored) == {"size": store.log_size, "recoveries": [], "held": None}
        assert settings.secret_path.read_bytes() == platform.settings.secret_path.read_bytes()
        assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
        # The auditor that mirrored the live log before the backup sees a clean extension.
        restored.checkpoint()
        after = audit(restored, tmp_path / "mirror")
        assert (after.previous_size, after.size, after.recovery) == (
            before.size,
            store.log_size,
            None,
        )
        append_events(restored, 2)  # and the restored platform takes writes
    finally:
        restored.close()


@pytest.mark.slow
def test_restore_behind_a_published_checkpoint_is_held_until_the_loss_is_declared(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    platform.checkpoint()
    early = audit(platform, tmp_path / "early")
    backed = take_backup(platform.settings, tmp_path / "backup").manifest.store.log_size
    append_events(platform, 300)  # crosses an entry bundle after the backup
    published = platform.checkpoint()
    late = audit(platform, tmp_path / "late")
    assert late.size == published.size > backed
    evidence = tmp_path / "published.checkpoint"
    evidence.write_text(published.note, encoding="utf-8")

    settings = target("restored")
    result = restore_backup(settings, tmp_path / "backup", checkpoint_file=evidence)
    assert (result.held, result.published_size) == (True, published.size)
    restored = Platform(settings)
    try:
        # Every write is refused: service appends, API write routes, checkpoint signing.
        with pytest.raises(LogBehind):
            append_events(restored, 1)
        with pytest.raises(LogBehind):
            restored.checkpoint()
        with _client(restored) as client:
            response = client.post("/api/v1/participants", json=_register_body())
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "log_behind"
            assert response.json()["error"]["details"] == {
                "size": backed,
                "published_size": published.size,
            }
            token = {"Authorization": f"Bearer {world.tokens['regulator.admin']}"}
            response = client.post("/api/v1/ledger/checkpoints", headers=token)
            assert response.json()["error"]["code"] == "log_behind"
            assert client.get("/ledger/recoveries").json() == {"statements": []}
        assert restored.checkpoint_at_start() is None
        assert anyio.run(_served_statuses, restored) == (200, 503)
        # The auditor that mirrored the newer log rightly sees a fork: nothing explains it.
        with pytest.raises(VerificationFailed) as fork:
            audit(restored, tmp_path / "late")
        assert fork.value.details["finding"] == "fork"
        assert _checked(restored)["held"] == published.size

        outcome = _recover(restored, evidence)
        assert outcome["statement_index"] == backed
        assert (outcome["lost_first"], outcome["lost_last"]) == (backed, published.size - 1)
        assert outcome["lost_count"] == published.size - backed
        assert outcome["tree_size"] == backed + 1
        report = _checked(restored)
        assert report["held"] is None
        assert report["recoveries"] == [
            {
                "index": backed,
                "old_size": published.size,
                "old_root": published.root.hex(),
                "restored_size": backed,
                "lost_first": backed,
                "lost_last": published.size - 1,
                "lost_count": published.size - backed,
            }
        ]
        append_events(restored, 3)  # writes resume after the statement
        restored.checkpoint()

        # The auditor's mirror of the newer log: the fork is declared, not hidden.
        with pytest.raises(VerificationFailed) as declared:
            audit(restored, tmp_path / "late")
        assert declared.value.details["finding"] == "declared_loss"
        assert declared.value.details["recovery"]["lost_first"] == backed
        assert declared.value.details["recovery"]["mirrored_size"] == published.size
        adopted = audit(restored, tmp_path / "late", accept_loss=True)
        assert adopted.size == backed + 4
        assert adopted.previous_size == published.size
        assert adopted.recovery is not None
        assert adopted.recovery["index"] == backed
        kept = list((tmp_path / "late" / "superseded").iterdir())
        assert len(kept) == 1
        assert (kept[0] / "recovery.json").exists()
        assert (kept[0] / "state.json").exists()
        # From there the mirror grows as usual, and the early mirror never saw a lost entry.
        append_events(restored, 2)
        restored.checkpoint()
        again = audit(restored, tmp_path / "late")
        assert (again.previous_size, again.size, again.recovery) == (backed + 4, backed + 6, None)
        assert audit(restored, tmp_path / "early").size == backed + 6
        assert early.size <= backed
    finally:
        restored.close()


def test_recovery_refuses_a_checkpoint_older_than_the_hold(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    take_backup(platform.settings, tmp_path / "backup")
    append_events(platform, 2)
    first = platform.checkpoint()
    append_events(platform, 2)
    platform.checkpoint()
    settings = target("restored")
    # No --checkpoint: the backup's own log.signed is behind, but the operator
    # brings the newest one by replacing the restored home's record.
    result = restore_backup(settings, tmp_path / "backup")
    assert not result.held
    (settings.home / SIGNED_STATE_FILE).write_bytes(
        (platform.settings.home / SIGNED_STATE_FILE).read_bytes()
    )
    restored = Platform(settings)
    try:
        restored.initialize()  # what `serve` runs: the home's record is ahead, so hold
        with pytest.raises(LogBehind):
            append_events(restored, 1)
        older = tmp_path / "older.checkpoint"
        older.write_text(first.note, encoding="utf-8")
        with pytest.raises(InvalidInput):
            _recover(restored, older)
        outcome = _recover(restored, settings.home / SIGNED_STATE_FILE)
        assert outcome["old_size"] == _head(platform)[0]
        append_events(restored, 1)
        restored.checkpoint()
        assert _checked(restored)["recoveries"][0]["index"] == outcome["statement_index"]
        with pytest.raises(Exception, match="nothing to recover"):
            _recover(restored, settings.home / SIGNED_STATE_FILE)
    finally:
        restored.close()


@pytest.mark.parametrize("damage", ["altered", "extra", "missing", "no_manifest"])
def test_restore_checks_the_manifest_before_writing_anything(
    world: World, target, tmp_path: Path, damage: str
) -> None:
    folder = tmp_path / "backup"
    take_backup(world.platform.settings, folder)
    secret = folder / "home" / "platform.secret"
    if damage == "altered":
        secret.write_bytes(bytes(32))
    elif damage == "extra":
        (folder / "home" / "stray.txt").write_text("x")
    elif damage == "missing":
        secret.unlink()
    else:
        (folder / MANIFEST).unlink()
    settings = target("restored")
    with pytest.raises(VerificationFailed) as caught:
        restore_backup(settings, folder)
    expected = {
        "altered": {"missing": [], "extra": [], "altered": ["home/platform.secret"]},
        "extra": {"missing": [], "extra": ["home/stray.txt"], "altered": []},
        "missing": {"missing": ["home/platform.secret"], "extra": [], "altered": []},
        "no_manifest": {"file": MANIFEST},
    }[damage]
    assert caught.value.details == expected
    assert not settings.home.exists()
    assert not list(tmp_path.glob(".restored.restore-*"))
    _assert_empty_store(settings)


def _assert_empty_store(settings: Settings) -> None:
    if settings.database_url is None:
        assert not settings.default_database_path.exists()
        return
    from sqlalchemy import create_engine, inspect

    engine = create_engine(settings.database_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_restore_refuses_a_non_empty_target_without_force(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    take_backup(platform.settings, tmp_path / "backup")
    append_events(platform, 2)
    platform.checkpoint()
    # Restoring over the live home (its database in place) needs --force ...
    live = Settings(home=platform.settings.home, database_url=platform.settings.database_url)
    with pytest.raises(Conflict):
        restore_backup(live, tmp_path / "backup")
    platform.close()
    # ... and then the replaced home's log.signed is the evidence that holds the log.
    result = restore_backup(live, tmp_path / "backup", force=True)
    assert result.held
    assert result.replaced_home is not None
    assert (result.replaced_home / SIGNED_STATE_FILE).exists()
    again = Platform(live)
    try:
        with pytest.raises(LogBehind):
            append_events(again, 1)
    finally:
        again.close()


def test_backup_refuses_a_folder_with_content(world: World, tmp_path: Path) -> None:
    out = tmp_path / "backup"
    out.mkdir()
    (out / "old").write_text("x")
    with pytest.raises(Conflict):
        take_backup(world.platform.settings, out)
    assert sorted(p.name for p in out.iterdir()) == ["old"]


def test_restore_refuses_a_backup_of_another_store_kind(
    world: World, target, tmp_path: Path, backend: str
) -> None:
    take_backup(world.platform.settings, tmp_path / "backup")
    other = (
        Settings(home=tmp_path / "other")
        if backend == "postgresql"
        else Settings(
            home=tmp_path / "other", database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
        )
    )
    with pytest.raises(InvalidInput):
        restore_backup(other, tmp_path / "backup")
    assert not other.home.exists()

"""PostgreSQL point-in-time recovery from a base backup and archived WAL loses no receipt.

A throwaway cluster (``initdb`` on a free port under /tmp, ``archive_mode=on``)
is backed up with ``pg_basebackup``; the platform then keeps writing and
signs a checkpoint. The cluster is killed and its data folder deleted; the
base backup plus the WAL archive are recovered to the end of the archive,
and the log must be exactly the one the checkpoint signed: not held, intact,
taking writes. Slow (it starts two PostgreSQL servers), so marked ``slow``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from datacompact.config import Settings
from datacompact.ledger import log
from datacompact.ledger.log.check import check_ledger
from datacompact.platform import Platform

from .conftest import append_events

pytestmark = pytest.mark.slow

_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)), None)


def _as_postgres(*command: str) -> list[str]:
    # initdb refuses to run as root; the cluster belongs to the postgres user.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


def _run(*command: str) -> None:
    subprocess.run(_as_postgres(*command), check=True, capture_output=True, timeout=300)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One throwaway PostgreSQL cluster in ``root``; every path is owned by postgres."""

    def __init__(self, root: Path, port: int) -> None:
        assert _BIN is not None
        self.bin = _BIN.parent
        self.root, self.port = root, port
        self.archive = root / "archive"

    def tool(self, name: str) -> str:
        return str(self.bin / name)

    def configure(self, data: Path, *extra: str) -> None:
        lines = [
            f"port = {self.port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.root}'",
            "wal_level = replica",
            "archive_mode = on",
            f"archive_command = 'test ! -f {self.archive}/%f && cp %p {self.archive}/%f'",
            "max_wal_senders = 4",
            *extra,
        ]
        with open(data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self, data: Path) -> None:
        _run(self.tool("pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-w",
             "-t", "120", "start")  # fmt: skip

    def kill(self, data: Path) -> None:
        """The machine is lost: SIGKILL the postmaster, no shutdown checkpoint."""
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGKILL)
        for _ in range(200):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 0)
                time.sleep(0.05)
                continue
            break
        time.sleep(0.5)  # the backends notice the dead postmaster and exit

    def stop(self, data: Path) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            _run(self.tool("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if _BIN is None or (shutil.which("runuser") is None and os.geteuid() == 0):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    root = Path(tempfile.mkdtemp(prefix="dct-pitr-", dir="/tmp"))
    made = Cluster(root, _free_port())
    made.archive.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(made.archive, "postgres")
    try:
        yield made
    finally:
        for data in (root / "data", root / "restored"):
            if (data / "postmaster.pid").exists():
                made.stop(data)
        shutil.rmtree(root, ignore_errors=True)


def _wait_archived(url: str) -> None:
    """Close the current WAL segment and wait until the archiver has copied it."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            wanted = connection.execute(
                text("SELECT pg_walfile_name(pg_switch_wal())")
            ).scalar_one()
            for _ in range(600):
                done = connection.execute(
                    text("SELECT last_archived_wal FROM pg_stat_archiver")
                ).scalar()
                if done is not None and done >= wanted:
                    return
                time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the WAL segment was not archived in 30 seconds")


def _wait_promoted(url: str) -> None:
    """Wait until recovery has replayed the whole archive and the server takes writes."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for _ in range(1200):
                if not connection.execute(text("SELECT pg_is_in_recovery()")).scalar_one():
                    return
                time.sleep(0.05)
    finally:
        engine.dispose()
    raise AssertionError("the restored server did not finish recovery in 60 seconds")


def test_base_backup_and_archived_wal_restore_every_signed_entry(
    cluster: Cluster, tmp_path: Path
) -> None:
    data = cluster.root / "data"
    _run(cluster.tool("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    cluster.configure(data)
    cluster.start(data)
    admin = create_engine(cluster.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("CREATE DATABASE dct"))
    admin.dispose()

    settings = Settings(home=tmp_path / "home", database_url=cluster.url("dct"))
    platform = Platform(settings)
    platform.initialize()
    append_events(platform, 10)
    platform.checkpoint()
    base = cluster.root / "base"
    _run(cluster.tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(cluster.port), "-U",
         "postgres", "-D", str(base), "-X", "stream", "--checkpoint=fast")  # fmt: skip

    append_events(platform, 300)  # receipts handed out after the base backup
    published = platform.checkpoint()
    platform.close()
    _wait_archived(cluster.url("postgres"))
    cluster.kill(data)
    shutil.rmtree(data)

    restored = cluster.root / "restored"
    _run("cp", "-a", str(base), str(restored))
    (restored / "recovery.signal").touch()
    if os.geteuid() == 0:
        shutil.chown(restored / "recovery.signal", "postgres")
    cluster.configure(restored, f"restore_command = 'cp {cluster.archive}/%f %p'")
    cluster.start(restored)
    _wait_promoted(cluster.url("postgres"))

    again = Platform(settings)
    try:
        again.initialize()  # would hold the log if the home's log.signed were ahead
        with again.db.read() as session:
            head = log.read_head(session)
            assert (head.size, head.root, head.held_size) == (published.size, published.root, None)
            report = check_ledger(session, log_verifier=again.log_signer.verifier())
        assert report.ok, report.problems
        append_events(again, 1)
        assert again.checkpoint().size == published.size + 1
    finally:
        again.close()

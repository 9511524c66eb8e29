"""Ingestion as an operator runs it: pinned inbox files, empty versions, staging, file modes.

Each test runs on SQLite and on PostgreSQL (the ``world`` fixture).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from datacompact.api import create_app
from datacompact.catalog import _staging, inbox
from datacompact.catalog import resources as service
from datacompact.catalog.inbox import inbox_folder, open_inbox_file
from datacompact.catalog.schemas import ResourceBase
from datacompact.config import private_dir
from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest import PinnedFile, open_at, pin
from datacompact.store.models import ResourceVersion

from ..api.conftest import ApiClient, bearer
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World

META = ResourceBase(
    name="参保人员名册",
    description="测试用名册",
    tags=["社保"],
    update_frequency="monthly",
    share_type="conditional",
    open_type="not_open",
)
HEADER = ("姓名", "身份证号", "缴费金额")
STEWARD = "department.data_steward"


def _csv(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow([f"人员{i}", "33010619900101123X", str(100 + i)])
    return path


def _inbox(world: World) -> Path:
    # As an operator makes it (SFTP chroot, removable media): private to the platform.
    return private_dir(inbox_folder(world.platform.settings.home, world.ids["department"]))


def _body(name: str) -> dict[str, Any]:
    return {**META.model_dump(mode="json"), "inbox_file": name}


def _versions(world: World) -> int:
    with world.platform.db.read() as session:
        return session.scalar(select(func.count()).select_from(ResourceVersion)) or 0


# --- header-only files: a valid, empty version in every format ----------------------------


def _header_only(folder: Path, fmt: str) -> Path:
    if fmt == "csv":
        path = folder / "empty.csv"
        path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    elif fmt == "csv_no_newline":
        path = folder / "empty2.csv"
        path.write_text(",".join(HEADER), encoding="utf-8")
    elif fmt == "gbk_csv":
        path = folder / "empty3.csv"
        path.write_bytes((",".join(HEADER) + "\r\n").encode("gbk"))
    elif fmt == "tsv":
        path = folder / "empty.tsv"
        path.write_text("\t".join(HEADER) + "\n", encoding="utf-8")
    elif fmt == "xlsx":
        path = folder / "empty.xlsx"
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(list(HEADER))
        book.save(path)
    else:
        path = folder / "empty.parquet"
        types = (pa.string(), pa.string(), pa.float64())
        pq.write_table(
            pa.table({n: pa.array([], type=t) for n, t in zip(HEADER, types, strict=True)}), path
        )
    return path


@pytest.mark.parametrize("fmt", ["csv", "csv_no_newline", "gbk_csv", "tsv", "xlsx", "parquet"])
def test_a_header_only_file_is_an_empty_version(world: World, client: ApiClient, fmt: str) -> None:
    path = _header_only(_inbox(world), fmt)
    response = client.post(
        "/api/v1/resources", json=_body(path.name), headers=bearer(world, STEWARD)
    )
    assert response.status_code == 201, response.text
    latest = response.json()["data"]["latest"]
    assert latest["rows"] == 0
    assert [c["name"] for c in latest["columns"]] == list(HEADER)
    assert any("no data rows" in w for w in latest["warnings"])
    with world.platform.db.read() as session:
        version = session.scalars(select(ResourceVersion)).one()
    staged = pq.read_table(world.platform.settings.home / version.path)
    assert staged.num_rows == 0
    assert staged.column_names == list(HEADER)
    if fmt == "parquet":  # declared types are kept, not flattened to text
        assert staged.schema.field("缴费金额").type == pa.float64()


@pytest.mark.parametrize("content", [b"\n", b"  \r\n\n", b"\xef\xbb\xbf"])
def test_files_without_a_header_are_refused_as_empty(
    world: World, client: ApiClient, content: bytes
) -> None:
    for name in ("blank.jsonl", "blank.csv"):
        (_inbox(world) / name).write_bytes(content)
        response = client.post(
            "/api/v1/resources", json=_body(name), headers=bearer(world, STEWARD)
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] in ("malformed_input", "invalid_input")
    assert _versions(world) == 0


# --- inbox files: opened once, by descriptor ------------------------------------------------


def test_links_fifos_and_devices_in_the_inbox_are_refused(
    world: World, client: ApiClient, tmp_path: Path
) -> None:
    home = world.platform.settings.home
    folder = _inbox(world)
    (folder / "secret.csv").symlink_to(home / "platform.secret")
    os.mkfifo(folder / "pipe.csv")
    elsewhere = _csv(tmp_path / "elsewhere.csv", 3)
    (folder / "hard.csv").hardlink_to(elsewhere)
    expected = {"secret.csv": "symlink", "pipe.csv": "fifo", "hard.csv": "hard_link"}
    try:
        os.mknod(folder / "null.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        expected["null.csv"] = "device"
    except PermissionError:
        pass  # without CAP_MKNOD; the device case is still covered by pin() below
    for name, reason in expected.items():
        response = client.post(
            "/api/v1/resources", json=_body(name), headers=bearer(world, STEWARD)
        )
        assert response.status_code == 400, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"] == {"field": "inbox_file", "reason": reason}
    with pytest.raises(InvalidInput) as refused:
        pin("/dev/null")
    assert refused.value.details["reason"] == "device"
    assert _versions(world) == 0


def test_a_symlinked_inbox_folder_is_refused(
    world: World, client: ApiClient, tmp_path: Path
) -> None:
    home = world.platform.settings.home
    other = tmp_path / "other"
    other.mkdir()
    _csv(other / "p.csv", 3)
    # The participant's folder itself is a link (to a folder of files it may not read).
    (home / "inbox").mkdir(mode=0o700)
    (home / "inbox" / str(world.ids["department"])).symlink_to(other)
    response = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"] == {"field": "inbox_file", "reason": "symlink"}
    # And so is an inbox root that is a link.
    (home / "inbox" / str(world.ids["department"])).unlink()
    (home / "inbox").rmdir()
    (other / str(world.ids["department"])).mkdir()
    _csv(other / str(world.ids["department"]) / "p.csv", 3)
    (home / "inbox").symlink_to(other)
    response = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["reason"] == "symlink"


def _swap_hook(
    monkeypatch: pytest.MonkeyPatch, *, before: Callable[[], None], after: Callable[[], None]
) -> None:
    real = open_at

    def swapping(dir_fd: int, name: str) -> PinnedFile:
        before()
        opened = real(dir_fd, name)
        after()
        return opened

    monkeypatch.setattr(inbox, "open_at", swapping)


def test_a_file_swapped_for_a_symlink_before_the_open_is_refused(
    world: World, client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = world.platform.settings.home
    target = _csv(_inbox(world) / "p.csv", 5)

    def swap() -> None:  # the name checked a moment ago now points at the secret
        target.unlink()
        target.symlink_to(home / "platform.secret")

    _swap_hook(monkeypatch, before=swap, after=lambda: None)
    response = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"] == {"field": "inbox_file", "reason": "symlink"}
    assert _versions(world) == 0


def test_a_file_swapped_after_the_open_changes_nothing(
    world: World, client: ApiClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = _inbox(world)
    target = _csv(folder / "p.csv", 5)
    original = target.read_bytes()
    decoy = _csv(tmp_path / "decoy.csv", 50)

    def swap() -> None:  # every later read by name would now see the decoy
        target.unlink()
        target.symlink_to(decoy)

    _swap_hook(monkeypatch, before=lambda: None, after=swap)
    response = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert response.status_code == 201, response.text
    latest = response.json()["data"]["latest"]
    assert latest["rows"] == 5
    import hashlib

    assert latest["source_sha256"] == hashlib.sha256(original).hexdigest()


def test_an_opened_inbox_file_is_read_through_its_descriptor(world: World) -> None:
    folder = _inbox(world)
    _csv(folder / "p.csv", 2)
    with open_inbox_file(world.platform.settings.home, world.ids["department"], "p.csv") as f:
        (folder / "p.csv").unlink()  # the name is gone; the open file is not
        assert f.path.read_bytes().startswith("姓名".encode())
    assert f.fd == -1  # closed on leaving


# --- staging: private, locked, swept at start-up whatever its age ---------------------------

_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from datacompact.catalog import _staging, resources
    from datacompact.catalog.schemas import ResourceBase
    from datacompact.config import Settings
    from datacompact.platform import Platform
    from datacompact.registry import tokens

    home, url, token, file, when = sys.argv[1:6]
    platform = Platform(Settings(home=Path(home), database_url=url))
    with platform.db.read() as session:
        actor = tokens.authenticate(
            session=session, token=token, governance=platform.settings.governance_mode
        )
    real = _staging.Staging.publish

    def publish(self):
        if when == "before_move":
            os.kill(os.getpid(), signal.SIGKILL)
        moved = real(self)
        os.kill(os.getpid(), signal.SIGKILL)  # moved, not committed
        return moved

    _staging.Staging.publish = publish

    def progress(done, total):  # the first batch is read: killed mid-staging
        if when == "mid_read":
            os.kill(os.getpid(), signal.SIGKILL)

    data = ResourceBase(name="名册", update_frequency="monthly", share_type="conditional",
                        open_type="not_open")
    resources.register_resource(
        db=platform.db, home=platform.settings.home, actor=actor, data=data, file=Path(file),
        progress=progress,
    )
    """
)


def _killed_ingestion(world: World, file: Path, when: str) -> None:
    settings = world.platform.settings
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLED,
            str(settings.home),
            settings.resolved_database_url,
            world.tokens[STEWARD],
            str(file),
            when,
        ],
        env=os.environ.copy(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]


def _parquet_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet")) if root.exists() else []


@pytest.mark.slow
def test_a_killed_ingestion_leaves_nothing_after_the_sweep(world: World, tmp_path: Path) -> None:
    home = world.platform.settings.home
    kept = service.register_resource(
        db=world.platform.db,
        home=home,
        actor=world.principal(STEWARD),
        data=META,
        file=_csv(tmp_path / "kept.csv", 4),
    )
    people = _csv(tmp_path / "people.csv", 40)
    _killed_ingestion(world, people, "before_move")
    _killed_ingestion(world, people, "after_move")
    assert _versions(world) == 1
    # Both kills left complete Parquet files of personal data: one staged, one moved.
    left = list(_parquet_files(home / "staging") + _parquet_files(home / "resources"))
    assert len(left) == 3
    assert all(pq.read_metadata(p).num_rows in (4, 40) for p in left)
    assert len(_parquet_files(home / "staging")) == 1

    assert service.sweep_orphans(db=world.platform.db, home=home) == 2
    assert _parquet_files(home / "staging") == []
    with world.platform.db.read() as session:
        version = session.scalars(select(ResourceVersion)).one()
    assert _parquet_files(home / "resources") == [home / version.path]
    assert version.resource_id == kept.value.id
    assert service.sweep_orphans(db=world.platform.db, home=home) == 0


@pytest.mark.slow
def test_a_killed_read_leaves_its_scratch_files_in_staging_only(
    world: World, tmp_path: Path
) -> None:
    """The decoded CSV sample is personal data too: it lives in the staging folder."""
    home = world.platform.settings.home
    people = tmp_path / "people.csv"
    people.write_bytes(_csv(tmp_path / "utf8.csv", 40).read_text("utf-8").encode("gbk"))
    _killed_ingestion(world, people, "mid_read")
    (folder,) = (home / "staging").iterdir()
    scratch = [p.name for p in folder.rglob("*")]
    assert any(name.startswith("datacompact-csv-") for name in scratch), scratch
    assert "sample.csv" in scratch
    assert service.sweep_orphans(db=world.platform.db, home=home) == 1
    assert list((home / "staging").iterdir()) == []
    assert _versions(world) == 0


def test_the_sweep_leaves_a_running_ingestion_alone(world: World) -> None:
    home = world.platform.settings.home
    with _staging.Staging(home, world.ids["department"]) as running:
        (running.folder / "data.parquet").write_bytes(b"being written")
        assert service.sweep_orphans(db=world.platform.db, home=home) == 0
        assert running.folder.exists()
        moved = running.publish()  # in its committing transaction, still locked
        assert service.sweep_orphans(db=world.platform.db, home=home) == 0
        assert (home / moved).exists()
    # Its process ended without a commit: now the folder goes.
    assert service.sweep_orphans(db=world.platform.db, home=home) == 1
    assert not (home / moved).exists()


def test_the_api_sweeps_at_start_up(world: World) -> None:
    home = world.platform.settings.home
    orphan = home / "staging" / "0123456789abcdef"
    orphan.mkdir(parents=True)
    (orphan / "data.parquet").write_bytes(b"left by a crash a second ago")
    os.utime(orphan)  # brand new: age plays no part
    app = create_app(world.platform)
    seen: list[bool] = []

    async def serve() -> None:  # what uvicorn does around the requests it serves
        async with app.router.lifespan_context(app):
            seen.append(orphan.exists())

    anyio.run(serve)
    assert seen == [False]


# --- file modes: 0700 folders, 0600 files, whatever the umask -------------------------------


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(home: Path) -> dict[str, str]:
    """Every folder and file under ``home`` whose mode is not 0700 / 0600."""
    wrong = {}
    for root, folders, files in os.walk(home):
        for name in folders:
            mode = stat.S_IMODE(os.lstat(Path(root) / name).st_mode)
            if mode != 0o700:
                wrong[str((Path(root) / name).relative_to(home))] = oct(mode)
        for name in files:
            mode = stat.S_IMODE(os.lstat(Path(root) / name).st_mode)
            if mode != 0o600:
                wrong[str((Path(root) / name).relative_to(home))] = oct(mode)
    return wrong


def test_everything_under_home_is_private_after_ingestions(
    world: World, client: ApiClient, permissive_umask: None
) -> None:
    home = world.platform.settings.home
    folder = _inbox(world)
    for name, rows in (("p.csv", 20), ("q.csv", 30)):
        path = _csv(folder / name, rows)
        path.chmod(0o600)
    created = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert created.status_code == 201, created.text
    resource_id = created.json()["data"]["id"]
    version = client.post(
        f"/api/v1/resources/{resource_id}/versions",
        json={"inbox_file": "q.csv"},
        headers=bearer(world, STEWARD),
    )
    assert version.status_code == 201, version.text
    assert _parquet_files(home / "resources")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert _modes(home) == {}, json.dumps(_modes(home), indent=1)


def test_a_failed_ingestion_leaves_no_staging(world: World, client: ApiClient) -> None:
    home = world.platform.settings.home
    (_inbox(world) / "bad.csv").write_text("a,b\n1,2\n3\n", encoding="utf-8")
    response = client.post(
        "/api/v1/resources", json=_body("bad.csv"), headers=bearer(world, STEWARD)
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_input"
    assert list((home / "staging").iterdir()) == []
    with pytest.raises(MalformedInput):
        service.register_resource(
            db=world.platform.db,
            home=home,
            actor=world.principal(STEWARD),
            data=META,
            file=_inbox(world) / "bad.csv",
        )
    assert list((home / "staging").iterdir()) == []


# --- the settings reach both entry points ----------------------------------------------------


def test_the_api_applies_the_ingest_settings(
    world: World, client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = world.platform.settings.model_copy(update={"ingest_max_columns": 2})
    monkeypatch.setattr(world.platform, "settings", narrow)
    _csv(_inbox(world) / "p.csv", 3)
    response = client.post("/api/v1/resources", json=_body("p.csv"), headers=bearer(world, STEWARD))
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["details"]["setting"] == "ingest_max_columns"
    assert error["details"]["limit"] == 2
    assert list((world.platform.settings.home / "staging").iterdir()) == []


def test_cli_ingestion_sweeps_first_and_applies_the_settings(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from datacompact.cli import _context, app
    from datacompact.config import get_settings
    from datacompact.platform import Platform

    # Each command opens a platform and leaves its closing to the process's
    # exit; in this process they are closed here, their connections with them.
    opened: list[Platform] = []
    real_open = _context.open_platform

    def open_platform() -> Platform:
        opened.append(real_open())
        return opened[-1]

    monkeypatch.setattr(_context, "open_platform", open_platform)

    settings = world.platform.settings
    monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
    monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    orphan = settings.home / "staging" / "fedcba9876543210"
    orphan.mkdir(parents=True)
    (orphan / "v1.parquet").write_bytes(b"left by a killed ingestion")
    data = _csv(tmp_path / "p.csv", 3)
    args = ["resources", "register", "--file", str(data), "--name", "名册"]
    args += ["--token", world.tokens[STEWARD], "--json"]
    try:
        monkeypatch.setenv("DATACOMPACT_INGEST_MAX_COLUMNS", "2")
        get_settings.cache_clear()
        refused = CliRunner().invoke(app, args)
        assert refused.exit_code == 2, refused.output
        assert "payload_too_large" in refused.output
        assert not orphan.exists()  # swept before the ingestion started
        monkeypatch.delenv("DATACOMPACT_INGEST_MAX_COLUMNS")
        get_settings.cache_clear()
        registered = CliRunner().invoke(app, args)
        assert registered.exit_code == 0, registered.output
        assert json.loads(registered.stdout)["latest"]["rows"] == 3
    finally:
        get_settings.cache_clear()
        for platform in opened:
            platform.close()


def test_the_sweep_makes_older_versions_private(world: World, tmp_path: Path) -> None:
    """Homes written by earlier releases held versions 0755/0644: start-up tightens them."""
    home = world.platform.settings.home
    service.register_resource(
        db=world.platform.db,
        home=home,
        actor=world.principal(STEWARD),
        data=META,
        file=_csv(tmp_path / "p.csv", 4),
    )
    (parquet,) = _parquet_files(home / "resources")
    for folder in (home / "resources", parquet.parent.parent, parquet.parent):
        folder.chmod(0o755)
    parquet.chmod(0o644)
    assert service.sweep_orphans(db=world.platform.db, home=home) == 0
    assert _modes(home / "resources") == {}
    assert stat.S_IMODE((home / "resources").stat().st_mode) == 0o700

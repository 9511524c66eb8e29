"""The manifest's strict parsing, and the PostgreSQL tools' version check (no store needed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datacompact.backup import manifest, postgres
from datacompact.backup.manifest import MANIFEST, Manifest, StoreInfo
from datacompact.errors import ConfigurationError, MalformedInput, VerificationFailed

ROOT = bytes(range(32))


def _record(**files: str) -> Manifest:
    return Manifest(
        created_at="2026-12-07T00:00:00.000000Z",
        platform_version="0.1.0",
        log_origin="datacompact.local/log",
        store=StoreInfo("sqlite", "store/datacompact.db", "0009", 3, ROOT),
        files={"store/datacompact.db": "00" * 32, **files},
    )


def test_a_manifest_round_trips() -> None:
    record = _record(**{"home/log.key": "11" * 32})
    assert Manifest.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "/etc/passwd", "home/../../x", "home//x", "./x", MANIFEST, ""]
)
def test_paths_outside_the_folder_are_malformed(path: str) -> None:
    data = json.loads(_record().to_json())
    data["files"][path] = "22" * 32
    with pytest.raises(MalformedInput):
        Manifest.from_json(json.dumps(data).encode())


@pytest.mark.parametrize(
    "change",
    [
        {"format": 2},
        {"store": {"kind": "oracle"}},
        {"store": {"log_size": -1}},
        {"store": {"log_root": "00"}},
        {"store": {"file": "store/elsewhere.db"}},
    ],
)
def test_other_deviations_are_malformed(change: dict[str, object]) -> None:
    data = json.loads(_record().to_json())
    for key, value in change.items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    with pytest.raises(MalformedInput):
        Manifest.from_json(json.dumps(data).encode())


def test_a_symlink_in_the_backup_is_an_extra_file(tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    (folder / "store").mkdir(parents=True)
    (folder / "store" / "datacompact.db").write_bytes(b"db")
    record = _record()
    files = {"store/datacompact.db": manifest.sha256_file(folder / "store" / "datacompact.db")}
    record = Manifest(
        record.created_at, record.platform_version, record.log_origin, record.store, files
    )
    (folder / MANIFEST).write_bytes(record.to_json())
    assert manifest.verify(folder) == record
    (folder / "link").symlink_to(folder / "store" / "datacompact.db")
    with pytest.raises(VerificationFailed) as caught:
        manifest.verify(folder)
    assert caught.value.details["extra"] == ["link"]


def test_postgres_tools_older_than_the_server_are_refused() -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    assert postgres.find_tool("pg_dump", 9).name == "pg_dump"
    with pytest.raises(ConfigurationError) as caught:
        postgres.find_tool("pg_dump", 99)
    assert caught.value.details == {"tool": "pg_dump", "server_major": 99}

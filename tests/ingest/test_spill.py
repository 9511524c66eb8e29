"""Where DuckDB spills during an ingestion: the ingestion's private folder, or nowhere.

An in-memory DuckDB spills to ``.tmp`` in the working directory by default,
which would put rows of the file being ingested outside the home.
"""

from __future__ import annotations

import stat
from pathlib import Path

import duckdb
import pytest

from datacompact.catalog import resources as service
from datacompact.ingest._common import connect, spilling_into

from ..catalog.test_resources import META, _people_csv
from ..conftest import World

# Grouping 4 million distinct keys needs far more than 32 MB: it must spill.
_LARGE = "SELECT count(*) FROM (SELECT range AS k, count(*) FROM range(4000000) GROUP BY k)"


def _temp_directory(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert row is not None
    return str(row[0])


def test_outside_an_ingestion_nothing_spills(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with connect(memory_limit="32MB", threads=1) as con:
        assert _temp_directory(con) == ""
        with pytest.raises(duckdb.OutOfMemoryException):
            con.execute(_LARGE).fetchall()
    assert list(tmp_path.iterdir()) == []


def test_an_ingestion_spills_into_its_private_folder_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "staging" / "abc" / ".spill"
    with spilling_into(folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        with connect(memory_limit="32MB", threads=1) as con:
            assert _temp_directory(con) == str(folder)
            assert con.execute(_LARGE).fetchall() == [(4_000_000,)]
    assert not folder.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["staging"]  # no .tmp beside it
    with connect() as con:  # and the next connection outside spills nowhere again
        assert _temp_directory(con) == ""


def test_a_registered_version_keeps_no_spill_folder(world: World, tmp_path: Path) -> None:
    home = world.platform.settings.home
    file = _people_csv(tmp_path / "people.csv")
    service.register_resource(
        db=world.platform.db,
        home=home,
        actor=world.principal("department.data_steward"),
        data=META,
        file=file,
    )
    assert list(home.rglob(".spill")) == []
    assert not (home / ".tmp").exists()
    assert not Path(".tmp").exists()

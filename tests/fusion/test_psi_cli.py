"""``datacompact psi run`` and ``psi list``, on this machine's home and through the API, both stores.

The requester's keys stay in its file here: the command prints the matched
keys from its own side of the exchange, and the refusal of malformed keys
counts them without showing one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from datacompact.api import create_app
from datacompact.cli import _context, app
from datacompact.cli._remote import ApiClient
from datacompact.config import Settings, get_settings
from datacompact.platform import Platform

from ..conftest import World
from ..test_remote_commands import InProcess
from .test_psi import HOLDER_IDS, MINE, _roster_worlds, psi_grant, resource_id, world

__all__ = ["_roster_worlds", "resource_id", "world"]

Invoke = Callable[..., Result]


@pytest.fixture(params=["local", "remote"])
def cli(
    request: pytest.FixtureRequest, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Invoke]:
    for name in ("HOME", "DATABASE_URL", "TOKEN", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = world.platform.settings
    where: list[str] = []
    served: Platform | None = None
    if request.param == "local":
        monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
        if settings.database_url:
            monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
        served = Platform(Settings(home=settings.home, database_url=settings.database_url))
        transport = InProcess(create_app(served))
        monkeypatch.setattr(
            _context, "client", lambda at, who: ApiClient(at.url, who, transport=transport)
        )
        where = ["--url", "http://127.0.0.1:8000"]
    get_settings.cache_clear()

    def invoke(*args: str) -> Result:
        token = world.tokens["enterprise.analyst"]
        return CliRunner().invoke(app, [*where, *args, "--token", token])

    yield invoke
    if served is not None:
        # Its connections would keep the next test from restoring the store.
        served.close()
    get_settings.cache_clear()


def _keys(tmp_path: Path, values: list[str]) -> str:
    file = tmp_path / "mine.txt"
    file.write_text("\n".join(values) + "\n", encoding="utf-8")
    return str(file)


def test_psi_run_prints_the_matched_keys_and_the_receipt(
    cli: Invoke, world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = psi_grant(world, resource_id)
    args = ["--grant", str(grant_id), "--key-column", "身份证号", "--mode", "intersection"]
    done = cli("psi", "run", _keys(tmp_path, MINE), *args, "--json")
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["keys"] == sorted(HOLDER_IDS[:10])
    assert answer["result_size"] == 10
    assert isinstance(answer["receipt"]["log_index"], int)

    listed = cli("psi", "list", "--grant", str(grant_id), "--json")
    assert listed.exit_code == 0, listed.output
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "executed"
    assert run["requester_size"] == 15


def test_malformed_keys_are_refused_with_their_count(
    cli: Invoke, world: World, resource_id: int, tmp_path: Path
) -> None:
    grant_id = psi_grant(world, resource_id)
    bad = "110105194912310021"
    file = _keys(tmp_path, [*MINE, bad, "not an id"])
    args = ["--grant", str(grant_id), "--key-column", "身份证号"]
    refused = cli("psi", "run", file, *args)
    assert refused.exit_code != 0
    assert "2" in refused.output
    assert bad not in refused.output
    skipped = cli("psi", "run", file, *args, "--skip-malformed", "--json")
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.stdout)["result_size"] == 10

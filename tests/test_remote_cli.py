"""A second machine: the CLI knows only the platform's URL and a token, never its home folder.

``datacompact serve`` runs as a subprocess on the minimal world; each CLI
call runs as another subprocess, in a home folder of its own with no
``.datacompact`` in it and no ``DATACOMPACT_*`` variable but those the test
gives.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import datacompact
from datacompact.catalog.inbox import inbox_folder

from .conftest import World

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
PASSWORD = "correct horse battery"
STARTUP_SECONDS = 60
ROSTER = "部门,人数\n办公室,12\n财务处,7\n信息中心,9\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """No ``DATACOMPACT_*`` variable, and this checkout's package whatever the folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOMPACT_")}
    return env | {"PYTHONPATH": str(Path(datacompact.__file__).resolve().parents[1])}


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[str]:
    """``datacompact serve`` on the world's home and store, in a process of its own."""
    settings = world.platform.settings
    env = _clean_env() | {"DATACOMPACT_HOME": str(settings.home)}
    if settings.database_url:
        env["DATACOMPACT_DATABASE_URL"] = settings.database_url
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(HERE / "_serve_with_uploads.py"), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Machine:
    """Another machine's user: their own home and config folders, and the CLI."""

    folder: Path
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "datacompact", *args],
            env=self.env | env,
            cwd=self.folder,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def json(self, *args: str, **env: str) -> object:
        done = self(*args, "--json", **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    folder = tmp_path / "analyst"
    folder.mkdir()
    env = _clean_env() | {
        "HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder / ".config"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return Machine(folder, env)


def test_outside_a_platform_home_the_cli_explains_where_to_point_it(machine: Machine) -> None:
    done = machine("resources", "search")
    assert done.returncode == 12, done.stderr
    assert "DATACOMPACT_HOME" in done.stderr
    assert "--url" in done.stderr
    assert "datacompact login" in done.stderr
    # Nothing was created on the way.
    assert not (machine.folder / ".datacompact").exists()


def test_each_flow_runs_from_a_second_machine(
    server: str, machine: Machine, world: World, tmp_path: Path
) -> None:
    # A token and the URL only.
    token = world.tokens["enterprise.analyst"]
    listed = machine.json("--url", server, "participants", "list", "--token", token)
    assert isinstance(listed, list)
    assert {p["id"] for p in listed} >= {world.ids["regulator"], world.ids["department"]}

    # The same through the variables.
    found = machine.json("resources", "search", DATACOMPACT_URL=server, DATACOMPACT_TOKEN=token)
    assert found == []

    # A profile: login once, then nothing but the command.
    login = machine(
        "login", "--url", server, "--user", "department.admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    profiles = machine.folder / ".config" / "datacompact" / "profiles.toml"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert PASSWORD not in profiles.read_text(encoding="utf-8")

    tokens = machine.json("tokens", "list")
    assert isinstance(tokens, list)
    assert any(t["label"] == "datacompact CLI" and t["revoked_at"] is None for t in tokens)
    assert machine.json("grants", "list") == []

    me = machine.json("participants", "show", str(world.ids["department"]))
    assert isinstance(me, dict)
    assert me["id"] == world.ids["department"]

    # Register a resource from a local file: uploaded, then ingested on the server.
    data = machine.folder / "花名册.csv"
    data.write_text(ROSTER, encoding="utf-8")
    registered = machine.json(
        "resources", "register", "--file", str(data), "--name", "部门人数", "--share-type",
        "conditional",
    )  # fmt: skip
    assert isinstance(registered, dict)
    assert registered["name"] == "部门人数"
    assert registered["log_index"] > 0
    inbox = inbox_folder(world.platform.settings.home, world.ids["department"])
    assert (inbox / "花名册.csv").read_text(encoding="utf-8") == ROSTER

    found = machine.json("resources", "search", "部门")
    assert isinstance(found, list)
    assert [r["id"] for r in found] == [registered["id"]]
    shown = machine("resources", "show", str(registered["id"]))
    assert shown.returncode == 0, shown.stderr
    assert "部门人数" in shown.stdout

    # A command with no API route says so, with its own exit code.
    local_only = machine("ledger", "check")
    assert local_only.returncode == 12, local_only.stderr

    # Logging out revokes the token on the platform and forgets the profile.
    out = machine("logout")
    assert out.returncode == 0, out.stderr
    assert "default" not in profiles.read_text(encoding="utf-8")
    again = machine("resources", "search")
    assert again.returncode == 12, again.stderr


def test_an_expired_or_revoked_token_asks_to_log_in_again(
    server: str, machine: Machine, world: World
) -> None:
    login = machine(
        "login", "--url", server, "--user", "enterprise.admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    profiles = machine.folder / ".config" / "datacompact" / "profiles.toml"
    stored = profiles.read_text(encoding="utf-8")
    token_id = next(
        int(line.split("=")[1]) for line in stored.splitlines() if line.startswith("token_id")
    )
    revoked = httpx.delete(
        f"{server}/api/v1/tokens/{token_id}",
        headers={"Authorization": f"Bearer {world.tokens['enterprise.admin']}"},
    )
    assert revoked.status_code == 200, revoked.text
    done = machine("resources", "search")
    assert done.returncode == 4
    assert "token_revoked" in done.stderr
    assert "datacompact login" in done.stderr


def test_a_wrong_password_fails_like_the_api(server: str, machine: Machine) -> None:
    done = machine(
        "login", "--url", server, "--user", "department.admin", "--password-stdin",
        stdin="not the password\n",
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert not (machine.folder / ".config" / "datacompact" / "profiles.toml").exists()


def test_a_wrong_url_and_a_server_that_is_not_the_platform(
    machine: Machine, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{_free_port()}"
    refused = machine("--url", closed, "resources", "search", "--token", "dc_x")
    assert refused.returncode == 13, refused.stderr
    assert "cannot reach the platform" in refused.stderr

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<html>hello</html>")
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path / "site",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        other = machine(
            "--url", f"http://127.0.0.1:{port}", "resources", "search", "--token", "dc_x"
        )
        assert other.returncode == 14, other.stderr
        assert "not answer with the DataCompact API" in other.stderr
    finally:
        web.terminate()
        web.wait(timeout=10)

"""Each command prints the same thing run on the server's home folder and run through the API.

The API is the real application over the test world, in process (Starlette's
test transport under the CLI's client); the local run opens the same store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from typer.testing import CliRunner

from datacompact.api import create_app
from datacompact.cli import _context, app
from datacompact.cli._remote import ApiClient
from datacompact.config import get_settings
from datacompact.registry.schemas import ParticipantKind

from .conftest import World, registration, valid_uscc
from .policy.test_applications import _registered

URL = "http://127.0.0.1:8000"  # loopback: no warning about a token in clear

Invoke = Callable[..., Any]


class InProcess(httpx.BaseTransport):
    """The application's routes called in process, for a synchronous client."""

    def __init__(self, application: Any) -> None:
        self.asgi = httpx.ASGITransport(app=application, client=("127.0.0.1", 40123))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        sent = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.read()
        )

        async def call() -> httpx.Response:
            answer = await self.asgi.handle_async_request(sent)
            body = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=body)

        return anyio.run(call)


@pytest.fixture
def runs(world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Invoke]:
    """``runs(remote, *args)``: the CLI's JSON output, run locally or through the API."""
    settings = world.platform.settings
    for name in ("DATABASE_URL", "TOKEN", "GOVERNANCE_MODE", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
    if settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    transport = InProcess(create_app(world.platform))

    def in_process(remote: _context.Remote, who: _context.Who) -> ApiClient:
        token = None if who is _context.ANONYMOUS else who
        return ApiClient(remote.url, token, transport=transport)

    monkeypatch.setattr(_context, "client", in_process)

    def invoke(remote: bool, *args: str) -> Any:
        argv = ["--url", URL, *args] if remote else list(args)
        done = CliRunner().invoke(app, argv)
        assert done.exit_code == 0, (argv, done.output)
        return done.stdout

    yield invoke
    get_settings.cache_clear()


def _same(runs: Invoke, *args: str) -> Any:
    local = runs(False, *args)
    remote = runs(True, *args)
    assert remote == local, args
    return local


@pytest.mark.parametrize(
    ("who", "args"),
    [
        ("enterprise.analyst", ("participants", "list", "--json")),
        ("enterprise.analyst", ("participants", "list")),
        ("enterprise.analyst", ("resources", "search", "--json")),
        ("enterprise.analyst", ("standards", "list", "--json")),
        ("enterprise.analyst", ("grants", "list", "--json")),
        ("enterprise.analyst", ("projects", "list", "--json")),
        ("department.admin", ("tokens", "list", "--json")),
        ("regulator.admin", ("queries", "overlaps", "--json")),
        ("department.admin", ("catalog", "export")),
    ],
)
def test_a_read_prints_the_same_here_and_through_the_api(
    runs: Invoke, world: World, who: str, args: tuple[str, ...]
) -> None:
    _same(runs, *args, "--token", world.tokens[who])


def test_a_participant_shows_the_same(runs: Invoke, world: World) -> None:
    token = world.tokens["enterprise.analyst"]
    department = str(world.ids["department"])
    for shape in ((), ("--json",)):
        _same(runs, "participants", "show", department, "--token", token, *shape)


def test_changes_through_the_api_are_logged_like_local_ones(runs: Invoke, world: World) -> None:
    token = world.tokens["department.admin"]
    issued = json.loads(
        runs(True, "tokens", "issue", "--label", "remote", "--token", token, "--json")
    )
    assert issued["label"] == "remote"
    assert issued["token"]
    assert issued["log_index"] > 0
    revoked = json.loads(
        runs(True, "tokens", "revoke", str(issued["id"]), "--token", token, "--json")
    )
    assert revoked["revoked_at"] is not None
    assert revoked["log_index"] == issued["log_index"] + 1


def test_an_api_error_exits_as_the_local_one(runs: Invoke, world: World) -> None:
    token = world.tokens["enterprise.analyst"]
    for remote in (False, True):
        argv = ["participants", "show", "999999", "--token", token, "--json"]
        done = CliRunner().invoke(app, ["--url", URL, *argv] if remote else argv)
        assert done.exit_code == 6, done.output
        assert json.loads(done.stderr)["error"]["code"] == "not_found"


def test_registration_and_approval_through_the_api(
    runs: Invoke, world: World, tmp_path: Path
) -> None:
    regulator = world.tokens["regulator.admin"]
    pending = str(world.ids["pending"])
    decided = ["participants", "approve", pending, "--reason", "材料齐全 / complete"]
    approved = json.loads(runs(True, *decided, "--token", regulator, "--json"))
    assert approved["status"] == "approved"
    assert approved["log_index"] > 0

    application = registration(
        ParticipantKind.ENTERPRISE, valid_uscc("91330106MA2RMT001"), "remote.admin",
        ownership="private",
    )  # fmt: skip
    file = tmp_path / "registration.json"
    file.write_text(application.model_dump_json(), encoding="utf-8")
    filed = json.loads(runs(True, "participants", "register", "--file", str(file), "--json"))
    assert filed["status"] == "pending"
    assert filed["name"] == application.name


def test_a_project_created_through_the_api_shows_the_same_here(runs: Invoke, world: World) -> None:
    department = str(world.ids["department"])
    token = world.tokens["department.admin"]
    created = json.loads(
        runs(
            True, "projects", "create", "--name", "一网通办 / one-stop service",
            "--domain", "government_services", "--sponsor", department, "--technical",
            department, "--budget", "1200000.00", "--mode", "government_purchase",
            "--token", token, "--json",
        )
    )  # fmt: skip
    assert created["log_index"] > 0
    _same(runs, "projects", "show", str(created["id"]), "--token", token, "--json")
    lot = json.loads(
        runs(
            True, "projects", "lot", str(created["id"]), "--title", "门户 / portal",
            "--category", "module_development", "--system", "portal", "--budget", "300000.00",
            "--token", token, "--json",
        )
    )  # fmt: skip
    _same(runs, "projects", "lot-show", str(lot["id"]), "--token", token, "--json")
    for shape in ((), ("--json",)):
        _same(runs, "projects", "match", str(lot["id"]), "--token", token, *shape)


def test_an_application_goes_through_its_life_cycle_through_the_api(
    runs: Invoke, world: World, tmp_path: Path
) -> None:
    resource_id = str(_registered(world, tmp_path))
    analyst = ("--token", world.tokens["enterprise.analyst"])
    applied = json.loads(
        runs(
            True, "applications", "apply",
            "--scenario", "信用评估中核验申请人身份 / verify applicants",
            "--purpose", "credit_assessment", "--resource", resource_id,
            "--columns", "姓名, 金额", "--mode", "masked_records",
            "--duration-days", "30", "--expected-queries", "100", *analyst, "--json",
        )
    )  # fmt: skip
    application = str(applied["id"])
    assert applied["status"] == "pending"

    # Out of turn: the same refusal and exit code as on the server.
    decide = ["applications", "decide", application, "--decision", "approve", "--reason", "ok"]
    for remote in (False, True):
        argv = [*decide, "--token", world.tokens["regulator.reviewer"], "--json"]
        done = CliRunner().invoke(app, ["--url", URL, *argv] if remote else argv)
        assert done.exit_code == 7, done.output
        assert json.loads(done.stderr)["error"]["code"] == "out_of_turn"

    sent_back = json.loads(
        runs(
            True, "applications", "decide", application, "--decision", "request_changes",
            "--reason", "请减少列 / fewer columns",
            "--token", world.tokens["department.reviewer"], "--json",
        )
    )  # fmt: skip
    assert sent_back["status"] == "changes_requested"
    for shape in ((), ("--json",)):
        _same(runs, "applications", "list", "--awaiting-me", *analyst, *shape)
        _same(runs, "inbox", *analyst, *shape)

    amended = json.loads(
        runs(
            True, "applications", "amend", application, "--note", "只要金额 / amount only",
            "--resource", resource_id, "--columns", "金额", *analyst, "--json",
        )
    )  # fmt: skip
    assert amended["revision"] == 2
    _same(runs, "applications", "revisions", application, *analyst, "--json")
    _same(runs, "applications", "show", application, *analyst, "--json")
    withdrawn = json.loads(
        runs(
            True, "applications", "withdraw", application, "--reason", "不需要了",
            "--token", world.tokens["enterprise.admin"], "--json",
        )
    )  # fmt: skip
    assert withdrawn["status"] == "withdrawn"

"""The command line: init, participants, tokens, exit codes and ``--json`` errors."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from datacompact.cli import app
from datacompact.config import SECRET_FILE, get_settings
from datacompact.platform import Platform

from .conftest import valid_uscc

Invoke = Callable[..., Result]

GOOD_USCC = valid_uscc("91330106MA2F00001")
BAD_USCC = GOOD_USCC[:-1] + ("0" if GOOD_USCC[-1] != "0" else "1")


@pytest.fixture
def use_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[Path], Invoke]]:
    """Point the CLI at ``home`` and return an ``invoke(*args)`` for it."""
    for name in ("DATABASE_URL", "TOKEN", "GOVERNANCE_MODE", "URL", "PROFILE"):
        monkeypatch.delenv(f"DATACOMPACT_{name}", raising=False)
    # No profile of the user's own `datacompact login` is used instead of the home.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    def point(home: Path) -> Invoke:
        monkeypatch.setenv("DATACOMPACT_HOME", str(home))
        get_settings.cache_clear()  # the CLI reads settings once per process

        def invoke(*args: str) -> Result:
            return CliRunner().invoke(app, list(args))

        return invoke

    yield point
    get_settings.cache_clear()


@pytest.fixture
def cli(city: Platform, use_home: Callable[[Path], Invoke]) -> Invoke:
    """The CLI on a private copy of the demo city."""
    return use_home(city.settings.home)


@pytest.fixture
def token_of(city: Platform) -> Callable[[str], str]:
    credentials = json.loads((city.settings.home / "demo-credentials.json").read_text())
    by_user = {c["user"]: c["token"] for c in credentials}
    return by_user.__getitem__


def stdout_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def error_of(result: Result, exit_code: int) -> dict[str, Any]:
    """The ``--json`` error envelope, which goes to stderr alone."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    envelope = json.loads(result.stderr)
    assert set(envelope) == {"error"}
    assert set(envelope["error"]) == {"code", "message", "details"}
    return dict(envelope["error"])


# -- init --------------------------------------------------------------------------------------


def test_init_creates_home_and_a_private_secret(
    tmp_path: Path, use_home: Callable[[Path], Invoke]
) -> None:
    home = tmp_path / "fresh" / "home"
    invoke = use_home(home)
    first = stdout_json(invoke("init", "--json"))
    assert first["created"] is True
    assert Path(first["home"]) == home.resolve()
    secret = home / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    content = secret.read_bytes()
    assert len(content) == 32
    again = stdout_json(invoke("init", "--json"))
    assert again["created"] is False
    assert secret.read_bytes() == content


def test_commands_before_init_exit_12_and_name_both_ways(
    tmp_path: Path, use_home: Callable[[Path], Invoke]
) -> None:
    invoke = use_home(tmp_path / "nowhere")
    assert invoke("participants", "list", "--token", "dct_x").exit_code == 12
    error = error_of(invoke("tokens", "list", "--token", "dct_x", "--json"), 12)
    assert error["code"] == "no_platform"
    assert "DATACOMPACT_HOME" in error["message"]
    assert "--url" in error["message"]
    assert not (tmp_path / "nowhere").exists()


# -- participants ------------------------------------------------------------------------------


def test_participants_list_json(cli: Invoke, token_of: Callable[[str], str]) -> None:
    rows = stdout_json(cli("participants", "list", "--json", "--token", token_of("amr.analyst")))
    assert len(rows) > 40
    assert {r["status"] for r in rows} == {"approved"}
    assert all("contacts" not in r for r in rows)
    regulators = stdout_json(
        cli(
            "participants",
            "list",
            "--json",
            "--kind",
            "regulator",
            "--token",
            token_of("amr.analyst"),
        )
    )
    assert [r["kind"] for r in regulators] == ["regulator"]


def test_participants_list_as_a_table(cli: Invoke, token_of: Callable[[str], str]) -> None:
    result = cli("participants", "list", "--token", token_of("amr.analyst"))
    assert result.exit_code == 0, result.output
    assert "regulator" in result.stdout


def registration_file(tmp_path: Path, name: str = "application", **overrides: Any) -> str:
    body = {
        "kind": "enterprise",
        "name": "示范新申请有限公司",
        "uscc": GOOD_USCC,
        "region_code": "330106",
        "ownership": "private",
        "admin": {"username": "applicant.admin", "display_name": "申请人", "password": "x" * 16},
        **overrides,
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_register_then_approve(cli: Invoke, token_of: Callable[[str], str], tmp_path: Path) -> None:
    registered = stdout_json(
        cli("participants", "register", "--file", registration_file(tmp_path), "--json")
    )
    assert registered["status"] == "pending"
    pid = str(registered["id"])
    approve = ("participants", "approve", pid, "--reason", "documents checked", "--json")
    # An enterprise may not decide; the regulator's reviewer may.
    assert error_of(cli(*approve, "--token", token_of("it-yunqi.admin")), 5)["code"] == "forbidden"
    approved = stdout_json(cli(*approve, "--token", token_of("bdb.reviewer")))
    assert approved["status"] == "approved"
    assert approved["log_index"] > registered["log_index"]
    again = error_of(cli(*approve, "--token", token_of("bdb.reviewer")), 7)
    assert again["code"] == "invalid_transition"


def test_exit_codes(cli: Invoke, token_of: Callable[[str], str], tmp_path: Path) -> None:
    reviewer = token_of("bdb.reviewer")
    broken = tmp_path / "broken.json"
    broken.write_text('{"kind": "enterprise",', encoding="utf-8")
    cases: list[tuple[tuple[str, ...], int, str]] = [
        (("participants", "register", "--file", str(broken)), 2, "malformed_input"),
        (
            ("participants", "approve", "99999", "--reason", "nope", "--token", reviewer),
            6,
            "not_found",
        ),
        (("participants", "list"), 4, "unauthenticated"),
        (("participants", "list", "--token", "dct_" + "x" * 43), 4, "unauthenticated"),
        (
            ("tokens", "issue", "--scope", "admin", "--token", token_of("amr.analyst")),
            2,
            "invalid_input",
        ),
        (
            (
                "participants",
                "register",
                "--file",
                registration_file(tmp_path, "bad-uscc", uscc=BAD_USCC),
            ),
            2,
            "invalid_identifier",
        ),
        (
            (
                "participants",
                "register",
                "--file",
                registration_file(tmp_path, "unknown-field", colour="blue"),
            ),
            2,
            "unknown_field",
        ),
        (
            (
                "participants",
                "register",
                "--file",
                registration_file(tmp_path, "duplicate", uscc=token_uscc(cli, reviewer)),
            ),
            7,
            "duplicate_registration",
        ),
    ]
    for args, code, error_code in cases:
        assert cli(*args).exit_code == code, args
        assert error_of(cli(*args, "--json"), code)["code"] == error_code, args


def token_uscc(cli: Invoke, token: str) -> str:
    rows = stdout_json(cli("participants", "list", "--json", "--token", token))
    return str(rows[-1]["uscc"])


def test_human_error_output_goes_to_stderr(cli: Invoke) -> None:
    result = cli("participants", "list")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "[unauthenticated]" in result.stderr
    assert "a token is required" in result.stderr


# -- tokens ------------------------------------------------------------------------------------


def test_tokens_issue_list_revoke(cli: Invoke, token_of: Callable[[str], str]) -> None:
    mine = token_of("amr.analyst")
    issued = stdout_json(
        cli("tokens", "issue", "--label", "script", "--ttl-days", "7", "--json", "--token", mine)
    )
    assert issued["token"].startswith("dct_")
    assert issued["scopes"] == ["analyst"]
    listed = stdout_json(cli("tokens", "list", "--json", "--token", mine))
    assert issued["id"] in {t["id"] for t in listed}
    assert all("token" not in t for t in listed)  # values are never shown again
    # The new token works, until it is revoked.
    assert cli("tokens", "list", "--token", issued["token"]).exit_code == 0
    revoked = stdout_json(cli("tokens", "revoke", str(issued["id"]), "--json", "--token", mine))
    assert revoked["revoked_at"] is not None
    assert revoked["log_index"] > issued["log_index"]
    error = error_of(cli("tokens", "list", "--json", "--token", issued["token"]), 4)
    assert error["code"] == "token_revoked"
    # Another participant's member may not revoke it (or see it).
    other = token_of("tax.admin")
    assert cli("tokens", "revoke", str(issued["id"]), "--token", other).exit_code == 5


def test_token_from_the_environment(
    cli: Invoke, token_of: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACOMPACT_TOKEN", token_of("audit.auditor"))
    rows = stdout_json(cli("tokens", "list", "--json"))
    assert rows
    assert {tuple(t["scopes"]) for t in rows} == {("auditor",)}


@pytest.mark.slow
def test_resources_register_show_and_search(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "home"))
    from datacompact.config import get_settings

    get_settings.cache_clear()
    from datacompact.demo import build_demo
    from datacompact.platform import Platform

    platform = Platform(get_settings())
    platform.initialize()
    build_demo(platform, datasets_scale=None)
    platform.close()
    steward = next(
        e
        for e in json.loads((tmp_path / "home" / "demo-credentials.json").read_text())
        if e["user"] == "hrss.data-steward"
    )
    data = tmp_path / "名册.csv"
    data.write_text("姓名,手机号\n张伟,13800138000\n王芳,13912345678\n", encoding="gbk")
    runner = CliRunner()
    registered = runner.invoke(
        app,
        [
            "resources",
            "register",
            "--file",
            str(data),
            "--name",
            "人员名册",
            "--token",
            steward["token"],
            "--json",
        ],
    )
    assert registered.exit_code == 0, registered.output
    body = json.loads(registered.stdout)
    assert body["latest"]["source_encoding"] in ("gbk", "gb18030")
    assert body["log_index"] >= 0
    shown = runner.invoke(
        app, ["resources", "show", str(body["id"]), "--token", steward["token"], "--json"]
    )
    assert json.loads(shown.stdout)["code"] == body["code"]
    found = runner.invoke(
        app, ["resources", "search", "名册", "--token", steward["token"], "--json"]
    )
    assert [r["id"] for r in json.loads(found.stdout)] == [body["id"]]
    version = runner.invoke(
        app,
        [
            "resources",
            "version",
            str(body["id"]),
            "--file",
            str(data),
            "--token",
            steward["token"],
            "--json",
        ],
    )
    assert version.exit_code == 0
    assert json.loads(version.stdout)["versions"] == 2
    graded = runner.invoke(
        app,
        ["resources", "grade", str(body["id"]), "--override", "important", "--reason", "全市名册",
         "--token", steward["token"], "--json"],
    )  # fmt: skip
    assert json.loads(graded.stdout)["grade"] == "important"
    no_reason = runner.invoke(
        app,
        ["resources", "grade", str(body["id"]), "--override", "core", "--token", steward["token"]],
    )
    assert no_reason.exit_code == 2
    bogus = runner.invoke(
        app,
        ["resources", "grade", str(body["id"]), "--override", "bogus", "--reason", "x y",
         "--token", steward["token"]],
    )  # fmt: skip
    assert bogus.exit_code == 2
    assert "invalid option values" in bogus.stderr
    described = runner.invoke(
        app,
        ["resources", "describe", str(body["id"]), "--column", "姓名", "--description", "姓名全称",
         "--token", steward["token"], "--json"],
    )  # fmt: skip
    assert json.loads(described.stdout)[0]["description"] == "姓名全称"
    standard = tmp_path / "std.json"
    standard.write_text(
        json.dumps(
            {
                "id": "DB3301/T 0009-2026",
                "title_zh": "测试标准",
                "elements": [{"id": "flag", "name_zh": "标志", "type": "string"}],
            }
        ),
        encoding="utf-8",
    )
    registered = runner.invoke(
        app,
        ["standards", "register", "--file", str(standard), "--token", steward["token"], "--json"],
    )
    assert registered.exit_code == 0, registered.output
    listed = runner.invoke(app, ["standards", "list", "--token", steward["token"], "--json"])
    assert "DB3301/T 0009-2026" in {s["id"] for s in json.loads(listed.stdout)}
    foreign = runner.invoke(
        app,
        [
            "resources",
            "register",
            "--file",
            str(data),
            "--name",
            "x",
            "--holder",
            "1",
            "--token",
            steward["token"],
        ],
    )
    assert foreign.exit_code == 5
    get_settings.cache_clear()

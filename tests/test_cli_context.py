"""The steps every CLI command shares: the platform, who acts, the call and its rendering."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from datacompact.cli import _context
from datacompact.cli._context import ANONYMOUS, Acting, call, run
from datacompact.config import GovernanceMode
from datacompact.errors import NotFound, Unauthenticated


class FakePlatform:
    """Just what ``call`` uses of a platform: settings, two kinds of transaction, close."""

    def __init__(self) -> None:
        self.settings = SimpleNamespace(governance_mode=GovernanceMode.DATA_GOVERNANCE)
        self.db = SimpleNamespace(read=self._transaction("read"), write=self._transaction("write"))
        self.opened: list[str] = []
        self.closed = False

    def _transaction(self, kind: str) -> Any:
        @contextmanager
        def transaction() -> Iterator[str]:
            self.opened.append(kind)
            yield f"{kind} session"

        return transaction

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    # Local calls (the --url/--profile of earlier runs are reset in conftest.py).
    for name in ("DATACOMPACT_URL", "DATACOMPACT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    fake = FakePlatform()
    monkeypatch.setattr(_context, "open_platform", lambda: fake)
    return fake


def test_a_call_without_a_token_is_refused_and_the_platform_closed(platform: FakePlatform) -> None:
    with pytest.raises(Unauthenticated):
        call(lambda on: on.actor, who=None, transaction="write")
    assert platform.opened == ["write"]
    assert platform.closed


def test_a_call_runs_inside_the_transaction_it_asks_for(platform: FakePlatform) -> None:
    seen: tuple[object, str] = call(
        lambda on: (on.session, on.actor.label), who=ANONYMOUS, transaction="write"
    )
    assert seen == ("write session", "anonymous")
    assert platform.closed


def test_a_call_with_its_own_transactions_has_no_session_but_can_recheck(
    platform: FakePlatform,
) -> None:
    def action(on: Acting) -> str:
        with pytest.raises(RuntimeError, match="recheck"):
            _ = on.session
        return on.recheck("a later session").label  # type: ignore[arg-type]

    assert call(action, who=ANONYMOUS, transaction="own") == "anonymous"
    assert platform.opened == ["read"]
    assert platform.closed


def test_run_renders_the_result_or_the_error_envelope(
    platform: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    rendered: list[tuple[str, bool]] = []
    run(lambda on: "done", who=ANONYMOUS, as_json=True, render=lambda r, j: rendered.append((r, j)))
    assert rendered == [("done", True)]

    def missing(on: Acting) -> str:
        raise NotFound("没有 / no such thing")

    with pytest.raises(typer.Exit) as exited:
        run(missing, who=ANONYMOUS, as_json=True, render=lambda r, j: rendered.append((r, j)))
    assert exited.value.exit_code == 6
    assert len(rendered) == 1
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "not_found"

"""Docs cannot drift: settings, events, errors, governance modes and the CLI reference."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from datacompact.config import GovernanceMode, Settings
from datacompact.errors import ALL_ERRORS, DataCompactError
from datacompact.events import EventType

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    text = _read("configuration.md")
    assert f"`{name}`" in text
    assert f"`DATACOMPACT_{name.upper()}`" in text


@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_is_documented(event_type: EventType) -> None:
    assert f"| `{event_type.value}` |" in _read("events.md")


@pytest.mark.parametrize("error", ALL_ERRORS, ids=lambda e: e.__name__)
def test_every_error_class_is_documented(error: type[DataCompactError]) -> None:
    row = f"| `{error.__name__}` | {error.status} | `{error.code}` | {error.exit_code} |"
    assert row in _read("errors.md")


def test_error_tree_is_complete() -> None:
    import datacompact.errors as module

    defined = {
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, DataCompactError)
    }
    assert defined == set(ALL_ERRORS)


@pytest.mark.parametrize("mode", list(GovernanceMode))
def test_every_governance_mode_is_documented(mode: GovernanceMode) -> None:
    assert f"## `{mode.value}`" in _read("governance.md")


@pytest.mark.slow
def test_cli_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location(
        "cli_reference", ROOT / "scripts" / "cli_reference.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["cli_reference"] = module
    spec.loader.exec_module(module)
    assert _read("cli.md") == module.render(), "docs/cli.md is stale: run `make docs`"

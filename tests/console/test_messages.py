"""Every string of the console's templates is translated in both catalogs, and compiled."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from datacompact.console import i18n

ROOT = Path(__file__).resolve().parents[2]


def _messages_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "console_messages", ROOT / "scripts" / "console_messages.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _messages_script()


def test_the_templates_have_messages_to_translate(script: ModuleType) -> None:
    ids = {str(m.id) for m in script.extract() if m.id}
    assert len(ids) > 100
    assert "Open catalog" in ids  # from base.html
    assert "Wrong username or password." in ids  # from signin.html


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_message_has_a_translation(script: ModuleType, locale: str) -> None:
    gaps = script.missing(script.extract(), script.read(locale))
    assert gaps == [], f"untranslated in {locale}: run scripts/console_messages.py and fill in"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_the_compiled_catalog_is_the_po_file(script: ModuleType, locale: str) -> None:
    compiled = script.po_path(locale).with_suffix(".mo").read_bytes()
    assert compiled == script.mo_bytes(script.read(locale)), "run scripts/console_messages.py"


def test_a_missing_translation_is_found(script: ModuleType) -> None:
    from babel.messages.catalog import Catalog

    template = Catalog()
    template.add("A new sentence")
    catalog = Catalog(locale="zh_CN")
    catalog.add("A new sentence", "")
    assert script.missing(template, catalog) == ["A new sentence"]
    assert script.check() == 0


def test_the_catalogs_load_and_differ() -> None:
    zh = i18n.translations("zh-CN").gettext("Open catalog")
    en = i18n.translations("en").gettext("Open catalog")
    assert (zh, en) == ("开放目录", "Open catalog")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("zh-TW,en;q=0.5", "zh-CN"),
        ("fr-FR, de;q=0.9", "zh-CN"),
        ("en;q=0, zh;q=0.1", "zh-CN"),
        ("", "zh-CN"),
    ],
)
def test_accept_language(accept: str, expected: str) -> None:
    assert i18n.choose(switch=None, cookie=None, accept=accept) == expected


def test_the_switch_beats_the_cookie_which_beats_the_header() -> None:
    assert i18n.choose(switch="en", cookie="zh-CN", accept="zh-CN") == "en"
    assert i18n.choose(switch=None, cookie="en", accept="zh-CN") == "en"


def test_money_and_large_numbers_per_locale() -> None:
    from decimal import Decimal

    assert i18n.Formats("zh-CN").money(Decimal("25000")) == "¥25,000.00"
    assert i18n.Formats("zh-CN").number(350_000_000) == "3.5亿"
    assert i18n.Formats("zh-CN").number(25_000_000) == "2500万"
    assert i18n.Formats("en").number(25_000_000) == "25,000,000"

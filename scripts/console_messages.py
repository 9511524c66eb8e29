"""Extract the console's messages, update its catalogs and compile them.

    python scripts/console_messages.py          # extract, update the .po files, compile the .mo files
    python scripts/console_messages.py --check  # exit 1 if a message lacks a translation or a .mo is stale

The message ids are the English texts of the templates (``{{ _("...") }}``)
and of the console's Python modules (``_("...")``). Each language's ``.po``
keeps its translations across updates; a new message arrives untranslated
and ``--check`` (and tests/console/test_messages.py) fails until it has one
in every catalog.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "src" / "datacompact" / "console"
LOCALES = ("zh_CN", "en")
DOMAIN = "console"
PROJECT = "DataCompact console"
FIXED_DATE = datetime(2026, 12, 7, tzinfo=UTC)
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def extract() -> Catalog:
    """Every message of the templates and modules, with where it occurs."""
    # A fixed date, so that running the script again changes no file that has no new message.
    catalog = Catalog(domain=DOMAIN, project=PROJECT, creation_date=FIXED_DATE)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(CONSOLE),
        METHODS,
        options_map=OPTIONS,
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def po_path(locale: str) -> Path:
    return CONSOLE / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.exists():
        return Catalog(locale=locale, domain=DOMAIN)
    with path.open("rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def missing(template: Catalog, catalog: Catalog) -> list[str]:
    """Message ids of ``template`` without a translation in ``catalog``."""
    gaps = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, context=message.context)
        if found is None or not found.string or found.fuzzy:
            gaps.append(str(message.id))
    return gaps


def update() -> None:
    template = extract()
    for locale in LOCALES:
        catalog = read(locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.project, catalog.version, catalog.fuzzy = PROJECT, "", False
        catalog.copyright_holder = "DataCompact contributors"
        catalog.msgid_bugs_address = catalog.last_translator = catalog.language_team = ""
        catalog.revision_date = FIXED_DATE
        path = po_path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(
                handle,
                catalog,
                width=100,
                omit_header=False,
                sort_output=True,
                ignore_obsolete=True,
            )
        path.with_suffix(".mo").write_bytes(mo_bytes(read(locale)))
        gaps = missing(template, catalog)
        print(f"{locale}: {len(template) - 1} messages, {len(gaps)} untranslated")


def check() -> int:
    template = extract()
    bad = 0
    for locale in LOCALES:
        catalog = read(locale)
        for gap in missing(template, catalog):
            print(f"{locale}: untranslated: {gap!r}", file=sys.stderr)
            bad += 1
        compiled = po_path(locale).with_suffix(".mo")
        if not compiled.exists() or compiled.read_bytes() != mo_bytes(catalog):
            print(f"{locale}: {compiled.name} is not compiled from {DOMAIN}.po", file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify, do not write")
    if parser.parse_args().check:
        return check()
    update()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

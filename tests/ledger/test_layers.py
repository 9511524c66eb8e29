"""The ledger's parts import in one direction only, as its package docstring says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import datacompact

SRC = Path(datacompact.__file__).parent
LEDGER = SRC / "ledger"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports in functions included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _offending(folder: Path, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        bad = sorted(n for n in _imports(path) if n.startswith(forbidden))
        if bad:
            found[str(path.relative_to(SRC))] = bad
    return found


def _prefixes(*modules: str) -> tuple[str, ...]:
    return tuple(p for m in modules for p in (m, f"{m}."))


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        (
            "formats",
            _prefixes(
                "datacompact.store",
                "datacompact.events",
                "datacompact.config",
                "datacompact.ledger.log",
                "datacompact.ledger.auditor",
                "datacompact.ledger.witness",
                "sqlalchemy",
            ),
        ),
        ("auditor", _prefixes("datacompact.store", "datacompact.events", "datacompact.ledger.log")),
        ("log", _prefixes("datacompact.events", "datacompact.ledger.auditor")),
    ],
)
def test_ledger_part_imports_only_what_its_docstring_says(
    part: str, forbidden: tuple[str, ...]
) -> None:
    assert _offending(LEDGER / part, forbidden) == {}


def test_witness_imports_only_the_formats() -> None:
    forbidden = _prefixes(
        "datacompact.store",
        "datacompact.events",
        "datacompact.ledger.log",
        "datacompact.ledger.auditor",
    )
    assert sorted(n for n in _imports(LEDGER / "witness.py") if n.startswith(forbidden)) == []


def test_clock_and_crypto_are_the_bottom_layer() -> None:
    assert sorted(n for n in _imports(SRC / "clock.py") if n.startswith("datacompact")) == []
    crypto = {n for n in _imports(SRC / "crypto.py") if n.startswith("datacompact")}
    assert {n.rsplit(".", 1)[0] if n != "datacompact.errors" else n for n in crypto} <= {
        "datacompact.errors"
    }


def test_importing_the_formats_loads_no_store() -> None:
    code = (
        "import sys, datacompact.ledger.formats;"
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('datacompact.store', 'datacompact.ledger.log', 'sqlalchemy'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"

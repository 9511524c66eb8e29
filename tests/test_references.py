"""Code, tests and docs stand on their own: no pointer to a ticket or to a file outside the repository.

A reason cited as "issue 11 §3" or "see DESIGN.md" means nothing to someone
who cloned the repository alone; the reason belongs in the text itself.
Vendored third-party artifacts (tests/fixtures, package data) are not ours to
edit and are skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What we write: sources, tests, docs, benchmarks, scripts and the build files.
CHECKED = ("src", "tests", "docs", "benchmarks", "scripts", ".ci")
TOP_LEVEL = ("README.md", "CHANGELOG.md", "Makefile", "pyproject.toml")
SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".yaml", ".yml", ".mako", ""}
#: Third-party files kept byte for byte as published.
VENDORED = ("tests/fixtures/", "tests/data/")

STALE = (
    (re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE), "a ticket number"),
    (re.compile(r"(?:\bPR\s*#|\(#)\d+\b"), "a ticket number"),
    (re.compile(r"\b(?:DESIGN|STYLE)\.md\b"), "a document outside the repository"),
    (re.compile(r"\.\./shared\b"), "a folder outside the repository"),
)


def _files() -> list[Path]:
    found = [ROOT / name for name in TOP_LEVEL if (ROOT / name).is_file()]
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if not path.is_file() or rel.startswith(VENDORED) or "__pycache__" in rel:
                continue
            if path.suffix in SUFFIXES and path != Path(__file__).resolve():
                found.append(path)
    return found


def _stale(text: str) -> list[tuple[int, str]]:
    hits = []
    for number, line in enumerate(text.splitlines(), start=1):
        for pattern, what in STALE:
            if pattern.search(line):
                hits.append((number, what))
    return hits


@pytest.mark.parametrize(
    ("line", "stale"),
    [
        ("# Keys are the PII types (issue 4 §4).", True),
        ("Found by a red-team pass on Issue 11.", True),
        ("see ../shared/standards for the schema", True),
        ("as STYLE.md says", True),
        ("fixed in (#123)", True),
        ("PR #45 moved it", True),
        ("RFC 9162 §2.1.3.2", False),
        ("GB/T 43697-2024 §6.1", False),
        ("color: #333;", False),
        ("an issued grant", False),
    ],
)
def test_the_patterns_catch_references_and_nothing_else(line: str, stale: bool) -> None:
    assert bool(_stale(line)) is stale


def test_no_stale_references() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {what}"
        for path in _files()
        for number, what in _stale(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not offenders, "say the reason in place of the pointer:\n" + "\n".join(offenders)

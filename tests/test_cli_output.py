"""The CLI's rendering: nested JSON as key: value lines, long values folded, empty lists named."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from datacompact.cli import _output


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The CLI's console, 60 columns wide, writing to a buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(_output, "console", Console(file=buffer, width=60, color_system=None))
    return buffer


def test_nested_values_are_key_value_lines_not_json() -> None:
    cell = _output._cell(
        {"policy": {"uid": "p1", "permission": [{"action": "use"}]}, "tags": [1, 2]}
    )
    assert cell.splitlines() == [
        "policy:",
        "  uid: p1",
        "  permission:",
        "    - action: use",
        "tags: 1, 2",
    ]
    assert _output._cell({}) == "-"
    assert _output._cell(None) == "-"


def test_long_values_fold_instead_of_being_cut(narrow: io.StringIO) -> None:
    long = "x" * 150
    _output.emit([{"id": 1, "name": long}], as_json=False)
    text = narrow.getvalue()
    assert "…" not in text
    assert text.count("x") == 150
    assert all(len(line) <= 60 for line in text.splitlines())


def test_an_empty_list_says_so(narrow: io.StringIO) -> None:
    _output.emit([], as_json=False, columns=("id",))
    assert narrow.getvalue().strip() == "没有结果 / nothing found"
    narrow.seek(0)
    narrow.truncate()
    _output.emit([], as_json=False, empty="没有授权 / no grants")
    assert narrow.getvalue().strip() == "没有授权 / no grants"

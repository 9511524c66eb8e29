"""Golden rewrites: input SQL → rewritten SQL, one pair per file, also executed on DuckDB.

File format (``golden/*.sql``)::

    -- mode: aggregates
    -- input
    <user SQL>
    -- rewritten
    <governed SQL, pretty-printed>

Set ``DATACOMPACT_UPDATE_GOLDEN=1`` to rewrite the expected halves after a
reviewed change of the rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datacompact.sandbox import EpsilonAccount, govern

from . import _data

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.sql"))


def _parse(path: Path) -> tuple[str, str, str]:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split("-- input\n", 1)
    source, expected = rest.split("-- rewritten\n", 1)
    mode = head.strip().removeprefix("-- mode:").strip()
    return mode, source.strip(), expected.strip()


def test_golden_files_exist():
    assert len(GOLDEN) >= 8


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path, paths, engine):
    mode, source, expected = _parse(path)
    grant = _data.grant(paths, mode)  # type: ignore[arg-type]
    plan = govern(source, grant)
    actual = plan.sql(pretty=True)
    if os.environ.get("DATACOMPACT_UPDATE_GOLDEN"):
        path.write_text(
            f"-- mode: {mode}\n-- input\n{source}\n-- rewritten\n{actual}\n", encoding="utf-8"
        )
        expected = actual
    assert actual == expected
    result = engine.execute(plan, budget=EpsilonAccount(total=10.0))
    assert result.rows.num_columns >= 1
    assert len(result.result_sha256) == 64

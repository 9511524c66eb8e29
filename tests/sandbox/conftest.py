"""Fixtures: generated Parquet resources, grants per output mode, and a DuckDB engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from datacompact.sandbox import DuckDBEngine, GrantView, OutputMode
from tests.sandbox import _data


@pytest.fixture(scope="session")
def paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _data.write(tmp_path_factory.mktemp("sandbox"))


@pytest.fixture
def grant_for(paths: dict[str, Path]) -> Callable[..., GrantView]:
    def make(mode: OutputMode = "aggregates", **kwargs: object) -> GrantView:
        return _data.grant(paths, mode, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def engine() -> DuckDBEngine:
    return DuckDBEngine(pseudonym_key=_data.KEY)

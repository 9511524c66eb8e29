"""The examples in the ingestion modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "datacompact.ingest._common",
    "datacompact.ingest._encoding",
    "datacompact.ingest._pii_rules",
    "datacompact.ingest.pii",
    "datacompact.ingest.readers",
    "datacompact.ingest.schema",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(name))
    assert tried > 0 and failures == 0

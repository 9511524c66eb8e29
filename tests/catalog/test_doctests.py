"""The examples in the catalog modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "datacompact.catalog.codes",
    "datacompact.catalog.dcat",
    "datacompact.catalog.grading",
    "datacompact.catalog.lineage",
    "datacompact.catalog.search",
    "datacompact.catalog.standards",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(name))
    assert tried > 0 and failures == 0

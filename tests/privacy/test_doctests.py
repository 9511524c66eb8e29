"""The examples in the privacy modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "datacompact.privacy.anonymize",
    "datacompact.privacy.builders",
    "datacompact.privacy.dp",
    "datacompact.privacy.hierarchy",
    "datacompact.privacy.masking",
    "datacompact.privacy.metrics",
    "datacompact.privacy.models",
    "datacompact.privacy.risk",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(name))
    assert tried > 0 and failures == 0

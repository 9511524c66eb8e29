"""The production password hasher: argon2id with RFC 9106's second recommended parameters.

The other tests hash at argon2's smallest cost (tests/conftest.py); this one
puts the production hasher back and checks what it writes.
"""

from __future__ import annotations

import pytest
from argon2 import Type, extract_parameters, profiles

from datacompact.registry import members

from .conftest import CHEAP_HASHER, PRODUCTION_HASHER


def test_the_other_tests_hash_cheaply() -> None:
    assert members._hasher is CHEAP_HASHER


def test_passwords_are_hashed_with_rfc_9106_low_memory_argon2id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(members, "_hasher", PRODUCTION_HASHER)
    digest = members.hash_password("correct horse battery")
    parameters = extract_parameters(digest)
    assert parameters.type is Type.ID
    assert parameters == profiles.RFC_9106_LOW_MEMORY
    assert digest.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert members.verify_password(digest, "correct horse battery")
    assert not members.verify_password(digest, "correct horse batterY")


def test_a_cheap_hash_still_verifies_under_the_production_hasher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hash carries its own parameters: what the tests stored logs in either way."""
    digest = CHEAP_HASHER.hash("correct horse battery")
    monkeypatch.setattr(members, "_hasher", PRODUCTION_HASHER)
    assert members.verify_password(digest, "correct horse battery")

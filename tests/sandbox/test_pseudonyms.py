"""Attack: dictionary attacks on hashed identifiers."""

from __future__ import annotations

import hashlib

import pytest

from ._data import people, resident_id
from ._helpers import refused, run


def _dictionary() -> dict[str, str]:
    """Every unkeyed digest an attacker could precompute from the identifiers."""
    table: dict[str, str] = {}
    for i in range(len(people())):
        raw = resident_id(i)
        for name in ("md5", "sha1", "sha256"):
            digest = hashlib.new(name, raw.encode()).hexdigest()
            table[digest] = raw
            table[digest[:32]] = raw
    return table


def test_pseudonyms_are_not_plain_hashes(grant_for, engine):
    result = run("SELECT pid FROM sbk", grant_for("masked_records"), engine)
    pseudonyms = result.rows.column("pid").to_pylist()
    assert len(pseudonyms) == 42
    assert all(len(p) == 32 for p in pseudonyms)
    assert not set(pseudonyms) & set(_dictionary())
    assert not set(pseudonyms) & {resident_id(i) for i in range(60)}


def test_pseudonyms_do_not_link_across_grants(grant_for, engine):
    first = run("SELECT pid FROM sbk", grant_for("masked_records"), engine)
    second = run("SELECT pid FROM sbk", grant_for("records"), engine)
    assert not set(first.rows.column("pid").to_pylist()) & set(
        second.rows.column("pid").to_pylist()
    )


def test_predicate_sees_the_masked_value(grant_for, engine):
    sql = f"SELECT COUNT(*) AS n FROM sbk WHERE pid = '{resident_id(0)}'"
    assert run(sql, grant_for("records"), engine).rows.column("n").to_pylist() == [0]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT md5(pid) FROM sbk",
        "SELECT sha256('110105199000000000') FROM sbk",
        "SELECT hash(pid) FROM sbk",
        "SELECT __dc_mask_pseudonym('110105199000000000')",
        "SELECT __DC_MASK_PSEUDONYM(pid) FROM sbk",
    ],
)
def test_user_cannot_hash_or_call_the_pseudonym_function(sql, grant_for, engine):
    refused(sql, grant_for("records"), engine)

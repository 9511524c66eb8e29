"""Masking operators over Arrow columns."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.privacy import (
    bottom_code,
    derive_key,
    mask_partial,
    pseudonymize,
    round_to,
    suppress_cells,
    suppress_records,
    top_code,
    truncate_dates,
)

SECRET = bytes(range(32))


def test_derive_key_is_hkdf_sha256_per_context() -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"datacompact/privacy/pseudonym/v1",
        info=b"grant:7",
    ).derive(SECRET)
    assert derive_key(SECRET, "grant:7") == expected
    assert derive_key(SECRET, "grant:8") != expected


@pytest.mark.parametrize(("secret", "context"), [(b"short", "g"), (SECRET, ""), ("text", "g")])
def test_derive_key_rejects(secret, context) -> None:
    with pytest.raises(InvalidInput):
        derive_key(secret, context)


def test_pseudonyms_are_keyed_hmac() -> None:
    values = pa.chunked_array([["13800138000", "13900139000"], ["13800138000", None]])
    out = pseudonymize(values, secret=SECRET, context="grant:1")
    key = derive_key(SECRET, "grant:1")
    expected = hmac.new(key, b"13800138000", hashlib.sha256).hexdigest()[:32]
    assert out.to_pylist() == [expected, out[1].as_py(), expected, None]
    assert out[1].as_py() != expected
    # Not an unsalted hash, and unlinkable across grants.
    assert expected != hashlib.sha256(b"13800138000").hexdigest()[:32]
    other = pseudonymize(values, secret=SECRET, context="grant:2")
    assert other[0].as_py() != expected


def test_pseudonymize_numbers_and_size() -> None:
    out = pseudonymize(pa.array([1, 2, 1]), secret=SECRET, context="g", size=8)
    assert len(out[0].as_py()) == 16
    assert out[0] == out[2]
    with pytest.raises(InvalidInput):
        pseudonymize(pa.array(["a"]), secret=SECRET, context="g", size=4)


def test_mask_partial() -> None:
    values = pa.array(["110105199001011234", "6222020200112233445", "1234567890", None])
    assert mask_partial(values).to_pylist() == [
        "110105********1234",
        "622202*********3445",
        "**********",
        None,
    ]
    assert mask_partial(pa.array(["13800138000"]), keep_first=3, keep_last=0).to_pylist() == [
        "138********"
    ]
    assert mask_partial(pa.array(["张三丰"]), keep_first=1, keep_last=0, mask="*").to_pylist() == [
        "张**"
    ]
    with pytest.raises(InvalidInput):
        mask_partial(values, keep_first=-1)


def test_truncate_dates() -> None:
    days = pa.array([dt.date(2024, 3, 15), dt.date(2023, 12, 31)])
    assert truncate_dates(days, unit="year").to_pylist() == [
        dt.date(2024, 1, 1),
        dt.date(2023, 1, 1),
    ]
    stamps = pa.array([dt.datetime(2024, 3, 15, 13, 45)], type=pa.timestamp("s"))
    assert truncate_dates(stamps, unit="hour").to_pylist() == [dt.datetime(2024, 3, 15, 13, 0)]
    with pytest.raises(MalformedInput):
        truncate_dates(pa.array(["not a date"]))
    with pytest.raises(InvalidInput):
        truncate_dates(days, unit="fortnight")
    with pytest.raises(InvalidInput):
        truncate_dates(pa.array([1, 2]))


def test_rounding_and_top_bottom_coding() -> None:
    incomes = pa.array([1234.0, 98765.0, 50.0])
    assert round_to(incomes, base=1000).to_pylist() == [1000.0, 99000.0, 0.0]
    ages = pa.array([15, 40, 95])
    assert top_code(ages, upper=90).to_pylist() == [15, 40, 90]
    assert bottom_code(ages, lower=18).to_pylist() == [18, 40, 95]
    with pytest.raises(InvalidInput):
        round_to(pa.array(["x"]), base=10)
    with pytest.raises(InvalidInput):
        round_to(incomes, base=0)


def test_record_and_cell_suppression() -> None:
    table = pa.table({"name": ["a", "b", "c"], "age": [1, 2, 3]})
    assert suppress_records(table, np.array([False, True, False])).column("name").to_pylist() == [
        "a",
        "c",
    ]
    flags = pa.array([True, False, None])
    assert suppress_cells(table.column("age"), flags).to_pylist() == [None, 2, 3]
    assert suppress_cells(table.column("name"), flags, replacement="*").to_pylist() == [
        "*",
        "b",
        "c",
    ]
    with pytest.raises(InvalidInput, match="3 entries"):
        suppress_records(table, np.array([True]))
    with pytest.raises(InvalidInput):
        suppress_cells(table.column("age"), flags, replacement="*")

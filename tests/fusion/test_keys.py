"""Keys are canonicalized and checked before they are hashed; malformed ones are counted."""

from __future__ import annotations

import pytest

from datacompact.errors import InvalidInput
from datacompact.fusion import canonical_key, normalize_keys

from ..conftest import valid_uscc


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("resident_id", "11010519491231002x", "11010519491231002X"),
        ("resident_id", " 11010519491231002X ", "11010519491231002X"),
        ("resident_id", "110105194912310021", None),  # wrong check character
        ("resident_id", "110105194913310023", None),  # no 13th month
        ("resident_id", "11010519491231002", None),  # 17 characters
        ("phone", "13800138000", "+8613800138000"),
        ("phone", "+86 138-0013-8000", "+8613800138000"),
        ("phone", "(010) 6552 9988", "+861065529988"),
        ("phone", "12345", None),
        ("phone", "+1 650 253 0000", "+16502530000"),
        ("uscc", "x" * 18, None),
        ("resident_id", "1" * 65, None),
    ],
)
def test_canonical_forms(kind: str, value: str, expected: str | None) -> None:
    assert canonical_key(kind, value) == expected


def test_a_uscc_is_checked_by_gb_32100() -> None:
    code = valid_uscc("91330106MA2D00001")
    assert canonical_key("uscc", code.lower()) == code
    broken = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert canonical_key("uscc", broken) is None


def test_normalize_counts_malformed_and_repeats_without_values() -> None:
    found = normalize_keys(
        "resident_id", ["11010519491231002x", "11010519491231002X", "bad", None, 7]
    )
    assert found.keys == ("11010519491231002X",)
    assert (found.malformed, found.duplicates) == (3, 1)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_keys("passport", ["E12345678"])
    assert caught.value.details["field"] == "key_kind"

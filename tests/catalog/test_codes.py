"""Registration codes: build, parse, round-trip, and one test per malformed case."""

from __future__ import annotations

import pytest
from stdnum.iso7064 import mod_37_36

from datacompact.catalog.codes import RegistrationCode, holder_code, make_code, parse_code
from datacompact.errors import InvalidIdentifier

USCC = "91330106MA27XL6Y1N"


def test_make_code_layout() -> None:
    code = make_code(region="330106", holder_uscc=USCC, sequence=42)
    assert code.region == "330106"
    assert code.holder == "MA27XL6Y1" == holder_code(USCC)
    assert code.sequence == 42
    assert code.text == "330106MA27XL6Y1000042" + code.check
    assert len(code.text) == 22
    assert code.display == f"330106-MA27XL6Y1-000042-{code.check}"
    assert str(code) == code.text
    assert mod_37_36.is_valid(code.text, alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("sequence", [1, 7, 999_999])
def test_round_trip(sequence: int) -> None:
    code = make_code(region="110101", holder_uscc=USCC, sequence=sequence)
    assert parse_code(code.text) == code
    assert parse_code(code.display) == code
    assert parse_code(f"  {code.display.lower()} ") == code
    assert RegistrationCode.from_text(code.text) == code


def test_codes_differ_per_holder_and_sequence() -> None:
    other = "91330108MA2B0000XJ"
    codes = {
        make_code(region="330106", holder_uscc=h, sequence=s).text
        for h in (USCC, other)
        for s in (1, 2)
    }
    assert len(codes) == 4


def test_every_single_substitution_is_caught() -> None:
    text = make_code(region="330106", holder_uscc=USCC, sequence=123).text
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for i, original in enumerate(text):
        for replacement in alphabet:
            if replacement == original:
                continue
            mutated = text[:i] + replacement + text[i + 1 :]
            with pytest.raises(InvalidIdentifier):
                parse_code(mutated)


def test_adjacent_transpositions_are_caught() -> None:
    text = make_code(region="330106", holder_uscc=USCC, sequence=123).text
    for i in range(len(text) - 1):
        if text[i] == text[i + 1]:
            continue
        swapped = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        with pytest.raises(InvalidIdentifier):
            parse_code(swapped)


def _with_check(body: str) -> str:
    return body + mod_37_36.calc_check_digit(body, alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize(
    ("text", "part", "expected"),
    [
        ("", "length", "expected 22 characters, got 0"),
        ("330106MA27XL6Y10000421", "check", "MOD 37-36"),
        ("330106MA27XL6Y100004", "length", "expected 22 characters, got 20"),
        (_with_check("000000MA27XL6Y1000001"), "region", "GB/T 2260"),
        (_with_check("339999MA27XL6Y1000001"), "region", "GB/T 2260"),
        (_with_check("330106MA27XL6YI000001"), "holder", "9 USCC characters"),
        (_with_check("330106MA27XL6Y1000000"), "sequence", "000001-999999"),
        (_with_check("330106MA27XL6Y10000A1"), "sequence", "000001-999999"),
        ("330106MA27XL6Y1000001*", "check", "digit or letter"),
    ],
)
def test_malformed_codes(text: str, part: str, expected: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_code(text)
    assert info.value.details == {"field": "registration_code", "part": part}
    assert expected in info.value.message
    assert " / " in info.value.message  # bilingual
    if len(text) > 6:
        assert text not in info.value.message
        assert text[6:15] not in info.value.message


def test_parse_rejects_non_text() -> None:
    with pytest.raises(InvalidIdentifier, match="expected text, got int"):
        parse_code(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"region": "999999"}, "region"),
        ({"region": "33010"}, "region"),
        ({"holder_uscc": "91330106MA27XL6Y1A"}, "unified social credit code"),
        ({"sequence": 0}, "sequence out of range"),
        ({"sequence": 1_000_000}, "sequence out of range"),
        ({"sequence": True}, "expected an integer, got bool"),
    ],
)
def test_make_code_validates_inputs(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {"region": "330106", "holder_uscc": USCC, "sequence": 1} | kwargs
    with pytest.raises(InvalidIdentifier) as info:
        make_code(**args)  # type: ignore[arg-type]
    assert fragment in info.value.message
    assert "91330106MA27XL6Y1A" not in info.value.message

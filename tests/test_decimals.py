"""Decimal text: every caller keeps the forms it accepts, the forms it refuses and its messages."""

from __future__ import annotations

import pytest

from datacompact.decimals import parse_decimal, parse_decimal_field
from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ledger.formats.checkpoint import parse_size
from datacompact.policy import _odrl
from datacompact.procurement._common import money

FIELD_FORM = "expected value as decimal text such as '1250000.00', got text in another form"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", "0"),
        ("007", "7"),  # leading zeros are accepted
        ("1250000.00", "1250000.00"),
        ("123456789012345.123456", "123456789012345.123456"),
        (" 42.5\t", "42.5"),  # surrounding whitespace is stripped
    ],
)
def test_a_field_accepts_plain_decimal_text(text: str, value: str) -> None:
    assert str(parse_decimal_field(text, "value")) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "+1",
        "-1",
        "1e6",
        "1E+2",
        "NaN",
        "Infinity",
        "inf",
        "1.",
        ".5",
        "1.2.3",
        "1 000",
        "1,5",
        "1234567890123456",  # 16 digits before the point
        "1.1234567",  # 7 places
        "١٢",  # Arabic-Indic digits
        "１２",  # fullwidth digits
    ],
)
def test_a_field_refuses_any_other_text(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_decimal_field(text, "value")
    assert FIELD_FORM in caught.value.message
    assert caught.value.details == {"field": "value", "reason": "not_decimal"}


@pytest.mark.parametrize(
    ("value", "got"), [(1, "a JSON number"), (1.5, "a JSON number"), (None, "NoneType")]
)
def test_a_field_names_a_value_that_is_not_text(value: object, got: str) -> None:
    with pytest.raises(InvalidInput, match=f"got {got}$"):
        parse_decimal_field(value, "value")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.01", "0.01"),
        ("007", "7.00"),
        (" 12.5 ", "12.50"),
        ("999999999999999.99", "999999999999999.99"),
    ],
)
def test_money_accepts_positive_amounts_to_the_cent(text: str, value: str) -> None:
    assert str(money(text, "budget")) == value


@pytest.mark.parametrize(
    "text",
    ["0", "0.00", "-1", "+1", "1.001", "1e3", "NaN", "Infinity", ".5", "1.", "1234567890123456"],
)
def test_money_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        money(text, "budget")
    assert caught.value.details == {"field": "budget", "reason": "not_a_positive_decimal"}


def _xsd(text: str) -> dict[str, str]:
    return {"@value": text, "@type": _odrl.XSD_DECIMAL}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("+1.5", 1.5),
        ("-0.25", -0.25),
        ("007.5", 7.5),
        ("5.", 5.0),  # xsd:decimal allows a bare point on either side
        (".5", 0.5),
        ("-.5", -0.5),
        ("0.1000000000000000055511151231257827", 0.1),
        ("1" + "0" * 300, 1e300),
    ],
)
def test_an_xsd_decimal_reads_as_a_float(text: str, value: float) -> None:
    assert _odrl.parse_xsd_decimal(_xsd(text), "epsilon") == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "an xsd:decimal"),
        (".", "an xsd:decimal"),
        ("+", "an xsd:decimal"),
        ("--1", "an xsd:decimal"),
        ("+-1", "an xsd:decimal"),
        ("1e3", "an xsd:decimal"),
        ("NaN", "an xsd:decimal"),
        ("INF", "an xsd:decimal"),
        ("Infinity", "an xsd:decimal"),
        (" 1", "an xsd:decimal"),
        ("1 ", "an xsd:decimal"),
        ("1.2.3", "an xsd:decimal"),
        ("١", "an xsd:decimal"),
        ("1" + "0" * 400, "a finite xsd:decimal"),
    ],
)
def test_an_xsd_decimal_refuses_other_forms(text: str, expected: str) -> None:
    with pytest.raises(MalformedInput, match=f"at epsilon: expected {expected}, got "):
        _odrl.parse_xsd_decimal(_xsd(text), "epsilon")


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("7", 7), ("9223372036854775807", 2**63 - 1)]
)
def test_a_size_is_a_canonical_decimal(text: str, value: int) -> None:
    assert parse_size(text, "tree size") == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected tree size as ASCII decimal digits, got another form"),
        ("+1", "expected tree size as ASCII decimal digits, got another form"),
        ("-1", "expected tree size as ASCII decimal digits, got another form"),
        ("1.0", "expected tree size as ASCII decimal digits, got another form"),
        ("1e3", "expected tree size as ASCII decimal digits, got another form"),
        (" 1", "expected tree size as ASCII decimal digits, got another form"),
        ("NaN", "expected tree size as ASCII decimal digits, got another form"),
        ("١", "expected tree size as ASCII decimal digits, got another form"),
        ("1" * 20, "expected tree size as ASCII decimal digits, got another form"),
        ("01", "expected tree size without leading zeros, got a leading zero"),
        ("0" * 19, "expected tree size without leading zeros, got a leading zero"),
        ("9223372036854775808", "expected tree size at most 2**63-1, got a larger number"),
        ("9" * 19, "expected tree size at most 2**63-1, got a larger number"),
    ],
)
def test_a_size_refuses_other_forms(text: str, message: str) -> None:
    with pytest.raises(MalformedInput) as caught:
        parse_size(text, "tree size")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("text", "options", "value"),
    [
        ("0", {}, "0"),
        ("000", {}, "0"),
        ("007.50", {}, "7.50"),
        ("+1", {"signed": True}, "1"),
        ("-0", {"signed": True}, "-0"),
        ("1.25", {"places": 2}, "1.25"),
        ("12", {"places": 0}, "12"),
        ("123", {"max_digits": 3}, "123"),
        ("5.", {"bare_point": True}, "5"),
        (".5", {"bare_point": True}, "0.5"),
    ],
)
def test_the_parser_reads_what_its_options_allow(
    text: str, options: dict[str, object], value: str
) -> None:
    assert str(parse_decimal(text, **options)) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("", {}, "at least one digit"),
        ("+1", {}, "no sign"),
        ("+-1", {"signed": True}, "at most one point"),
        ("1e3", {"signed": True}, "at most one point"),
        ("1E+2", {"signed": True}, "at most one point"),
        ("NaN", {"signed": True}, "at most one point"),
        ("-Infinity", {"signed": True}, "at most one point"),
        (" 1", {}, "at most one point"),
        ("1\n", {}, "at most one point"),
        ("1_000", {}, "at most one point"),
        ("١٢", {}, "at most one point"),
        (".", {"bare_point": True}, "at least one digit"),
        (".5", {}, "a bare point"),
        ("1.005", {"places": 2}, "at most 2 digits after the point, got 3"),
        ("1.0", {"places": 0}, "an integer"),
        ("1234", {"max_digits": 3}, "at most 3 digits before the point, got 4"),
    ],
)
def test_the_parser_refuses_everything_else(
    text: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_decimal(text, **options)  # type: ignore[arg-type]

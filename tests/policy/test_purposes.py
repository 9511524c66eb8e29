"""The purpose vocabulary: labels, IRIs and validation."""

from __future__ import annotations

import pytest

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.policy.purposes import (
    DCP,
    DPV,
    PURPOSES,
    Purpose,
    describe,
    parse_purpose,
    purpose_from_iri,
)


def test_issue_purposes_are_in_the_vocabulary() -> None:
    for code in (
        "credit_assessment",
        "public_service",
        "public_interest",
        "research",
        "urban_planning",
        "commercial_product",
    ):
        assert parse_purpose(code).value == code


@pytest.mark.parametrize("purpose", list(Purpose))
def test_every_purpose_has_labels_and_an_iri_that_round_trips(purpose: Purpose) -> None:
    info = PURPOSES[purpose]
    assert info.label_zh
    assert info.label_en
    assert " / " in info.label
    assert info.iri.startswith((DPV, DCP))
    assert purpose_from_iri(purpose.iri) is purpose


def test_iris_are_distinct() -> None:
    assert len({p.iri for p in Purpose}) == len(Purpose)


def test_dpv_used_where_it_exists() -> None:
    assert Purpose.CREDIT_ASSESSMENT.iri == f"{DPV}CreditChecking"
    assert Purpose.RESEARCH.iri == f"{DPV}ResearchAndDevelopment"
    assert PURPOSES[Purpose.URBAN_PLANNING].dpv is None


def test_parse_normalizes_case_and_space() -> None:
    assert parse_purpose("  Research ") is Purpose.RESEARCH


def test_unknown_purpose_lists_choices_without_echoing() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_purpose("spying-on-neighbours")
    assert "spying" not in err.value.message
    assert "credit_assessment" in err.value.message
    assert err.value.details["field"] == "purpose"


@pytest.mark.parametrize("value", [None, 3, ["research"], {"code": "research"}])
def test_wrong_type_is_malformed(value: object) -> None:
    with pytest.raises(MalformedInput, match="expected a purpose code, got"):
        parse_purpose(value)


def test_unknown_iri() -> None:
    with pytest.raises(InvalidInput, match="unknown purpose IRI"):
        purpose_from_iri("https://w3id.org/dpv#Marketing")
    with pytest.raises(MalformedInput, match="expected a string, got"):
        purpose_from_iri(42)


def test_description() -> None:
    assert describe("  企业信用评估  ") == "企业信用评估"
    with pytest.raises(InvalidInput, match="got blank"):
        describe("   ")
    with pytest.raises(InvalidInput, match="expected at most"):
        describe("x" * 2001)
    with pytest.raises(MalformedInput, match="expected text, got int"):
        describe(5)

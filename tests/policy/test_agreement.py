"""Grants as DSP 2025-1 / ODRL 2.2 Agreements: schema, round-trip, evaluation, malformed input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft201909Validator
from referencing import Registry, Resource

from datacompact.errors import InvalidInput, MalformedInput, PolicyViolation
from datacompact.policy import (
    GrantTerms,
    OutputMode,
    OutputSpec,
    Purpose,
    build_agreement,
    check_use,
    parse_agreement,
)
from datacompact.policy.agreement import check_epsilon

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "standards"
    / "dsp-2025-1"
    / "contract-schema.json"
)
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(days=90)
GRADES_MODES = [
    ("general-1", OutputSpec(OutputMode.RECORDS), False),
    ("general-2", OutputSpec(OutputMode.AGGREGATES), False),
    ("general-3", OutputSpec(OutputMode.MASKED_RECORDS), False),
    ("general-4", OutputSpec(OutputMode.AGGREGATES, min_group_size=3), False),
    ("important", OutputSpec(OutputMode.DP_AGGREGATES), False),
    ("important", OutputSpec(OutputMode.K_ANONYMOUS, k=20), False),
    ("core", OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=50), True),
]


@pytest.fixture(scope="module")
def agreement_validator() -> Draft201909Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    resource = Resource.from_contents(schema)
    registry: Registry[Any] = Registry().with_resource(schema["$id"], resource)
    sub = {"$ref": f"{schema['$id']}#/definitions/Agreement"}
    return Draft201909Validator(sub, registry=registry)


def make(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "target": "urn:uuid:3dd1add4-4d2d-569e-d634-8394a8836d23",
        "assigner": "urn:uscc:11330100MB0000002W",
        "assignee": "urn:uscc:91330106MA27XL6Y1N",
        "purpose": "credit_assessment",
        "expires": EXPIRES,
        "max_queries": 3,
        "columns": ["district", "age", "income"],
        "output": OutputSpec(OutputMode.DP_AGGREGATES),
        "grade": "important",
        "timestamp": T0,
        "epsilon": 1.0,
        "agreement_id": "urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44",
        "pii": {"district": [], "age": [], "income": [], "sfzh": ["resident_id"]},
        "numeric": ["age", "income"],
    }
    args.update(overrides)
    return build_agreement(**args)


@pytest.mark.parametrize(("grade", "spec", "approved"), GRADES_MODES)
@pytest.mark.parametrize("row_filter", [None, "district = '西湖区'\nAND age >= 18"])
def test_built_agreements_validate_and_round_trip(
    agreement_validator: Draft201909Validator,
    grade: str,
    spec: OutputSpec,
    approved: bool,
    row_filter: str | None,
) -> None:
    doc = make(grade=grade, output=spec, regulator_approved=approved, row_filter=row_filter)
    errors = [e.message for e in agreement_validator.iter_errors(doc)]
    assert errors == []
    terms = parse_agreement(json.loads(json.dumps(doc)))
    assert terms.to_jsonld() == doc
    assert parse_agreement(terms.to_jsonld()) == terms
    assert terms.row_filter == row_filter
    assert terms.output.mode is spec.mode
    assert terms.purpose is Purpose.CREDIT_ASSESSMENT
    assert terms.max_queries == 3


def test_schema_rejects_what_it_should(agreement_validator: Draft201909Validator) -> None:
    doc = make()
    del doc["assignee"]
    assert list(agreement_validator.iter_errors(doc))


def test_defaults_are_written_out_and_ids_generated() -> None:
    doc = make(agreement_id=None)
    terms = parse_agreement(doc)
    assert terms.agreement_id.startswith("urn:uuid:")
    assert terms.output == OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=10)
    assert doc["@context"] == ["https://w3id.org/dspace/2025/1/context.jsonld"]
    assert {p["action"] for p in doc["prohibition"]} >= {"distribute"}
    records = parse_agreement(
        make(grade="general-1", output=OutputSpec(OutputMode.RECORDS), epsilon=None)
    )
    assert records.prohibitions == ("distribute",)
    assert records.epsilon is None


def test_epsilon_round_trips_exactly() -> None:
    for eps in (0.1, 1e-05, 3.0, 2.718281828459045):
        assert parse_agreement(make(epsilon=eps)).epsilon == eps


def test_dsp_plain_datetime_is_read() -> None:
    doc = make()
    doc["permission"][0]["constraint"][1]["rightOperand"] = "2025-05-30T08:00:00+08:00"
    assert parse_agreement(doc).expires == datetime(2025, 5, 30, 0, 0, tzinfo=UTC)


def test_build_refuses_looser_than_grade() -> None:
    with pytest.raises(PolicyViolation) as err:
        make(output=OutputSpec(OutputMode.RECORDS))
    assert err.value.details["rule"] == "grade.important"
    with pytest.raises(PolicyViolation):
        make(grade="core")
    with pytest.raises(InvalidInput, match="needs a privacy budget"):
        make(epsilon=None)


@pytest.mark.parametrize(
    ("overrides", "error", "text"),
    [
        ({"expires": T0}, InvalidInput, "expected a time after"),
        ({"expires": datetime(2025, 6, 1)}, InvalidInput, "got a naive one"),
        ({"max_queries": 0}, InvalidInput, "max_queries"),
        ({"max_queries": True}, InvalidInput, "max_queries"),
        ({"columns": []}, InvalidInput, "no columns"),
        ({"columns": "age"}, MalformedInput, "expected a list of names, got text"),
        ({"columns": ["a", "a"]}, InvalidInput, "duplicate columns"),
        ({"columns": ["a", ""]}, MalformedInput, "got blank text"),
        ({"epsilon": -1.0}, InvalidInput, "positive, finite"),
        ({"epsilon": float("inf")}, InvalidInput, "positive, finite"),
        ({"epsilon": "1"}, MalformedInput, "expected a number, got text"),
        ({"assignee": "not an iri"}, MalformedInput, "expected an IRI or URN"),
        ({"agreement_id": "e8dc8655"}, MalformedInput, "expected urn:uuid:<uuid>"),
        ({"row_filter": " "}, MalformedInput, "expected a SQL predicate, got blank text"),
        ({"row_filter": "a\x00"}, MalformedInput, "expected a SQL predicate"),
        ({"row_filter": "a" * 4001}, InvalidInput, "too long"),
        ({"purpose": "gossip"}, InvalidInput, "unknown purpose"),
    ],
)
def test_build_validates(overrides: dict[str, Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        make(**overrides)


def constraint(doc: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(c for c in doc["permission"][0]["constraint"] if c["leftOperand"].endswith(suffix))


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc[path] = value

    return mutate


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.pop(path)


def _right(suffix: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: constraint(doc, suffix).__setitem__("rightOperand", value)


def _add_constraint(c: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["permission"][0]["constraint"].append(c)


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "context": (
        _set("@context", "https://www.w3.org/ns/odrl.jsonld"),
        "expected the DSP 2025-1 context",
    ),
    "type": (_set("@type", "Offer"), "expected 'Agreement', got text"),
    "profile": (_del("profile"), "expected 'profile', got nothing"),
    "unknown key": (_set("obligation", []), "got 1 unknown key"),
    "id": (_set("@id", 7), "expected an IRI string, got a number"),
    "timestamp": (_set("timestamp", "yesterday"), "expected an xsd:dateTime"),
    "naive timestamp": (_set("timestamp", "2025-03-01T08:00:00"), "with a time zone"),
    "two permissions": (
        lambda d: d["permission"].append(copy.deepcopy(d["permission"][0])),
        "expected exactly one permission, got a list of 2",
    ),
    "no permission": (_set("permission", []), "expected a non-empty list, got a list of 0"),
    "action": (
        lambda d: d["permission"][0].__setitem__("action", "modify"),
        "expected 'use', got text",
    ),
    "constraint not object": (
        lambda d: d["permission"][0]["constraint"].append("purpose"),
        "expected a JSON object, got text",
    ),
    "unknown operand": (
        _add_constraint({"leftOperand": "spatial", "operator": "eq", "rightOperand": "CN"}),
        "expected a left operand DataCompact evaluates",
    ),
    "repeated operand": (
        lambda d: d["permission"][0]["constraint"].append(
            copy.deepcopy(d["permission"][0]["constraint"][0])
        ),
        "expected each left operand once",
    ),
    "operator": (
        lambda d: constraint(d, "count").__setitem__("operator", "gteq"),
        "expected 'lteq' for this left operand, got text",
    ),
    "missing count": (
        lambda d: d["permission"][0]["constraint"].remove(constraint(d, "count")),
        "expected a 'count' constraint, got none",
    ),
    "count as number": (_right("count", 3), "expected a value object"),
    "count negative": (
        _right("count", {"@value": "-3", "@type": "xsd:integer"}),
        "expected a non-negative xsd:integer, got text",
    ),
    "count wrong type": (
        _right("count", {"@value": "3", "@type": "xsd:string"}),
        "expected @type xsd:integer",
    ),
    "epsilon": (
        _right("#epsilon", {"@value": "1e5", "@type": "xsd:decimal"}),
        "expected an xsd:decimal, got text",
    ),
    "purpose string": (_right("purpose", "research"), "expected a node reference"),
    "purpose unknown": (
        _right("purpose", {"@id": "https://w3id.org/dpv#Marketing"}),
        "unknown purpose IRI",
    ),
    "mode": (
        _right("#outputMode", {"@id": "https://example.org/mode-records"}),
        "expected an output-mode IRI",
    ),
    "columns": (_right("#column", "age"), "expected a non-empty list, got text"),
    "column type": (_right("#column", ["age", 3]), "expected a list of column names, got a number"),
    "k on aggregates": (
        _add_constraint(
            {
                "leftOperand": "https://w3id.org/datacompact/ns/policy#kAnonymity",
                "operator": "gteq",
                "rightOperand": {"@value": "10", "@type": "xsd:integer"},
            }
        ),
        "expected no kAnonymity for dp_aggregates",
    ),
    "prohibition missing": (
        lambda d: d["prohibition"].pop(),
        "expected distribute, https://w3id.org/datacompact/ns/policy#reidentify",
    ),
    "prohibition unknown": (
        lambda d: d["prohibition"].append({"action": "read"}),
        "expected distribute or dcp:reidentify, each once",
    ),
    "expiry": (
        _right("dateTime", {"@value": "2025-13-01T00:00:00Z", "@type": "xsd:dateTime"}),
        "expected an xsd:dateTime such as",
    ),
    "epsilon per query operator": (
        lambda d: _per_query(d, "gteq").__setitem__("operator", "eq"),
        "expected 'gteq' or 'lteq' for this left operand, got text",
    ),
    "epsilon per query repeated": (
        lambda d: d["permission"][0]["constraint"].append(copy.deepcopy(_per_query(d, "lteq"))),
        "expected each left operand once (per operator), got a repeated one",
    ),
    "epsilon per query value": (
        lambda d: _per_query(d, "lteq").__setitem__("rightOperand", "0.5"),
        "expected a value object",
    ),
    "epsilon per query without budget": (
        lambda d: d["permission"][0]["constraint"].remove(constraint(d, "#epsilon")),
        "expected no epsilonPerQuery without an epsilon budget, got nothing",
    ),
    "column constraints not a literal": (
        _right("#columnConstraint", {"district": "plain"}),
        "expected a JSON literal {@value, @type: @json}, got an object",
    ),
    "column constraints datatype": (
        _right("#columnConstraint", {"@value": {"age": "plain"}, "@type": "xsd:string"}),
        "expected @type @json, got another datatype",
    ),
    "column constraints empty": (
        _right("#columnConstraint", {"@value": {}, "@type": "@json"}),
        "expected a non-empty object of column constraints, got an object",
    ),
    "column constraint unknown": (
        lambda d: constraint(d, "#columnConstraint")["rightOperand"]["@value"].__setitem__(
            "age", "secret"
        ),
        "expected a constraint among plain, group_by_only",
    ),
    "column constraint not text": (
        lambda d: constraint(d, "#columnConstraint")["rightOperand"]["@value"].__setitem__(
            "age", ["plain"]
        ),
        "expected column names mapped to constraint names, got a list of 1",
    ),
}


def _per_query(doc: dict[str, Any], operator: str) -> dict[str, Any]:
    return next(
        c
        for c in doc["permission"][0]["constraint"]
        if c["leftOperand"].endswith("#epsilonPerQuery") and c["operator"] == operator
    )


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_agreements(case: str) -> None:
    mutate, text = MALFORMED[case]
    doc = make()
    mutate(doc)
    with pytest.raises(MalformedInput, match="expected") as err:
        parse_agreement(doc)
    assert text in err.value.message
    assert ", got " in err.value.message or "got none" in err.value.message
    assert " / " in err.value.message


@pytest.mark.parametrize("doc", [None, [], "Agreement", 3])
def test_not_an_object(doc: object) -> None:
    with pytest.raises(MalformedInput, match="expected a JSON object"):
        parse_agreement(doc)


def test_no_foreign_exception_escapes_on_garbage() -> None:
    base = make()
    garbage: list[Any] = [None, 1, 1.5, True, "", "x", [], [None], {}, {"@id": None}]
    keys = list(base)
    for key in keys:
        for value in garbage:
            doc = copy.deepcopy(base)
            doc[key] = value
            with pytest.raises((MalformedInput, InvalidInput)):
                parse_agreement(doc)
    for i in range(len(base["permission"][0]["constraint"])):
        for field in ("leftOperand", "operator", "rightOperand"):
            for value in garbage:
                doc = copy.deepcopy(base)
                doc["permission"][0]["constraint"][i][field] = value
                with pytest.raises((MalformedInput, InvalidInput)):
                    parse_agreement(doc)


# --- check_use -------------------------------------------------------------


@pytest.fixture
def terms() -> GrantTerms:
    return parse_agreement(make(row_filter="age >= 18"))


def use(terms: GrantTerms, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "now": T0 + timedelta(days=1),
        "queries_so_far": 0,
        "epsilon_spent": 0.0,
        "columns": ["district", "income"],
        "mode": "dp_aggregates",
        "epsilon": 0.25,
    }
    args.update(overrides)
    check_use(terms, **args)


def refused(terms: GrantTerms, rule: str, **overrides: Any) -> PolicyViolation:
    with pytest.raises(PolicyViolation) as err:
        use(terms, **overrides)
    assert err.value.details["rule"] == rule
    assert " / " in err.value.message
    return err.value


def test_allowed_use(terms: GrantTerms) -> None:
    use(terms)
    use(terms, purpose=Purpose.CREDIT_ASSESSMENT, queries_so_far=2, epsilon_spent=0.75)


def test_expiry(terms: GrantTerms) -> None:
    use(terms, now=EXPIRES)  # lteq: the last second is still inside
    refused(terms, "grant.expired", now=EXPIRES + timedelta(seconds=1))
    # The same instant in another zone.
    china = timezone(timedelta(hours=8))
    use(terms, now=EXPIRES.astimezone(china))
    with pytest.raises(InvalidInput, match="naive"):
        use(terms, now=datetime(2025, 3, 2))


def test_count(terms: GrantTerms) -> None:
    use(terms, queries_so_far=2)
    err = refused(terms, "grant.count", queries_so_far=3)
    assert err.details["max_queries"] == 3


def test_budget(terms: GrantTerms) -> None:
    use(terms, epsilon_spent=0.75, epsilon=0.25)  # exactly the budget
    refused(terms, "grant.budget", epsilon_spent=0.75, epsilon=0.2500001)
    refused(terms, "grant.budget", epsilon_spent=1.0, epsilon=0.1)
    with pytest.raises(InvalidInput, match="must spend"):
        use(terms, epsilon=0.0)
    no_budget = parse_agreement(
        make(grade="general-1", output=OutputSpec(OutputMode.RECORDS), epsilon=None)
    )
    refused(no_budget, "grant.budget", mode="aggregates", columns=["age"], epsilon=0.1)
    use(no_budget, mode="aggregates", columns=["age"], epsilon=0.0)


def test_purpose(terms: GrantTerms) -> None:
    err = refused(terms, "grant.purpose", purpose="commercial_product")
    assert err.details["purpose"] == "credit_assessment"


def test_columns(terms: GrantTerms) -> None:
    err = refused(terms, "grant.columns", columns=["district", "resident_id"])
    assert "column resident_id is not granted" in err.message
    use(terms, columns=[])


def test_mode_may_be_stricter_never_looser() -> None:
    masked = parse_agreement(
        make(grade="general-3", output=OutputSpec(OutputMode.MASKED_RECORDS), epsilon=0.5)
    )
    use(masked, mode="masked_records", epsilon=0.0)
    use(masked, mode="aggregates", epsilon=0.0)
    use(masked, mode="dp_aggregates", epsilon=0.1)
    use(masked, mode="k_anonymous", epsilon=0.0)
    refused(masked, "grant.mode", mode="records", epsilon=0.0)
    with pytest.raises(InvalidInput, match="unknown output mode"):
        use(masked, mode="raw")


@pytest.mark.parametrize(
    "overrides",
    [
        {"queries_so_far": -1},
        {"queries_so_far": "1"},
        {"epsilon_spent": float("nan")},
        {"epsilon": -0.1},
        {"epsilon": True},
    ],
)
def test_bad_usage_numbers(terms: GrantTerms, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        use(terms, **overrides)


def test_checks_run_in_a_fixed_order(terms: GrantTerms) -> None:
    # Expired and out of queries: the expiry is reported, deterministically.
    refused(terms, "grant.expired", now=EXPIRES + timedelta(days=1), queries_so_far=9)


# --- column constraints and the per-query ε range ---------


def test_constraints_and_range_are_in_the_agreement(
    agreement_validator: Draft201909Validator,
) -> None:
    doc = make(
        columns=["district", "income", "sfzh"],
        column_constraints={"district": "plain", "income": "aggregate_only", "sfzh": "plain"},
        epsilon_min=0.05,
        epsilon_max=0.5,
    )
    assert list(agreement_validator.iter_errors(doc)) == []
    assert constraint(doc, "#columnConstraint") == {
        "leftOperand": "https://w3id.org/datacompact/ns/policy#columnConstraint",
        "operator": "eq",
        "rightOperand": {
            "@value": {"district": "plain", "income": "aggregate_only", "sfzh": "join_only"},
            "@type": "@json",
        },
    }
    assert _per_query(doc, "gteq")["rightOperand"] == {"@value": "0.05", "@type": "xsd:decimal"}
    terms = parse_agreement(json.loads(json.dumps(doc)))
    assert (terms.epsilon_min, terms.epsilon_max) == (0.05, 0.5)
    assert dict(terms.column_constraints or {}) == {
        "district": "plain",
        "income": "aggregate_only",
        "sfzh": "join_only",
    }
    assert terms.to_jsonld() == doc


def test_an_agreement_from_before_issue_11_still_parses() -> None:
    doc = make(pii=None)
    rules = doc["permission"][0]["constraint"]
    doc["permission"][0]["constraint"] = [
        c for c in rules if not c["leftOperand"].endswith(("#epsilonPerQuery", "#columnConstraint"))
    ]
    assert len(doc["permission"][0]["constraint"]) == len(rules) - 2
    terms = parse_agreement(doc)
    assert terms.column_constraints is None
    assert (terms.epsilon_min, terms.epsilon_max) == (0.01, 1.0)
    # Written out again, it states the default range.
    assert parse_agreement(terms.to_jsonld()) == terms


def test_a_grant_without_budget_writes_no_range() -> None:
    doc = make(grade="general-1", output=OutputSpec(OutputMode.RECORDS), epsilon=None)
    assert not [c for c in doc["permission"][0]["constraint"] if "epsilonPer" in c["leftOperand"]]
    with pytest.raises(InvalidInput, match="needs a privacy budget"):
        make(
            grade="general-1", output=OutputSpec(OutputMode.RECORDS), epsilon=None, epsilon_max=0.5
        )


@pytest.mark.parametrize(
    ("overrides", "error", "text"),
    [
        ({"epsilon_min": 0.0}, InvalidInput, "invalid epsilon_min"),
        ({"epsilon_min": 5e-324}, InvalidInput, "invalid epsilon_min"),
        ({"epsilon_min": float("nan")}, InvalidInput, "invalid epsilon_min"),
        ({"epsilon_max": float("inf")}, InvalidInput, "invalid epsilon_max"),
        ({"epsilon_max": 1.5}, InvalidInput, "invalid epsilon_max"),
        ({"epsilon_max": 10**400}, InvalidInput, "invalid epsilon_max"),
        ({"epsilon_max": True}, MalformedInput, "expected a number, got a boolean"),
        ({"epsilon_min": "0.1"}, MalformedInput, "expected a number, got text"),
        ({"epsilon_min": 0.5, "epsilon_max": 0.1}, InvalidInput, "epsilon_min ≤ epsilon_max"),
        ({"column_constraints": ["plain"]}, MalformedInput, "expected a mapping"),
        ({"column_constraints": {"age": "plain"}}, InvalidInput, "one for each granted column"),
        (
            {"column_constraints": {"district": "plain", "age": "plain", "income": "open"}},
            InvalidInput,
            "unknown column constraint",
        ),
    ],
)
def test_range_and_constraints_are_validated(
    overrides: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        make(**overrides)


def test_the_agreement_may_make_a_column_stricter_never_looser() -> None:
    derived = parse_agreement(make()).column_constraints
    assert derived == {"age": "plain", "district": "plain", "income": "plain"}
    stricter = parse_agreement(
        make(column_constraints={"age": "compare_only", "district": "plain", "income": "none"})
    )
    assert stricter.column_constraints == {
        "age": "compare_only",
        "district": "plain",
        "income": "none",
    }
    looser = parse_agreement(
        make(
            columns=["district", "sfzh"],
            column_constraints={"district": "plain", "sfzh": "plain"},
        )
    )
    assert looser.column_constraints == {"district": "plain", "sfzh": "join_only"}


def test_a_hand_edited_constraint_set_must_cover_the_columns() -> None:
    doc = make()
    del constraint(doc, "#columnConstraint")["rightOperand"]["@value"]["age"]
    with pytest.raises(InvalidInput, match="one for each granted column"):
        parse_agreement(doc)


def test_check_epsilon_defaults_to_the_share_within_the_range() -> None:
    # 1.0 over 3 queries.
    assert check_epsilon(parse_agreement(make()), None) == pytest.approx(1 / 3)
    # 100 over 3 is capped at the ceiling; 0.001 over 3 raised to the floor.
    assert check_epsilon(parse_agreement(make(epsilon=100.0)), None) == 1.0
    assert check_epsilon(parse_agreement(make(epsilon=0.001)), None) == 0.01
    narrow = parse_agreement(make(epsilon_min=0.2, epsilon_max=0.25))
    assert check_epsilon(narrow, None) == 0.25
    assert check_epsilon(narrow, 0.2) == 0.2
    assert check_epsilon(narrow, 0.25) == 0.25


@pytest.mark.parametrize("epsilon", [0.009, 1e-300, 0.5])
def test_check_epsilon_refuses_out_of_range(epsilon: float) -> None:
    terms = parse_agreement(make(epsilon_max=0.4))
    with pytest.raises(PolicyViolation) as err:
        check_epsilon(terms, epsilon)
    assert err.value.details == {"rule": "epsilon.range", "min": 0.01, "max": 0.4}
    assert "0.01 to 0.4" in err.value.message
    assert " / " in err.value.message


@pytest.mark.parametrize(
    "epsilon",
    [float("nan"), float("inf"), -0.1, 0.0, 5e-324, 1e-310, 1.0000001, 10**400, True, "0.1", None],
)
def test_check_epsilon_refuses_bad_numbers(epsilon: Any) -> None:
    terms = parse_agreement(make())
    if epsilon is None:
        no_budget = parse_agreement(
            make(grade="general-1", output=OutputSpec(OutputMode.RECORDS), epsilon=None)
        )
        with pytest.raises(PolicyViolation) as err:
            check_epsilon(no_budget, None)
        assert err.value.details["rule"] == "grant.budget"
        return
    with pytest.raises(InvalidInput) as invalid:
        check_epsilon(terms, epsilon)
    assert invalid.value.details == {"field": "epsilon", "rule": "epsilon.invalid"}


def test_psi_keys_round_trip_and_must_be_granted_columns(
    agreement_validator: Draft201909Validator,
) -> None:
    doc = make(psi_keys=["district"])
    assert list(agreement_validator.iter_errors(doc)) == []
    terms = parse_agreement(json.loads(json.dumps(doc)))
    assert terms.psi_keys == ("district",)
    assert terms.to_jsonld() == doc
    assert parse_agreement(make()).psi_keys == ()
    assert not any("psiKey" in str(c) for c in make()["permission"][0]["constraint"])
    with pytest.raises(InvalidInput) as caught:
        make(psi_keys=["sfzh"])
    assert caught.value.details["field"] == "psi_keys"

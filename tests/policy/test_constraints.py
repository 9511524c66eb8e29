"""Column constraints derived per output mode, PII type and grade.

The derivation table is in :mod:`datacompact.policy._constraints`; these
tests pin each row and column of it, the masks a grade puts in effect, and
how the grant view combines an agreement's constraints with today's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datacompact.policy import OutputMode, OutputSpec, build_agreement, parse_agreement
from datacompact.policy._constraints import (
    derive_constraints,
    effective_column_constraints,
    entity_column,
    numeric_columns,
    pii_types,
)
from datacompact.policy._grant_view import column_constraints, grant_view
from datacompact.policy._masks import ColumnMask, column_masks
from datacompact.sandbox.grants import CONSTRAINTS, ColumnConstraint, stricter_constraint
from datacompact.store.models import Grant, Resource, ResourceVersion

#: One column of each kind: entity, identifier, contact, quasi-identifier,
#: sensitive (text and number), an organization's code, plain text and number.
PII: dict[str, list[str]] = {
    "sfzh": ["resident_id"],
    "xm": ["person_name"],
    "sjhm": ["mobile"],
    "dz": ["address"],
    "csrq": ["birth_date"],
    "zd": ["health"],
    "xt": ["health"],
    "tyshxydm": ["uscc"],
    "qx": [],
    "je": [],
    "other": ["some_new_type"],
}
NUMERIC = {"xt", "je"}

EXPECTED: dict[str, dict[str, str]] = {
    "records": dict.fromkeys(PII, "plain"),
    # Masked grades: health is redacted to NULL, so it is none.
    "masked_records": {**dict.fromkeys(PII, "plain"), "zd": "none", "xt": "none"},
    "k_anonymous": {
        "sfzh": "none",
        "xm": "none",
        "sjhm": "none",
        "dz": "none",
        "csrq": "plain",
        "zd": "none",
        "xt": "none",
        "tyshxydm": "plain",
        "qx": "plain",
        "je": "plain",
        "other": "none",
    },
    "aggregates": {
        "sfzh": "join_only",
        "xm": "join_only",
        "sjhm": "join_only",
        "dz": "join_only",
        "csrq": "group_by_only",
        "zd": "none",
        "xt": "none",
        "tyshxydm": "plain",
        "qx": "plain",
        "je": "plain",
        "other": "join_only",
    },
}
EXPECTED["dp_aggregates"] = EXPECTED["aggregates"]


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_derivation_on_a_masked_grade(mode: str) -> None:
    derived = derive_constraints(
        mode=mode, pii=PII, masks=column_masks(PII), numeric=NUMERIC, entity="sfzh"
    )
    assert derived == EXPECTED[mode]


def test_sensitive_data_on_a_grade_that_does_not_mask_it_is_a_group_key_or_an_average() -> None:
    # general-1 and -2 put no masks in effect: health is kept, and thresholded.
    derived = derive_constraints(mode="aggregates", pii=PII, numeric=NUMERIC, entity="sfzh")
    assert (derived["zd"], derived["xt"], derived["csrq"]) == (
        "group_by_only",
        "aggregate_only",
        "group_by_only",
    )
    assert derive_constraints(mode="masked_records", pii=PII, numeric=NUMERIC)["zd"] == "plain"


def test_the_entity_column_is_an_identifier_whatever_its_type() -> None:
    pii = {"tyshxydm": ["uscc"], "qx": []}
    entity, personal = entity_column(pii)
    assert (entity, personal) == ("tyshxydm", False)
    assert derive_constraints(mode="dp_aggregates", pii=pii, entity=entity) == {
        "tyshxydm": "join_only",
        "qx": "plain",
    }
    assert derive_constraints(mode="k_anonymous", pii=pii, entity=entity)["tyshxydm"] == "none"


def test_the_analysts_query_stays_possible_under_dp() -> None:
    # SELECT district, COUNT(*), AVG(income) FROM t WHERE age > 30 GROUP BY district
    derived = derive_constraints(
        mode="dp_aggregates",
        pii={"district": [], "age": [], "income": [], "pid": ["resident_id"]},
        numeric={"age", "income"},
        entity="pid",
    )
    assert derived == {"district": "plain", "age": "plain", "income": "plain", "pid": "join_only"}


def test_stricter_is_a_meet() -> None:
    for a in CONSTRAINTS:
        assert stricter_constraint(a, a) == a
        assert stricter_constraint(a, "plain") == a
        assert stricter_constraint(a, "none") == "none"
        for b in CONSTRAINTS:
            assert stricter_constraint(a, b) == stricter_constraint(b, a)
    assert stricter_constraint("group_by_only", "join_only") == "join_only"
    assert stricter_constraint("compare_only", "join_only") == "none"


def test_an_agreement_may_tighten_never_loosen() -> None:
    derived: dict[str, ColumnConstraint] = {"a": "group_by_only", "b": "plain", "c": "join_only"}
    agreed: dict[str, ColumnConstraint] = {"a": "plain", "b": "compare_only", "c": "join_only"}
    assert effective_column_constraints(agreed, derived) == {
        "a": "group_by_only",
        "b": "compare_only",
        "c": "join_only",
    }
    assert effective_column_constraints(None, derived) == derived


# --- the grant view --------------------------------------------------------

T0 = datetime(2025, 3, 1, tzinfo=UTC)
COLUMNS = [
    {"name": "sfzh", "type": "text", "pii": [{"type": "resident_id"}]},
    {"name": "csrq", "type": "date", "pii": [{"type": "birth_date"}]},
    {"name": "zd", "type": "text", "pii": [{"type": "health"}]},
    {"name": "qx", "type": "text", "pii": []},
    {"name": "je", "type": "decimal", "pii": []},
]


def _resource(grade: str) -> tuple[Resource, ResourceVersion]:
    resource = Resource(
        id=7,
        code="R7",
        name_en="Clinic visits",
        grade=grade,
        grade_status="confirmed",
        open_type="not_open",
        personal=True,
    )
    version = ResourceVersion(columns=COLUMNS, path="r7.parquet")
    return resource, version


def _agreement(grade: str, mode: str, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "target": "urn:datacompact:resource:R7",
        "assigner": "urn:uscc:11330100MB0000002W",
        "assignee": "urn:uscc:91330106MA27XL6Y1N",
        "purpose": "research",
        "expires": T0 + timedelta(days=30),
        "max_queries": 10,
        "columns": ["csrq", "je", "qx", "sfzh", "zd"],
        "output": OutputSpec(OutputMode(mode)),
        "grade": grade,
        "timestamp": T0,
    }
    args.update(extra)
    return build_agreement(**args)


def test_the_version_facts() -> None:
    _, version = _resource("general-2")
    assert pii_types(version)["csrq"] == ["birth_date"]
    assert numeric_columns(version) == {"je"}


def test_an_agreement_states_the_constraints_derived_when_issued() -> None:
    _, version = _resource("general-2")
    doc = _agreement(
        "general-2", "aggregates", pii=pii_types(version), numeric=numeric_columns(version)
    )
    terms = parse_agreement(doc)
    assert terms.column_constraints == {
        "csrq": "group_by_only",
        "je": "plain",
        "qx": "plain",
        "sfzh": "join_only",
        "zd": "group_by_only",
    }


def _rules(grade: str, doc: dict[str, Any]) -> dict[str, str]:
    resource, version = _resource(grade)
    view = grant_view(
        grant=Grant(id=1),
        terms=parse_agreement(doc),
        resource=resource,
        version=version,
        home=Path("/tmp"),
        regulator_approved=False,
    )
    return {c: r.constraint for c, r in view.tables["clinic_visits"].columns.items()}


def test_a_grade_raised_since_the_grant_tightens_its_constraints() -> None:
    _, version = _resource("general-2")
    doc = _agreement(
        "general-2", "aggregates", pii=pii_types(version), numeric=numeric_columns(version)
    )
    assert _rules("general-2", doc)["zd"] == "group_by_only"
    # Graded general-3 now: health is redacted, so no query may use it.
    assert _rules("general-3", doc)["zd"] == "none"


def test_an_agreement_stricter_than_the_derivation_wins() -> None:
    strict = {"csrq": "none", "je": "aggregate_only", "qx": "plain", "sfzh": "plain", "zd": "plain"}
    doc = _agreement("general-2", "aggregates", column_constraints=strict)
    rules = _rules("general-2", doc)
    assert rules == {
        "csrq": "none",
        "je": "aggregate_only",
        "qx": "plain",
        "sfzh": "join_only",  # the agreement's plain does not loosen the derivation
        "zd": "group_by_only",
    }


def test_an_agreement_from_before_constraints_gets_them_derived() -> None:
    doc = _agreement("important", "dp_aggregates", epsilon=1.0)
    constraints = [c for c in doc["permission"][0]["constraint"] if "column" in c["leftOperand"]]
    assert len(constraints) == 1  # dcp:column only: no dcp:columnConstraint
    terms = parse_agreement(doc)
    assert terms.column_constraints is None
    assert _rules("important", doc) == {
        "csrq": "group_by_only",
        "je": "plain",
        "qx": "plain",
        "sfzh": "join_only",
        "zd": "none",
    }


def test_what_the_grantee_is_shown_is_what_queries_meet() -> None:
    doc = _agreement("general-2", "aggregates")
    resource, version = _resource("general-3")
    shown = column_constraints(terms=parse_agreement(doc), resource=resource, version=version)
    assert shown == _rules("general-3", doc)
    resource.grade_status = "proposed"  # unconfirmed: the masked (stricter) reading
    assert column_constraints(terms=parse_agreement(doc), resource=resource, version=version) == (
        shown
    )


def test_masks_and_constraints_agree_on_what_is_redacted() -> None:
    masks = column_masks(PII)
    redacted = {m.column for m in masks if m.kind.value == "redact"}
    derived = derive_constraints(mode="masked_records", pii=PII, masks=masks)
    assert {c for c, k in derived.items() if k == "none"} == redacted
    assert derive_constraints(
        mode="masked_records", pii={"x": []}, masks=[ColumnMask.of("x", "redact")]
    ) == {"x": "none"}

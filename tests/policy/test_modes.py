"""Output modes: the strictness order, the defaults by grade, and per-column masks."""

from __future__ import annotations

import itertools

import pytest

from datacompact.catalog.grading import Grade
from datacompact.errors import InvalidInput, MalformedInput, PolicyViolation
from datacompact.policy.modes import (
    DEFAULT_K,
    DEFAULT_MIN_GROUP_SIZE,
    MaskKind,
    OutputMode,
    OutputSpec,
    at_least_as_strict,
    column_masks,
    effective_constraints,
    grade_rule,
    mode_at_least_as_strict,
)

MODES = list(OutputMode)
GRADES = list(Grade)
PARAMS = (None, 1, 5, 10, 20)


def specs(full: bool = False) -> list[OutputSpec]:
    """Every mode with every applicable parameter value (``full``: no unset ones)."""
    values = [v for v in PARAMS if v is not None] if full else list(PARAMS)
    out: list[OutputSpec] = []
    for mode in OutputMode:
        if mode in (OutputMode.AGGREGATES, OutputMode.DP_AGGREGATES):
            out += [OutputSpec(mode, min_group_size=v) for v in values]
        elif mode is OutputMode.K_ANONYMOUS:
            out += [OutputSpec(mode, k=v) for v in values if v != 1]
        else:
            out.append(OutputSpec(mode))
    return out


# The order on modes, as the table and the module docstring draw it.
STRICTER = {
    ("masked_records", "records"),
    ("k_anonymous", "masked_records"),
    ("k_anonymous", "records"),
    ("aggregates", "masked_records"),
    ("aggregates", "records"),
    ("dp_aggregates", "aggregates"),
    ("dp_aggregates", "masked_records"),
    ("dp_aggregates", "records"),
}


@pytest.mark.parametrize(("a", "b"), list(itertools.product(MODES, MODES)))
def test_mode_order_is_exactly_the_documented_one(a: OutputMode, b: OutputMode) -> None:
    assert mode_at_least_as_strict(a, b) == (a == b or (a.value, b.value) in STRICTER)


def test_mode_order_is_a_partial_order() -> None:
    le = mode_at_least_as_strict
    for a in MODES:
        assert le(a, a)
    for a, b in itertools.product(MODES, MODES):
        if le(a, b) and le(b, a):
            assert a == b
    for a, b, c in itertools.product(MODES, MODES, MODES):
        if le(a, b) and le(b, c):
            assert le(a, c)


def test_records_is_the_bottom_and_modes_have_depth() -> None:
    assert all(mode_at_least_as_strict(m, OutputMode.RECORDS) for m in MODES)
    assert OutputMode.RECORDS.depth == 0
    assert OutputMode.DP_AGGREGATES.depth == 3
    assert all(" / " in m.label for m in MODES)


def test_spec_order_is_a_preorder_and_antisymmetric_on_full_specs() -> None:
    every = specs()
    for a in every:
        assert at_least_as_strict(a, a)
    for a, b, c in itertools.product(every, every, every):
        if at_least_as_strict(a, b) and at_least_as_strict(b, c):
            assert at_least_as_strict(a, c), (a, b, c)
    full = specs(full=True)
    for a, b in itertools.product(full, full):
        if at_least_as_strict(a, b) and at_least_as_strict(b, a):
            assert a == b


def test_larger_parameters_are_stricter() -> None:
    assert at_least_as_strict(
        OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=20),
        OutputSpec(OutputMode.AGGREGATES, min_group_size=10),
    )
    assert not at_least_as_strict(
        OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=5),
        OutputSpec(OutputMode.AGGREGATES, min_group_size=10),
    )
    assert not at_least_as_strict(
        OutputSpec(OutputMode.K_ANONYMOUS, k=5), OutputSpec(OutputMode.K_ANONYMOUS, k=10)
    )
    assert not at_least_as_strict(
        OutputSpec(OutputMode.K_ANONYMOUS, k=50), OutputSpec(OutputMode.AGGREGATES)
    )


def _allowed_by_table(grade: Grade, spec: OutputSpec, approved: bool) -> bool:
    """The issue's table, written independently of the implementation."""
    group = spec.min_group_size
    if grade.level in (1, 2):
        return True
    if grade.level in (3, 4):
        return spec.mode is not OutputMode.RECORDS
    dp_ok = spec.mode is OutputMode.DP_AGGREGATES and (group is None or group >= 10)
    if grade is Grade.CORE:
        return approved and dp_ok
    k_ok = spec.mode is OutputMode.K_ANONYMOUS and (spec.k is None or spec.k >= 10)
    return dp_ok or k_ok


@pytest.mark.parametrize("approved", [False, True])
@pytest.mark.parametrize("grade", GRADES)
def test_every_grade_times_every_spec(grade: Grade, approved: bool) -> None:
    """Allowed exactly when the table allows it, and never looser than a floor."""
    rule = grade_rule(grade)
    for spec in specs():
        expected = _allowed_by_table(grade, spec, approved)
        if not expected:
            with pytest.raises(PolicyViolation) as err:
                effective_constraints(grade=grade, requested=spec, regulator_approved=approved)
            assert err.value.details["rule"].startswith(rule.name)
            assert " / " in err.value.message
            continue
        got = effective_constraints(grade=grade, requested=spec, regulator_approved=approved)
        assert got.mode is spec.mode
        assert got.rule == rule.name
        assert any(at_least_as_strict(got.spec(), floor) for floor in rule.floors)
        assert at_least_as_strict(got.spec(), spec)  # filling defaults only tightens
        assert got.noise == (spec.mode is OutputMode.DP_AGGREGATES)


def test_important_defaults_are_filled_in() -> None:
    c = effective_constraints(grade="important", requested=OutputSpec(OutputMode.K_ANONYMOUS))
    assert c.k == DEFAULT_K
    assert c.min_group_size is None
    c = effective_constraints(grade=Grade.IMPORTANT, requested=OutputSpec(OutputMode.DP_AGGREGATES))
    assert c.min_group_size == DEFAULT_MIN_GROUP_SIZE
    c = effective_constraints(
        grade="important", requested=OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=25)
    )
    assert c.min_group_size == 25


def test_violations_name_their_rule() -> None:
    cases = [
        ("important", OutputSpec(OutputMode.AGGREGATES), "grade.important"),
        (
            "important",
            OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=5),
            "grade.important.min_group_size",
        ),
        ("important", OutputSpec(OutputMode.K_ANONYMOUS, k=3), "grade.important.k"),
        ("core", OutputSpec(OutputMode.DP_AGGREGATES), "grade.core.regulator_approval"),
        ("core", OutputSpec(OutputMode.K_ANONYMOUS), "grade.core"),
        ("general-3", OutputSpec(OutputMode.RECORDS), "grade.general-high"),
    ]
    for grade, spec, rule in cases:
        with pytest.raises(PolicyViolation) as err:
            effective_constraints(grade=grade, requested=spec)
        assert err.value.details["rule"] == rule
        assert err.value.status == 403


def test_open_data() -> None:
    c = effective_constraints(
        grade="general-4", requested=OutputSpec(OutputMode.RECORDS), open_data=True
    )
    assert c.rule == "grade.general-low"
    assert c.masks == ()
    with pytest.raises(InvalidInput, match="open data cannot be graded important"):
        effective_constraints(
            grade="important", requested=OutputSpec(OutputMode.RECORDS), open_data=True
        )


@pytest.mark.parametrize("grade", [None, 4, "secret"])
def test_bad_grade(grade: object) -> None:
    with pytest.raises(InvalidInput):
        effective_constraints(grade=grade, requested=OutputSpec(OutputMode.RECORDS))  # type: ignore[arg-type]


def test_spec_validation() -> None:
    with pytest.raises(InvalidInput, match="min_group_size applies to aggregate modes"):
        OutputSpec(OutputMode.RECORDS, min_group_size=10)
    with pytest.raises(InvalidInput, match="k applies to k_anonymous"):
        OutputSpec(OutputMode.AGGREGATES, k=10)
    with pytest.raises(MalformedInput, match="expected an integer, got bool"):
        OutputSpec(OutputMode.AGGREGATES, min_group_size=True)
    with pytest.raises(InvalidInput, match="out of range"):
        OutputSpec(OutputMode.K_ANONYMOUS, k=1)
    with pytest.raises(InvalidInput, match="unknown output mode"):
        OutputSpec("everything")  # type: ignore[arg-type]
    with pytest.raises(MalformedInput, match="expected text, got int"):
        OutputSpec(3)  # type: ignore[arg-type]


COLUMNS = {
    "sfzh": ["resident_id"],
    "yhkh": ["bank_card"],
    "sjhm": ["mobile"],
    "gddh": ["landline"],
    "email": ["email"],
    "csrq": ["date_of_birth"],
    "xm": ["name"],
    "amount": [],
    "tyshxydm": ["uscc"],
    "mystery": ["some_new_detector_type"],
    "both": ["mobile", "resident_id"],
}


def test_masks_by_pii_type() -> None:
    masks = {m.column: m for m in column_masks(COLUMNS)}
    assert masks["sfzh"].kind is MaskKind.PSEUDONYM
    assert masks["yhkh"].kind is MaskKind.PSEUDONYM
    assert masks["xm"].kind is MaskKind.PSEUDONYM
    assert masks["sjhm"].kind is MaskKind.PARTIAL
    assert dict(masks["sjhm"].params) == {"keep_first": 3, "keep_last": 4}
    assert masks["gddh"].kind is MaskKind.PARTIAL
    assert masks["email"].kind is MaskKind.PARTIAL
    assert masks["csrq"].kind is MaskKind.TRUNCATE
    assert masks["csrq"].params["unit"] == "year"
    assert masks["mystery"].kind is MaskKind.PSEUDONYM  # unknown PII: the safe default
    assert masks["both"].kind is MaskKind.PSEUDONYM  # the strictest of its types
    assert "amount" not in masks
    assert "tyshxydm" not in masks
    assert [m.column for m in column_masks(COLUMNS)] == sorted(masks)


def test_masks_apply_from_general_3_up_in_every_mode() -> None:
    for grade in GRADES:
        rule = grade_rule(grade)
        spec = rule.floors[0]
        c = effective_constraints(
            grade=grade, requested=spec, columns=COLUMNS, regulator_approved=True
        )
        assert bool(c.masks) == (grade.rank >= 3)
        assert c.to_dict()["masks"] == [m.to_dict() for m in c.masks]


def test_grant_masks_may_be_stricter_never_looser() -> None:
    c = effective_constraints(
        grade="general-3",
        requested=OutputSpec(OutputMode.MASKED_RECORDS),
        columns=COLUMNS,
        extra_masks={"sjhm": "redact", "amount": MaskKind.PARTIAL},
    )
    assert c.mask_for("sjhm").kind is MaskKind.REDACT  # type: ignore[union-attr]
    assert c.mask_for("amount").kind is MaskKind.PARTIAL  # type: ignore[union-attr]
    with pytest.raises(PolicyViolation) as err:
        effective_constraints(
            grade="general-3",
            requested=OutputSpec(OutputMode.MASKED_RECORDS),
            columns=COLUMNS,
            extra_masks={"sfzh": "partial"},
        )
    assert err.value.details["rule"] == "mask.sfzh"
    with pytest.raises(InvalidInput, match="expected a granted column"):
        effective_constraints(
            grade="general-3",
            requested=OutputSpec(OutputMode.MASKED_RECORDS),
            columns=COLUMNS,
            extra_masks={"nope": "redact"},
        )
    with pytest.raises(InvalidInput, match="unknown mask"):
        effective_constraints(
            grade="general-1", requested=OutputSpec(OutputMode.RECORDS), extra_masks={"a": "blur"}
        )


def test_mask_order_is_total() -> None:
    kinds = list(MaskKind)
    assert [k.rank for k in kinds] == list(range(len(kinds)))
    assert kinds[0] is MaskKind.CLEAR
    assert kinds[-1] is MaskKind.REDACT

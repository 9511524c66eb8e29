"""Classification and grading: default rules, volume, tags, holder rules, overrides."""

from __future__ import annotations

import pytest

from datacompact.catalog.grading import (
    Category,
    ColumnSignal,
    Grade,
    HolderRule,
    PersonalInfo,
    SensitiveCategory,
    confirm,
    override,
    propose,
)
from datacompact.errors import InvalidInput, MalformedInput, UnknownField

GOV = Category.PUBLIC


def test_grade_order_and_labels() -> None:
    ordered = sorted(Grade, key=lambda g: g.rank)
    assert [g.value for g in ordered] == [
        "general-1",
        "general-2",
        "general-3",
        "general-4",
        "important",
        "core",
    ]
    assert Grade.GENERAL_3.level == 3
    assert Grade.GENERAL_3.tier == "general"
    assert Grade.CORE.level is None
    assert Grade.IMPORTANT.tier == "important"
    assert Grade.GENERAL_2.label_zh == "一般数据2级"
    assert Grade.CORE.label_zh == "核心数据"


def test_government_is_read_as_public() -> None:
    assert Category("government") is Category.PUBLIC
    assert Category("organization") is Category.ENTERPRISE
    with pytest.raises(ValueError, match="nobody"):
        Category("nobody")


def test_no_personal_information_keeps_holder_category() -> None:
    p = propose(
        columns=[ColumnSignal(name="count"), ColumnSignal(name="uscc", pii_types={"uscc": 1.0})],
        holder_category=Category.ENTERPRISE,
    )
    assert p.category is Category.ENTERPRISE
    assert p.personal is PersonalInfo.NONE
    assert p.grade is Grade.GENERAL_1
    assert p.reasons[0].rule == "category.holder"


@pytest.mark.parametrize(
    ("pii", "grade", "flag", "kind"),
    [
        ("resident_id", Grade.GENERAL_4, PersonalInfo.SENSITIVE_PERSONAL, "specific_identity"),
        ("passport", Grade.GENERAL_4, PersonalInfo.SENSITIVE_PERSONAL, "specific_identity"),
        ("bank_card", Grade.GENERAL_4, PersonalInfo.SENSITIVE_PERSONAL, "financial_account"),
        ("biometric", Grade.GENERAL_4, PersonalInfo.SENSITIVE_PERSONAL, "biometrics"),
        ("geolocation", Grade.GENERAL_4, PersonalInfo.SENSITIVE_PERSONAL, "whereabouts"),
        ("mobile", Grade.GENERAL_3, PersonalInfo.PERSONAL, None),
        ("Mobile-Phone", Grade.GENERAL_3, PersonalInfo.PERSONAL, None),
        ("person_name", Grade.GENERAL_3, PersonalInfo.PERSONAL, None),
        ("address", Grade.GENERAL_3, PersonalInfo.PERSONAL, None),
        ("something_new", Grade.GENERAL_3, PersonalInfo.PERSONAL, None),
    ],
)
def test_pii_rules(pii: str, grade: Grade, flag: PersonalInfo, kind: str | None) -> None:
    p = propose(columns=[ColumnSignal(name="c", pii_types={pii: 0.9})], holder_category=GOV)
    (column,) = p.columns
    assert column.grade is grade
    assert column.personal is flag
    assert {k.value for k in column.sensitive} == ({kind} if kind else set())
    assert p.category is Category.PERSONAL
    reason = column.reasons[0]
    assert reason.column == "c"
    assert reason.grade is grade
    assert ("PIPL art. 28" if kind else "PIPL art. 4") in reason.source
    assert "GB/T 35273-2020" in reason.source


def test_pii_below_min_share_is_noise() -> None:
    signal = ColumnSignal(name="notes", pii_types={"resident_id": 0.01})
    assert propose(columns=[signal], holder_category=GOV).grade is Grade.GENERAL_1
    strict = propose(columns=[signal], holder_category=GOV, min_share=0.01)
    assert strict.grade is Grade.GENERAL_4


def test_pii_inside_free_text_counts_at_any_share() -> None:
    signal = ColumnSignal(name="notes", pii_types={"resident_id": 0.012}, in_text={"resident_id"})
    p = propose(columns=[signal], holder_category=GOV)
    assert p.grade is Grade.GENERAL_4
    (reason,) = p.columns[0].reasons
    assert reason.share == 0.012
    assert "in free text, 1.2% of rows" in reason.text


@pytest.mark.parametrize("subjects", [999_999, 1_000_000, None])
def test_volume_makes_personal_data_important(subjects: int | None) -> None:
    p = propose(
        columns=[ColumnSignal(name="phone", pii_types={"mobile": 1.0}), ColumnSignal(name="fee")],
        holder_category=GOV,
        subjects=subjects,
    )
    phone, fee = p.columns
    important = subjects is not None and subjects >= 1_000_000
    assert phone.grade is (Grade.IMPORTANT if important else Grade.GENERAL_3)
    assert fee.grade is Grade.GENERAL_1  # non-personal columns are not raised by volume
    assert p.grade is phone.grade
    if important:
        assert any(r.rule == "volume.personal" and "Annex G" in r.source for r in p.reasons)


def test_domain_tags_raise_and_mark_sensitive() -> None:
    p = propose(
        columns=[
            ColumnSignal(name="patient", pii_types={"person_name": 0.95}),
            ColumnSignal(name="visit_date"),
        ],
        holder_category=GOV,
        tags=["Health"],
    )
    patient, visit = p.columns
    assert patient.sensitive == {SensitiveCategory.MEDICAL_HEALTH}
    assert patient.grade is Grade.GENERAL_4
    assert [r.rule for r in patient.reasons] == [
        "pii.person_name",
        "tag.health",
        "personal.sensitive",
    ]
    assert visit.grade is Grade.GENERAL_2
    assert visit.personal is PersonalInfo.NONE
    assert p.personal is PersonalInfo.SENSITIVE_PERSONAL


@pytest.mark.parametrize(
    ("tag", "grade"),
    [
        ("critical_infrastructure", Grade.IMPORTANT),
        ("geospatial_high_precision", Grade.IMPORTANT),
        ("national_security", Grade.CORE),
        ("geospatial", Grade.GENERAL_3),
        ("unknown_tag", Grade.GENERAL_1),
    ],
)
def test_tag_floors(tag: str, grade: Grade) -> None:
    p = propose(columns=[ColumnSignal(name="x", tags=[tag])], holder_category=GOV)
    assert p.grade is grade


def test_resource_grade_is_highest_column_with_its_reasons() -> None:
    p = propose(
        columns=[
            ColumnSignal(name="a", pii_types={"mobile": 1.0}),
            ColumnSignal(name="b", pii_types={"bank_card": 1.0}),
            ColumnSignal(name="c"),
        ],
        holder_category=GOV,
        baseline=Grade.GENERAL_2,
    )
    assert [c.grade for c in p.columns] == [Grade.GENERAL_3, Grade.GENERAL_4, Grade.GENERAL_2]
    assert p.grade is Grade.GENERAL_4
    rules = [r.rule for r in p.reasons]
    assert rules[:2] == ["category.personal", "resource.highest_column"]
    assert "pii.bank_card" in rules
    assert "pii.mobile" not in rules
    assert all(r.source for r in p.reasons)


def test_holder_rules() -> None:
    rules = [
        HolderRule(
            name="salary",
            at_least=Grade.IMPORTANT,
            reason="工资数据按本单位规定为重要数据",
            column_pattern=r"^(wage|salary)",
        ),
        HolderRule.from_dict(
            {
                "name": "kids",
                "at_least": "general-2",
                "reason": "学生信息",
                "tags": ["school"],
                "sensitive": "minor_under_14",
            }
        ),
        HolderRule(name="ids", at_least="core", reason="示例", pii_type="ID-Card"),  # type: ignore[arg-type]
    ]
    p = propose(
        columns=[
            ColumnSignal(name="Salary_2024"),
            ColumnSignal(name="pupil", tags=["school"]),
            ColumnSignal(name="other"),
        ],
        holder_category=GOV,
        rules=rules,
    )
    salary, pupil, other = p.columns
    assert salary.grade is Grade.IMPORTANT
    assert salary.reasons[-1].rule == "holder.salary"
    assert "holder-defined" in salary.reasons[-1].source
    assert pupil.sensitive == {SensitiveCategory.MINOR_UNDER_14}
    assert pupil.grade is Grade.GENERAL_4
    assert other.grade is Grade.GENERAL_1
    ids = propose(
        columns=[ColumnSignal(name="x", pii_types={"resident_id": 1.0})],
        holder_category=GOV,
        rules=rules,
    )
    assert ids.grade is Grade.CORE


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        ({"name": "r", "at_least": "core", "reason": "x"}, InvalidInput, "no condition"),
        (
            {"name": "r", "at_least": "core", "reason": "x", "column_pattern": "("},
            MalformedInput,
            "invalid column_pattern",
        ),
        ({"name": "r", "at_least": "top", "reason": "x", "tags": ["a"]}, MalformedInput, "grade"),
        ({"name": "r", "reason": "x", "tags": ["a"]}, MalformedInput, "'at_least'"),
        ({"name": "r", "at_least": "core", "reason": " ", "tags": ["a"]}, InvalidInput, "reason"),
        ({"name": "r", "at_least": "core", "reason": "x", "when": 1}, UnknownField, "when"),
    ],
)
def test_malformed_holder_rules(
    data: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        HolderRule.from_dict(data)


@pytest.mark.parametrize(
    ("columns", "kwargs", "fragment"),
    [
        ([], {}, "no columns"),
        ([ColumnSignal(name="a")], {"min_share": 0}, "min_share"),
    ],
)
def test_propose_rejects_bad_input(
    columns: list[ColumnSignal], kwargs: dict[str, float], fragment: str
) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        propose(columns=columns, holder_category=GOV, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("share", [-0.1, 1.5, True])
def test_column_signal_rejects_bad_shares(share: float) -> None:
    with pytest.raises(InvalidInput, match="expected a number from 0 to 1"):
        ColumnSignal(name="a", pii_types={"mobile": share})


def test_confirm_and_override() -> None:
    p = propose(columns=[ColumnSignal(name="a", pii_types={"mobile": 1.0})], holder_category=GOV)
    accepted = confirm(p)
    assert (accepted.grade, accepted.category, accepted.overridden) == (p.grade, p.category, False)
    assert accepted.reason is None
    assert not accepted.lowered

    raised = override(p, grade=Grade.IMPORTANT, reason=" 涉及重点人群 ")
    assert raised.overridden
    assert raised.reason == "涉及重点人群"
    assert not raised.lowered
    lowered = override(p, grade=Grade.GENERAL_2, category=Category.PUBLIC, reason="已去标识化")
    assert lowered.lowered
    assert lowered.category is Category.PUBLIC
    assert lowered.proposal is p

    with pytest.raises(InvalidInput, match="needs a reason"):
        override(p, grade=Grade.CORE, reason="  ")
    with pytest.raises(InvalidInput, match="empty override"):
        override(p, reason="why")


def test_a_bare_string_is_one_tag() -> None:
    signal = ColumnSignal(name="a", tags="Health")
    assert signal.tags == frozenset({"health"})
    p = propose(
        columns=[ColumnSignal(name="a")], holder_category=GOV, tags="critical_infrastructure"
    )
    assert p.grade is Grade.IMPORTANT

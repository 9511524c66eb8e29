"""Classification and grading of data resources per GB/T 43697-2024.

* **Category** (分类, GB/T 43697-2024 §5): ``public`` (公共数据, also spelled
  ``government``), ``enterprise`` (组织数据) or ``personal`` (个人信息).
* **Grade** (分级, §6.1): ``core`` (核心数据) > ``important`` (重要数据) >
  ``general`` (一般数据). The standard lets sectors refine general data; the
  platform uses four levels, ``general-1`` (open, harmless) to ``general-4``
  (sensitive personal information), in the style of sector rules such as
  JR/T 0197-2020.
* **Personal-information flags**: ``personal`` (PIPL art. 4) and
  ``sensitive_personal`` for the kinds of PIPL art. 28 (:class:`SensitiveCategory`).

:func:`propose` is a small rule engine. Every column starts at a baseline and
each matching rule raises it to a floor, leaving a :class:`Reason` that cites
its source. The rules, in order: detected PII types, domain tags, volume
(personal information on ≥ 1,000,000 people is important data) and the
holder's own :class:`HolderRule` s. The resource grade is the highest column
grade; a steward accepts it with :func:`confirm` or replaces it with
:func:`override`, which requires a reason. The default rules and their
sources are listed in ``docs/grading.md``.

>>> p = propose(
...     columns=[ColumnSignal(name="sfzh", pii_types={"resident_id": 0.98}),
...              ColumnSignal(name="amount")],
...     holder_category=Category("government"),
... )
>>> p.category.value, p.grade.value, p.personal.value, sorted(s.value for s in p.sensitive)
('personal', 'general-4', 'sensitive_personal', ['specific_identity'])
>>> [(c.name, c.grade.value) for c in p.columns]
[('sfzh', 'general-4'), ('amount', 'general-1')]
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from datacompact.catalog import _grading_rules as _rules
from datacompact.catalog._grading_rules import (
    Category,
    Grade,
    PersonalInfo,
    SensitiveCategory,
    canonical_pii_type,
    highest,
)
from datacompact.errors import InvalidInput, MalformedInput, UnknownField

__all__ = [
    "Category",
    "ColumnGrade",
    "ColumnSignal",
    "Grade",
    "GradeDecision",
    "GradeProposal",
    "HolderRule",
    "PersonalInfo",
    "Reason",
    "SensitiveCategory",
    "canonical_pii_type",
    "confirm",
    "override",
    "propose",
]


def _tag_set(tags: Collection[str]) -> frozenset[str]:
    # A bare string is one tag, not a collection of one-letter tags.
    return frozenset(t.strip().lower() for t in ((tags,) if isinstance(tags, str) else tags))


@dataclass(frozen=True)
class Reason:
    """Why a rule raised a grade (or set a category), with the source it follows."""

    rule: str
    grade: Grade | None
    text: str
    source: str
    column: str | None = None
    #: For a detected PII type: the share of the column's values that carry it.
    share: float | None = None


@dataclass(frozen=True)
class ColumnSignal:
    """What profiling found in one column: PII type → share of matching values, and tags.

    ``in_text`` names the types found *inside* free text. Their detector has
    validated every token and applied its own minimum share, so they count at
    any share, not only from ``min_share``.
    """

    name: str
    pii_types: Mapping[str, float] = field(default_factory=dict)
    tags: Collection[str] = ()
    in_text: Collection[str] = ()

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("列名为空 / empty column name: expected a name, got blank text")
        for kind, share in self.pii_types.items():
            if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
                raise InvalidInput(
                    f"PII 占比无效 / invalid PII share for type '{kind}' in column "
                    f"'{self.name}': expected a number from 0 to 1, got another value"
                )
        object.__setattr__(self, "pii_types", MappingProxyType(dict(self.pii_types)))
        object.__setattr__(self, "tags", _tag_set(self.tags))
        object.__setattr__(self, "in_text", frozenset(self.in_text))


_RULE_FIELDS = frozenset(
    {"name", "at_least", "reason", "column_pattern", "tags", "pii_type", "sensitive"}
)


@dataclass(frozen=True)
class HolderRule:
    """A holder's rule: columns matching *all* given conditions are graded at least ``at_least``.

    Conditions are a column-name regular expression (searched, case-insensitive),
    tags (any one of them) and a PII type. A rule without a condition would
    match everything, so it is refused. ``sensitive`` also marks the matching
    columns as sensitive personal information of that kind.
    """

    name: str
    at_least: Grade
    reason: str
    column_pattern: str | None = None
    tags: Collection[str] = ()
    pii_type: str | None = None
    sensitive: SensitiveCategory | None = None

    def __post_init__(self) -> None:
        label = f"规则 / rule '{self.name}'"
        if not self.name.strip() or not self.reason.strip():
            raise InvalidInput(f"{label}: expected a name and a reason, got blank text")
        if self.column_pattern is None and not self.tags and self.pii_type is None:
            raise InvalidInput(
                f"{label} 没有匹配条件 / has no condition: expected column_pattern, tags or "
                "pii_type, got none (a rule may not match every column)"
            )
        if self.column_pattern is not None:
            try:
                re.compile(self.column_pattern)
            except re.error as exc:
                raise MalformedInput(
                    f"{label} 的正则表达式无效 / has an invalid column_pattern: expected a "
                    f"regular expression, got one that fails at position {exc.pos}"
                ) from exc
        object.__setattr__(self, "at_least", Grade(self.at_least))
        object.__setattr__(self, "tags", _tag_set(self.tags))
        if self.pii_type is not None:
            object.__setattr__(self, "pii_type", _rules.canonical_pii_type(self.pii_type))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HolderRule:
        """Build a rule from its declarative (JSON/YAML) form, rejecting unknown keys and values."""
        unknown = sorted(set(data) - _RULE_FIELDS)
        if unknown:
            raise UnknownField(
                f"规则含未知字段 / unknown rule fields: {', '.join(unknown)}",
                details={"fields": unknown},
            )
        try:
            return cls(
                name=str(data["name"]),
                at_least=Grade(data["at_least"]),
                reason=str(data["reason"]),
                column_pattern=data.get("column_pattern"),
                tags=tuple(data.get("tags", ())),
                pii_type=data.get("pii_type"),
                sensitive=SensitiveCategory(data["sensitive"]) if data.get("sensitive") else None,
            )
        except KeyError as exc:
            raise MalformedInput(
                f"规则缺少字段 / rule is missing a field: expected '{exc.args[0]}', got nothing"
            ) from exc
        except ValueError as exc:
            raise MalformedInput(
                "规则取值无效 / invalid rule value: expected a grade of "
                f"{', '.join(g.value for g in Grade)} and a PIPL art. 28 kind, got another value"
            ) from exc

    def matches(self, column: str, tags: frozenset[str], pii: Collection[str]) -> bool:
        if self.column_pattern is not None and not re.search(self.column_pattern, column, re.I):
            return False
        if self.tags and not (set(self.tags) & tags):
            return False
        return self.pii_type is None or self.pii_type in pii


@dataclass(frozen=True)
class ColumnGrade:
    """The proposed grade of one column with every reason that raised it."""

    name: str
    grade: Grade
    personal: PersonalInfo
    sensitive: frozenset[SensitiveCategory]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class GradeProposal:
    """The engine's proposal for a resource: the highest column grade, with its reasons."""

    category: Category
    grade: Grade
    personal: PersonalInfo
    sensitive: frozenset[SensitiveCategory]
    columns: tuple[ColumnGrade, ...]
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class GradeDecision:
    """A steward's decision on a proposal; ``overridden`` decisions carry their reason."""

    proposal: GradeProposal
    category: Category
    grade: Grade
    overridden: bool
    reason: str | None

    @property
    def lowered(self) -> bool:
        """True if the steward set a lower grade than the engine proposed."""
        return self.grade.rank < self.proposal.grade.rank


class _Column:
    """Mutable working state of one column while the rules run."""

    def __init__(self, signal: ColumnSignal, baseline: Grade, min_share: float) -> None:
        self.name = signal.name
        self.grade = baseline
        self.personal = False
        self.sensitive: set[SensitiveCategory] = set()
        self.reasons: list[Reason] = []
        # Type → (share, found inside free text), for the types that count.
        self.shares = {
            _rules.canonical_pii_type(k): (share, k in signal.in_text)
            for k, share in signal.pii_types.items()
            if share >= min_share or k in signal.in_text
        }
        self.pii = set(self.shares)

    def raise_to(
        self, grade: Grade, *, rule: str, text: str, source: str, share: float | None = None
    ) -> None:
        self.reasons.append(Reason(rule, grade, text, source, self.name, share))
        self.grade = highest((self.grade, grade))

    def freeze(self) -> ColumnGrade:
        if self.sensitive:
            flag = PersonalInfo.SENSITIVE_PERSONAL
        else:
            flag = PersonalInfo.PERSONAL if self.personal else PersonalInfo.NONE
        return ColumnGrade(
            self.name, self.grade, flag, frozenset(self.sensitive), tuple(self.reasons)
        )


def _apply_pii(col: _Column) -> None:
    for kind in sorted(col.pii):
        rule = _rules.PII_RULES.get(kind)
        if rule is None:
            # An unknown detector type is treated as personal: over-grading is the safe error.
            rule = _rules.PiiRule(True, 3, None, kind, _rules.PIPL_4)
        col.personal |= rule.personal
        if rule.sensitive is not None:
            col.sensitive.add(rule.sensitive)
        kind_zh = "敏感个人信息" if rule.sensitive else "个人信息" if rule.personal else "标识"
        share, in_text = col.shares[kind]
        zh, en = rule.label.split(" / ")[0], rule.label.split(" / ")[-1]
        if in_text:
            zh, en = (
                f"{zh}（文本中，{share:.1%} 的记录）",
                f"{en}, in free text, {share:.1%} of rows",
            )
        else:
            zh, en = f"{zh}（{share:.1%} 的值）", f"{en}, {share:.1%} of values"
        col.raise_to(
            Grade(f"general-{rule.level}"),
            rule=f"pii.{kind}",
            text=f"检测到{kind_zh}：{zh} / detected {en}",
            source=rule.source,
            share=share,
        )


def _apply_tags(col: _Column, tags: frozenset[str]) -> None:
    for tag in sorted(tags & _rules.TAG_RULES.keys()):
        rule = _rules.TAG_RULES[tag]
        col.raise_to(
            Grade(rule.grade),
            rule=f"tag.{tag}",
            text=f"领域标签 / domain tag: {rule.label}",
            source=rule.source,
        )
        if rule.sensitive is not None and col.personal:
            col.sensitive.add(rule.sensitive)


def propose(
    *,
    columns: Sequence[ColumnSignal],
    holder_category: Category,
    subjects: int | None = None,
    tags: Collection[str] = (),
    rules: Sequence[HolderRule] = (),
    min_share: float = 0.05,
    baseline: Grade = Grade.GENERAL_1,
) -> GradeProposal:
    """Propose column grades, the resource grade and the category, each with its reasons.

    ``subjects`` is the number of individuals the resource describes (e.g. its
    distinct resident IDs); ``tags`` are the resource's domain tags, applied to
    every column. PII types found in less than ``min_share`` of a column's
    values are ignored as detector noise.
    """
    if not columns:
        raise InvalidInput("没有列 / no columns: expected at least one column signal, got none")
    if not 0 < min_share <= 1:
        raise InvalidInput("min_share 无效 / invalid min_share: expected 0 < share <= 1")
    resource_tags = _tag_set(tags)
    state = [_Column(signal, Grade(baseline), min_share) for signal in columns]
    for col, signal in zip(state, columns, strict=True):
        _apply_pii(col)
        _apply_tags(col, resource_tags | frozenset(signal.tags))
        for rule in rules:
            if rule.matches(col.name, resource_tags | frozenset(signal.tags), col.pii):
                if rule.sensitive is not None:
                    col.personal = True
                    col.sensitive.add(rule.sensitive)
                col.raise_to(
                    rule.at_least,
                    rule=f"holder.{rule.name}",
                    text=rule.reason,
                    source=_rules.HOLDER,
                )
        if col.sensitive and col.grade.rank < Grade.GENERAL_4.rank:
            # Tags and holder rules may mark a column sensitive without raising it that far.
            kinds = ", ".join(sorted(k.value for k in col.sensitive))
            col.raise_to(
                Grade.GENERAL_4,
                rule="personal.sensitive",
                text=f"敏感个人信息 / sensitive personal information: {kinds}",
                source=_rules.PIPL_28,
            )
    if subjects is not None and subjects >= _rules.IMPORTANT_VOLUME:
        for col in state:
            if col.personal:
                col.raise_to(
                    Grade.IMPORTANT,
                    rule="volume.personal",
                    text="个人信息达100万人以上 / personal information on 1,000,000 or more people",
                    source=_rules.VOLUME,
                )
    frozen = tuple(col.freeze() for col in state)
    grade = highest([c.grade for c in frozen])
    sensitive = frozenset().union(*(c.sensitive for c in frozen))
    any_personal = any(c.personal is not PersonalInfo.NONE for c in frozen)
    if sensitive:
        personal = PersonalInfo.SENSITIVE_PERSONAL
    else:
        personal = PersonalInfo.PERSONAL if any_personal else PersonalInfo.NONE
    category = Category.PERSONAL if any_personal else Category(holder_category)
    category_reason = Reason(
        "category.personal" if any_personal else "category.holder",
        None,
        "含个人信息的列 / columns hold personal information"
        if any_personal
        else f"按持有方类别 / by the holder's category: {category.value}",
        _rules.GBT_43697_PERSONAL if any_personal else "GB/T 43697-2024 §5",
    )
    top = tuple(r for c in frozen if c.grade is grade for r in c.reasons if r.grade is grade)
    summary = Reason(
        "resource.highest_column",
        grade,
        f"资源级别取列的最高级别 / resource grade is the highest column grade: {grade.label_zh}",
        _rules.GBT_43697_FRAMEWORK,
    )
    return GradeProposal(
        category, grade, personal, sensitive, frozen, (category_reason, summary, *top)
    )


def confirm(proposal: GradeProposal) -> GradeDecision:
    """The steward accepts the proposal as it stands."""
    return GradeDecision(proposal, proposal.category, proposal.grade, False, None)


def override(
    proposal: GradeProposal,
    *,
    reason: str,
    grade: Grade | None = None,
    category: Category | None = None,
) -> GradeDecision:
    """The steward replaces the proposed grade and/or category; ``reason`` is required.

    A lowered grade is allowed (the steward knows things the engine does not)
    but :attr:`GradeDecision.lowered` says so, for the log and the regulator.
    """
    if not reason or not reason.strip():
        raise InvalidInput("改判须说明理由 / an override needs a reason: expected text, got blank")
    if grade is None and category is None:
        raise InvalidInput(
            "改判无内容 / empty override: expected a new grade or category, got neither"
        )
    return GradeDecision(
        proposal,
        Category(category) if category is not None else proposal.category,
        Grade(grade) if grade is not None else proposal.grade,
        True,
        reason.strip(),
    )

"""Output modes, their strictness order, and the default rules by grade.

An output mode says what may leave the sandbox:

* ``records``: rows of the granted columns, as they are;
* ``masked_records``: rows with every personal column masked (:mod:`._masks`);
* ``k_anonymous``: an extract from the privacy engine in which every record
  shares its quasi-identifiers with at least ``k - 1`` others;
* ``aggregates``: grouped aggregates, each group counting at least
  ``min_group_size`` distinct entities (small groups are suppressed);
* ``dp_aggregates``: the same with differential-privacy noise, paid for from
  the grant's privacy budget (:mod:`datacompact.privacy.dp`).

**Strictness.** Modes form a partial order, "at least as strict as"::

    records < masked_records < k_anonymous
                   masked_records < aggregates < dp_aggregates

``k_anonymous`` and the two aggregate modes are incomparable: a k-anonymous
extract is row-level, an aggregate is not, and neither reveals a subset of
what the other does. A full :class:`OutputSpec` adds its parameters: a larger
``min_group_size`` or ``k`` is stricter. Masks add a total order per column
(:class:`~datacompact.sandbox.grants.MaskKind`).

**Defaults by grade** (GB/T 43697-2024 §6.1). Each
grade has *floors*; a request is allowed when it is at least as strict as one
floor, so a grant may be stricter than the default but never looser:

=================  ===================================================  =========
grade              floors                                               masks
=================  ===================================================  =========
general-1, -2,     ``records``                                          no
open data
general-3, -4      ``masked_records``                                   yes
important          ``dp_aggregates`` (≥ 10 entities per group),         yes
                   ``k_anonymous`` (k ≥ 10)
core               ``dp_aggregates`` (≥ 10 entities per group), only    yes
                   when the regulator approved
=================  ===================================================  =========

Masks apply below every mode of a masked grade, aggregates included: the
sandbox masks the governed slice before the user's query sees it, so grouping
by a raw identifier cannot reveal it.

>>> c = effective_constraints(grade="important", requested=OutputSpec("dp_aggregates"))
>>> c.mode.value, c.min_group_size, c.noise, c.rule
('dp_aggregates', 10, True, 'grade.important')
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from datacompact.catalog.grading import Grade
from datacompact.errors import InvalidInput, MalformedInput, PolicyViolation
from datacompact.policy._masks import ColumnMask, column_masks, strictest_mask
from datacompact.policy._spec import (
    AGGREGATE_MODES,
    OutputMode,
    OutputSpec,
    at_least_as_strict,
    mode_at_least_as_strict,
)
from datacompact.sandbox.grants import MaskKind

__all__ = [
    "DEFAULT_K",
    "DEFAULT_MIN_GROUP_SIZE",
    "ColumnMask",
    "EffectiveConstraints",
    "GradeRule",
    "MaskKind",
    "OutputMode",
    "OutputSpec",
    "at_least_as_strict",
    "column_masks",
    "effective_constraints",
    "grade_rule",
    "mode_at_least_as_strict",
]

#: The minimum number of distinct entities per group for important data.
DEFAULT_MIN_GROUP_SIZE = 10
#: The k of k-anonymous extracts of important data. Chosen equal to the group
#: threshold: both bound how few entities one output row may describe.
DEFAULT_K = 10


@dataclass(frozen=True)
class GradeRule:
    """The default output rule of a grade: its floors, masks and approval need."""

    name: str
    floors: tuple[OutputSpec, ...]
    masked: bool
    needs_regulator: bool
    text: str


_LOW = GradeRule(
    "grade.general-low",
    (OutputSpec(OutputMode.RECORDS),),
    masked=False,
    needs_regulator=False,
    text="一般数据1–2级及开放数据：可输出记录 / general data 1–2 and open data: records",
)
_HIGH = GradeRule(
    "grade.general-high",
    (OutputSpec(OutputMode.MASKED_RECORDS),),
    masked=True,
    needs_regulator=False,
    text="一般数据3–4级：仅脱敏记录 / general data 3–4: masked records only",
)
_IMPORTANT = GradeRule(
    "grade.important",
    (
        OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=DEFAULT_MIN_GROUP_SIZE),
        OutputSpec(OutputMode.K_ANONYMOUS, k=DEFAULT_K),
    ),
    masked=True,
    needs_regulator=False,
    text=(
        f"重要数据：每组至少{DEFAULT_MIN_GROUP_SIZE}个实体并加差分隐私噪声的聚合，或 k≥{DEFAULT_K} "
        f"的 k-匿名数据 / important data: aggregates over at least {DEFAULT_MIN_GROUP_SIZE} "
        f"entities per group with DP noise, or k-anonymous extracts with k ≥ {DEFAULT_K}"
    ),
)
_CORE = GradeRule(
    "grade.core",
    (OutputSpec(OutputMode.DP_AGGREGATES, min_group_size=DEFAULT_MIN_GROUP_SIZE),),
    masked=True,
    needs_regulator=True,
    text=(
        "核心数据：仅限监管方批准的差分隐私聚合 / core data: nothing leaves except "
        "differentially private aggregates the regulator approved"
    ),
)


def _grade(value: object) -> Grade:
    if isinstance(value, Grade):
        return value
    if not isinstance(value, str):
        raise MalformedInput(
            f"级别格式错误 / malformed grade: expected text, got {type(value).__name__}"
        )
    try:
        return Grade(value)
    except ValueError:
        raise InvalidInput(
            f"未知级别 / unknown grade: expected one of {', '.join(g.value for g in Grade)}, "
            "got another value",
            details={"field": "grade"},
        ) from None


def grade_rule(grade: Grade | str, *, open_data: bool = False) -> GradeRule:
    """The default rule of ``grade``; open data is treated as general 1–2.

    Important and core data cannot be open data (GB/T 43697-2024 §6.1; DSL
    art. 21): the combination is refused rather than resolved either way.
    """
    g = _grade(grade)
    if g.tier != "general":
        if open_data:
            raise InvalidInput(
                f"开放数据不能是{g.label_zh} / open data cannot be graded {g.value}: "
                "expected a general grade, got a higher one",
                details={"field": "grade"},
            )
        return _CORE if g is Grade.CORE else _IMPORTANT
    if open_data or (g.level or 0) <= 2:
        return _LOW
    return _HIGH


def _floor_for(rule: GradeRule, mode: OutputMode) -> OutputSpec | None:
    """The floor a request in ``mode`` is measured against: the strictest one below it."""
    below = [f for f in rule.floors if mode_at_least_as_strict(mode, f.mode)]
    return max(below, key=lambda f: f.mode.depth) if below else None


@dataclass(frozen=True)
class EffectiveConstraints:
    """What the sandbox must enforce for one grant on one resource.

    ``min_group_size`` counts distinct entities, not rows, and applies to the
    aggregate modes; ``k`` applies to ``k_anonymous``; ``noise`` says that DP
    noise is added (and paid for from the budget). ``masks`` lists one mask per
    personal column, to apply below the user's query. ``rule`` names the grade
    rule that allowed the request.
    """

    grade: Grade
    mode: OutputMode
    min_group_size: int | None
    k: int | None
    noise: bool
    masks: tuple[ColumnMask, ...]
    rule: str
    regulator_approved: bool = False

    def spec(self) -> OutputSpec:
        return OutputSpec(self.mode, min_group_size=self.min_group_size, k=self.k)

    def mask_for(self, column: str) -> ColumnMask | None:
        return next((m for m in self.masks if m.column == column), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "grade": self.grade.value,
            "mode": self.mode.value,
            "min_group_size": self.min_group_size,
            "k": self.k,
            "noise": self.noise,
            "masks": [m.to_dict() for m in self.masks],
            "rule": self.rule,
            "regulator_approved": self.regulator_approved,
        }


def _violation(rule: str, message: str, **details: Any) -> PolicyViolation:
    return PolicyViolation(message, details={"rule": rule, **details})


def effective_constraints(
    *,
    grade: Grade | str,
    requested: OutputSpec,
    columns: Mapping[str, Collection[str]] | None = None,
    extra_masks: Mapping[str, MaskKind | str] | None = None,
    open_data: bool = False,
    regulator_approved: bool = False,
) -> EffectiveConstraints:
    """The constraints for ``requested`` on a resource of ``grade``, or :class:`PolicyViolation`.

    ``columns`` maps each granted column to its detected PII types; masks are
    derived from them for masked grades. ``extra_masks`` are a grant's own
    masks: each column gets the stricter of its default and the grant's.
    Unset parameters of ``requested`` take the floor's value; set ones must be
    at least as strict as the floor. The violation's ``details["rule"]``
    names the rule broken.
    """
    rule = grade_rule(grade, open_data=open_data)
    g = _grade(grade)
    floor = _floor_for(rule, requested.mode)
    if floor is None:
        allowed = ", ".join(f.describe() for f in rule.floors)
        raise _violation(
            rule.name,
            f"输出方式不允许 / output mode {requested.mode.value} is not allowed for "
            f"{g.value} data: expected at least as strict as {allowed} ({rule.text})",
            mode=requested.mode.value,
            grade=g.value,
        )
    if rule.needs_regulator and not regulator_approved:
        raise _violation(
            f"{rule.name}.regulator_approval",
            f"须监管方批准 / {g.value} data needs the regulator's approval: expected an "
            "approved grant, got none",
            grade=g.value,
        )
    resolved = requested.filled_from(floor)
    if not at_least_as_strict(resolved, floor):
        param = "min_group_size" if resolved.mode in AGGREGATE_MODES else "k"
        raise _violation(
            f"{rule.name}.{param}",
            f"参数低于默认要求 / {param} is looser than the {g.value} default: expected at "
            f"least {getattr(floor, param)}, got {getattr(resolved, param)}",
            parameter=param,
            floor=getattr(floor, param),
        )
    masks = column_masks(columns or {}) if rule.masked else ()
    if extra_masks:
        masks = _merge_masks(masks, extra_masks, columns or {})
    return EffectiveConstraints(
        grade=g,
        mode=resolved.mode,
        min_group_size=resolved.min_group_size,
        k=resolved.k,
        noise=resolved.mode is OutputMode.DP_AGGREGATES,
        masks=masks,
        rule=rule.name,
        regulator_approved=regulator_approved,
    )


def _merge_masks(
    defaults: tuple[ColumnMask, ...],
    extra: Mapping[str, MaskKind | str],
    columns: Mapping[str, Collection[str]],
) -> tuple[ColumnMask, ...]:
    by_column = {m.column: m for m in defaults}
    for column, kind in extra.items():
        if columns and column not in columns:
            raise InvalidInput(
                f"掩码列未授权 / mask on column {column}: expected a granted column, got another",
                details={"field": "masks", "column": column},
            )
        wanted = ColumnMask.of(column, kind)
        current = by_column.get(column)
        if current is not None and strictest_mask(current, wanted) is not wanted:
            raise _violation(
                f"mask.{column}",
                f"掩码低于默认要求 / the mask on column {column} is looser than the default: "
                f"expected {current.kind.value} or stricter, got {wanted.kind.value}",
                column=column,
            )
        if wanted.kind is not MaskKind.CLEAR:
            by_column[column] = wanted
    return tuple(by_column[c] for c in sorted(by_column))

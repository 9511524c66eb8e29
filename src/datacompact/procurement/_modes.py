"""Which cooperation mode a project may run in, and who approves the choice (paper §4.2).

The four modes of the paper: ``government_purchase`` (政府购买服务), ``ppp``,
``franchise`` (特许经营) and ``jv_platform`` (合资平台公司). The rules are a
frozen :class:`ModeRules` value; :data:`DEFAULT_RULES` holds the documented
defaults (docs/projects.md), and every service that applies them takes a
``rules`` keyword so a deployment can pass its own:

* a project that touches data graded ``important`` or above
  (``jv_required_from``), or classified work (``classified_requires_jv``),
  runs as ``jv_platform``, under the regulator's supervision;
* ``ppp`` only for non-sensitive projects: not classified, no data above
  ``ppp_max_grade`` (``general-2``) and no sensitive personal information;
* ``franchise`` only when every lot states its qualification levels
  (``franchise_requires_levels``);
* the governance mode's ``allowed_cooperation_modes`` bound the choice; every
  governance mode allows ``jv_platform`` (:mod:`datacompact.governance`), so a
  project on important or core data, or classified work, always has one
  lawful mode.

``separate_development_and_operations`` switches the separation rule of
:mod:`datacompact.procurement.lots` (开发与运维分离); it lives here so that all
procurement defaults sit in one value.

>>> facts = ProjectFacts(grade="core", classified=False, sensitive_personal=False)
>>> violations("ppp", facts=facts, allowed=MODES)[0][0]
'mode.jv_required'
>>> violations("jv_platform", facts=facts, allowed=MODES)
[]
"""

from __future__ import annotations

from dataclasses import dataclass

from datacompact.catalog.grading import Grade
from datacompact.errors import PolicyViolation
from datacompact.governance import COOPERATION_MODES

MODES = COOPERATION_MODES


@dataclass(frozen=True, slots=True)
class ModeRules:
    """Configurable procurement rules; the defaults are :data:`DEFAULT_RULES`."""

    #: Data at or above this grade makes ``jv_platform`` mandatory.
    jv_required_from: Grade = Grade.IMPORTANT
    #: Classified work (涉密) makes ``jv_platform`` mandatory.
    classified_requires_jv: bool = True
    #: ``ppp`` is allowed only when no linked data is graded above this.
    ppp_max_grade: Grade = Grade.GENERAL_2
    #: ``franchise`` needs every lot to state at least one qualification requirement.
    franchise_requires_levels: bool = True
    #: Development and O&M of one system never go to one supplier or group.
    separate_development_and_operations: bool = True


DEFAULT_RULES = ModeRules()


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What the rules look at: the project's grade and sensitivity, and its lots' terms."""

    grade: str | None
    classified: bool
    sensitive_personal: bool
    lots_without_levels: tuple[int, ...] = ()


def _rank(grade: str | None) -> int:
    return Grade(grade).rank if grade is not None else 0


def violations(
    mode: str, *, facts: ProjectFacts, allowed: tuple[str, ...], rules: ModeRules = DEFAULT_RULES
) -> list[tuple[str, str]]:
    """``(rule, bilingual reason)`` for every rule ``mode`` breaks; empty when it is allowed."""
    found: list[tuple[str, str]] = []
    if mode not in allowed:
        found.append(
            (
                "governance.mode_not_allowed",
                f"当前治理模式不允许合作模式 {mode} / the governance mode does not allow {mode}",
            )
        )
    needs_jv = _rank(facts.grade) >= rules.jv_required_from.rank or (
        rules.classified_requires_jv and facts.classified
    )
    if needs_jv and mode != "jv_platform":
        found.append(
            (
                "mode.jv_required",
                "涉及重要或核心数据或涉密的项目须采用合资平台公司模式并接受监管 / a project "
                "touching important or core data, or classified work, must run as jv_platform "
                "under regulator supervision",
            )
        )
    sensitive = (
        facts.classified
        or facts.sensitive_personal
        or _rank(facts.grade) > rules.ppp_max_grade.rank
    )
    if mode == "ppp" and sensitive:
        found.append(
            (
                "mode.ppp_sensitive",
                f"PPP 仅用于非敏感项目（不涉密、无敏感个人信息、数据不高于 {rules.ppp_max_grade}）"
                f" / ppp is for non-sensitive projects only (not classified, no sensitive "
                f"personal information, no data above {rules.ppp_max_grade})",
            )
        )
    if mode == "franchise" and rules.franchise_requires_levels and facts.lots_without_levels:
        found.append(
            (
                "mode.franchise_levels",
                "特许经营须为每个标段写明资质等级要求 / franchise needs stated qualification "
                "levels on every lot",
            )
        )
    return found


def check_mode(
    mode: str, *, facts: ProjectFacts, allowed: tuple[str, ...], rules: ModeRules = DEFAULT_RULES
) -> None:
    """Raise :class:`PolicyViolation` naming the first broken rule (all of them in details)."""
    found = violations(mode, facts=facts, allowed=allowed, rules=rules)
    if found:
        raise PolicyViolation(
            found[0][1],
            details={
                "rule": found[0][0],
                "rules": [rule for rule, _ in found],
                "mode": mode,
                "lot_ids": list(facts.lots_without_levels),
            },
        )

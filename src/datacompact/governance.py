"""Governance modes: who operates the platform and who approves what.

The paper the platform follows describes three ways of building digital
government; each is a :class:`GovernanceRules` value and the platform setting
``governance_mode`` picks one. ``docs/governance.md`` gives, for every rule,
the paper's sentence it comes from; ``tests/test_governance.py`` keeps the
page's table and :data:`RULES` in step.

- ``government_led`` (the Guizhou way): the government leads. The data bureau
  runs the platform, approves registrations, countersigns every grant and
  approves cooperation modes. It completes data storage and management by
  purchasing services and by setting up joint operating companies with
  enterprises, so ``jv_platform`` is one of its cooperation modes.
- ``jv_operated`` (the Guangdong way): a JV platform company, government
  majority-owned, operates the platform under the data bureau's supervision.
  The operator vets registrations, but the regulator still countersigns
  grants and approves cooperation modes, so the operator never decides alone
  on its own business.
- ``data_governance`` (the Shanghai way): the data bureau governs, an
  authorized operator runs the platform. The regulator approves
  registrations; grants need the holder, the operator and the regulator;
  cooperation modes are approved by the regulator.

One rule binds every mode: development work on classified or sensitive data
is carried out by a JV platform company under government supervision, so
every mode allows ``jv_platform`` (:data:`LAWFUL_SENSITIVE_MODE`); a mode
without it would leave no lawful way to run a project on important or core
data, and :class:`GovernanceRules` refuses to be built that way.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacompact.config import GovernanceMode

__all__ = ["COOPERATION_MODES", "LAWFUL_SENSITIVE_MODE", "RULES", "GovernanceRules", "rules_for"]

#: The paper's four cooperation modes, in the order the paper lists them.
COOPERATION_MODES = ("government_purchase", "ppp", "franchise", "jv_platform")
#: The one mode in which classified work or important and core data may be developed.
LAWFUL_SENSITIVE_MODE = "jv_platform"


@dataclass(frozen=True, slots=True)
class GovernanceRules:
    mode: GovernanceMode
    title: str
    operator_kinds: frozenset[str]
    registration_approvers: frozenset[str]
    grant_approvers: tuple[str, ...]
    cooperation_mode_approvers: frozenset[str]
    allowed_cooperation_modes: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = set(self.allowed_cooperation_modes) - set(COOPERATION_MODES)
        if unknown:
            raise ValueError(f"unknown cooperation modes: {sorted(unknown)}")
        if LAWFUL_SENSITIVE_MODE not in self.allowed_cooperation_modes:
            raise ValueError(
                f"{self.mode.value}: every governance mode must allow {LAWFUL_SENSITIVE_MODE}, "
                "the lawful way to develop on classified, important or core data"
            )

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "title": self.title,
            "operator_kinds": sorted(self.operator_kinds),
            "registration_approvers": sorted(self.registration_approvers),
            "grant_approvers": list(self.grant_approvers),
            "cooperation_mode_approvers": sorted(self.cooperation_mode_approvers),
            "allowed_cooperation_modes": list(self.allowed_cooperation_modes),
        }


RULES: dict[GovernanceMode, GovernanceRules] = {
    GovernanceMode.GOVERNMENT_LED: GovernanceRules(
        mode=GovernanceMode.GOVERNMENT_LED,
        title="政府主导型 / government-led (Guizhou)",
        operator_kinds=frozenset({"regulator"}),
        registration_approvers=frozenset({"regulator"}),
        grant_approvers=("holder", "regulator"),
        cooperation_mode_approvers=frozenset({"regulator"}),
        allowed_cooperation_modes=COOPERATION_MODES,
    ),
    GovernanceMode.JV_OPERATED: GovernanceRules(
        mode=GovernanceMode.JV_OPERATED,
        title="政企合资运营型 / JV-operated (Guangdong)",
        operator_kinds=frozenset({"jv_platform"}),
        registration_approvers=frozenset({"jv_platform"}),
        grant_approvers=("holder", "regulator"),
        cooperation_mode_approvers=frozenset({"regulator"}),
        allowed_cooperation_modes=COOPERATION_MODES,
    ),
    GovernanceMode.DATA_GOVERNANCE: GovernanceRules(
        mode=GovernanceMode.DATA_GOVERNANCE,
        title="数据治理型 / data governance (Shanghai)",
        operator_kinds=frozenset({"jv_platform", "enterprise"}),
        registration_approvers=frozenset({"regulator"}),
        grant_approvers=("holder", "operator", "regulator"),
        cooperation_mode_approvers=frozenset({"regulator"}),
        allowed_cooperation_modes=COOPERATION_MODES,
    ),
}


def rules_for(mode: GovernanceMode) -> GovernanceRules:
    return RULES[mode]

"""Governance modes: who operates the platform and who approves what.

There are three ways of building digital government (docs/governance.md). Each is a
:class:`GovernanceRules` value; the platform setting ``governance_mode`` picks
one. ``docs/governance.md`` explains them for users, and a test keeps the two
in step.

- ``government_led`` (the Guizhou way): the data bureau runs the platform
  itself. The regulator approves registrations, countersigns every grant and
  chooses cooperation modes; JV platform companies are not used.
- ``jv_operated`` (the Guangdong way): a JV platform company, government
  majority-owned, operates the platform under the data bureau's supervision.
  The operator vets registrations, but the regulator still countersigns
  grants and approves cooperation modes, so the operator never decides alone
  on its own business.
- ``data_governance`` (the Shanghai way): the data bureau governs, an
  authorized operator runs the platform. The regulator approves
  registrations; grants need the holder, the operator and the regulator;
  cooperation modes are approved by the regulator.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacompact.config import GovernanceMode


@dataclass(frozen=True, slots=True)
class GovernanceRules:
    mode: GovernanceMode
    title: str
    operator_kinds: frozenset[str]
    registration_approvers: frozenset[str]
    grant_approvers: tuple[str, ...]
    cooperation_mode_approvers: frozenset[str]
    allowed_cooperation_modes: tuple[str, ...]

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
        allowed_cooperation_modes=("government_purchase", "ppp", "franchise"),
    ),
    GovernanceMode.JV_OPERATED: GovernanceRules(
        mode=GovernanceMode.JV_OPERATED,
        title="政企合资运营型 / JV-operated (Guangdong)",
        operator_kinds=frozenset({"jv_platform"}),
        registration_approvers=frozenset({"jv_platform"}),
        grant_approvers=("holder", "regulator"),
        cooperation_mode_approvers=frozenset({"regulator"}),
        allowed_cooperation_modes=("government_purchase", "ppp", "franchise", "jv_platform"),
    ),
    GovernanceMode.DATA_GOVERNANCE: GovernanceRules(
        mode=GovernanceMode.DATA_GOVERNANCE,
        title="数据治理型 / data governance (Shanghai)",
        operator_kinds=frozenset({"jv_platform", "enterprise"}),
        registration_approvers=frozenset({"regulator"}),
        grant_approvers=("holder", "operator", "regulator"),
        cooperation_mode_approvers=frozenset({"regulator"}),
        allowed_cooperation_modes=("government_purchase", "ppp", "franchise", "jv_platform"),
    ),
}


def rules_for(mode: GovernanceMode) -> GovernanceRules:
    return RULES[mode]

"""The governance modes: the table in docs/governance.md, and the rule that binds every mode."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from datacompact.config import GovernanceMode
from datacompact.errors import PolicyViolation
from datacompact.governance import (
    COOPERATION_MODES,
    LAWFUL_SENSITIVE_MODE,
    RULES,
    rules_for,
)
from datacompact.procurement._modes import ProjectFacts, check_mode

DOC = Path(__file__).resolve().parents[1] / "docs" / "governance.md"
ROWS = {
    "operates the platform": "operator_kinds",
    "approves participant registrations": "registration_approvers",
    "approves grants": "grant_approvers",
    "approves cooperation modes": "cooperation_mode_approvers",
    "cooperation modes allowed": "allowed_cooperation_modes",
}


def _table() -> dict[str, list[str]]:
    """The rows of the page's mode table: rule → cells, one per mode, then the source."""
    rows: dict[str, list[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ROWS:
            rows[cells[0]] = cells[1:]
    return rows


def test_the_table_has_the_modes_in_order() -> None:
    lines = DOC.read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| rule"))
    assert all(f"`{m.value}`" in header for m in GovernanceMode)
    positions = [header.index(f"`{m.value}`") for m in GovernanceMode]
    assert positions == sorted(positions)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_the_table_matches_the_rules(row: str) -> None:
    cells = _table()[row]
    for index, mode in enumerate(GovernanceMode):
        value = rules_for(mode).to_dict()[ROWS[row]]
        assert isinstance(value, list)
        assert cells[index] == ", ".join(value), (row, mode.value)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_every_rule_cites_its_source(row: str) -> None:
    source = _table()[row][-1]
    anchors = [part.split("](#")[1].rstrip(")") for part in source.split(", ")]
    assert anchors
    text = DOC.read_text(encoding="utf-8")
    for anchor in anchors:
        assert f"### {anchor.upper()}\n" in text


@pytest.mark.parametrize("mode", list(GovernanceMode))
@pytest.mark.parametrize(
    "facts",
    [
        ProjectFacts(grade="core", classified=False, sensitive_personal=False),
        ProjectFacts(grade="important", classified=False, sensitive_personal=True),
        ProjectFacts(grade="general-1", classified=True, sensitive_personal=False),
    ],
    ids=["core", "important", "classified"],
)
def test_every_mode_has_a_lawful_way_to_develop_on_sensitive_data(
    mode: GovernanceMode, facts: ProjectFacts
) -> None:
    allowed = rules_for(mode).allowed_cooperation_modes
    check_mode(LAWFUL_SENSITIVE_MODE, facts=facts, allowed=allowed)
    for other in (m for m in allowed if m != LAWFUL_SENSITIVE_MODE):
        with pytest.raises(PolicyViolation) as caught:
            check_mode(other, facts=facts, allowed=allowed)
        assert "mode.jv_required" in caught.value.details["rules"]


def test_government_led_buys_services_and_sets_up_joint_operating_companies() -> None:
    rules = rules_for(GovernanceMode.GOVERNMENT_LED)
    assert {"government_purchase", "jv_platform"} <= set(rules.allowed_cooperation_modes)
    assert rules.operator_kinds == {"regulator"}
    assert "regulator" in rules.grant_approvers


@pytest.mark.parametrize("mode", list(GovernanceMode))
def test_the_regulator_supervises_in_every_mode(mode: GovernanceMode) -> None:
    rules = RULES[mode]
    assert rules.grant_approvers[-1] == "regulator"
    assert "regulator" in rules.cooperation_mode_approvers


def test_a_mode_without_jv_platform_cannot_be_built() -> None:
    rules = RULES[GovernanceMode.GOVERNMENT_LED]
    without = tuple(m for m in COOPERATION_MODES if m != LAWFUL_SENSITIVE_MODE)
    with pytest.raises(ValueError, match="jv_platform"):
        dataclasses.replace(rules, allowed_cooperation_modes=without)
    with pytest.raises(ValueError, match="unknown"):
        dataclasses.replace(rules, allowed_cooperation_modes=("barter", "jv_platform"))

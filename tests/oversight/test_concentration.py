"""Vendor concentration: HHI, top shares, alerts at their thresholds, lock-in."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from datacompact.errors import InvalidInput
from datacompact.oversight.concentration import Award, Concentration, alerts, concentration, lock_in
from datacompact.procurement.groups import ROLE_OF_CATEGORY
from datacompact.procurement.matching import LotCategory

D = Decimal
_ids = itertools.count(1)


def award(
    supplier: str,
    value: str,
    *,
    group: str | None = None,
    owner: str = "o1",
    domain: str = "health",
    system: str | None = "his",
    category: LotCategory = "module_development",
) -> Award:
    return Award(
        award_id=f"A{next(_ids)}",
        supplier_id=supplier,
        group_id=group or supplier,
        owner_id=owner,
        domain=domain,
        value=D(value),
        system_id=system,
        lot_category=category,
    )


def market(*values: str) -> Concentration:
    [result] = concentration([award(f"s{i}", v) for i, v in enumerate(values)], by="city")
    return result


# -- HHI and top shares --------------------------------------------------------------


def test_monopoly() -> None:
    c = market("1000000.00")
    assert (c.hhi, c.top1_share, c.top3_share) == (D("10000.00"), D("1.0000"), D("1.0000"))
    assert c.scope == "city"
    assert c.key == "city"
    assert c.total_value == D("1000000.00")


def test_four_equal_firms() -> None:
    c = market("250", "250", "250", "250")
    assert (c.hhi, c.top1_share, c.top3_share) == (D("2500.00"), D("0.2500"), D("0.7500"))


def test_textbook_example() -> None:
    # US DOJ, "Herfindahl-Hirschman Index": shares of 30, 30, 20 and 20 percent give 2,600.
    c = market("300", "300", "200", "200")
    assert c.hhi == D("2600.00")
    assert (c.top1_share, c.top3_share) == (D("0.3000"), D("0.8000"))


def test_shares_are_sorted_and_rounded_half_even() -> None:
    c = market("1", "1", "1")
    assert c.hhi == D("3333.33")
    assert [s.share for s in c.suppliers] == [D("0.3333")] * 3
    c = market("10", "40", "5", "30", "15")
    assert [s.supplier_id for s in c.suppliers] == ["s1", "s3", "s4", "s0", "s2"]
    assert (c.top1_share, c.top3_share) == (D("0.4000"), D("0.8500"))
    assert c.hhi == D("2850.00")  # 1600 + 900 + 225 + 100 + 25


def test_one_supplier_with_several_awards_is_one_firm() -> None:
    c = market("100", "300")
    [c2] = concentration([award("s", "100"), award("s", "300")], by="city")
    assert c.hhi == D("6250.00")
    assert c2.hhi == D("10000.00")
    assert c2.suppliers[0].value == D("400")


def test_per_owner_and_per_domain() -> None:
    awards = [
        award("s1", "600", owner="health-bureau", domain="health"),
        award("s2", "400", owner="health-bureau", domain="health"),
        award("s1", "500", owner="transport-bureau", domain="transport"),
        award("s3", "500", owner="transport-bureau", domain="health"),
    ]
    by_owner = concentration(awards, by="owner")
    assert [(c.scope, c.key, c.total_value, c.hhi) for c in by_owner] == [
        ("owner", "health-bureau", D("1000"), D("5200.00")),
        ("owner", "transport-bureau", D("1000"), D("5000.00")),
    ]
    by_domain = concentration(awards, by="domain")
    assert [(c.key, c.total_value, c.top1_share) for c in by_domain] == [
        ("health", D("1500"), D("0.4000")),
        ("transport", D("500"), D("1.0000")),
    ]
    [city] = concentration(awards, by="city")
    assert city.total_value == D("2000")
    assert city.top1_share == D("0.5500")


def test_a_group_counts_as_one_firm_unless_asked_per_supplier() -> None:
    awards = [award("sub-a", "500", group="g"), award("sub-b", "500", group="g")]
    [grouped] = concentration(awards, by="city")
    [separate] = concentration(awards, by="city", unit="supplier")
    assert grouped.hhi == D("10000.00")
    assert grouped.suppliers[0].supplier_id == "g"
    assert separate.hhi == D("5000.00")
    assert separate.unit == "supplier"


def test_empty_input_and_zero_total() -> None:
    assert concentration([], by="owner") == []
    assert alerts([]) == []
    assert lock_in([]) == []
    [c] = concentration([award("s1", "0"), award("s2", "0.00")], by="city")
    assert (c.total_value, c.hhi, c.top1_share, c.top3_share) == (D("0"), D("0"), D("0"), D("0"))
    assert alerts([c]) == []


# -- alerts --------------------------------------------------------------------------


def test_share_exactly_at_the_limit_does_not_alert() -> None:
    assert [a.kind for a in alerts([market("300", "300", "200", "200")])] == ["hhi"]
    over = alerts([market("3001", "2999", "2000", "2000")])
    assert [(a.kind, a.supplier_id) for a in over] == [("supplier_share", "s0"), ("hhi", None)]
    assert over[0].value == D("0.3001")
    assert over[0].threshold == D("0.30")


def test_hhi_exactly_at_the_threshold_does_not_alert() -> None:
    assert alerts([market("250", "250", "250", "250")]) == []
    assert alerts([market("1", "1", "1")], max_share=D("0.34"), hhi_threshold=D("3333.34")) == []
    # The display rounds 3333.333… to 3333.33; the comparison uses the exact value.
    [alert] = alerts([market("1", "1", "1")], max_share=D("0.34"), hhi_threshold=D("3333.33"))
    assert alert.kind == "hhi"
    assert alert.value == D("3333.33")


def test_alert_thresholds_are_configurable() -> None:
    c = market("45", "35", "20")
    assert [a.supplier_id for a in alerts([c], max_share=D("0.50"))] == [None]
    assert [a.supplier_id for a in alerts([c], max_share=D("0.20"), hhi_threshold=D("10000"))] == [
        "s0",
        "s1",
    ]


def test_alert_messages_name_the_scope_in_both_languages() -> None:
    awards = [award("s1", "900", owner="health-bureau"), award("s2", "100", owner="health-bureau")]
    share, hhi = alerts(concentration(awards, by="owner"))
    assert share.message == (
        "供应商 s1 在业主 health-bureau 的授予金额中占 90.00%，超过上限 30%"
        " / supplier s1 holds 90.00% of awarded value in owner health-bureau, above the 30% limit"
    )
    assert hhi.message == (
        "业主 health-bureau 的 HHI 为 8200.00，超过 2500，高度集中"
        " / HHI 8200.00 in owner health-bureau is above 2500: highly concentrated"
    )
    [city_hhi] = [a for a in alerts(concentration(awards, by="city")) if a.kind == "hhi"]
    assert city_hhi.message.startswith("全市的 HHI 为")
    assert "city-wide" in city_hhi.message


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_share": D("0")}, "max_share"),
        ({"max_share": D("1.5")}, "max_share"),
        ({"max_share": 0.3}, "max_share"),
        ({"hhi_threshold": D("-1")}, "hhi_threshold"),
        ({"hhi_threshold": D("10001")}, "hhi_threshold"),
        ({"hhi_threshold": D("NaN")}, "hhi_threshold"),
    ],
)
def test_bad_alert_thresholds(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        alerts([market("1")], **options)
    assert caught.value.details == {"field": field}


# -- lock-in -------------------------------------------------------------------------


def test_one_supplier_holding_all_three_roles_is_locked_in() -> None:
    awards = [
        award("s1", "100", category="module_development"),
        award("s1", "50", category="operations"),
        award("s1", "30", category="data_services"),
        award("s2", "20", category="security_assessment"),
    ]
    [risk] = lock_in(awards)
    assert (risk.system_id, risk.group_id, risk.suppliers) == ("his", "s1", ("s1",))
    assert risk.categories == ("data_services", "module_development", "operations")
    assert len(risk.award_ids) == 3
    assert "锁定风险" in risk.message
    assert "lock-in risk" in risk.message


def test_lock_in_through_two_subsidiaries_of_one_group() -> None:
    awards = [
        award("sub-a", "100", group="g", category="integration"),  # integration is development
        award("sub-b", "50", group="g", category="operations"),
        award("sub-b", "30", group="g", category="data_services"),
    ]
    [risk] = lock_in(awards)
    assert (risk.group_id, risk.suppliers) == ("g", ("sub-a", "sub-b"))


@pytest.mark.parametrize(
    "awards",
    [
        # Two roles only: no data hosting.
        [award("s1", "1", category="module_development"), award("s1", "1", category="operations")],
        # A security assessment holds no part of the system.
        [
            award("s1", "1", category="security_assessment"),
            award("s1", "1", category="operations"),
            award("s1", "1", category="data_services"),
        ],
        # Different groups share the roles.
        [
            award("s1", "1", category="module_development"),
            award("s2", "1", category="operations"),
            award("s1", "1", category="data_services"),
        ],
        # The same group across different systems.
        [
            award("s1", "1", system="his", category="module_development"),
            award("s1", "1", system="gis", category="operations"),
            award("s1", "1", system="gis", category="data_services"),
        ],
        # Awards tied to no system.
        [award("s1", "1", system=None, category=c) for c in ROLE_OF_CATEGORY],
    ],
)
def test_no_lock_in(awards: list[Award]) -> None:
    assert lock_in(awards) == []


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: award("s", "-0.01"), "value"),
        (lambda: award("s", "NaN"), "value"),
        (lambda: Award("A", "s", "s", "o", "d", 10, "sys", "operations"), "value"),  # type: ignore[arg-type]
        (lambda: award("s", "1", category="catering"), "lot_category"),  # type: ignore[arg-type]
        (lambda: concentration([award("s", "1")], by="region"), "by"),  # type: ignore[arg-type]
        (lambda: concentration([award("s", "1")], by="city", unit="x"), "unit"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_rejected(make: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make()
    assert caught.value.details == {"field": field}
    assert " / " in caught.value.message


def test_repeated_award_ids_are_rejected() -> None:
    a = award("s", "1")
    with pytest.raises(InvalidInput) as caught:
        concentration([a, a], by="city")
    assert caught.value.details == {"field": "award_id"}

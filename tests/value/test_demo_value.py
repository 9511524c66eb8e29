"""The demo city's operator: its price list, free and paid uses, and its permitted revenue."""

from __future__ import annotations

from datacompact.permissions import Principal
from datacompact.platform import Platform
from datacompact.value import metering, prices
from datacompact.value.metering import parse_period

from ._billing import metering_period


def test_the_demo_operator_has_a_price_list_and_free_and_paid_uses(city: Platform) -> None:
    anonymous = Principal.anonymous(city.settings.governance_mode)
    with city.db.read() as session:
        listed = prices.price_list(session=session, actor=anonymous)
        lines, _ = metering.meter(session, parse_period(metering_period()))
    assert {(i.code, i.ceiling, i.price) for i in listed} == {
        ("entity-query", "20.0000", "15.0000"),
        ("entity-api", "3.0000", "2.4000"),
        ("psi-match", "200.0000", "150.0000"),
    }
    assert len({i.operator_id for i in listed}) == 1
    paid = [line for line in lines if not line.free]
    free = [line for line in lines if line.free]
    # 12.5 and 7.25 thousand calls at 2.40, two PSI runs at 150: the lender pays; and
    # 15 for the one governed query its masked-records grant runs in the demo's shares.
    assert sorted(str(line.amount) for line in paid) == [
        "15.00",
        "150.00",
        "150.00",
        "17.40",
        "30.00",
    ]
    assert [str(line.amount) for line in free] == ["0.00"]

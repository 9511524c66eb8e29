"""The demo city's market: holders' shares, recomputable, and ratings with an answer."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from datacompact.config import GovernanceMode
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.store.models import Rating, RatingReply, ShareDistribution
from datacompact.value import contribution, ratings


def test_the_city_shares_revenue_among_holders_and_rates(city: Platform) -> None:
    with city.db.read() as session:
        (distribution,) = session.scalars(select(ShareDistribution)).all()
        holders = {line.holder_id for line in distribution.lines}
        assert len(holders) >= 2
        total = sum(Decimal(line.amount) for line in distribution.lines)
        assert total == Decimal(distribution.revenue)
        regulator = Principal(
            label="test",
            governance=GovernanceMode.DATA_GOVERNANCE,
            member_id=1,
            participant_id=distribution.created_by_id,
            participant_kind="regulator",
            roles=frozenset({Role.AUDITOR}),
        )
        checked = contribution.recompute(
            session=session, actor=regulator, distribution_id=distribution.id
        )
        assert checked.matches
        kinds = {r.kind for r in session.scalars(select(Rating))}
        assert kinds == {"data", "contractor"}
        assert session.scalar(select(RatingReply.id)) is not None
        data = session.scalars(select(Rating).where(Rating.kind == "data")).one()
        summary = ratings.resource_rating(
            session=session, actor=regulator, resource_id=data.resource_id or 0
        )
        assert summary.count == 1

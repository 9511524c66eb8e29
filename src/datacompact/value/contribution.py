"""Contribution-based shares: a product's revenue split among the holders of the data it used.

The regulator chooses each product's rule (:func:`set_share_rule`; Shapley by
default). The operator splits a period's revenue (:func:`distribute`): each use
is an executed query named by its id, with the revenue it brought. What the
use touched is read from the query's log event, never from the caller: the
resources (today the grant's one resource; a query over several lists them as
``resources``, each with its ``rows_scanned``, and may list ``supports``),
their holders from the catalog. The rule, every input and every share go into
the ``shares.distributed`` event, so :func:`recompute` (or anyone with the
payload and ``docs/value-shares.md``) gets the same fens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datacompact.decimals import parse_decimal
from datacompact.errors import Conflict, InvalidInput, NotFound
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import (
    Actions,
    PartyResource,
    Principal,
    Resource,
    authorize,
)
from datacompact.store.models import (
    Event,
    Grant,
    GrantQuery,
    Participant,
    ShareDistribution,
    ShareLine,
    ShareRuleVersion,
)
from datacompact.store.models import Resource as CatalogRow
from datacompact.value._split import (
    MAX_EXACT,
    MAX_RESOURCES,
    ShareRule,
    Split,
    Support,
    Touched,
    Use,
    UseShares,
    check_money,
    split_revenue,
)
from datacompact.value.schemas import (
    DistributionPublic,
    EarningPublic,
    EarningsPublic,
    RecomputedPublic,
    ShareLinePublic,
    ShareRulePublic,
)

__all__ = ["MAX_EXACT", "MAX_RESOURCES", "ShareRule", "Split", "Support", "Touched", "Use"]
__all__ += ["distribute", "get_distribution", "get_share_rule", "holder_earnings"]
__all__ += ["recompute", "set_share_rule", "split_revenue", "use_of_event"]


def _money(text: str, field: str) -> Decimal:
    try:
        return check_money(parse_decimal(text.strip(), places=2, max_digits=13), field)
    except ValueError as exc:
        raise InvalidInput(
            f"{field} 须为十进制金额 / expected {field} as decimal text such as '30.00', got {exc}",
            details={"field": field, "reason": "not_decimal"},
        ) from exc


def _regulators(session: Session) -> frozenset[int]:
    ids = session.scalars(
        select(Participant.id).where(
            Participant.kind == "regulator", Participant.status == "approved"
        )
    )
    return frozenset(ids)


def _weights_of(raw: Mapping[str, str]) -> dict[int, Decimal]:
    weights: dict[int, Decimal] = {}
    for key, text in raw.items():
        if not key.isascii() or not key.isdigit() or int(key) < 1:
            raise InvalidInput(
                "权重须以资源编号为键 / expected weights keyed by resource id, got another key",
                details={"field": "weights"},
            )
        try:
            value = parse_decimal(text.strip(), places=6, max_digits=9)
        except ValueError as exc:
            raise InvalidInput(
                f"权重须为十进制数 / expected a weight as decimal text, got {exc}",
                details={"field": "weights"},
            ) from exc
        if value <= 0:
            raise InvalidInput(
                "权重须大于零 / expected every weight > 0", details={"field": "weights"}
            )
        weights[int(key)] = value
    return weights


def _rule_view(product: str, row: ShareRuleVersion | None) -> ShareRulePublic:
    if row is None:
        return ShareRulePublic(
            product=product, rule="shapley", version=None, weights={}, log_index=None
        )
    return ShareRulePublic(
        product=row.product,
        rule=ShareRule(row.rule).value,
        version=row.version,
        weights=dict(row.weights),
        log_index=row.log_index,
    )


def _rule_in_force(session: Session, product: str) -> ShareRuleVersion | None:
    return session.scalars(
        select(ShareRuleVersion)
        .where(ShareRuleVersion.product == product)
        .order_by(ShareRuleVersion.version.desc())
        .limit(1)
    ).first()


def set_share_rule(
    *,
    session: Session,
    actor: Principal,
    product: str,
    rule: str,
    weights: Mapping[str, str] | None = None,
) -> Recorded[ShareRulePublic]:
    """The regulator sets a product's share rule: a new version, logged; the old ones stay."""
    authorize(
        actor=actor,
        action=Actions.SHARE_RULE_SET,
        resource=PartyResource(reviewers=_regulators(session)),
    )
    chosen = ShareRule(rule)
    parsed = _weights_of(weights or {})
    if chosen is ShareRule.WEIGHTS and not parsed:
        raise InvalidInput(
            "按权重分配须给出权重 / expected weights for rule 'weights', got none",
            details={"field": "weights"},
        )
    if chosen is not ShareRule.WEIGHTS and parsed:
        raise InvalidInput(
            "只有按权重分配才需要权重 / expected no weights except for rule 'weights'",
            details={"field": "weights"},
        )
    known = set(session.scalars(select(CatalogRow.id).where(CatalogRow.id.in_(parsed))))
    if set(parsed) - known:
        raise NotFound(
            "权重所指资源不存在 / a weighted resource does not exist",
            details={"resource_ids": sorted(set(parsed) - known)[:20]},
        )
    current = _rule_in_force(session, product)
    row = ShareRuleVersion(
        product=product,
        version=(current.version if current else 0) + 1,
        rule=chosen.value,
        weights={str(k): str(v) for k, v in sorted(parsed.items())},
        set_by_id=actor.participant_id,
    )
    session.add(row)
    session.flush()
    payload = {"product": product, "version": row.version, "rule": row.rule}
    payload["weights"] = row.weights
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.SHARE_RULE_SET, "share_rule", row.id, payload)],
    )
    row.log_index = event.seq
    return Recorded(_rule_view(product, row), event.seq)


def get_share_rule(*, session: Session, actor: Principal, product: str) -> ShareRulePublic:
    """The rule in force for a product; Shapley (version None) when none was set."""
    authorize(actor=actor, action=Actions.SHARE_RULE_READ, resource=Resource())
    return _rule_view(product, _rule_in_force(session, product))


def use_of_event(
    use_id: str,
    revenue: Decimal,
    payload: Mapping[str, Any],
    grant: Grant,
    holders: Mapping[int, int],
) -> Use:
    """The use a query event describes.

    A query over several resources lists them as ``resources`` (each
    ``{"resource_id", "rows_scanned"}``) and may list ``supports`` (each
    ``{"resources": [ids], "rows"}``); a query under a one-resource grant is
    that resource with the event's ``rows_scanned``. A query under a joint
    grant names what it read as ``inputs`` (the resources of the join, with
    their versions and no per-resource counts), so its resources share alike
    unless the rule says otherwise.
    """
    listed = payload.get("resources") or payload.get("inputs")
    if isinstance(listed, list) and listed:
        touched = tuple(
            Touched(
                int(r["resource_id"]),
                holders[int(r["resource_id"])],
                int(r.get("rows_scanned", 0)),
            )
            for r in listed
        )
    else:
        touched = (
            Touched(
                grant.resource_id, holders[grant.resource_id], int(payload.get("rows_scanned", 0))
            ),
        )
    supports = tuple(
        Support(frozenset(int(x) for x in s["resources"]), int(s["rows"]))
        for s in payload.get("supports") or ()
    )
    return Use(use_id, revenue, touched, supports)


def _uses(session: Session, uses: Sequence[tuple[int, str]]) -> list[Use]:
    ids = [query_id for query_id, _ in uses]
    if len(set(ids)) != len(ids):
        raise InvalidInput(
            "同一查询重复计费 / expected each query once, got a repeated query",
            details={"field": "uses"},
        )
    rows = {
        q.id: q
        for q in session.scalars(select(GrantQuery).where(GrantQuery.id.in_(ids)))
        if q.status == "executed" and q.log_index is not None
    }
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(
            "查询不存在或未执行 / no executed query with these ids",
            details={"query_ids": missing[:20]},
        )
    grants = {
        g.id: g
        for g in session.scalars(
            select(Grant).where(Grant.id.in_({q.grant_id for q in rows.values()}))
        )
    }
    payloads: dict[int, dict[str, Any]] = dict(
        session.execute(
            select(Event.seq, Event.payload).where(
                Event.seq.in_([q.log_index for q in rows.values()])
            )
        ).all()
    )
    wanted = {g.resource_id for g in grants.values()} | {
        int(r["resource_id"])
        for p in payloads.values()
        for r in (p.get("resources") or [])
        if isinstance(r, dict)
    }
    holders = dict(
        session.execute(
            select(CatalogRow.id, CatalogRow.holder_id).where(CatalogRow.id.in_(wanted))
        ).all()
    )
    out = []
    for query_id, revenue_text in uses:
        row = rows[query_id]
        revenue = _money(revenue_text, "revenue")
        out.append(
            use_of_event(
                f"query:{query_id}",
                revenue,
                payloads[row.log_index or 0],
                grants[row.grant_id],
                holders,
            )
        )
    return out


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _use_payload(shares: UseShares) -> dict[str, Any]:
    """A use as logged: what it touched, and its exact fractions and fens per resource."""
    use = shares.use
    return {
        "use": use.use_id,
        "revenue": str(use.revenue),
        "resources": [
            {"resource_id": t.resource_id, "holder_id": t.holder_id, "rows_scanned": t.rows_scanned}
            for t in use.touched
        ],
        "supports": [{"resources": sorted(s.resources), "rows": s.rows} for s in use.supports],
        "fractions": shares.parts.texts(),
        "amounts": {str(r): str(a) for r, a in sorted(shares.amounts.items())},
    }


def _distribution_view(row: ShareDistribution) -> DistributionPublic:
    return DistributionPublic(
        id=row.id,
        product=row.product,
        period=row.period,
        rule=ShareRule(row.rule).value,
        rule_version=row.rule_version,
        revenue=row.revenue,
        uses=row.uses,
        lines=[
            ShareLinePublic(
                resource_id=line.resource_id,
                holder_id=line.holder_id,
                amount=line.amount,
                uses=line.uses,
            )
            for line in row.lines
        ],
        log_index=row.log_index,
        created_at=row.created_at,
    )


def distribute(
    *,
    session: Session,
    actor: Principal,
    product: str,
    period: str,
    uses: Sequence[tuple[int, str]],
) -> Recorded[DistributionPublic]:
    """Split a product's revenue of one period among the resources its uses touched.

    ``uses`` pairs an executed query's id with the revenue it brought (decimal
    text). One distribution per product and period.
    """
    authorize(actor=actor, action=Actions.SHARES_DISTRIBUTE, resource=Resource())
    taken = session.scalar(
        select(func.count())
        .select_from(ShareDistribution)
        .where(ShareDistribution.product == product, ShareDistribution.period == period)
    )
    if taken:
        raise Conflict(
            "该产品本期收益已分配 / this product's revenue for the period is already shared",
            details={"product": product, "period": period},
        )
    rule_row = _rule_in_force(session, product)
    rule = ShareRule(rule_row.rule) if rule_row else ShareRule.SHAPLEY
    weights = _weights_of(rule_row.weights) if rule_row else None
    listed = _uses(session, uses)
    split = split_revenue(listed, rule, weights)
    row = ShareDistribution(
        product=product,
        period=period,
        rule=rule.value,
        rule_version=rule_row.version if rule_row else None,
        revenue=str(split.revenue),
        uses=len(listed),
        created_by_id=actor.participant_id,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "该产品本期收益已分配 / this product's revenue for the period is already shared",
            details={"product": product, "period": period},
        ) from exc
    for resource_id in sorted(split.amounts):
        session.add(
            ShareLine(
                distribution_id=row.id,
                resource_id=resource_id,
                holder_id=split.holders[resource_id],
                amount=str(split.amounts[resource_id]),
                uses=split.uses[resource_id],
            )
        )
    session.flush()
    payload: dict[str, Any] = {
        "product": product,
        "period": period,
        "rule": rule.value,
        "rule_version": row.rule_version,
        "weights": {str(k): str(v) for k, v in sorted((weights or {}).items())},
        "revenue": row.revenue,
        "uses": [_use_payload(u) for u in split.per_use],
        "shares": [
            {"resource_id": r, "holder_id": split.holders[r], "amount": str(split.amounts[r])}
            for r in sorted(split.amounts)
        ],
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.SHARES_DISTRIBUTED, "share_distribution", row.id, payload)],
    )
    row.log_index = event.seq
    session.flush()
    session.expire(row, ["lines"])
    return Recorded(_distribution_view(row), event.seq)


def _load_distribution(session: Session, distribution_id: int) -> ShareDistribution:
    row = session.get(ShareDistribution, distribution_id)
    if row is None:
        raise NotFound(
            "收益分配不存在 / distribution not found",
            details={"distribution_id": distribution_id},
        )
    return row


def _distribution_ref(row: ShareDistribution) -> PartyResource:
    return PartyResource(
        participant_id=row.created_by_id, parties=frozenset(line.holder_id for line in row.lines)
    )


def get_distribution(
    *, session: Session, actor: Principal, distribution_id: int
) -> DistributionPublic:
    """A distribution, for its operator, the holders it pays and the regulator."""
    row = _load_distribution(session, distribution_id)
    authorize(actor=actor, action=Actions.EARNINGS_READ, resource=_distribution_ref(row))
    return _distribution_view(row)


def recompute(*, session: Session, actor: Principal, distribution_id: int) -> RecomputedPublic:
    """Recompute a distribution from its logged inputs only, and compare with what was stored."""
    row = _load_distribution(session, distribution_id)
    authorize(actor=actor, action=Actions.EARNINGS_READ, resource=_distribution_ref(row))
    event = session.get(Event, row.log_index) if row.log_index is not None else None
    if event is None:
        raise NotFound("分配记录缺失 / the distribution's event is missing")
    payload = event.payload
    uses = [
        Use(
            u["use"],
            Decimal(u["revenue"]),
            tuple(
                Touched(r["resource_id"], r["holder_id"], r["rows_scanned"]) for r in u["resources"]
            ),
            tuple(Support(frozenset(s["resources"]), s["rows"]) for s in u["supports"]),
        )
        for u in payload["uses"]
    ]
    weights = {int(k): Decimal(v) for k, v in payload["weights"].items()}
    split = split_revenue(uses, ShareRule(payload["rule"]), weights)
    lines = [
        ShareLinePublic(
            resource_id=r,
            holder_id=split.holders[r],
            amount=str(split.amounts[r]),
            uses=split.uses[r],
        )
        for r in sorted(split.amounts)
    ]
    logged_uses = {u["use"]: u for u in payload["uses"]}
    stored = {line.resource_id: line.amount for line in row.lines}
    mismatch = next(
        (line.resource_id for line in lines if stored.get(line.resource_id) != line.amount), None
    )
    if mismatch is None:
        mismatch = next(iter(sorted(set(stored) - set(split.amounts))), None)
    first_use = next(
        (
            shares.use.use_id
            for shares in split.per_use
            if logged_uses[shares.use.use_id]["amounts"]
            != {str(r): str(a) for r, a in sorted(shares.amounts.items())}
        ),
        None,
    )
    return RecomputedPublic(
        distribution_id=row.id,
        matches=mismatch is None and first_use is None,
        lines=lines,
        first_mismatch=mismatch,
        first_mismatched_use=first_use,
    )


def holder_earnings(*, session: Session, actor: Principal, holder_id: int) -> EarningsPublic:
    """A holder's earnings per resource: the total and each distribution's line."""
    authorize(
        actor=actor, action=Actions.EARNINGS_READ, resource=PartyResource(participant_id=holder_id)
    )
    rows = session.execute(
        select(ShareLine, ShareDistribution)
        .join(ShareDistribution, ShareDistribution.id == ShareLine.distribution_id)
        .where(ShareLine.holder_id == holder_id)
        .order_by(ShareLine.resource_id, ShareDistribution.id)
    ).all()
    per: dict[int, list[dict[str, str | int]]] = defaultdict(list)
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for line, dist in rows:
        per[line.resource_id].append(
            {
                "distribution_id": dist.id,
                "product": dist.product,
                "period": dist.period,
                "rule": dist.rule,
                "amount": line.amount,
                "uses": line.uses,
            }
        )
        totals[line.resource_id] += Decimal(line.amount)
    resources = [
        EarningPublic(resource_id=r, total=str(totals[r]), distributions=per[r])
        for r in sorted(per)
    ]
    total = sum(totals.values(), Decimal("0.00"))
    return EarningsPublic(holder_id=holder_id, total=str(total), resources=resources)

"""Vendor concentration (数字利维坦): HHI, top shares, alerts and lock-in.

Paper §4.1 warns of the "digital Leviathan": one vendor that builds, runs and
hosts a city's systems until no one else can. This module measures it from
awards, as pure functions:

* :func:`concentration`: the Herfindahl–Hirschman index (HHI, the sum of
  squared shares in percent, 0–10,000) and the top-1 / top-3 shares of awarded
  value, city-wide, per owner or per domain. Firms under common control count
  as one (``unit="group"``), as competition law treats them.
* :func:`alerts`: a firm above ``max_share``, or an HHI above 2,500 (the
  "highly concentrated" line of the 2010 US Horizontal Merger Guidelines §5.3;
  the 2023 Merger Guidelines §2.1 use 1,800). Values exactly at a threshold
  do not alert.
* :func:`lock_in`: a system whose development, O&M and data hosting are all
  held by one group.

The caller fills :attr:`Award.group_id` with each supplier's ultimate
controller (:func:`datacompact.procurement.groups.controlling_groups`).

Shares and HHI are computed exactly (``Fraction``) and reported as ``Decimal``
rounded half-even: shares to 4 places, HHI to 2.

>>> from decimal import Decimal
>>> awards = [
...     Award("A1", "s1", "g1", "o1", "health", Decimal("600"), "his", "module_development"),
...     Award("A2", "s2", "s2", "o1", "health", Decimal("400"), "his", "operations"),
... ]
>>> [c] = concentration(awards, by="city")
>>> c.hhi, c.top1_share, c.top3_share
(Decimal('5200.00'), Decimal('0.6000'), Decimal('1.0000'))
>>> [(a.kind, a.supplier_id) for a in alerts([c])]
[('supplier_share', 'g1'), ('supplier_share', 's2'), ('hhi', None)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Literal, get_args

from datacompact.decimals import check_decimal
from datacompact.errors import InvalidInput
from datacompact.procurement.groups import ROLE_OF_CATEGORY
from datacompact.procurement.matching import LOT_CATEGORIES, LotCategory

__all__ = ["LOCK_IN_ROLES", "Alert", "Award", "Concentration", "LockIn", "SupplierShare"]
__all__ += ["alerts", "concentration", "lock_in"]

Scope = Literal["city", "owner", "domain"]
Unit = Literal["group", "supplier"]

LOCK_IN_ROLES = ("development", "operations", "data_hosting")

_SHARE = Decimal("0.0001")
_HHI = Decimal("0.01")
_ZH = {"city": "全市", "owner": "业主", "domain": "领域"}


def _decimal(value: Fraction, places: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        quotient = Decimal(value.numerator) / Decimal(value.denominator)
        return quotient.quantize(places, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Award:
    """An awarded lot. ``group_id`` is the supplier's ultimate controller (or itself)."""

    award_id: str
    supplier_id: str
    group_id: str
    owner_id: str
    domain: str
    value: Decimal  # CNY
    system_id: str | None
    lot_category: LotCategory

    def __post_init__(self) -> None:
        check_decimal(self.value, "value", 0, None)
        if self.lot_category not in LOT_CATEGORIES:
            raise InvalidInput(
                f"未知标段类别 / expected lot_category in {', '.join(LOT_CATEGORIES)}, got another value",
                details={"field": "lot_category"},
            )


@dataclass(frozen=True)
class SupplierShare:
    supplier_id: str  # the group id when measured with unit="group"
    value: Decimal
    share: Decimal  # 0–1


@dataclass(frozen=True)
class Concentration:
    """How concentrated one market (city, owner or domain) is. Zero total: all zeros."""

    scope: Scope
    key: str
    total_value: Decimal
    hhi: Decimal  # 0–10,000
    top1_share: Decimal
    top3_share: Decimal
    suppliers: tuple[SupplierShare, ...]  # largest first, ties by id
    unit: Unit = "group"
    #: How many awards the market holds: one award is always 100 % and HHI 10,000.
    awards: int = 0


@dataclass(frozen=True)
class Alert:
    kind: Literal["supplier_share", "hhi"]
    scope: Scope
    key: str
    supplier_id: str | None
    value: Decimal
    threshold: Decimal
    message: str


@dataclass(frozen=True)
class LockIn:
    """One group holds development, O&M and data hosting of one system."""

    system_id: str
    group_id: str
    categories: tuple[str, ...]
    award_ids: tuple[str, ...]
    suppliers: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"系统 {self.system_id} 的开发、运维与数据托管均由集团 {self.group_id} 承担，存在锁定风险"
            f" / system {self.system_id}: group {self.group_id} holds development, O&M and"
            " data hosting (lock-in risk)"
        )


def _hhi(values: Sequence[Decimal]) -> Fraction:
    total = sum((Fraction(v) for v in values), Fraction(0))
    if total == 0:
        return Fraction(0)
    return 10_000 * sum((Fraction(v) ** 2 for v in values), Fraction(0)) / total**2


def concentration(
    awards: Iterable[Award], *, by: Scope, unit: Unit = "group"
) -> list[Concentration]:
    """One :class:`Concentration` per market under ``by``, in key order (city: key "city")."""
    if by not in get_args(Scope):
        raise InvalidInput(
            "范围须为 city/owner/domain / expected by in city, owner, domain, got another value",
            details={"field": "by"},
        )
    if unit not in get_args(Unit):
        raise InvalidInput(
            "单位须为 group/supplier / expected unit in group, supplier, got another value",
            details={"field": "unit"},
        )
    markets: dict[str, dict[str, Decimal]] = {}
    counts: dict[str, int] = {}
    seen: set[str] = set()
    for a in awards:
        if a.award_id in seen:
            raise InvalidInput(
                "授予记录重复 / expected distinct award ids, got a repeated id",
                details={"field": "award_id"},
            )
        seen.add(a.award_id)
        key = {"city": "city", "owner": a.owner_id, "domain": a.domain}[by]
        firm = a.group_id if unit == "group" else a.supplier_id
        market = markets.setdefault(key, {})
        market[firm] = market.get(firm, Decimal(0)) + a.value
        counts[key] = counts.get(key, 0) + 1
    out = []
    for key, market in sorted(markets.items()):
        total = sum(market.values(), Decimal(0))
        ranked = sorted(market.items(), key=lambda kv: (-kv[1], kv[0]))
        shares = [Fraction(v) / Fraction(total) if total else Fraction(0) for _, v in ranked]
        out.append(
            Concentration(
                scope=by,
                key=key,
                total_value=total,
                hhi=_decimal(_hhi(list(market.values())), _HHI),
                top1_share=_decimal(shares[0], _SHARE),
                top3_share=_decimal(sum(shares[:3], Fraction(0)), _SHARE),
                suppliers=tuple(
                    SupplierShare(firm, v, _decimal(s, _SHARE))
                    for (firm, v), s in zip(ranked, shares, strict=True)
                ),
                unit=unit,
                awards=counts[key],
            )
        )
    return out


def alerts(
    concentrations: Iterable[Concentration],
    *,
    max_share: Decimal = Decimal("0.30"),
    hhi_threshold: Decimal = Decimal("2500"),
    min_awards: int = 2,
) -> list[Alert]:
    """Alerts for firms whose share exceeds ``max_share`` and markets whose HHI exceeds the threshold.

    Comparisons use the exact values, not the rounded ones on display. A
    market of fewer than ``min_awards`` awards does not alert: one contract is
    always 100 % and HHI 10,000, which says nothing about concentration
    (``min_awards=1`` alerts on it anyway). The city-wide market always alerts.
    """
    check_decimal(max_share, "max_share", 0, 1, strict=True)
    check_decimal(hhi_threshold, "hhi_threshold", 0, 10_000)
    out = []
    for c in concentrations:
        if c.scope != "city" and c.awards < min_awards:
            continue
        where_zh = _ZH["city"] if c.scope == "city" else f"{_ZH[c.scope]} {c.key} "
        where_en = "city-wide" if c.scope == "city" else f"in {c.scope} {c.key}"
        for s in c.suppliers:
            if c.total_value and Fraction(s.value) / Fraction(c.total_value) > max_share:
                out.append(
                    Alert(
                        kind="supplier_share",
                        scope=c.scope,
                        key=c.key,
                        supplier_id=s.supplier_id,
                        value=s.share,
                        threshold=max_share,
                        message=(
                            f"供应商 {s.supplier_id} 在{where_zh}的授予金额中占 {s.share:.2%}，超过上限 {max_share:.0%}"
                            f" / supplier {s.supplier_id} holds {s.share:.2%} of awarded value"
                            f" {where_en}, above the {max_share:.0%} limit"
                        ),
                    )
                )
        if _hhi([s.value for s in c.suppliers]) > hhi_threshold:
            out.append(
                Alert(
                    kind="hhi",
                    scope=c.scope,
                    key=c.key,
                    supplier_id=None,
                    value=c.hhi,
                    threshold=hhi_threshold,
                    message=(
                        f"{where_zh}的 HHI 为 {c.hhi}，超过 {hhi_threshold}，高度集中"
                        f" / HHI {c.hhi} {where_en} is above {hhi_threshold}: highly concentrated"
                    ),
                )
            )
    return out


def lock_in(awards: Iterable[Award]) -> list[LockIn]:
    """Systems whose development, O&M and data hosting one group holds, by system then group."""
    held: dict[tuple[str, str], list[Award]] = {}
    for a in awards:
        if a.system_id is not None and ROLE_OF_CATEGORY[a.lot_category] is not None:
            held.setdefault((a.system_id, a.group_id), []).append(a)
    return [
        LockIn(
            system_id=system,
            group_id=group,
            categories=tuple(sorted({a.lot_category for a in items})),
            award_ids=tuple(sorted(a.award_id for a in items)),
            suppliers=tuple(sorted({a.supplier_id for a in items})),
        )
        for (system, group), items in sorted(held.items())
        if {ROLE_OF_CATEGORY[a.lot_category] for a in items} >= set(LOCK_IN_ROLES)
    ]

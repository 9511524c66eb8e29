"""Bid evaluation (评标) and the committee's conflict-of-interest check.

The two methods of 政府采购货物和服务招标投标管理办法 (财政部令第87号):

* :func:`lowest_price` (最低评标价法, art. 54): among responsive bids the lowest
  evaluated price (评标价, after any SME price deduction) ranks first.
* :func:`comprehensive` (综合评分法, art. 55): 评标基准价 is the lowest
  responsive price and a bid's price part is ``benchmark / price × price
  weight``. Each other criterion is scored 0–100 by every committee member and
  averaged over all members (87号令 drops no highest or lowest score). The
  weighted parts are summed exactly and the total is rounded half-up to 2
  places; ``breakdown`` rounds each part, so it may be off by 0.01 in sum.

Ties follow arts. 54–55: equal totals rank by the lower price; bids equal on
total and price (on price alone, for the lowest-price method) are 并列. The
tender documents settle such a tie; here it is broken by bid id so the result
is deterministic, and the award's reasons say so.

>>> criteria = Criteria(price=30, technical=40, qualification=10, past_performance=10, sme_local=10)
>>> bids = [Bid("B1", "P1", 100), Bid("B2", "P2", 80)]
>>> sheets = [ScoreSheet("M1", "B1", 90, 80, 80, 80), ScoreSheet("M1", "B2", 70, 80, 80, 80)]
>>> result = comprehensive(bids, sheets, criteria=criteria)
>>> [(r.bid_id, str(r.total)) for r in result.ranking]
[('B1', '84.00'), ('B2', '82.00')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from itertools import combinations
from typing import Literal

from datacompact.errors import InvalidInput

CRITERIA = ("price", "technical", "qualification", "past_performance", "sme_local")
SCORED = CRITERIA[1:]  # scored by the committee; the price part is computed
#: 87号令 art. 60 puts no number on "明显低于" (abnormally low); 20 % below the
#: mean of the other bids is a common local rule, hence only a default.
DEFAULT_ABNORMAL_PERCENT = Decimal(20)
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


def _number(value: object, what: str, *, percent: bool = False) -> Decimal:
    # Floats are refused: binary fractions would make hand-checked totals drift.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput(
            f"{what} 须为整数或 Decimal / expected an int or Decimal {what}, got {type(value).__name__}",
            details={"field": what, "reason": "not_a_number"},
        )
    number = Decimal(value)
    if not number.is_finite() or (percent and not 0 <= number <= 100):
        zh, en = ("须在 0 到 100 之间", "from 0 to 100") if percent else ("须为有限数", "finite")
        raise InvalidInput(
            f"{what} {zh} / expected {what} {en}, got {number}",
            details={"field": what, "reason": "out_of_range"},
        )
    return number


@dataclass(frozen=True)
class Criteria:
    """Weights of the five criteria in points out of 100 (评分权重)."""

    price: Decimal | int
    technical: Decimal | int
    qualification: Decimal | int
    past_performance: Decimal | int
    sme_local: Decimal | int  # SME / local-enterprise preference

    def __post_init__(self) -> None:
        parts = (_number(getattr(self, n), f"{n} weight", percent=True) for n in CRITERIA)
        total = sum(parts, Decimal(0))
        if total != _HUNDRED:
            raise InvalidInput(
                f"评分权重之和必须为 100 / expected weights summing to 100, got {total}",
                details={"field": "weights", "reason": "weights_sum", "sum": str(total)},
            )

    @property
    def weights(self) -> Mapping[str, Decimal]:
        return {name: Decimal(getattr(self, name)) for name in CRITERIA}


@dataclass(frozen=True)
class Bid:
    """One bid for one lot; ``responsive`` is False when it failed 资格性/符合性审查."""

    bid_id: str
    bidder_id: str
    price: Decimal | int  # evaluated price (评标价), CNY
    responsive: bool = True

    def __post_init__(self) -> None:
        if _number(self.price, "price") <= 0:
            raise InvalidInput(
                "投标报价须为正数 / expected a positive bid price",
                details={"bid_id": self.bid_id, "reason": "non_positive_price"},
            )


@dataclass(frozen=True)
class ScoreSheet:
    """One member's 0–100 scores for one bid; ``None`` means not scored."""

    member_id: str
    bid_id: str
    technical: Decimal | int | None = None
    qualification: Decimal | int | None = None
    past_performance: Decimal | int | None = None
    sme_local: Decimal | int | None = None

    def __post_init__(self) -> None:
        for name in SCORED:
            if getattr(self, name) is not None:
                _number(getattr(self, name), f"{name} score", percent=True)


@dataclass(frozen=True)
class BidResult:
    """A responsive bid's place; ``breakdown`` holds its weighted points per criterion."""

    bid_id: str
    bidder_id: str
    price: Decimal
    rank: int
    total: Decimal | None  # None for the lowest-price method
    breakdown: Mapping[str, Decimal] = field(default_factory=dict)
    abnormally_low: bool = False


@dataclass(frozen=True)
class Award:
    """The first-ranked candidate (第一中标候选人) and the reasons, bilingual."""

    bid_id: str
    bidder_id: str
    total: Decimal | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Evaluation:
    """The ranking of the responsive bids, best first, and the award."""

    method: Literal["lowest_price", "comprehensive"]
    ranking: tuple[BidResult, ...]
    excluded: tuple[str, ...]  # ids of bids that were not responsive
    award: Award | None  # None when no bid was responsive
    benchmark_price: Decimal | None = None


def abnormally_low(
    bids: Iterable[Bid], *, percent: Decimal | int = DEFAULT_ABNORMAL_PERCENT
) -> frozenset[str]:
    """Responsive bids priced more than ``percent`` % below the mean of the *other* ones.

    87号令 art. 60 compares a price with 其他通过符合性审查投标人的报价. A flagged
    bid is not excluded: the committee asks the bidder for a written explanation.

    >>> sorted(abnormally_low([Bid("a", "x", 100), Bid("b", "y", 100), Bid("c", "z", 70)]))
    ['c']
    """
    factor = (_HUNDRED - _number(percent, "percent", percent=True)) / _HUNDRED
    prices = {bid.bid_id: Decimal(bid.price) for bid in bids if bid.responsive}
    if len(prices) < 2:
        return frozenset()
    total = sum(prices.values(), Decimal(0))
    return frozenset(
        bid_id
        for bid_id, price in prices.items()
        if price < (total - price) / (len(prices) - 1) * factor
    )


def _responsive(bids: Sequence[Bid]) -> tuple[list[Bid], tuple[str, ...]]:
    if len({bid.bid_id for bid in bids}) != len(bids):
        raise InvalidInput(
            "投标编号重复 / expected unique bid ids", details={"reason": "duplicate_bid"}
        )
    excluded = tuple(sorted(bid.bid_id for bid in bids if not bid.responsive))
    return [bid for bid in bids if bid.responsive], excluded


def _award(ranking: list[BidResult], head: tuple[str, str]) -> Award:
    def figure(r: BidResult) -> tuple[str, str]:
        if r.total is not None:
            return f"得 {r.total} 分", f"scored {r.total}"
        price = r.price.quantize(_CENT, ROUND_HALF_UP)
        return f"报价 {price} 元", f"at {price} CNY"

    first, notes = ranking[0], []
    zh, en = figure(first)
    main_zh, main_en = f"{head[0]}：{first.bid_id} {zh}", f"{head[1]}: bid {first.bid_id} {en}"
    if len(ranking) == 1:
        notes.append("仅一家有效投标，无第二名 / only one responsive bid, no runner-up")
    else:
        second = ranking[1]
        zh, en = figure(second)
        main_zh += f"，第二名 {second.bid_id} {zh}"
        main_en += f", runner-up {second.bid_id} {en}"
        if (second.total, second.price) == (first.total, first.price):
            notes.append(
                f"与 {second.bid_id} 并列，暂按投标编号排序，须按招标文件规则确定 / tied with bid {second.bid_id}: ordered by bid id until the tender's tie rule is applied"
            )
        elif first.total is not None and second.total == first.total:
            notes.append("得分相同，报价低者优先 / equal totals: the lower price ranks first")
    if first.abnormally_low:
        notes.append(
            "报价明显低于其他投标，须书面说明其合理性（87号令第六十条） / the price is abnormally low and needs a written explanation (MOF Order 87 art. 60)"
        )
    return Award(first.bid_id, first.bidder_id, first.total, (f"{main_zh} / {main_en}", *notes))


def lowest_price(
    bids: Sequence[Bid], *, abnormal_percent: Decimal | int = DEFAULT_ABNORMAL_PERCENT
) -> Evaluation:
    """最低评标价法 (87号令 art. 54): lowest responsive price first, equal prices by bid id.

    >>> lowest_price([Bid("B1", "P1", 120), Bid("B2", "P2", 100)]).award.reasons[0]
    '评标价最低：B2 报价 100.00 元，第二名 B1 报价 120.00 元 / lowest evaluated price: bid B2 at 100.00 CNY, runner-up B1 at 120.00 CNY'
    """
    valid, excluded = _responsive(bids)
    flagged = abnormally_low(valid, percent=abnormal_percent)
    ordered = sorted(valid, key=lambda bid: (Decimal(bid.price), bid.bid_id))
    ranking = [
        BidResult(b.bid_id, b.bidder_id, Decimal(b.price), n, None, {}, b.bid_id in flagged)
        for n, b in enumerate(ordered, start=1)
    ]
    if not ranking:
        return Evaluation("lowest_price", (), excluded, None)
    award = _award(ranking, ("评标价最低", "lowest evaluated price"))
    return Evaluation("lowest_price", tuple(ranking), excluded, award)


def _means(
    sheets: Sequence[ScoreSheet],
    valid: list[Bid],
    committee: Sequence[str] | None,
    names: list[str],
) -> dict[str, dict[str, Decimal]]:
    """Mean member score per bid and criterion, once the sheets are known to be complete."""
    by_pair: dict[tuple[str, str], ScoreSheet] = {}
    for sheet in sheets:
        pair = (sheet.member_id, sheet.bid_id)
        if pair in by_pair:
            raise InvalidInput(
                "同一评委对同一投标评分两次 / expected one score sheet per member and bid",
                details={"member_id": pair[0], "bid_id": pair[1], "reason": "duplicate_score"},
            )
        by_pair[pair] = sheet
    members = sorted(set(committee) if committee is not None else {m for m, _ in by_pair})
    known = {bid.bid_id for bid in valid}
    if any(b not in known or m not in members for m, b in by_pair):
        raise InvalidInput(
            "评分须来自评委且针对有效投标 / expected score sheets from committee members for responsive bids only",
            details={"reason": "unexpected_score"},
        )
    means: dict[str, dict[str, Decimal]] = {bid.bid_id: {} for bid in valid}
    for bid_id, name in ((bid_id, name) for bid_id in means for name in names):
        points = [getattr(by_pair.get((m, bid_id)), name, None) for m in members]
        given = [Decimal(p) for p in points if p is not None]
        if not given or len(given) < len(members):  # no sheets at all, or some missing
            gap = [m for m, p in zip(members, points, strict=True) if p is None]
            raise InvalidInput(
                f"缺少评分 / expected a {name} score from every committee member",
                details={
                    "bid_id": bid_id,
                    "criterion": name,
                    "member_ids": gap,
                    "reason": "missing_score",
                },
            )
        means[bid_id][name] = sum(given, Decimal(0)) / len(given)
    return means


def comprehensive(
    bids: Sequence[Bid],
    sheets: Sequence[ScoreSheet],
    *,
    criteria: Criteria,
    committee: Sequence[str] | None = None,
    abnormal_percent: Decimal | int = DEFAULT_ABNORMAL_PERCENT,
) -> Evaluation:
    """综合评分法 (87号令 art. 55): highest weighted total first.

    ``committee`` lists the member ids that must score every responsive bid on
    every criterion of non-zero weight; by default, whoever handed in a sheet.
    Sheets for non-responsive bids are ignored; any other stray sheet is an error.
    """
    valid, excluded = _responsive(bids)
    if not valid:
        return Evaluation("comprehensive", (), excluded, None)
    weights = criteria.weights
    sheets = [sheet for sheet in sheets if sheet.bid_id not in excluded]  # not scored by rule
    means = _means(sheets, valid, committee, [n for n in SCORED if weights[n] > 0])
    benchmark = min(Decimal(bid.price) for bid in valid)  # 评标基准价
    flagged = abnormally_low(valid, percent=abnormal_percent)
    results = []
    for bid in valid:
        exact = {"price": benchmark / Decimal(bid.price) * weights["price"]}
        exact |= {name: mean * weights[name] / _HUNDRED for name, mean in means[bid.bid_id].items()}
        total = sum(exact.values(), Decimal(0)).quantize(_CENT, ROUND_HALF_UP)
        parts = {name: value.quantize(_CENT, ROUND_HALF_UP) for name, value in exact.items()}
        price, low = Decimal(bid.price), bid.bid_id in flagged
        results.append(BidResult(bid.bid_id, bid.bidder_id, price, 0, total, parts, low))
    results.sort(key=lambda r: (-(r.total or 0), r.price, r.bid_id))
    ranking = [replace(result, rank=n) for n, result in enumerate(results, start=1)]
    award = _award(ranking, ("综合得分最高", "highest total score"))
    return Evaluation("comprehensive", tuple(ranking), excluded, award, benchmark)


class ConflictKind(StrEnum):
    """Grounds for recusal (回避, 政府采购法实施条例 art. 9) and collusion signals (arts. 18, 74)."""

    MEMBER_EMPLOYED = "member_employed_by_bidder"
    MEMBER_EMPLOYER_SHAREHOLDER = "member_employer_is_shareholder"
    MEMBER_SHAREHOLDER = "member_holds_shares"
    MEMBER_FORMER_EMPLOYEE = "member_former_employee"
    MEMBER_RELATIVE = "member_relative"
    SHARED_SHAREHOLDER = "bidders_share_shareholder"
    SHARED_STAFF = "bidders_share_staff"
    CROSS_HOLDING = "bidder_holds_bidder"


_REASONS = {
    ConflictKind.MEMBER_EMPLOYED: "评委 {m} 任职于投标人 {b}，应回避 / member {m} works for bidder {b} and must recuse",
    ConflictKind.MEMBER_EMPLOYER_SHAREHOLDER: "评委 {m} 的任职单位是投标人 {b} 的股东，应回避 / the employer of member {m} is a shareholder of bidder {b}: recusal required",
    ConflictKind.MEMBER_SHAREHOLDER: "评委 {m} 持有投标人 {b} 或其股东的股份，应回避 / member {m} holds shares in bidder {b} or in one of its shareholders: recusal required",
    ConflictKind.MEMBER_FORMER_EMPLOYEE: "评委 {m} 曾任职于投标人 {b}，三年内须回避 / member {m} used to work for bidder {b}: recusal required within three years",
    ConflictKind.MEMBER_RELATIVE: "评委 {m} 的近亲属任职于或持股投标人 {b}，应回避 / a relative of member {m} works for or holds shares in bidder {b}: recusal required",
    ConflictKind.SHARED_SHAREHOLDER: "投标人 {b} 有共同股东，存在串通风险 / bidders {B} share a shareholder: possible collusion",
    ConflictKind.SHARED_STAFF: "投标人 {b} 有共同人员，存在串通风险 / bidders {B} share staff: possible collusion",
    ConflictKind.CROSS_HOLDING: "投标人 {b} 之间存在直接持股，不得参加同一合同项下采购 / bidders {B} hold shares in one another and may not bid for the same contract",
}


@dataclass(frozen=True)
class CommitteeMember:
    """An evaluation committee member (评审专家), described by ids only."""

    person_id: str
    employer_id: str | None = None  # participant id
    shareholdings: frozenset[str] = frozenset()  # participant ids the member holds shares in
    former_employer_ids: frozenset[str] = frozenset()  # the caller keeps only the last 3 years
    relative_ids: frozenset[str] = frozenset()  # person ids of close relatives


@dataclass(frozen=True)
class Bidder:
    bidder_id: str  # participant id
    shareholder_ids: frozenset[str] = frozenset()  # participant ids and person ids
    staff_ids: frozenset[str] = frozenset()  # person ids, including the legal representative


@dataclass(frozen=True)
class Conflict:
    kind: ConflictKind
    bidder_ids: tuple[str, ...]
    member_id: str | None  # None for a conflict between bidders
    reason: str


def find_conflicts(
    members: Sequence[CommitteeMember], bidders: Sequence[Bidder]
) -> tuple[Conflict, ...]:
    """Every conflict between members and bidders, and between bidders, in a stable order.

    >>> [c.kind.value for c in find_conflicts([CommitteeMember("u1", "e1")], [Bidder("e1")])]
    ['member_employed_by_bidder']
    """
    for ids in ([m.person_id for m in members], [b.bidder_id for b in bidders]):
        if len(set(ids)) != len(ids):
            raise InvalidInput("编号重复 / expected unique ids", details={"reason": "duplicate_id"})
    found: set[tuple[str, tuple[str, ...], ConflictKind]] = set()
    for member in members:
        for bidder in bidders:
            owners, staff = bidder.shareholder_ids, bidder.staff_ids
            hits = {
                ConflictKind.MEMBER_EMPLOYED: member.employer_id == bidder.bidder_id
                or member.person_id in staff,
                ConflictKind.MEMBER_EMPLOYER_SHAREHOLDER: member.employer_id in owners,
                ConflictKind.MEMBER_SHAREHOLDER: member.person_id in owners
                or bidder.bidder_id in member.shareholdings
                or bool(member.shareholdings & owners),
                ConflictKind.MEMBER_FORMER_EMPLOYEE: bidder.bidder_id in member.former_employer_ids,
                ConflictKind.MEMBER_RELATIVE: bool(member.relative_ids & (owners | staff)),
            }
            found |= {(member.person_id, (bidder.bidder_id,), k) for k, hit in hits.items() if hit}
    for one, two in combinations(sorted(bidders, key=lambda b: b.bidder_id), 2):
        hits = {
            ConflictKind.SHARED_SHAREHOLDER: bool(one.shareholder_ids & two.shareholder_ids),
            ConflictKind.SHARED_STAFF: bool(one.staff_ids & two.staff_ids),
            ConflictKind.CROSS_HOLDING: one.bidder_id in two.shareholder_ids
            or two.bidder_id in one.shareholder_ids,
        }
        found |= {("", (one.bidder_id, two.bidder_id), k) for k, hit in hits.items() if hit}
    return tuple(
        Conflict(k, ids, m or None, _REASONS[k].format(m=m, b="、".join(ids), B=" and ".join(ids)))
        for m, ids, k in sorted(found)
    )

"""Bid evaluation: worked examples computed by hand, ties, bad input, conflicts of interest."""

from __future__ import annotations

from decimal import Decimal

import pytest

from datacompact.errors import InvalidInput
from datacompact.procurement.evaluation import (
    Bid,
    Bidder,
    CommitteeMember,
    ConflictKind,
    Criteria,
    ScoreSheet,
    abnormally_low,
    comprehensive,
    find_conflicts,
    lowest_price,
)

D = Decimal
STANDARD = Criteria(price=30, technical=40, qualification=10, past_performance=10, sme_local=10)


def _reason(excinfo: pytest.ExceptionInfo[InvalidInput]) -> str:
    return str(excinfo.value.details["reason"])


# --- Worked example 1: 综合评分法 with three members --------------------------------------
#
# Weights: price 30, technical 40, qualification 10, past performance 10, SME/local 10.
# Bids: A 1,000,000; B 800,000; C 1,250,000; D 700,000 but not responsive, so it is left
# out of the benchmark: 评标基准价 = min(1,000,000, 800,000, 1,250,000) = 800,000.
#
# price part = 800,000 / price × 30
#   A: 0.8 × 30 = 24.00      B: 1 × 30 = 30.00      C: 0.64 × 30 = 19.20
# technical (m1, m2, m3) → mean → × 40 / 100
#   A: 90, 85, 80 → 85 → 34.00   B: 70, 75, 65 → 70 → 28.00   C: 95, 90, 100 → 95 → 38.00
# qualification: A 80 → 8.00; B 90 → 9.00; C 70 → 7.00 (all three members agree)
# past performance: A 100, 90, 80 → 90 → 9.00; B 60 → 6.00; C 80 → 8.00
# SME/local: A 0 → 0.00; B 100 → 10.00; C 50 → 5.00
# totals: A 24 + 34 + 8 + 9 + 0 = 75.00; B 30 + 28 + 9 + 6 + 10 = 83.00;
#         C 19.20 + 38 + 7 + 8 + 5 = 77.20 → ranking B, C, A.
# Abnormally low (default 20 %): B's price 800,000 against the mean of the others
# (1,000,000 + 1,250,000) / 2 = 1,125,000 × 0.8 = 900,000 → 800,000 < 900,000: flagged.

EXAMPLE_BIDS = [
    Bid("A", "PA", 1_000_000),
    Bid("B", "PB", D("800000")),
    Bid("C", "PC", 1_250_000),
    Bid("D", "PD", 700_000, responsive=False),
]
TECHNICAL = {"A": (90, 85, 80), "B": (70, 75, 65), "C": (95, 90, 100)}
QUALIFICATION = {"A": (80, 80, 80), "B": (90, 90, 90), "C": (70, 70, 70)}
PAST = {"A": (100, 90, 80), "B": (60, 60, 60), "C": (80, 80, 80)}
SME = {"A": (0, 0, 0), "B": (100, 100, 100), "C": (50, 50, 50)}
MEMBERS = ("m1", "m2", "m3")


def _example_sheets() -> list[ScoreSheet]:
    sheets = [
        ScoreSheet(member, bid, TECHNICAL[bid][i], QUALIFICATION[bid][i], PAST[bid][i], SME[bid][i])
        for bid in "ABC"
        for i, member in enumerate(MEMBERS)
    ]
    return [*sheets, ScoreSheet("m1", "D", 100, 100, 100, 100)]  # ignored: D is not responsive


def test_worked_example_comprehensive() -> None:
    result = comprehensive(EXAMPLE_BIDS, _example_sheets(), criteria=STANDARD)
    assert result.method == "comprehensive"
    assert result.benchmark_price == D(800000)
    assert [(r.rank, r.bid_id, str(r.total)) for r in result.ranking] == [
        (1, "B", "83.00"),
        (2, "C", "77.20"),
        (3, "A", "75.00"),
    ]
    assert result.excluded == ("D",)
    by_id = {r.bid_id: r for r in result.ranking}
    assert {k: str(v) for k, v in by_id["C"].breakdown.items()} == {
        "price": "19.20",
        "technical": "38.00",
        "qualification": "7.00",
        "past_performance": "8.00",
        "sme_local": "5.00",
    }
    assert by_id["B"].breakdown["price"] == D("30.00")
    assert by_id["A"].breakdown["past_performance"] == D("9.00")
    assert [r.abnormally_low for r in result.ranking] == [True, False, False]
    assert result.award is not None
    assert (result.award.bid_id, result.award.bidder_id, result.award.total) == (
        "B",
        "PB",
        D("83.00"),
    )
    assert result.award.reasons[0] == (
        "综合得分最高：B 得 83.00 分，第二名 C 得 77.20 分 / "
        "highest total score: bid B scored 83.00, runner-up C scored 77.20"
    )
    assert "87号令第六十条" in result.award.reasons[1]
    assert "abnormally low" in result.award.reasons[1]


def test_the_committee_defaults_to_whoever_scored() -> None:
    explicit = comprehensive(EXAMPLE_BIDS, _example_sheets(), criteria=STANDARD, committee=MEMBERS)
    assert explicit == comprehensive(EXAMPLE_BIDS, _example_sheets(), criteria=STANDARD)


def test_abnormal_threshold_is_a_parameter() -> None:
    # 30 %: 1,125,000 × 0.7 = 787,500 and 800,000 is not below it.
    result = comprehensive(EXAMPLE_BIDS, _example_sheets(), criteria=STANDARD, abnormal_percent=30)
    assert not any(r.abnormally_low for r in result.ranking)
    assert result.award is not None
    assert len(result.award.reasons) == 1


# --- Worked example 2: rounding ------------------------------------------------------------


def test_totals_round_half_up_to_two_places() -> None:
    # Weights price 50, technical 50; one bid, so it is the benchmark: price part 50.
    # Technical 76, 76, 76, 77 → mean 305 / 4 = 76.25 → × 0.5 = 38.125 → total 88.125.
    # Half-up gives 88.13 (half-even would give 88.12).
    criteria = Criteria(price=50, technical=50, qualification=0, past_performance=0, sme_local=0)
    sheets = [ScoreSheet(f"m{i}", "X", score) for i, score in enumerate((76, 76, 76, 77))]
    result = comprehensive([Bid("X", "PX", 100)], sheets, criteria=criteria)
    (only,) = result.ranking
    assert only.total == D("88.13")
    assert only.breakdown == {"price": D("50.00"), "technical": D("38.13")}
    assert result.award is not None
    assert (
        result.award.reasons[1]
        == "仅一家有效投标，无第二名 / only one responsive bid, no runner-up"
    )


def test_repeating_fractions_are_summed_before_rounding() -> None:
    # Weights price 35, technical 65, three members.
    # X 900,000 (benchmark): price 35; technical 80, 85, 86 → 251 / 3 × 0.65 = 54.38333…
    #   total 89.38333… → 89.38
    # Y 970,000: price 900,000 / 970,000 × 35 = 32.47422680…;
    #   technical 90, 92, 95 → 277 / 3 × 0.65 = 60.01666…; total 92.49089… → 92.49
    criteria = Criteria(
        price=D(35), technical=D(65), qualification=0, past_performance=0, sme_local=0
    )
    scores = {"X": (80, 85, 86), "Y": (90, 92, 95)}
    sheets = [ScoreSheet(m, b, scores[b][i]) for b in "XY" for i, m in enumerate(MEMBERS)]
    bids = [Bid("X", "PX", 900_000), Bid("Y", "PY", 970_000)]
    result = comprehensive(bids, sheets, criteria=criteria)
    assert [(r.bid_id, r.total) for r in result.ranking] == [("Y", D("92.49")), ("X", D("89.38"))]
    assert result.ranking[0].breakdown == {"price": D("32.47"), "technical": D("60.02")}


# --- Ties (87号令 arts. 54–55) ----------------------------------------------------------------


def test_equal_totals_rank_by_lower_price() -> None:
    # Weights price 50, technical 50. P 100 is the benchmark: price 50; Q 125: 100/125 × 50 = 40.
    # Technical (one member): P 60 → 30, total 80.00; Q 80 → 40, total 80.00. P is cheaper.
    criteria = Criteria(price=50, technical=50, qualification=0, past_performance=0, sme_local=0)
    bids = [Bid("Q", "PQ", 125), Bid("P", "PP", 100)]
    sheets = [ScoreSheet("m1", "P", 60), ScoreSheet("m1", "Q", 80)]
    result = comprehensive(bids, sheets, criteria=criteria)
    assert [(r.bid_id, r.total) for r in result.ranking] == [("P", D("80.00")), ("Q", D("80.00"))]
    assert result.award is not None
    assert result.award.reasons[1] == (
        "得分相同，报价低者优先 / equal totals: the lower price ranks first"
    )


def test_equal_totals_and_prices_are_tied_and_ordered_by_bid_id() -> None:
    criteria = Criteria(price=50, technical=50, qualification=0, past_performance=0, sme_local=0)
    bids = [Bid("K", "PK", 100), Bid("J", "PJ", 100)]
    sheets = [ScoreSheet("m1", "K", 70), ScoreSheet("m1", "J", 70)]
    result = comprehensive(bids, sheets, criteria=criteria)
    assert [r.bid_id for r in result.ranking] == ["J", "K"]
    assert result.award is not None
    assert "tied with bid K" in result.award.reasons[1]
    assert "并列" in result.award.reasons[1]


# --- 最低评标价法 ---------------------------------------------------------------------------


def test_lowest_price_ranks_by_price_then_bid_id() -> None:
    bids = [
        Bid("B3", "P3", 120),
        Bid("B2", "P2", D("100.00")),
        Bid("B1", "P1", 100),
        Bid("B0", "P0", 90, responsive=False),
    ]
    result = lowest_price(bids)
    assert [(r.rank, r.bid_id, r.total) for r in result.ranking] == [
        (1, "B1", None),
        (2, "B2", None),
        (3, "B3", None),
    ]
    assert result.excluded == ("B0",)
    assert result.award is not None
    assert result.award.bid_id == "B1"
    assert result.award.reasons == (
        "评标价最低：B1 报价 100.00 元，第二名 B2 报价 100.00 元 / "
        "lowest evaluated price: bid B1 at 100.00 CNY, runner-up B2 at 100.00 CNY",
        "与 B2 并列，暂按投标编号排序，须按招标文件规则确定 / tied with bid B2: "
        "ordered by bid id until the tender's tie rule is applied",
    )


def test_lowest_price_flags_an_abnormally_low_winner() -> None:
    # Mean of the others (100 + 100) / 2 = 100; × 0.8 = 80; 70 < 80.
    result = lowest_price([Bid("a", "x", 100), Bid("b", "y", 100), Bid("c", "z", 70)])
    assert result.award is not None
    assert result.award.bid_id == "c"
    assert result.ranking[0].abnormally_low
    assert "abnormally low" in result.award.reasons[-1]


@pytest.mark.parametrize("method", ["lowest_price", "comprehensive"])
def test_no_responsive_bid_means_no_award(method: str) -> None:
    bids = [Bid("A", "PA", 100, responsive=False)]
    if method == "lowest_price":
        result = lowest_price(bids)
    else:
        result = comprehensive(bids, [], criteria=STANDARD)
    assert result.award is None
    assert result.ranking == ()
    assert result.excluded == ("A",)


def test_abnormally_low() -> None:
    assert abnormally_low([Bid("a", "x", 100)]) == frozenset()
    # Non-responsive bids take no part in the mean: 60 vs mean of the other responsive (100).
    bids = [Bid("a", "x", 100), Bid("b", "y", 60), Bid("c", "z", 10, responsive=False)]
    assert abnormally_low(bids) == {"b"}
    assert abnormally_low(bids, percent=40) == frozenset()  # 60 is not below 100 × 0.6
    assert abnormally_low(bids, percent=D("39.9")) == {"b"}
    with pytest.raises(InvalidInput):
        abnormally_low(bids, percent=120)


# --- Weights ---------------------------------------------------------------------------------


def test_weights_must_sum_to_100() -> None:
    with pytest.raises(InvalidInput) as info:
        Criteria(price=30, technical=35, qualification=10, past_performance=10, sme_local=10)
    assert info.value.message == "评分权重之和必须为 100 / expected weights summing to 100, got 95"
    assert _reason(info) == "weights_sum"


def test_decimal_weights_are_accepted() -> None:
    criteria = Criteria(
        price=D("33.5"), technical=D("36.5"), qualification=10, past_performance=10, sme_local=10
    )
    assert sum(criteria.weights.values()) == 100


@pytest.mark.parametrize(
    ("weight", "reason"),
    [(101, "out_of_range"), (-1, "out_of_range"), (30.0, "not_a_number"), (True, "not_a_number"),
     (D("NaN"), "out_of_range"), ("30", "not_a_number")],
)  # fmt: skip
def test_each_weight_is_checked(weight: object, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Criteria(price=weight, technical=40, qualification=10, past_performance=10, sme_local=10)  # type: ignore[arg-type]
    assert _reason(info) == reason


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("price", [0, -1, D("-0.01")])
def test_non_positive_prices_are_refused(price: object) -> None:
    with pytest.raises(InvalidInput) as info:
        Bid("A", "PA", price)  # type: ignore[arg-type]
    assert _reason(info) == "non_positive_price"


@pytest.mark.parametrize(("price", "reason"), [(D("NaN"), "out_of_range"), (1.5, "not_a_number")])
def test_prices_must_be_finite_ints_or_decimals(price: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match="expected") as info:
        Bid("A", "PA", price)  # type: ignore[arg-type]
    assert _reason(info) == reason
    assert "0 到 100" not in info.value.message


@pytest.mark.parametrize("score", [101, -1, D("100.01"), 85.5])
def test_scores_outside_0_to_100_are_refused(score: object) -> None:
    with pytest.raises(InvalidInput) as info:
        ScoreSheet("m1", "A", technical=score)  # type: ignore[arg-type]
    assert _reason(info) in {"out_of_range", "not_a_number"}


def test_duplicate_bids_are_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        lowest_price([Bid("A", "PA", 1), Bid("A", "PB", 2)])
    assert _reason(info) == "duplicate_bid"


def test_a_member_scoring_a_bid_twice_is_refused() -> None:
    sheets = [*_example_sheets(), ScoreSheet("m2", "A", 50, 50, 50, 50)]
    with pytest.raises(InvalidInput) as info:
        comprehensive(EXAMPLE_BIDS, sheets, criteria=STANDARD)
    assert _reason(info) == "duplicate_score"
    assert info.value.details["member_id"] == "m2"
    assert info.value.details["bid_id"] == "A"


def test_a_missing_sheet_is_refused() -> None:
    sheets = [s for s in _example_sheets() if (s.member_id, s.bid_id) != ("m2", "C")]
    with pytest.raises(InvalidInput) as info:
        comprehensive(EXAMPLE_BIDS, sheets, criteria=STANDARD)
    assert _reason(info) == "missing_score"
    assert info.value.details["bid_id"] == "C"
    assert info.value.details["member_ids"] == ["m2"]


def test_a_missing_criterion_is_refused_unless_its_weight_is_zero() -> None:
    sheets = [ScoreSheet("m1", "A", technical=80, qualification=80, past_performance=80)]
    with pytest.raises(InvalidInput) as info:
        comprehensive([Bid("A", "PA", 100)], sheets, criteria=STANDARD)
    assert info.value.details["criterion"] == "sme_local"
    no_sme = Criteria(price=40, technical=40, qualification=10, past_performance=10, sme_local=0)
    # Single bid, so the benchmark: price 40; technical 80 × 0.4 = 32; qualification and
    # past performance 80 × 0.1 = 8 each; SME weight 0 → total 40 + 32 + 8 + 8 = 88.00.
    result = comprehensive([Bid("A", "PA", 100)], sheets, criteria=no_sme)
    assert result.ranking[0].total == D("88.00")
    assert "sme_local" not in result.ranking[0].breakdown


def test_a_committee_member_without_sheets_is_missing() -> None:
    with pytest.raises(InvalidInput) as info:
        comprehensive(
            EXAMPLE_BIDS, _example_sheets(), criteria=STANDARD, committee=(*MEMBERS, "m4")
        )
    assert _reason(info) == "missing_score"
    assert info.value.details["member_ids"] == ["m4"]


def test_no_sheets_at_all_is_missing() -> None:
    with pytest.raises(InvalidInput) as info:
        comprehensive(EXAMPLE_BIDS, [], criteria=STANDARD)
    assert _reason(info) == "missing_score"


def test_price_only_criteria_need_no_sheets() -> None:
    price_only = Criteria(price=100, technical=0, qualification=0, past_performance=0, sme_local=0)
    # A: 800,000 / 1,000,000 × 100 = 80.00; B 100.00; C 800,000 / 1,250,000 × 100 = 64.00
    result = comprehensive(EXAMPLE_BIDS, [], criteria=price_only)
    assert [(r.bid_id, r.total) for r in result.ranking] == [
        ("B", D("100.00")),
        ("A", D("80.00")),
        ("C", D("64.00")),
    ]


@pytest.mark.parametrize(
    "stray",
    [ScoreSheet("m1", "Z", 50, 50, 50, 50), ScoreSheet("outsider", "A", 50, 50, 50, 50)],
    ids=["unknown-bid", "not-a-member"],
)
def test_stray_sheets_are_refused(stray: ScoreSheet) -> None:
    with pytest.raises(InvalidInput) as info:
        comprehensive(
            EXAMPLE_BIDS, [*_example_sheets(), stray], criteria=STANDARD, committee=MEMBERS
        )
    assert _reason(info) == "unexpected_score"


# --- Conflicts of interest -------------------------------------------------------------------

BIDDERS = [
    Bidder("E-A", shareholder_ids=frozenset({"U-100"}), staff_ids=frozenset({"U-9", "U-50"})),
    Bidder("E-B", shareholder_ids=frozenset({"G-2"}), staff_ids=frozenset({"M2", "U-50"})),
    Bidder("E-C", shareholder_ids=frozenset({"G-1", "M4", "G-2"})),
    Bidder("E-D", shareholder_ids=frozenset({"E-A"})),
]
COMMITTEE = [
    CommitteeMember("M1", employer_id="E-A"),
    CommitteeMember("M2", employer_id="G-7"),  # listed as staff of E-B
    CommitteeMember("M3", employer_id="G-1"),  # employer holds shares in E-C
    CommitteeMember("M4"),  # natural-person shareholder of E-C
    CommitteeMember("M5", shareholdings=frozenset({"G-1"})),  # holds shares in E-C's shareholder
    CommitteeMember("M6", former_employer_ids=frozenset({"E-B"})),
    CommitteeMember("M7", relative_ids=frozenset({"U-9"})),  # relative works for E-A
    CommitteeMember("M8", employer_id="E-X", shareholdings=frozenset({"E-Y"})),  # clean
]


def test_conflicts_are_found_in_a_stable_order() -> None:
    found = find_conflicts(COMMITTEE, BIDDERS)
    assert [(c.member_id, c.bidder_ids, c.kind) for c in found] == [
        (None, ("E-A", "E-B"), ConflictKind.SHARED_STAFF),
        (None, ("E-A", "E-D"), ConflictKind.CROSS_HOLDING),
        (None, ("E-B", "E-C"), ConflictKind.SHARED_SHAREHOLDER),
        ("M1", ("E-A",), ConflictKind.MEMBER_EMPLOYED),
        # E-A, M1's employer, is a shareholder of E-D
        ("M1", ("E-D",), ConflictKind.MEMBER_EMPLOYER_SHAREHOLDER),
        ("M2", ("E-B",), ConflictKind.MEMBER_EMPLOYED),
        ("M3", ("E-C",), ConflictKind.MEMBER_EMPLOYER_SHAREHOLDER),
        ("M4", ("E-C",), ConflictKind.MEMBER_SHAREHOLDER),
        ("M5", ("E-C",), ConflictKind.MEMBER_SHAREHOLDER),
        ("M6", ("E-B",), ConflictKind.MEMBER_FORMER_EMPLOYEE),
        ("M7", ("E-A",), ConflictKind.MEMBER_RELATIVE),
    ]
    assert find_conflicts(list(reversed(COMMITTEE)), list(reversed(BIDDERS))) == found


def test_conflict_reasons_are_bilingual_and_carry_ids_only() -> None:
    found = {(c.member_id, c.kind): c.reason for c in find_conflicts(COMMITTEE, BIDDERS)}
    assert found["M1", ConflictKind.MEMBER_EMPLOYED] == (
        "评委 M1 任职于投标人 E-A，应回避 / member M1 works for bidder E-A and must recuse"
    )
    assert found[None, ConflictKind.CROSS_HOLDING] == (
        "投标人 E-A、E-D 之间存在直接持股，不得参加同一合同项下采购 / bidders E-A and E-D "
        "hold shares in one another and may not bid for the same contract"
    )
    assert all(" / " in reason for reason in found.values())


def test_a_member_holding_shares_directly_in_a_bidder() -> None:
    member = CommitteeMember("M9", shareholdings=frozenset({"E-D"}))
    (conflict,) = find_conflicts([member], [Bidder("E-D")])
    assert conflict.kind is ConflictKind.MEMBER_SHAREHOLDER
    assert conflict.kind.value == "member_holds_shares"


def test_no_conflict_for_unrelated_parties() -> None:
    assert find_conflicts([COMMITTEE[-1]], [Bidder("E-A"), Bidder("E-B")]) == ()


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(InvalidInput):
        find_conflicts([CommitteeMember("M1"), CommitteeMember("M1")], BIDDERS)
    with pytest.raises(InvalidInput):
        find_conflicts(COMMITTEE, [Bidder("E-A"), Bidder("E-A")])

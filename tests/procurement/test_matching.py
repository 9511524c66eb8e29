"""Task matching: ranking quality on a labelled set, diversity, reasons, input checks."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from datacompact.errors import InvalidInput
from datacompact.procurement import matching
from datacompact.procurement.matching import (
    Candidate,
    Lot,
    Qualification,
    Ranking,
    Requirement,
    Weights,
    rank_candidates,
)

LABELLED = json.loads((Path(__file__).parent / "matching_labelled.json").read_text("utf-8"))
CANDIDATES = [
    Candidate(
        candidate_id=c["id"],
        name=c["name"],
        qualifications=tuple(Qualification(n, level) for n, level in c["qualifications"]),
        capabilities=c["capabilities"],
        past_lots=tuple(c["past_lots"]),
        kpi=c["kpi"],
        awarded_share=c["awarded_share"],
        active_contracts=c["active_contracts"],
    )
    for c in LABELLED["candidates"]
]
LOTS = {
    lot["id"]: Lot(
        lot_id=lot["id"],
        title=lot["title"],
        description=lot["description"],
        category=lot["category"],
        requirements=tuple(Requirement(n, m, mandatory) for n, m, mandatory in lot["requirements"]),
    )
    for lot in LABELLED["lots"]
}
RELEVANCE: dict[str, dict[str, int]] = {lot["id"]: lot["relevance"] for lot in LABELLED["lots"]}
BY_ID = {c.candidate_id: c for c in CANDIDATES}
KPI_ONLY = Weights(fit=0, qualification=0, kpi=1, diversity=0)


def ndcg_at(k: int, ranked: list[str], relevance: dict[str, int], pool: list[str]) -> float:
    """nDCG@k with gains 2^rel - 1 (Järvelin & Kekäläinen 2002, Burges et al. 2005)."""

    def dcg(gains: list[int]) -> float:
        return sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(gains[:k]))

    ideal = dcg(sorted((relevance.get(c, 0) for c in pool), reverse=True))
    return dcg([relevance.get(c, 0) for c in ranked]) / ideal


def admissible(ranking: Ranking) -> list[str]:
    """The pool the ideal ranking draws from: everyone not barred by a mandatory qualification.

    A candidate kept out for low fit stays in it, so such an exclusion costs nDCG.
    """
    barred = {e.candidate_id for e in ranking.excluded if e.kind == "qualification"}
    return [c.candidate_id for c in CANDIDATES if c.candidate_id not in barred]


def mean_ndcg(**options: Any) -> float:
    scores: list[float] = []
    for lot_id, lot in LOTS.items():
        ranking = rank_candidates(lot, CANDIDATES, **options)
        ranked = [m.candidate_id for m in ranking.matches]
        scores.append(ndcg_at(5, ranked, RELEVANCE[lot_id], admissible(ranking)))
    return sum(scores) / len(scores)


def random_ndcg(rounds: int = 200) -> float:
    rng = random.Random(20240607)
    scores = []
    for lot_id, lot in LOTS.items():
        pool = admissible(rank_candidates(lot, CANDIDATES))
        for _ in range(rounds):
            shuffled = rng.sample(pool, len(pool))
            scores.append(ndcg_at(5, shuffled, RELEVANCE[lot_id], pool))
    return sum(scores) / len(scores)


def test_labelled_set_is_big_enough() -> None:
    assert len(LOTS) >= 6
    assert len(CANDIDATES) >= 10
    assert all(max(r.values()) == 3 for r in RELEVANCE.values())
    assert set().union(*RELEVANCE.values()) <= set(BY_ID)


def test_ndcg_at_5_beats_the_baselines(
    record_property: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    full = mean_ndcg()
    # Baselines rank the whole pool (min_fit=0): by KPI alone, without the fit term, at random.
    kpi_only = mean_ndcg(weights=KPI_ONLY, min_fit=0)
    no_fit = mean_ndcg(weights=Weights(fit=0), min_fit=0)
    shuffled = random_ndcg()
    for name, value in [("full", full), ("kpi_only", kpi_only), ("no_fit", no_fit)]:
        record_property(f"ndcg5_{name}", round(value, 4))
    record_property("ndcg5_random", round(shuffled, 4))
    with capsys.disabled():
        print(
            f"\nnDCG@5 = {full:.3f} over {len(LOTS)} lots × {len(CANDIDATES)} candidates"
            f" (baselines: KPI-only {kpi_only:.3f}, without fit term {no_fit:.3f},"
            f" random {shuffled:.3f})"
        )
    assert full >= 0.85
    assert full - max(kpi_only, no_fit, shuffled) >= 0.3


def test_the_specialist_comes_first_in_every_lot() -> None:
    for lot_id, lot in LOTS.items():
        top = rank_candidates(lot, CANDIDATES).matches[0]
        assert RELEVANCE[lot_id].get(top.candidate_id) == 3, lot_id
        assert top.components["fit"] >= 0.9


def test_chinese_lot_meets_english_capabilities() -> None:
    ranking = rank_candidates(LOTS["L5"], CANDIDATES)  # zh lot, c06 writes only English
    second = ranking.matches[1]
    assert second.candidate_id == "c06"
    assert "≈penetration" in second.reasons[0]
    assert "≈mlps" in second.reasons[0]


def test_mandatory_qualification_excludes_with_a_reason() -> None:
    ranking = rank_candidates(LOTS["L5"], CANDIDATES)
    assert [m.candidate_id for m in ranking.matches] == ["c05", "c06"]
    barred = {e.candidate_id: e for e in ranking.excluded}
    assert set(barred) == set(BY_ID) - {"c05", "c06"}
    assert barred["c10"].kind == "qualification"
    assert "网络安全等级保护测评机构推荐证书" in barred["c10"].reasons[0]
    assert "lacks mandatory qualification" in barred["c10"].reasons[0]
    stricter = dataclasses.replace(
        LOTS["L5"], requirements=(Requirement("网络安全等级保护测评机构推荐证书", 2),)
    )
    too_low = rank_candidates(stricter, CANDIDATES)
    assert too_low.matches == ()
    c05 = next(e for e in too_low.excluded if e.candidate_id == "c05")
    assert c05.reasons == (
        "缺少必备资质 网络安全等级保护测评机构推荐证书（要求 ≥2 级，持有 1 级）"
        " / lacks mandatory qualification 网络安全等级保护测评机构推荐证书"
        " (requires level ≥2, holds 1)",
    )


def test_an_empty_ranking_says_why() -> None:
    stricter = dataclasses.replace(
        LOTS["L5"], requirements=(Requirement("网络安全等级保护测评机构推荐证书", 2),)
    )
    ranking = rank_candidates(stricter, CANDIDATES)
    assert ranking.matches == ()
    assert ranking.empty_reason == (
        f"全部 {len(CANDIDATES)} 个候选企业都缺少必备资质 网络安全等级保护测评机构推荐证书"
        f" / every one of the {len(CANDIDATES)} candidates lacked the mandatory qualification"
        " 网络安全等级保护测评机构推荐证书"
    )
    assert {e.missing for e in ranking.excluded} == {("网络安全等级保护测评机构推荐证书",)}
    assert rank_candidates(LOTS["L5"], CANDIDATES).empty_reason is None
    assert rank_candidates(LOTS["L5"], []).empty_reason == (
        "没有可匹配的已批准企业 / no approved enterprise to match"
    )
    strangers = [Candidate("x1", "甲", capabilities="烘焙 面包"), Candidate("x2", "乙")]
    nobody_fits = rank_candidates(dataclasses.replace(LOTS["L2"], requirements=()), strangers)
    assert nobody_fits.matches == ()
    assert nobody_fits.empty_reason == (
        "全部 2 个候选企业的能力与标段几乎不相关 / every one of the 2 candidates' capabilities"
        " and past lots fit the lot too little"
    )


def test_preferred_qualification_and_level_add_credit() -> None:
    lot = LOTS["L1"]  # prefers 信息系统建设和服务能力等级 >= 2
    components = {
        m.candidate_id: m.components["qualification"]
        for m in rank_candidates(lot, CANDIDATES).matches
    }
    assert components["c10"] == 1.0  # level 4: two above the minimum
    assert components["c01"] == 0.9  # level 3
    assert components["c09"] == 0.0  # not held, but only preferred: still ranked
    c09 = next(m for m in rank_candidates(lot, CANDIDATES).matches if m.candidate_id == "c09")
    assert any("lacks preferred qualification" in r for r in c09.reasons)


def test_low_fit_is_excluded_not_silently() -> None:
    ranking = rank_candidates(LOTS["L2"], CANDIDATES)
    office = next(e for e in ranking.excluded if e.candidate_id == "c13")
    assert office.kind == "fit"
    assert "below the 0.05 floor" in office.reasons[0]
    everyone = rank_candidates(LOTS["L2"], CANDIDATES, min_fit=0)
    assert len(everyone.matches) == len(CANDIDATES)
    assert everyone.excluded == ()


def test_a_dominant_vendor_drops() -> None:
    lot = Lot("L", "政务云运维", "运行监控与故障处置", "operations")
    same = Candidate("", "", capabilities="政务云运维 监控 故障处置", kpi=0.9, active_contracts=1)
    dominant = dataclasses.replace(same, candidate_id="a-dominant", awarded_share=0.40)
    newcomer = dataclasses.replace(same, candidate_id="b-newcomer", awarded_share=0.02)
    ranking = rank_candidates(lot, [dominant, newcomer])
    assert [m.candidate_id for m in ranking.matches] == ["b-newcomer", "a-dominant"]
    assert ranking.matches[1].components["diversity"] == 0.0
    assert any("no diversity credit" in r for r in ranking.matches[1].reasons)
    blind = rank_candidates(lot, [dominant, newcomer], weights=Weights(diversity=0))
    assert blind.matches[0].score == blind.matches[1].score  # tie, then id order
    # In the labelled set, c01 holds 34% of awarded value: weighting diversity up unseats it.
    spread = Weights(fit=0.3, qualification=0.1, kpi=0.1, diversity=0.5)
    assert rank_candidates(LOTS["L1"], CANDIDATES).matches[0].candidate_id == "c01"
    assert rank_candidates(LOTS["L1"], CANDIDATES, weights=spread).matches[0].candidate_id != "c01"


def test_busy_vendors_get_less_diversity_credit() -> None:
    lot = Lot("L", "数据治理", "数据清洗", "data_services")
    idle, busy = (
        Candidate(cid, cid, capabilities="数据治理 数据清洗", active_contracts=n)
        for cid, n in (("idle", 0), ("busy", 3))
    )
    components = {m.candidate_id: m.components for m in rank_candidates(lot, [idle, busy]).matches}
    assert components["idle"]["diversity"] == 1.0
    assert components["busy"]["diversity"] == 0.5  # contracts_half = 3


def test_every_match_explains_itself_in_both_languages() -> None:
    for lot in LOTS.values():
        ranking = rank_candidates(lot, CANDIDATES)
        explained: list[tuple[str, ...]] = [m.reasons for m in ranking.matches]
        for reasons in explained + [e.reasons for e in ranking.excluded]:
            assert reasons
            for reason in reasons:
                assert reason.count(" / ") == 1, reason
                zh, _, en = reason.partition(" / ")
                assert any("\u4e00" <= ch <= "\u9fff" for ch in zh)
                assert en[:1].isascii(), reason
                assert en[:1].isalpha(), reason
        for m in ranking.matches:
            assert set(m.components) == {"fit", "qualification", "kpi", "diversity"}
            assert m.reasons[0].startswith("能力匹配")
            assert "matched:" in m.reasons[0]
            assert 0.0 <= m.score <= 1.0


def test_no_kpi_history_gets_the_neutral_prior() -> None:
    c06 = next(
        m for m in rank_candidates(LOTS["L5"], CANDIDATES).matches if m.candidate_id == "c06"
    )
    assert c06.components["kpi"] == 0.5
    assert any("no KPI history, neutral prior 0.50" in r for r in c06.reasons)
    lifted = rank_candidates(LOTS["L5"], CANDIDATES, kpi_prior=0.8)
    assert next(m for m in lifted.matches if m.candidate_id == "c06").components["kpi"] == 0.8


def test_ranking_is_deterministic_and_order_free() -> None:
    first = rank_candidates(LOTS["L7"], CANDIDATES)
    assert rank_candidates(LOTS["L7"], CANDIDATES) == first
    assert rank_candidates(LOTS["L7"], reversed(CANDIDATES)) == dataclasses.replace(
        first, excluded=tuple(reversed(first.excluded))
    )


def test_terms_drop_stopwords_and_punctuation() -> None:
    terms = matching._terms("提供政务云的运维服务，and the O&M of API-Gateway!")
    assert "的" not in terms
    assert "提供" not in terms
    assert "the" not in terms
    assert "o" not in terms
    assert "api" in terms
    assert "gateway" in terms
    assert "~operations" in terms
    assert not any(t in "，!&-" for t in terms)


def test_empty_pool_gives_an_empty_ranking() -> None:
    assert rank_candidates(LOTS["L1"], []) == Ranking("L1", (), ())


@pytest.mark.parametrize(
    ("weights", "field", "got"),
    [
        ({"fit": -0.1}, "weights.fit", "a negative number"),
        ({"kpi": math.nan}, "weights.kpi", "a non-finite number"),
        ({"diversity": math.inf}, "weights.diversity", "a non-finite number"),
        ({"qualification": "0.2"}, "weights.qualification", "str"),
        ({"fit": True}, "weights.fit", "bool"),
        ({"fit": 0, "qualification": 0, "kpi": 0, "diversity": 0}, "weights", "all zero"),
    ],
)
def test_bad_weights_are_rejected(weights: dict[str, Any], field: str, got: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Weights(**weights)
    assert caught.value.details == {"field": field}
    assert caught.value.message.endswith(got)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Candidate("x", "X", kpi=1.5), "kpi"),
        (lambda: Candidate("x", "X", awarded_share=-0.1), "awarded_share"),
        (lambda: Candidate("x", "X", active_contracts=-1), "active_contracts"),
        (lambda: Lot("L", "t", "d", "catering"), "category"),  # type: ignore[arg-type]
        (lambda: rank_candidates(LOTS["L1"], CANDIDATES, min_fit=2), "min_fit"),
        (lambda: rank_candidates(LOTS["L1"], CANDIDATES, share_cap=0), "share_cap"),
        (lambda: rank_candidates(LOTS["L1"], CANDIDATES, kpi_prior=-1), "kpi_prior"),
        (lambda: rank_candidates(LOTS["L1"], CANDIDATES, contracts_half=0), "contracts_half"),
        (lambda: rank_candidates(LOTS["L1"], [CANDIDATES[0]] * 2), "candidates"),
    ],
)
def test_bad_input_is_rejected(make: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make()
    assert caught.value.details == {"field": field}
    assert " / " in caught.value.message


@pytest.mark.slow
def test_jieba_is_quiet_and_warning_free(tmp_path: Path) -> None:
    script = (
        "from datacompact.procurement.matching import Candidate, Lot, rank_candidates\n"
        "lot = Lot('L', '政务云运维', '监控', 'operations')\n"
        "rank_candidates(lot, [Candidate('a', 'A', capabilities='运维 监控')])\n"
    )
    # An empty bytecode cache makes jieba compile afresh, as on a new install, where its
    # regexes raise invalid-escape warnings; with -W error any warning would fail the run.
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout == ""

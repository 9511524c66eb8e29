"""Task matching (任务匹配): rank the enterprises that could take a lot, with reasons.

Paper §4.2 asks the platform to help match lots and enterprises, steward-style,
instead of one vendor receiving everything. :func:`rank_candidates` mixes four
components, each in [0, 1], with :class:`Weights`:

* ``fit``: how well the candidate's declared capabilities, past lots and
  qualification names fit the lot's title, description and category. Okapi
  BM25 over zh/en terms (jieba for Chinese), with a small bilingual glossary so
  that 运维 meets "operations"; divided by the best score in the pool.
* ``qualification``: a mandatory requirement not met excludes the candidate,
  with a reason; preferred ones, and levels above the minimum, add credit.
* ``kpi``: the candidate's delivery record: its past KPI score and, once owners
  have rated it, its mean rating (the mean of the two when both exist); with
  neither, a neutral prior.
* ``diversity``: favours spreading work (paper §4.1): 0 at a share of awarded
  value of ``share_cap``, halved by every ``contracts_half`` active contracts.

>>> lot = Lot("L1", "政务云运维", "7×24 监控与故障处置", "operations")
>>> a = Candidate("a", "云途", capabilities="Government cloud operations, monitoring")
>>> pool = [a, Candidate("b", "纸业", capabilities="办公用纸 印刷")]
>>> ranking = rank_candidates(lot, pool)
>>> [(m.candidate_id, m.components["fit"]) for m in ranking.matches]
[('a', 1.0)]
>>> ranking.excluded[0].reasons
('能力匹配 0.00 低于下限 0.05 / capability fit 0.00 below the 0.05 floor',)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Literal, get_args

from datacompact.catalog.search import terms as _search_terms
from datacompact.errors import InvalidInput

__all__ = ["LOT_CATEGORIES", "Candidate", "Excluded", "Lot", "LotCategory", "Match"]
__all__ += ["Qualification", "Ranking", "Requirement", "Weights", "rank_candidates"]

LotCategory = Literal[
    "module_development", "integration", "data_services", "operations", "security_assessment"
]
LOT_CATEGORIES: tuple[LotCategory, ...] = get_args(LotCategory)

# BM25 parameters (Robertson & Zaragoza 2009, §3.3: k1 in [1.2, 2.0], b = 0.75).
K1 = 1.2
B = 0.75
# Delivered lots are evidence, declared capabilities are claims: past lots weigh more.
_FIELD_WEIGHTS = {"past_lots": 1.5, "capabilities": 1.0, "qualifications": 1.0}
# A lot's title states its subject; its description adds detail and boilerplate.
_QUERY_WEIGHTS = {"title": 2.0, "description": 1.0, "category": 1.0}
# The category's own words ("security assessment") join the query; the glossary bridges them.
_CATEGORY_TEXT = {category: category.replace("_", " ") for category in LOT_CATEGORIES}
# Bilingual glossary: every word on a line also yields the concept token "~<first word>",
# so Chinese lots meet English capabilities and back. Kept small and procurement-specific.
_GLOSSARY = """
operations 运维 运行维护 维护 operation maintenance o&m 值守 巡检
development 开发 研发 develop developing 软件 software
integration 集成 对接 integrate interface interfaces 接口 api apis gateway 网关
monitoring 监控 监测 monitor alerting 告警
incident 故障 处置 incidents troubleshooting 应急
backup 备份 恢复 recovery disaster 灾备
cloud 云 政务云 上云 云平台
hosting 托管 机房 host datacenter 数据中心 storage 存储
governance 治理 govern
cleansing 清洗 cleaning 去重 deduplication
quality 质量 质检
analytics 分析 analysis dashboard dashboards 可视化 visualization bi
security 安全 网络安全 cybersecurity secure
assessment 测评 评估 assess testing 检测 测试
penetration 渗透 pentest pentesting
mlps 等保 等级保护
vulnerability 漏洞 vulnerabilities scanning 扫描
gis 地理信息 地图 map maps mapping 空间 spatial geospatial
mobile 移动 app apps 小程序 移动端
approval 审批 approvals 行政审批 permit permits
exchange 交换 共享 sharing
health 医疗 卫生 医保 medical healthcare hospital 医院
traffic 交通 信号 signal signals transport transportation
population 人口 户籍 residents census
ocr 识别 recognition 文字识别
ai 人工智能 智能 machine learning 模型 model models 算法 algorithm
tax 税务 税收 taxation
insurance 社保 保险 社会保险
warehouse 数据仓库 数仓 lake 数据湖
"""
_CONCEPT = {w: "~" + line.split()[0] for line in _GLOSSARY.split("\n") for w in line.split()}
# Chinese words (and ones like o&m) are found by substring, not by token: jieba's
# dictionary splits domain words such as 等保 or 小程序 into characters.
_BY_SUBSTRING: dict[str, tuple[str, ...]] = {}
for _word, _concept in _CONCEPT.items():
    if not _word.isalnum() or not _word.isascii():
        _BY_SUBSTRING[_concept] = (*_BY_SUBSTRING.get(_concept, ()), _word)
_STOPWORDS = frozenset(
    "a an and are as at be by for from in into is it its of on or our the their this to "
    "we with via per all any can will including provide provides based new "
    "的 了 和 与 及 等 在 对 为 是 并 或 以及 进行 提供 相关 包括 负责 工作 项目 建设 "
    "我们 公司 一 个 各 其 该 本 中 按 及其 有关 需 需要 要求 满足".split()
)


def _terms(text: str) -> list[str]:
    """Terms of zh/en text: jieba words, lower-cased English words, glossary concepts.

    Tokenization is shared with catalog search, whose jieba tokenizer is built
    once per process, quietly (no "Building prefix dict" log, no cache file).
    """
    out: list[str] = []
    for term in _search_terms(text):
        if term in _STOPWORDS or len(term) == 1:
            continue
        out.append(term)
        if term.isascii() and term in _CONCEPT:
            out.append(_CONCEPT[term])
    folded = text.casefold()
    for concept, words in _BY_SUBSTRING.items():
        # Overlapping synonyms (运维, 运行维护) would double count: take the most frequent.
        out.extend([concept] * max(folded.count(w) for w in words))
    return out


def _check_range(value: object, name: str, lo: float, hi: float, *, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        got = type(value).__name__
    elif math.isnan(value) or math.isinf(value):
        got = "a non-finite number"
    elif value < lo or value > hi or (strict and value == lo):
        got = "a negative number" if value < 0 else "a value out of range"
    else:
        return
    bounds = f"{'(' if strict else '['}{lo:g}, {hi:g}{')' if math.isinf(hi) else ']'}"
    raise InvalidInput(
        f"{name} 须在 {bounds} 内 / expected {name} in {bounds}, got {got}",
        details={"field": name},
    )


@dataclass(frozen=True)
class Qualification:
    """A qualification held on the bid date. Levels are ordinal, higher is stronger
    (the caller maps schemes whose top grade is 一级 onto this scale)."""

    name: str
    level: int = 1


@dataclass(frozen=True)
class Requirement:
    """A qualification a lot asks for: mandatory ones gate, preferred ones add credit."""

    name: str
    min_level: int = 1
    mandatory: bool = True


@dataclass(frozen=True)
class Lot:
    """The lot to staff: its texts (zh and/or en), category and requirements."""

    lot_id: str
    title: str
    description: str
    category: LotCategory
    requirements: tuple[Requirement, ...] = ()

    def __post_init__(self) -> None:
        if self.category not in LOT_CATEGORIES:
            raise InvalidInput(
                f"未知标段类别 / expected category in {', '.join(LOT_CATEGORIES)}, got another value",
                details={"field": "category"},
            )


@dataclass(frozen=True)
class Candidate:
    """An enterprise that could take the lot. ``candidate_id`` is its participant id.

    ``kpi`` is the mean KPI score (0–1) of its past contracts, ``None`` when it
    has none; ``rating`` the owners' mean rating of it scaled to 0–1
    (``(mean − 1) / 4``) over ``ratings`` ratings, ``None`` when none;
    ``awarded_share`` is its current share (0–1) of awarded value.
    """

    candidate_id: str
    name: str
    qualifications: tuple[Qualification, ...] = ()
    capabilities: str = ""
    past_lots: tuple[str, ...] = ()
    kpi: float | None = None
    awarded_share: float = 0.0
    active_contracts: int = 0
    rating: float | None = None
    ratings: int = 0

    def __post_init__(self) -> None:
        if self.kpi is not None:
            _check_range(self.kpi, "kpi", 0, 1)
        if self.rating is not None:
            _check_range(self.rating, "rating", 0, 1)
        _check_range(self.ratings, "ratings", 0, math.inf)
        _check_range(self.awarded_share, "awarded_share", 0, 1)
        _check_range(self.active_contracts, "active_contracts", 0, math.inf)


@dataclass(frozen=True)
class Weights:
    """How the components mix; the score is the weighted mean of the components.

    Defaults: fit leads because the lot has to be delivered; KPI rewards a
    delivery record; diversity tips close calls toward spreading work without
    handing lots to a misfit; qualification weighs least, as mandatory
    requirements already gate.
    """

    fit: float = 0.55
    qualification: float = 0.10
    kpi: float = 0.20
    diversity: float = 0.15

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_range(getattr(self, f.name), f"weights.{f.name}", 0, math.inf)
        if self.total == 0:
            raise InvalidInput(
                "权重之和须大于零 / expected weights summing to more than 0, got all zero",
                details={"field": "weights"},
            )

    @property
    def total(self) -> float:
        return self.fit + self.qualification + self.kpi + self.diversity


@dataclass(frozen=True)
class Match:
    """A ranked candidate: its score, the components behind it, and why (zh / en)."""

    candidate_id: str
    score: float
    components: Mapping[str, float]
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Excluded:
    """A candidate left out: it lacks a mandatory qualification, or fits below ``min_fit``."""

    candidate_id: str
    kind: Literal["qualification", "fit"]
    reasons: tuple[str, ...]  # zh / en
    #: The mandatory qualifications it lacks (kind ``qualification``).
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ranking:
    lot_id: str
    matches: tuple[Match, ...]
    excluded: tuple[Excluded, ...] = ()

    @property
    def empty_reason(self) -> str | None:
        """Why no candidate matched (zh / en), or None when some did.

        >>> Ranking("1", ()).empty_reason
        '没有可匹配的已批准企业 / no approved enterprise to match'
        >>> Ranking("1", (), (Excluded("7", "qualification", (), ("ITSS",)),)).empty_reason
        '全部 1 个候选企业都缺少必备资质 ITSS / every one of the 1 candidates lacked the mandatory qualification ITSS'
        """
        if self.matches:
            return None
        if not self.excluded:
            return "没有可匹配的已批准企业 / no approved enterprise to match"
        total = len(self.excluded)
        lacking = [e for e in self.excluded if e.kind == "qualification"]
        if len(lacking) == total:
            common = [q for q in lacking[0].missing if all(q in e.missing for e in lacking)]
            if common:
                named = "、".join(common)
                return (
                    f"全部 {total} 个候选企业都缺少必备资质 {named} / every one of the {total} "
                    f"candidates lacked the mandatory qualification {', '.join(common)}"
                )
            return (
                f"全部 {total} 个候选企业都缺少至少一项必备资质 / every one of the {total} "
                "candidates lacked at least one mandatory qualification"
            )
        unfit = total - len(lacking)
        if not lacking:
            return (
                f"全部 {total} 个候选企业的能力与标段几乎不相关 / every one of the {total} "
                "candidates' capabilities and past lots fit the lot too little"
            )
        return (
            f"{len(lacking)} 个候选企业缺少必备资质，{unfit} 个能力匹配过低 / {len(lacking)} "
            f"candidates lacked a mandatory qualification and {unfit} fit the lot too little"
        )


def _weighted_terms(parts: Iterable[tuple[str, float]]) -> dict[str, float]:
    tf: dict[str, float] = {}
    for text, weight in parts:
        for term in _terms(text):
            tf[term] = tf.get(term, 0.0) + weight
    return tf


def _bm25(query: Mapping[str, float], docs: list[dict[str, float]]) -> list[dict[str, float]]:
    """Per document, each matched query term's weighted Okapi BM25 contribution.

    A compact BM25 rather than a library (bm25s, rank-bm25): a lot's pool is a
    few dozen candidates, and the reasons need each term's contribution, which
    those libraries do not expose. Dicts keep insertion order, so float sums
    run in the same order on every call and the ranking is reproducible.
    """
    n = len(docs)
    lengths = [sum(d.values()) for d in docs]
    average = sum(lengths) / n or 1.0
    frequency = {t: sum(1 for d in docs if t in d) for t in query}
    out = []
    for doc, length in zip(docs, lengths, strict=True):
        contributions = {}
        for term, query_weight in query.items():
            tf = doc.get(term, 0.0)
            if tf:
                idf = math.log(1 + (n - frequency[term] + 0.5) / (frequency[term] + 0.5))
                norm = tf + K1 * (1 - B + B * length / average)
                contributions[term] = query_weight * idf * tf * (K1 + 1) / norm
        out.append(contributions)
    return out


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def _qualification(lot: Lot, c: Candidate) -> tuple[float, list[str], list[str], list[str]]:
    """(component, reasons, missing mandatory qualifications, their names) for the lot."""
    held: dict[str, int] = {}
    for q in c.qualifications:
        held[_key(q.name)] = max(held.get(_key(q.name), 0), q.level)
    credits, reasons, missing, names = [], [], [], []
    for r in lot.requirements:
        level = held.get(_key(r.name))
        zh = f"要求 ≥{r.min_level} 级，" + ("未持有" if level is None else f"持有 {level} 级")
        en = f"requires level ≥{r.min_level}, " + (
            "not held" if level is None else f"holds {level}"
        )
        if level is not None and level >= r.min_level:
            # Meeting the minimum earns 0.8; two levels above it earn the rest.
            credits.append(0.8 + 0.1 * min(2, level - r.min_level))
            reasons.append(f"满足资质 {r.name}（{zh}） / meets qualification {r.name} ({en})")
        elif r.mandatory:
            missing.append(
                f"缺少必备资质 {r.name}（{zh}） / lacks mandatory qualification {r.name} ({en})"
            )
            names.append(r.name)
        else:
            credits.append(0.0)
            reasons.append(
                f"缺少加分资质 {r.name}（{zh}） / lacks preferred qualification {r.name} ({en})"
            )
    # Nothing required, nothing missing: the same full credit for everyone.
    return (sum(credits) / len(credits) if credits else 1.0), reasons, missing, names


def _record_reason(c: Candidate, record: float) -> str:
    if c.kpi is None and c.rating is None:
        return (
            f"无履约记录，按中性先验 {record:.2f} 计 / no KPI history, neutral prior {record:.2f}"
        )
    if c.rating is None:
        return f"历史履约 KPI {record:.2f} / past KPI {record:.2f}"
    rated = (
        f"业主评价 {c.rating:.2f}（{c.ratings} 条）/ owners' rating {c.rating:.2f} ({c.ratings})"
    )
    if c.kpi is None:
        return f"{rated}，无 KPI 记录 / no KPI history"
    return (
        f"历史履约 KPI {c.kpi:.2f}；{rated}；合计 {record:.2f} / past KPI and rating: {record:.2f}"
    )


def rank_candidates(
    lot: Lot,
    candidates: Iterable[Candidate],
    *,
    weights: Weights | None = None,
    min_fit: float = 0.05,
    kpi_prior: float = 0.5,
    share_cap: float = 0.30,
    contracts_half: float = 3.0,
) -> Ranking:
    """Rank ``candidates`` for ``lot``: best first, ties by id; the others excluded with reasons.

    ``min_fit`` keeps out candidates whose texts have next to nothing in common
    with the lot, however good their KPI (0 keeps everyone). ``kpi_prior``
    stands in for a candidate with no KPI history, so a newcomer is neither
    rewarded nor punished. ``share_cap`` defaults to the share at which
    :func:`datacompact.oversight.concentration.alerts` raises an alert.
    """
    weights = weights or Weights()
    _check_range(min_fit, "min_fit", 0, 1)
    _check_range(kpi_prior, "kpi_prior", 0, 1)
    _check_range(share_cap, "share_cap", 0, 1, strict=True)
    _check_range(contracts_half, "contracts_half", 0, math.inf, strict=True)
    pool = list(candidates)
    if len({c.candidate_id for c in pool}) != len(pool):
        raise InvalidInput(
            "候选人重复 / expected distinct candidate ids, got a repeated id",
            details={"field": "candidates"},
        )
    texts = (lot.title, lot.description, _CATEGORY_TEXT[lot.category])
    query = _weighted_terms(zip(texts, _QUERY_WEIGHTS.values(), strict=True))
    docs = [
        _weighted_terms(
            [(text, _FIELD_WEIGHTS["past_lots"]) for text in c.past_lots]
            + [(c.capabilities, _FIELD_WEIGHTS["capabilities"])]
            + [(q.name, _FIELD_WEIGHTS["qualifications"]) for q in c.qualifications]
        )
        for c in pool
    ]
    # IDF comes from the whole pool, so the exclusions below do not move anyone's fit.
    contributions = _bm25(query, docs) if pool else []
    assessed = [(c, _qualification(lot, c), t) for c, t in zip(pool, contributions, strict=True)]
    best = max((sum(t.values()) for _, q, t in assessed if not q[2]), default=0.0)

    matches, excluded = [], []
    for c, (qualification, qualification_reasons, missing, lacked), terms in assessed:
        fit = sum(terms.values()) / best if best > 0 else 0.0
        if missing:
            excluded.append(
                Excluded(c.candidate_id, "qualification", tuple(missing), tuple(lacked))
            )
            continue
        if fit < min_fit:
            reason = f"能力匹配 {fit:.2f} 低于下限 {min_fit:.2f} / capability fit {fit:.2f} below the {min_fit:.2f} floor"
            excluded.append(Excluded(c.candidate_id, "fit", (reason,)))
            continue
        record = [v for v in (c.kpi, c.rating) if v is not None]
        kpi = sum(record) / len(record) if record else kpi_prior
        diversity = max(0.0, 1 - c.awarded_share / share_cap) / (
            1 + c.active_contracts / contracts_half
        )
        components = {
            "fit": fit,
            "qualification": qualification,
            "kpi": kpi,
            "diversity": diversity,
        }
        score = sum(getattr(weights, k) * v for k, v in components.items()) / weights.total
        top = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = list(dict.fromkeys(t.replace("~", "≈") for t, _ in top))[:6]
        reasons = [
            f"能力匹配 {fit:.2f}，命中：{'、'.join(shown) or '无'}"
            f" / capability fit {fit:.2f}, matched: {', '.join(shown) or 'none'}",
            *qualification_reasons,
            _record_reason(c, kpi),
            f"多样性 {diversity:.2f}：已占授予金额 {c.awarded_share:.0%}，在履约合同 {c.active_contracts} 个"
            f" / diversity {diversity:.2f}: {c.awarded_share:.0%} of awarded value,"
            f" {c.active_contracts} active contracts",
        ]
        if c.awarded_share >= share_cap:
            reasons.append(
                f"份额已达上限 {share_cap:.0%}，不加分 / share at or above the {share_cap:.0%} cap, no diversity credit"
            )
        rounded = {k: round(v, 4) for k, v in components.items()}
        matches.append(Match(c.candidate_id, round(score, 6), rounded, tuple(reasons)))
    matches.sort(key=lambda m: (-m.score, m.candidate_id))
    return Ranking(lot.lot_id, tuple(matches), tuple(excluded))

"""Query-overlap auditor: flag near-duplicate query pairs to the regulator.

Differencing is limited by each grant's DP budget; this auditor is the second
line. It reads a grantee's past queries and reports the pairs that look like
a differencing attack, two allowed aggregates whose difference is one entity.
It is a pure function of the query log: no store, no clock, no engine.

Every SQL text is brought to its canonical form
(:mod:`~datacompact.sandbox.canonical`): the *shape* (tables, joins, outputs,
grouping) and the *filter*, the set of ``WHERE`` and ``HAVING`` conjuncts. A
text that does not parse, or is not one query, is skipped: the sandbox
refused it, so it released nothing.

Pairs are only ever formed within one grantee, but across that grantee's
grants, since an attack can be split over two grants. Queries are bucketed by
(grantee, shape), and within a bucket identical canonical forms collapse to
one *variant*. The rules, from the most severe finding to the least:

``predicate_difference``
    Same shape, and the filters differ by one conjunct added or removed
    (``age > 30`` vs ``age > 30 AND id <> 'x'``); or by one range bound,
    reported for neighbours in the sorted order of the bounds
    (``BETWEEN 1 AND 100`` vs ``BETWEEN 1 AND 99``); or by one value of an
    ``IN`` list (``IN (a, b, c)`` vs ``IN (a, b)``). Two conjuncts that only
    differ in an equality value (``district = 'd0'`` vs ``'d1'``) are disjoint
    groups, the ordinary way to explore data, and are not a rule of their own.
``complement``
    Same shape, and one filter holds the negation of a conjunct of the other
    (``A AND B`` vs ``A AND NOT B``).
``same_query_repeated``
    The same canonical form again: repeating a DP query averages its noise
    away. Reported for consecutive runs, so ``n`` runs give ``n - 1`` findings.
``similar``
    The catch-all: the Jaccard similarity of the two queries' fingerprints
    (the shape's parts and the filter conjuncts, literals included) is at
    least ``threshold``. Each variant is linked to its most similar earlier
    variant in the bucket that no rule above already paired it with.

A pair of variants is reported once, with its most severe kind, and names
the earliest query of each variant. ``similarity`` is always the Jaccard
score, so a finding of a structural rule may score below ``threshold``:
the threshold only gates ``similar``.

Cost. Parsing each distinct text once is linear and dominates (sqlglot parses
a typical query in a few tenths of a millisecond). Within a bucket of ``v``
variants of at most ``k`` conjuncts, the structural rules are hash look-ups
of the filter with one conjunct removed, ``O(v·k²)``, plus a sort of range
bounds (an ``IN`` list of more than 256 values is not probed). ``similar``
uses prefix filtering on the rarest conjuncts and scores at most 32
candidates per variant, the most recent first: ``O(v·32·k)``. No pair across
buckets is ever looked at, so with ``k`` small the audit is linear in the
log, never quadratic, whatever the number or size of the buckets.

Reasons are bilingual and name the *columns* of the differing conjunct,
never a literal, which may be personal data (an ID number, say). A name that
could not be a granted column (:func:`~.grants.is_plain_name`) is shown as ``?``.

>>> from datetime import UTC, datetime
>>> at = datetime(2025, 1, 1, tzinfo=UTC)
>>> log = [
...     QueryRecord(1, "g1", "p1", "SELECT COUNT(*) FROM sbk WHERE age > 30", at),
...     QueryRecord(2, "g2", "p1", "select count(1) as n from sbk s where s.age > 30 and s.pid <> '110105199001011234'", at),
... ]
>>> [finding] = find_overlaps(log)
>>> finding.kind, finding.first_id, finding.second_id, finding.grant_ids
('predicate_difference', 1, 2, ('g1', 'g2'))
>>> finding.reason_en
'query #2 adds one condition on column pid to query #1: the difference of the two aggregates can isolate the rows it excludes (across grants g1 and g2)'
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Literal, get_args

from datacompact.errors import InvalidInput
from datacompact.sandbox.canonical import Canonical, Conjunct, canonicalize

FindingKind = Literal["predicate_difference", "complement", "same_query_repeated", "similar"]
#: Kinds from the most to the least severe; findings are sorted in this order.
SEVERITY: tuple[FindingKind, ...] = get_args(FindingKind)

_MAX_CANDIDATES = 32
_MAX_LIST_PROBES = 256


@dataclass(frozen=True)
class QueryRecord:
    """One query of the log: who ran which SQL under which grant, and when."""

    query_id: int
    grant_id: str
    #: The participant id or code of the grantee; pairs never cross grantees.
    grantee: str
    sql: str
    at: datetime

    def __post_init__(self) -> None:
        if not self.grant_id or not self.grantee:
            raise InvalidInput("查询记录缺少授权或被授权方 / expected a grant id and a grantee")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise InvalidInput(
                "时间缺少时区 / expected an aware datetime for the query time, got a naive one",
                details={"query_id": self.query_id},
            )


@dataclass(frozen=True)
class OverlapFinding:
    """Two queries of one grantee that look like a differencing attack."""

    first_id: int
    second_id: int
    #: The grants of the two queries, sorted; two of them when the pair crosses grants.
    grant_ids: tuple[str, ...]
    grantee: str
    kind: FindingKind
    #: Jaccard similarity of the two queries' fingerprints, in [0, 1].
    similarity: float
    reason_zh: str
    reason_en: str
    #: The columns of the differing conjuncts (names only, never values).
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SEVERITY:
            raise InvalidInput(f"未知的发现类型 / unknown finding kind, expected one of {SEVERITY}")
        if not 0.0 <= self.similarity <= 1.0:
            raise InvalidInput("相似度无效 / expected a similarity between 0 and 1")

    @property
    def reason(self) -> str:
        """The bilingual reason, ``"中文 / English"``."""
        return f"{self.reason_zh} / {self.reason_en}"


def find_overlaps(
    queries: Iterable[QueryRecord], *, threshold: float = 0.8
) -> list[OverlapFinding]:
    """The near-duplicate pairs in ``queries``, most severe first, then most similar."""
    if not 0.0 < threshold <= 1.0:
        raise InvalidInput("相似度阈值无效 / expected a threshold in (0, 1]")
    records = sorted(queries, key=lambda r: (r.at, r.query_id))
    ids = Counter(r.query_id for r in records)
    if any(count > 1 for count in ids.values()):
        raise InvalidInput("查询编号重复 / expected unique query ids")
    parsed: dict[str, Canonical | None] = {}
    buckets: dict[tuple[str, str], dict[frozenset[str], _Variant]] = {}
    for record in records:
        if record.sql not in parsed:
            parsed[record.sql] = canonicalize(record.sql)
        canon = parsed[record.sql]
        if canon is None:
            continue
        variants = buckets.setdefault((record.grantee, canon.shape), {})
        variant = variants.get(canon.filters)
        if variant is None:
            variant = variants[canon.filters] = _Variant(canon)
        variant.members.append(record)
    findings: list[OverlapFinding] = []
    for (grantee, _), variants in buckets.items():
        findings.extend(_Bucket(grantee, list(variants.values()), threshold).audit())
    findings.sort(key=lambda f: (SEVERITY.index(f.kind), -f.similarity, f.first_id, f.second_id))
    return findings


@dataclass
class _Variant:
    canon: Canonical
    members: list[QueryRecord] = field(default_factory=list)


# -- pairs within one bucket ----------------------------------------------------------


@dataclass
class _Pair:
    kind: FindingKind
    detail: str  # "added" | "removed" | "range" | "list" for predicate_difference
    columns: tuple[str, ...]


class _Bucket:
    """The variants of one (grantee, shape), in the order they first ran."""

    def __init__(self, grantee: str, variants: Sequence[_Variant], threshold: float) -> None:
        self.grantee = grantee
        self.variants = variants
        self.threshold = threshold
        self.pairs: dict[tuple[int, int], _Pair] = {}

    def audit(self) -> list[OverlapFinding]:
        findings = [
            self._finding(a, b, "same_query_repeated", "", (), 1.0)
            for variant in self.variants
            for a, b in pairwise(variant.members)
        ]
        self._structural()
        self._similar()
        for (i, j), pair in self.pairs.items():
            first, second = self.variants[i], self.variants[j]
            findings.append(
                self._finding(
                    first.members[0],
                    second.members[0],
                    pair.kind,
                    pair.detail,
                    pair.columns,
                    round(self._jaccard(first, second), 4),
                )
            )
        return findings

    def _add(
        self, i: int, j: int, kind: FindingKind, detail: str, columns: tuple[str, ...]
    ) -> None:
        key = (min(i, j), max(i, j))
        if detail in ("added", "removed"):
            # Name the change as it happened in time: the later query added or dropped it.
            detail = "added" if i > j else "removed"
        old = self.pairs.get(key)
        if old is None or SEVERITY.index(kind) < SEVERITY.index(old.kind):
            self.pairs[key] = _Pair(kind, detail, columns)

    def _structural(self) -> None:
        by_filters = {v.canon.filters: i for i, v in enumerate(self.variants)}
        rests: dict[frozenset[str], list[tuple[int, Conjunct]]] = defaultdict(list)
        for i, variant in enumerate(self.variants):
            filters = variant.canon.filters
            for key, conjunct in variant.canon.conjuncts.items():
                rest = filters - {key}
                j = by_filters.get(rest)
                if j is not None:
                    self._add(i, j, "predicate_difference", "added", conjunct.columns)
                rests[rest].append((i, conjunct))
        # Entries of one rest differ from each other in exactly one conjunct.
        for entries in rests.values():
            if len(entries) > 1:
                self._complements(entries)
                self._ranges(entries)
                self._lists(entries)

    def _complements(self, entries: list[tuple[int, Conjunct]]) -> None:
        by_key = {c.key: i for i, c in entries}
        for i, conjunct in entries:
            j = by_key.get(conjunct.negation)
            if j is not None and j > i:
                self._add(i, j, "complement", "", conjunct.columns)

    def _ranges(self, entries: list[tuple[int, Conjunct]]) -> None:
        groups: dict[str, list[tuple[int, Conjunct]]] = defaultdict(list)
        for i, c in entries:
            if c.family == "range":
                groups[c.template].append((i, c))
        for group in groups.values():
            # Neighbouring bounds give the thinnest slices, the ones that single people out.
            group.sort(key=lambda e: (e[1].order, e[0]))
            for (i, c), (j, _) in pairwise(group):
                self._add(i, j, "predicate_difference", "range", c.columns)

    def _lists(self, entries: list[tuple[int, Conjunct]]) -> None:
        groups: dict[str, dict[frozenset[str], int]] = defaultdict(dict)
        for i, c in entries:
            if c.family == "list":
                groups[c.template][c.values] = i
        for i, c in entries:
            if c.family != "list" or len(c.values) > _MAX_LIST_PROBES:
                continue
            lists = groups[c.template]
            for value in c.values:
                j = lists.get(c.values - {value})
                if j is not None:
                    self._add(i, j, "predicate_difference", "list", c.columns)

    def _similar(self) -> None:
        # A variant a structural rule already tied to an earlier one needs no catch-all.
        linked = {later for _, later in self.pairs}
        frequency = Counter(k for v in self.variants for k in v.canon.filters)
        index: dict[str, list[int]] = defaultdict(list)
        everyone: list[int] = []  # the shape, which every variant of the bucket shares
        for i, variant in enumerate(self.variants):
            ordered = sorted(variant.canon.filters, key=lambda k: (frequency[k], k))
            size = len(ordered) + variant.canon.shape_size
            # Prefix filtering: two sets with Jaccard >= t share one of these tokens.
            length = size - math.ceil(self.threshold * size - 1e-9) + 1
            prefix = ordered[:length]
            if i not in linked:
                postings = [index[k] for k in prefix]
                if length > len(ordered):  # the prefix reaches into the shape
                    postings.append(everyone)
                self._link(i, _recent(postings, _MAX_CANDIDATES))
            for k in prefix:
                index[k].append(i)
            everyone.append(i)

    def _link(self, i: int, candidates: list[int]) -> None:
        variant = self.variants[i]
        best, best_score = -1, self.threshold
        for j in candidates:
            score = self._jaccard(self.variants[j], variant)
            if score > best_score or (score == best_score and j > best):
                best, best_score = j, score
        if best >= 0:
            other = self.variants[best]
            changed = other.canon.filters ^ variant.canon.filters
            conjuncts = {**other.canon.conjuncts, **variant.canon.conjuncts}
            columns = tuple(sorted({c for k in changed for c in conjuncts[k].columns}))
            self.pairs[(best, i)] = _Pair("similar", "", columns)

    @staticmethod
    def _jaccard(a: _Variant, b: _Variant) -> float:
        # The shape is common to a bucket, so it counts in both intersection and union.
        shared = len(a.canon.filters & b.canon.filters) + a.canon.shape_size
        union = len(a.canon.filters) + len(b.canon.filters) + 2 * a.canon.shape_size - shared
        return shared / union

    def _finding(
        self,
        first: QueryRecord,
        second: QueryRecord,
        kind: FindingKind,
        detail: str,
        columns: tuple[str, ...],
        similarity: float,
    ) -> OverlapFinding:
        grants = tuple(sorted({first.grant_id, second.grant_id}))
        zh, en = _reason(kind, detail, first.query_id, second.query_id, columns, similarity)
        if len(grants) > 1:
            zh += f"（跨授权 {'、'.join(grants)}）"
            en += f" (across grants {' and '.join(grants)})"
        return OverlapFinding(
            first_id=first.query_id,
            second_id=second.query_id,
            grant_ids=grants,
            grantee=self.grantee,
            kind=kind,
            similarity=similarity,
            reason_zh=zh,
            reason_en=en,
            columns=columns,
        )


def _recent(postings: list[list[int]], limit: int) -> list[int]:
    """Up to ``limit`` distinct ids from the ends of ``postings``, the most recent first."""
    found: dict[int, None] = {}
    for posting in postings:
        for j in reversed(posting):
            if len(found) >= limit:
                return list(found)
            found[j] = None
    return list(found)


def _reason(
    kind: FindingKind, detail: str, a: int, b: int, columns: tuple[str, ...], similarity: float
) -> tuple[str, str]:
    zh, en = _REASONS[detail or kind]
    names = {
        "a": a,
        "b": b,
        "sim": f"{similarity:.2f}",
        "zh": f"列 {'、'.join(columns)} " if columns else "不含列的表达式",
        "en": f"column{'s' if len(columns) > 1 else ''} {', '.join(columns)}"
        if columns
        else "an expression without columns",
    }
    # "列 age " keeps the space before following Chinese, not before punctuation.
    text = zh.format(**names).replace(" ：", "：").replace(" （", "（").rstrip()
    return text, en.format(**names)


_ISOLATES = (
    "两次聚合之差可以孤立出被排除的行",
    "the difference of the two aggregates can isolate the rows it excludes",
)
#: Reason templates by kind, or by detail for predicate_difference. They take
#: query ids, column names and the score, never a literal of the query.
_REASONS: dict[str, tuple[str, str]] = {
    "added": (
        "查询 #{b} 在查询 #{a} 的基础上增加了一个关于{zh}的条件：" + _ISOLATES[0],
        "query #{b} adds one condition on {en} to query #{a}: " + _ISOLATES[1],
    ),
    "removed": (
        "查询 #{b} 去掉了查询 #{a} 中一个关于{zh}的条件：" + _ISOLATES[0],
        "query #{b} drops one condition on {en} from query #{a}: " + _ISOLATES[1],
    ),
    "range": (
        "查询 #{a} 与 #{b} 仅在{zh}的范围边界上不同：两次聚合之差覆盖两个边界之间的行",
        "queries #{a} and #{b} differ only in a range bound on {en}: "
        "the difference of the two aggregates covers the rows between the bounds",
    ),
    "list": (
        "查询 #{a} 与 #{b} 仅在{zh}的 IN 列表中相差一个值：两次聚合之差孤立出该值对应的行",
        "queries #{a} and #{b} differ by one value of an IN list on {en}: "
        "the difference of the two aggregates isolates the rows of that value",
    ),
    "complement": (
        "查询 #{b} 对查询 #{a} 中关于{zh}的条件取反：两者把同一群组一分为二，任一部分都可能只含少数个体",
        "query #{b} negates a condition on {en} of query #{a}: "
        "together they split one group in two, and either part can hold only a few individuals",
    ),
    "same_query_repeated": (
        "查询 #{b} 重复了查询 #{a}：重复查询可以平均掉差分隐私噪声",
        "query #{b} repeats query #{a}: repeating a query averages away the DP noise",
    ),
    "similar": (
        "查询 #{a} 与 #{b} 高度相似（相似度 {sim}），差异涉及{zh}",
        "queries #{a} and #{b} are near-duplicates (similarity {sim}), differing on {en}",
    ),
}

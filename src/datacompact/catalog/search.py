"""Catalog search: tokenization of zh/en text and BM25 ranking with filters.

:func:`terms` splits text into search terms. Runs of Chinese characters go
through jieba in search mode (``cut_for_search``: words and their shorter
sub-words, so 社会保险 also matches 保险); Latin letters and digits become
lower-cased word tokens.

jieba is used quietly and offline. The platform builds its own
``jieba.Tokenizer`` from the dictionary inside the installed package, once per
process (about half a second), so jieba never logs "Building prefix dict" to
stderr and never reads or writes its cache file, a ``marshal`` dump in the
shared temp folder that another local user could replace.

:func:`rank` scores documents with Okapi BM25 (Robertson & Zaragoza 2009),
field-weighted (a name hit counts more than a description hit), after exact
filters on facets such as holder, grade, share type and theme. A resource's
market rating (:func:`rating_boost`) scales its score a little, so among
equally relevant entries the better rated comes first. The lead's
store can hand it the candidate documents; :class:`SearchIndex` keeps them in
memory.

>>> terms("社会保险缴费 Social-Insurance 2024")
['社会', '保险', '社会保险', '缴费', 'social', 'insurance', '2024']
"""

from __future__ import annotations

import math
import re
import threading
import warnings
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Document", "Hit", "SearchIndex", "add_words", "rank", "rating_boost", "terms"]

# Words the default jieba dictionary splits too finely for a government catalog.
DOMAIN_WORDS = ("统一社会信用代码", "行政区划", "社保", "公积金", "医保", "不动产", "营业执照")
# BM25 parameters (Robertson & Zaragoza 2009, §3.3: k1 in [1.2, 2.0], b = 0.75).
K1 = 1.2
B = 0.75
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"name_zh": 3.0, "name_en": 3.0, "tags": 2.0, "description_zh": 1.0, "description_en": 1.0}
)

_SPLIT = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)|([0-9A-Za-z]+)")
_lock = threading.Lock()
_tokenizer: Any = None
_pending: list[str] = list(DOMAIN_WORDS)


def _jieba() -> Any:
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            with warnings.catch_warnings():
                # jieba 0.42 imports pkg_resources when setuptools is present, which warns.
                warnings.simplefilter("ignore")
                import jieba  # type: ignore[import-untyped, unused-ignore]

            tokenizer = jieba.Tokenizer()
            with tokenizer.get_dict_file() as dictionary:
                tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(dictionary)
            # Marking it initialized skips jieba's own loader: no log line, no cache file.
            tokenizer.initialized = True
            _tokenizer = tokenizer
        while _pending:
            _tokenizer.add_word(_pending.pop())
        return _tokenizer


def add_words(words: Iterable[str]) -> None:
    """Teach the segmenter domain words (e.g. a department's name) before or after first use."""
    with _lock:
        _pending.extend(w.strip() for w in words if w.strip())


def terms(text: str) -> list[str]:
    """Search terms of ``text``: jieba search-mode words for Chinese, lower-cased words otherwise."""
    out: list[str] = []
    for match in _SPLIT.finditer(text):
        chinese, word = match.groups()
        if chinese:
            out.extend(t for t in _jieba().cut_for_search(chinese, HMM=True) if t.strip())
        else:
            out.append(word.lower())
    return out


@dataclass(frozen=True)
class Document:
    """A searchable resource: text fields by name, and facets to filter on."""

    id: str
    fields: Mapping[str, str]
    facets: Mapping[str, str | Collection[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A ranked result; ``score`` is 0 when only filters were given."""

    id: str
    score: float


def _matches(doc: Document, filters: Mapping[str, str | Collection[str]]) -> bool:
    for key, wanted in filters.items():
        have = doc.facets.get(key)
        if have is None:
            return False
        have_set = {have} if isinstance(have, str) else set(have)
        wanted_set = {wanted} if isinstance(wanted, str) else set(wanted)
        if not have_set & wanted_set:
            return False
    return True


class _Analyzed:
    """A document's weighted term frequencies and weighted length."""

    def __init__(self, doc: Document, weights: Mapping[str, float]) -> None:
        self.doc = doc
        self.tf: dict[str, float] = {}
        for name, text in doc.fields.items():
            weight = weights.get(name, 1.0)
            for term in terms(text):
                self.tf[term] = self.tf.get(term, 0.0) + weight
        self.length = sum(self.tf.values())


#: The most a rating moves a score: a mean of 5 (or 1) over many ratings is ×1.2 (×0.8).
RATING_WEIGHT = 0.2
#: Ratings it takes for a mean to count half: one 5-star rating barely moves a score.
RATING_PRIOR = 5


def rating_boost(mean: float, count: int) -> float:
    """The factor on a resource's BM25 score from its users' mean rating (1–5) and their count.

    ``1 + RATING_WEIGHT · (mean − 3) / 2 · count / (count + RATING_PRIOR)``: a
    middling or absent rating leaves the score as it is, and the mean weighs
    more as the ratings add up, so relevance still leads.

    >>> rating_boost(5.0, 5), rating_boost(3.0, 100), rating_boost(1.0, 0)
    (1.1, 1.0, 1.0)
    """
    if count <= 0:
        return 1.0
    return 1 + RATING_WEIGHT * (mean - 3) / 2 * count / (count + RATING_PRIOR)


def _bm25(
    query: Sequence[str],
    docs: Sequence[_Analyzed],
    limit: int,
    boosts: Mapping[str, float] | None = None,
) -> list[Hit]:
    if not docs:
        return []
    average = sum(d.length for d in docs) / len(docs) or 1.0
    unique = list(dict.fromkeys(query))
    frequency = {t: sum(1 for d in docs if t in d.tf) for t in unique}
    hits = []
    for d in docs:
        score = 0.0
        for t in unique:
            tf = d.tf.get(t, 0.0)
            if tf:
                idf = math.log(1 + (len(docs) - frequency[t] + 0.5) / (frequency[t] + 0.5))
                score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * d.length / average))
        if score > 0:
            score *= (boosts or {}).get(d.doc.id, 1.0)
            hits.append(Hit(d.doc.id, round(score, 6)))
    hits.sort(key=lambda h: (-h.score, _id_order(h.id)))
    return hits[:limit]


def _id_order(document_id: str) -> tuple[int, str]:
    """Ids in numeric order when they are numbers (2 before 10), as text otherwise."""
    return (len(document_id), document_id) if document_id.isdigit() else (1 << 30, document_id)


def rank(
    query: str,
    documents: Iterable[Document],
    *,
    filters: Mapping[str, str | Collection[str]] | None = None,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    limit: int = 20,
    boosts: Mapping[str, float] | None = None,
) -> list[Hit]:
    """Rank ``documents`` for ``query`` (BM25 over weighted fields) after exact facet filters.

    ``boosts`` scales the score of a document by its id (:func:`rating_boost`).
    With a blank query the filtered documents come back in id order, score 0.
    """
    kept = [d for d in documents if _matches(d, filters or {})]
    query_terms = terms(query)
    if not query_terms:
        return [Hit(d.id, 0.0) for d in sorted(kept, key=lambda d: _id_order(d.id))][:limit]
    return _bm25(query_terms, [_Analyzed(d, weights) for d in kept], limit, boosts)


class SearchIndex:
    """Documents kept in memory, analyzed once, searchable with :meth:`search`."""

    def __init__(self, *, weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> None:
        self._weights = weights
        self._docs: dict[str, _Analyzed] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, document: Document) -> None:
        """Add or replace a document."""
        self._docs[document.id] = _Analyzed(document, self._weights)

    def remove(self, document_id: str) -> None:
        self._docs.pop(document_id, None)

    def search(
        self,
        query: str,
        *,
        filters: Mapping[str, str | Collection[str]] | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        kept = [a for a in self._docs.values() if _matches(a.doc, filters or {})]
        query_terms = terms(query)
        if not query_terms:
            return [Hit(a.doc.id, 0.0) for a in sorted(kept, key=lambda a: a.doc.id)][:limit]
        return _bm25(query_terms, kept, limit)

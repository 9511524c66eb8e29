"""Catalog search: zh/en terms with a quiet, offline jieba; BM25 ranking with filters."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from datacompact.catalog import search
from datacompact.catalog.search import Document, SearchIndex, add_words, rank, terms

DOCS = [
    Document(
        id="r1",
        fields={"name_zh": "社会保险缴费明细", "name_en": "Social insurance contributions"},
        facets={
            "holder": "hrss",
            "grade": "important",
            "share_type": "conditional",
            "theme": ["society"],
        },
    ),
    Document(
        id="r2",
        fields={
            "name_zh": "企业登记信息",
            "description_zh": "含统一社会信用代码与社会保险登记状态",
        },
        facets={
            "holder": "amr",
            "grade": "general-2",
            "share_type": "unconditional",
            "theme": ["economy"],
        },
    ),
    Document(
        id="r3",
        fields={
            "name_zh": "公共设施",
            "name_en": "Public facilities",
            "description_en": "Parks and libraries",
        },
        facets={
            "holder": "bureau",
            "grade": "general-1",
            "share_type": "unconditional",
            "theme": ["government", "society"],
        },
    ),
]


def test_terms_chinese_search_mode_and_english_words() -> None:
    assert terms("社会保险") == ["社会", "保险", "社会保险"]
    assert terms("Public-Facilities, 2024!") == ["public", "facilities", "2024"]
    assert terms("统一社会信用代码") == ["统一", "社会", "信用", "代码", "统一社会信用代码"]
    assert terms("  ，。!  ") == []


def test_jieba_is_quiet_and_writes_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(search, "_tokenizer", None)
    monkeypatch.setattr(search, "_pending", [])
    logging.getLogger("jieba").setLevel(logging.DEBUG)  # even at DEBUG nothing is logged
    assert terms("门诊就诊记录") == ["门诊", "就诊", "记录"]
    out, err = capfd.readouterr()
    assert out == ""
    assert err == ""
    assert list(tmp_path.iterdir()) == []


def test_add_words() -> None:
    assert "数据资源登记" not in terms("数据资源登记")
    add_words(["数据资源登记", " "])
    assert "数据资源登记" in terms("数据资源登记")


def test_rank_prefers_name_hits() -> None:
    hits = rank("社会保险", DOCS)
    assert [h.id for h in hits] == ["r1", "r2"]
    assert hits[0].score > hits[1].score > 0


def test_rank_english_and_mixed() -> None:
    assert [h.id for h in rank("libraries", DOCS)] == ["r3"]
    assert next(h.id for h in rank("social 保险", DOCS)) == "r1"
    assert rank("不存在的词", DOCS) == []


def test_filters() -> None:
    assert [h.id for h in rank("社会保险", DOCS, filters={"holder": "amr"})] == ["r2"]
    assert [h.id for h in rank("", DOCS, filters={"theme": "society"})] == ["r1", "r3"]
    both = rank(
        "", DOCS, filters={"share_type": "unconditional", "theme": ["economy", "government"]}
    )
    assert [(h.id, h.score) for h in both] == [("r2", 0.0), ("r3", 0.0)]
    assert rank("", DOCS, filters={"missing_facet": "x"}) == []
    assert len(rank("", DOCS, limit=2)) == 2


def test_index_matches_rank() -> None:
    index = SearchIndex()
    for doc in DOCS:
        index.add(doc)
    assert len(index) == 3
    assert index.search("社会保险") == rank("社会保险", DOCS)
    index.remove("r1")
    index.remove("absent")
    assert [h.id for h in index.search("社会保险")] == ["r2"]
    assert [h.id for h in index.search("", filters={"grade": ["general-1", "general-2"]})] == [
        "r2",
        "r3",
    ]

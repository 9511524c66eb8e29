"""PII detection measured on the labelled synthetic corpus; precision and recall per type."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest import PII_TYPES, detect_pii
from tests.ingest import _corpus

CHECKSUM_TYPES = ("resident_id", "uscc", "bank_card")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, frozenset[str]]]:
    data, labels = _corpus.generate()
    path = tmp_path_factory.mktemp("pii") / "corpus.parquet"
    pq.write_table(pa.table(data), path)
    return path, labels


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sample", "full"])
def test_precision_and_recall_per_type(
    corpus: tuple[Path, dict[str, frozenset[str]]], mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, labels = corpus
    findings = detect_pii(path, mode=mode, sample_rows=1_500)  # type: ignore[arg-type]
    found: dict[str, set[str]] = {}
    for f in findings:
        found.setdefault(f.column, set()).add(f.type)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for column, wanted in labels.items():
        got = found.get(column, set())
        tp.update(got & wanted)
        fp.update(got - wanted)
        fn.update(wanted - got)
    scores = {}
    with capsys.disabled():
        print(f"\nPII detection, {mode} mode, {len(labels)} labelled columns:")
        print(f"  {'type':<14} {'precision':>9} {'recall':>7}  (tp/fp/fn)")
        for kind in PII_TYPES:
            precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 1.0
            recall = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else 1.0
            scores[kind] = (precision, recall)
            print(
                f"  {kind:<14} {precision:>9.2f} {recall:>7.2f}  ({tp[kind]}/{fp[kind]}/{fn[kind]})"
            )
    for kind in CHECKSUM_TYPES:
        assert min(scores[kind]) >= 0.95, kind
    for kind in PII_TYPES:
        assert min(scores[kind]) >= 0.9, kind


@pytest.mark.slow
def test_findings_carry_no_values(corpus: tuple[Path, dict[str, frozenset[str]]]) -> None:
    path, _ = corpus
    data = pq.read_table(path)
    findings = detect_pii(path)
    text = json.dumps([f.to_dict() for f in findings], ensure_ascii=False)
    for column in ("身份证号", "手机号码", "姓名", "电子邮箱"):
        for value in data.column(column).to_pylist()[:50]:
            assert value not in text
    by_column = {(f.column, f.type): f for f in findings}
    ids = by_column[("身份证号", "resident_id")]
    assert ids.share == 1.0
    assert ids.confidence >= 0.95
    assert ids.sensitive
    assert ids.personal
    assert by_column[("备注_身份证", "resident_id")].in_text
    assert not by_column[("统一社会信用代码", "uscc")].personal


@pytest.mark.slow
def test_dirty_share_is_reported(corpus: tuple[Path, dict[str, frozenset[str]]]) -> None:
    path, _ = corpus
    f = next(f for f in detect_pii(path, mode="full") if f.column == "c_id_dirty")
    # 10% missing, 15% junk: about 0.83 of the non-missing values are IDs.
    assert 0.78 < f.share < 0.88
    assert f.checked < 4000


def test_date_columns_and_numbers(tmp_path: Path) -> None:
    import datetime as dt

    days = [dt.date(1950, 1, 1) + dt.timedelta(days=97 * i) for i in range(300)]
    recent = [dt.date(2024, 1, 1) + dt.timedelta(days=i % 90) for i in range(300)]
    table = pa.table({"csrq": days, "d": days, "交易日": recent, "n": list(range(300))})
    pq.write_table(table, tmp_path / "t.parquet")
    got = {(f.column, f.type) for f in detect_pii(tmp_path / "t.parquet")}
    assert got == {("csrq", "date_of_birth"), ("d", "date_of_birth")}


def test_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(MalformedInput):
        detect_pii(tmp_path / "x.parquet")
    with pytest.raises(InvalidInput):
        detect_pii(tmp_path / "x.parquet", mode="fast")  # type: ignore[arg-type]

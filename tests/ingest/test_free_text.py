"""PII inside free text: what is found, at which share, and what is never taken for PII.

The labelled corpus of ``tests/data/free_text`` (written by
``benchmarks/ingest/free_text_corpus.py``, provenance in its README) is
measured column by column: precision and recall per type and share on the
``dev`` split and on the ``heldout`` split, whose seed, templates and number
formats the detector was not developed on.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from stdnum import luhn
from stdnum.cn import ric

from datacompact.ingest import detect_pii

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "free_text"
PHONE = {"mobile": "phone", "landline": "phone"}
FILLER = ("材料已收齐，待审核", "已电话回访，群众表示满意", "Follow up next week", "情况属实")


def _id(r: random.Random) -> str:
    stem = (
        f"330106{1950 + r.randrange(60)}0{r.randint(1, 9)}1{r.randint(0, 9)}{r.randrange(1000):03d}"
    )
    return stem + ric.calc_check_digit(stem + "0")


def _card(r: random.Random) -> str:
    stem = "62" + "".join(str(r.randrange(10)) for _ in range(16))
    return stem + luhn.calc_check_digit(stem)


def _grouped(card: str) -> str:
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def _mobile(r: random.Random) -> str:
    return r.choice(("138", "139", "186")) + f"{r.randrange(10**8):08d}"


def _column(tmp_path: Path, values: Sequence[str | None], name: str = "备注") -> Path:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({name: pa.array(values, pa.string())}), path)
    return path


def _remarks(r: random.Random, rows: int, share: float, make: Any) -> list[str | None]:
    carriers = set(r.sample(range(rows), round(rows * share)))
    return [f"来电人{make(r)}反映问题" if i in carriers else r.choice(FILLER) for i in range(rows)]


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (_id, "resident_id"),
        (lambda r: _id(r).lower(), "resident_id"),
        (_card, "bank_card"),
        (lambda r: _grouped(_card(r)), "bank_card"),
        (_mobile, "mobile"),
        (lambda r: "+86 " + _mobile(r), "mobile"),
        (lambda r: (m := _mobile(r))[:3] + "-" + m[3:7] + "-" + m[7:], "mobile"),
        (lambda r: f"0571-8{r.randrange(10**7):07d}", "landline"),
        (lambda r: f"user{r.randrange(10**6)}@example.org", "email"),
    ],
)
def test_one_percent_is_found_with_its_share(tmp_path: Path, make: Any, kind: str) -> None:
    r = random.Random(7)
    values = _remarks(r, 2_000, 0.01, make) + [None] * 500
    (finding,) = detect_pii(_column(tmp_path, values))
    assert (finding.type, finding.in_text) == (kind, True)
    assert finding.share == 0.01
    assert finding.matched == 20
    assert finding.checked == 2_000
    assert finding.rows == 2_500
    assert finding.row_share == 0.008
    assert finding.to_dict()["row_share"] == 0.008


@pytest.mark.parametrize(
    "decoy",
    [
        "已缴费¥1,234.56",
        "退款1234.00元",
        "合计13812345678元",
        "金额 ￥13812345678",
        "办结日期20240131",
        "预约于2024-01-31 13:45:00",
        "ts=1706659200 / 1706659200123",
        "订单号 DD20240131138123",
        "订单号13812345678",
        "Order No. 13912345678",
        "合同编号：HT-2024-13812345678",
        "invoice INV13812345678",
        "邮编310012",
        "单据13812345678901234",
        "统一社会信用代码91330106MA2B3C4D5E",
        "快递单号SF1234567890123",
        "shipped via 773012345678901",
        "档案20123456789已归档",
        "icon@2x.png",
    ],
)
def test_look_alikes_are_not_pii(tmp_path: Path, decoy: str) -> None:
    assert detect_pii(_column(tmp_path, [f"{decoy}，已处理"] * 200)) == []


def test_wrong_check_characters_are_not_pii(tmp_path: Path) -> None:
    r = random.Random(3)
    ids = [_id(r) for _ in range(300)]
    bad = [v[:-1] + ("0" if v[-1] != "0" else "1") for v in ids]
    cards = [_card(r) for _ in range(300)]
    bad_cards = [v[:-1] + str((int(v[-1]) + 1) % 10) for v in cards]
    values = [f"证件{v}核验未通过" for v in bad] + [f"卡号{v}无效" for v in bad_cards]
    assert detect_pii(_column(tmp_path, values)) == []


def test_random_serial_numbers_are_not_cards(tmp_path: Path) -> None:
    """One in ten random card-shaped numbers passes Luhn: chance, not cards."""
    r = random.Random(5)
    values = [
        f"交易{'62' + ''.join(str(r.randrange(10)) for _ in range(17))}已撤销" for _ in range(3000)
    ]
    assert detect_pii(_column(tmp_path, values)) == []


def test_a_hotline_repeated_in_every_row_is_not_personal(tmp_path: Path) -> None:
    values = ["如有疑问请联系0571-87001234或service@hz.gov.cn"] * 500 + list(FILLER) * 100
    assert detect_pii(_column(tmp_path, values)) == []


def test_full_width_digits_are_read(tmp_path: Path) -> None:
    wide = str.maketrans("0123456789@", "０１２３４５６７８９＠")
    r = random.Random(13)
    values = [f"手机：{_mobile(r).translate(wide)}，已回访" for _ in range(40)] + ["已办结"] * 960
    (finding,) = detect_pii(_column(tmp_path, values))
    assert finding.type == "mobile"
    assert finding.matched == 40


def test_short_remarks_are_searched(tmp_path: Path) -> None:
    r = random.Random(11)
    values = ["已办结"] * 950 + [_mobile(r) for _ in range(50)]
    (finding,) = detect_pii(_column(tmp_path, values))
    assert finding.type == "mobile"
    assert finding.in_text
    assert finding.share == 0.05


def _measure(split: str, labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, set[str]] = {}
    for f in detect_pii(DATA / f"{split}.parquet"):
        if f.personal:
            found.setdefault(f.column, set()).add(PHONE.get(f.type, f.type))
    tp: Counter[tuple[str, float]] = Counter()
    fp: Counter[tuple[str, float]] = Counter()
    fn: Counter[tuple[str, float]] = Counter()
    alarms = {}
    for column, label in labels.items():
        got = found.get(column, set())
        if label["type"] is None:
            if got:
                alarms[column] = got
            continue
        key = (label["type"], label["share"])
        tp[key] += label["type"] in got
        fn[key] += label["type"] not in got
        for other in got - {label["type"]}:
            fp[(other, label["share"])] += 1
    return {"tp": tp, "fp": fp, "fn": fn, "alarms": alarms}


@pytest.mark.slow
@pytest.mark.parametrize("split", ["dev", "heldout"])
def test_corpus_precision_and_recall(split: str) -> None:
    labels = json.loads((DATA / "labels.json").read_text(encoding="utf-8"))[split]
    result = _measure(split, labels)
    tp, fp, fn = result["tp"], result["fp"], result["fn"]
    keys = {(lab["type"], lab["share"]) for lab in labels.values() if lab["type"]}
    assert len(keys) == 16  # four types at 1, 5, 20 and 50 %
    for key in sorted(keys):
        assert tp[key] >= 0.95 * (tp[key] + fp[key]), f"precision {key}"
        assert tp[key] >= 0.95 * (tp[key] + fn[key]), f"recall {key}"
    negatives = {lab.get("negative") for lab in labels.values() if lab["type"] is None}
    assert {"amount", "date", "code", "credit_code", "tracking", "bad_id"} <= negatives
    assert result["alarms"] == {}


@pytest.mark.slow
def test_the_corpus_is_what_its_script_writes() -> None:
    script = ROOT / "benchmarks" / "ingest" / "free_text_corpus.py"
    done = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr

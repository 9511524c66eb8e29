"""The labelled corpus of free-text columns for PII detection inside text.

    .venv/bin/python benchmarks/ingest/free_text_corpus.py            (writes tests/data/free_text)
    .venv/bin/python benchmarks/ingest/free_text_corpus.py --check    (compares, writes nothing)

Every value is synthetic: resident IDs and bank cards are built with valid
check characters (python-stdnum), phone numbers from prefixes that
phonenumbers accepts for region CN, e-mail addresses from made-up user names.
Two splits are written, each from its own seed and its own templates and
number formats, so that a detector tuned on ``dev`` is measured on text it
has never seen (``heldout``):

* for each PII type (``phone``, ``resident_id``, ``bank_card``, ``email``) and
  each share (1 %, 5 %, 20 %, 50 % of the rows), columns in which exactly that
  share of the rows carry a value of the type inside a remark; the other rows
  are remarks without personal data, some with an amount, a date or a code;
* hard-negative columns in which up to every row carries a look-alike:
  amounts, dates and timestamps, order/invoice/contract codes, postcodes,
  unified social credit codes, tracking numbers, 11-digit numbers that are no
  phone, resident IDs with a wrong check character, random transaction serial
  numbers, and an organization's own hotline repeated in every row;
* remark columns with no number at all.

Each split is a Parquet file of string columns; ``labels.json`` gives, per
split and column, the type and share (or the negative kind).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from stdnum import luhn
from stdnum.cn import ric, uscc

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "free_text"
ROWS = 2_000
SHARES = (0.01, 0.05, 0.2, 0.5)
TYPES = ("phone", "resident_id", "bank_card", "email")
REPLICATES = 2
SEEDS = {"dev": 20260101, "heldout": 77031}
#: Share of the rows without PII that carry a look-alike (amount, date, code...).
DECOY_SHARE = 0.3

Make = Callable[[random.Random], str]

REGIONS = ("110105", "310104", "330106", "440305", "510104", "420102", "620102", "650102")
MOBILE_PREFIXES = ("130", "135", "138", "139", "150", "158", "177", "186", "189", "199")
AREA_CODES = ("010", "021", "0571", "0755", "028", "027")
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "gov.cn", "example.org")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _digits(r: random.Random, n: int) -> str:
    return "".join(str(r.randrange(10)) for _ in range(n))


# -- PII values ----------------------------------------------------------------


def resident_id(r: random.Random) -> str:
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=r.randrange(80 * 365))
    stem = f"{r.choice(REGIONS)}{birth:%Y%m%d}{r.randrange(1000):03d}"
    return stem + ric.calc_check_digit(stem + "0")  # stdnum wants a placeholder check character


def bank_card(r: random.Random, prefixes: tuple[str, ...] = ("62",)) -> str:
    prefix = r.choice(prefixes)
    length = 16 if prefix in ("4", "51", "53", "2221") else r.choice((16, 18, 19))
    stem = prefix + _digits(r, length - len(prefix) - 1)
    return stem + luhn.calc_check_digit(stem)


def mobile(r: random.Random) -> str:
    return r.choice(MOBILE_PREFIXES) + _digits(r, 8)


def landline(r: random.Random) -> tuple[str, str]:
    area = r.choice(AREA_CODES)
    return area, str(r.randint(2, 8)) + _digits(r, 7)


def email(r: random.Random, *, fancy: bool = False) -> str:
    user = "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(3, 9)))
    if r.random() < 0.5:
        user += str(r.randrange(1000))
    if not fancy:
        return f"{user}@{r.choice(MAIL_DOMAINS)}"
    user = r.choice((user, user.capitalize(), f"{user}.{r.choice('abcxyz')}", f"{user}+gov"))
    domain = r.choice(("mail.zju.edu.cn", "Foxmail.com", "outlook.com", "hz.gov.cn", "yeah.net"))
    return f"{user}@{domain}"


# -- look-alikes -----------------------------------------------------------------


def credit_code(r: random.Random) -> str:
    if r.random() < 0.3:  # some are all digits, the shape of a resident ID
        stem = "9" + r.choice("123") + r.choice(REGIONS) + _digits(r, 9)
    else:
        stem = "91" + r.choice(REGIONS) + "".join(r.choice(USCC_CHARS) for _ in range(9))
    return stem + uscc.calc_check_digit(stem)


def bad_id(r: random.Random) -> str:
    good = resident_id(r)
    return good[:-1] + r.choice("0123456789X".replace(good[-1], ""))


def non_phone_11(r: random.Random) -> str:
    """An 11-digit number that no operator issues: a leading 2-9, or 10/11/12."""
    prefix = r.choice(("10", "11", "12", str(r.randint(2, 9))))
    return prefix + _digits(r, 11 - len(prefix))


def serial(r: random.Random) -> str:
    """A random transaction serial: 16-19 digits that pass Luhn one time in ten."""
    return str(r.randint(1, 9)) + _digits(r, r.choice((15, 17, 18)))


def tracking(r: random.Random) -> str:
    return r.choice(
        (
            "SF" + _digits(r, 13),
            "YT" + _digits(r, 13),
            "JD" + _digits(r, 13),
            "EA" + _digits(r, 9) + "CN",
            "7730" + _digits(r, 11),
            "4620" + _digits(r, 8),
        )
    )


def a_date(r: random.Random) -> dt.datetime:
    return dt.datetime(2022, 1, 1) + dt.timedelta(seconds=r.randrange(3 * 365 * 86400))


# -- templates -------------------------------------------------------------------
# Each split has its own: a detector tuned on dev must hold on heldout.

PLAIN = {
    "dev": (
        "材料已收齐，待审核",
        "已电话回访，群众表示满意",
        "申请人未到场，改期办理",
        "已转交街道办处理",
        "情况属实，同意受理",
        "Customer asked for a refund, approved by the supervisor",
        "Follow up next week",
        "Documents received, pending review",
    ),
    "heldout": (
        "经现场核查，符合条件",
        "退回补正，缺少户口簿复印件",
        "系统故障，次日重新提交",
        "窗口已办结，证照当场发放",
        "no show, rescheduled",
        "Approved after second review; applicant notified",
        "awaiting signature from the department head",
        "暂缓办理，等待上级批复",
    ),
}

DECOYS: dict[str, dict[str, Make]] = {
    "amount": {
        "dev": lambda r: r.choice(
            (
                f"已缴费¥{r.randint(1, 99):,}{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
                f"退款{r.randint(100, 99999)}.00元",
                f"合计{r.randint(10**10, 2 * 10**10)}元",
                f"amount RMB {r.randint(1000, 999999):,}",
            )
        ),
        "heldout": lambda r: r.choice(
            (
                f"报销金额：￥{r.randint(1, 9)},{r.randint(0, 999):03d}.{r.randint(0, 99):02d}",
                f"补贴发放 {r.randint(13000000000, 13999999999)} 元",
                f"fee $ {r.randint(1, 999)}.{r.randint(0, 99):02d}",
                f"预算{r.randint(1, 900)}万",
            )
        ),
    },
    "date": {
        "dev": lambda r: r.choice(
            (
                f"办结日期{a_date(r):%Y%m%d}",
                f"预约于{a_date(r):%Y-%m-%d}",
                f"提交时间 {a_date(r):%Y-%m-%d %H:%M:%S}",
                f"ts={int(a_date(r).timestamp())}",
            )
        ),
        "heldout": lambda r: r.choice(
            (
                f"{a_date(r):%Y年%m月%d日}受理",
                f"logged {int(a_date(r).timestamp() * 1000)}",
                f"到期 {a_date(r):%Y/%m/%d}",
                f"批次{a_date(r):%Y%m%d%H%M%S}",
            )
        ),
    },
    "code": {
        "dev": lambda r: r.choice(
            (
                f"订单号 DD{a_date(r):%Y%m%d}{_digits(r, 6)}",
                f"发票号码{_digits(r, 8)}，代码0{_digits(r, 11)}",
                f"合同编号：HT-{a_date(r):%Y}-{_digits(r, 11)}",
                f"邮编{r.choice(('310012', '100086', '518057'))}",
                f"工单号{r.choice(MOBILE_PREFIXES)}{_digits(r, 8)}",
            )
        ),
        "heldout": lambda r: r.choice(
            (
                f"Order No. {r.choice(MOBILE_PREFIXES)}{_digits(r, 8)}",
                f"invoice INV{a_date(r):%Y%m}{_digits(r, 10)}",
                f"contract {a_date(r):%Y}/{_digits(r, 11)}",
                f"寄往{r.choice(('200030', '610041', '430072'))}",
                f"流水号{a_date(r):%Y%m%d}{_digits(r, 10)}",
            )
        ),
    },
    "credit_code": {
        "dev": lambda r: f"供应商信用代码{credit_code(r)}",
        "heldout": lambda r: f"企业 {credit_code(r)} 已备案",
    },
    "tracking": {
        "dev": lambda r: f"已寄出，快递单号{tracking(r)}",
        "heldout": lambda r: f"shipped via {tracking(r)}",
    },
    "non_phone_11": {
        "dev": lambda r: f"档案{non_phone_11(r)}已归档",
        "heldout": lambda r: f"ref {non_phone_11(r)} closed",
    },
    "bad_id": {
        "dev": lambda r: f"证件{bad_id(r)}核验未通过",
        "heldout": lambda r: f"身份信息 {bad_id(r).lower()} 有误，请更正",
    },
    "serial": {
        "dev": lambda r: f"交易{serial(r)}已撤销",
        "heldout": lambda r: f"txn {serial(r)} reversed",
    },
}

# Formats and templates of the PII values, per split.


def _phone_dev(r: random.Random) -> str:
    x = r.random()
    if x < 0.15:
        area, number = landline(r)
        return f"{area}-{number}"
    number = mobile(r)
    if x < 0.3:
        return f"+86 {number}"
    if x < 0.45:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    return number


def _phone_heldout(r: random.Random) -> str:
    x = r.random()
    if x < 0.15:
        area, number = landline(r)
        return f"({area}){number}"
    number = mobile(r)
    if x < 0.3:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if x < 0.4:
        return f"86-{number}"
    return number


def _card_heldout(r: random.Random) -> str:
    card = bank_card(r, ("62", "62", "4", "51", "2221"))
    if r.random() < 0.3:
        return " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    return card


def _id_heldout(r: random.Random) -> str:
    value = resident_id(r)
    if r.random() < 0.15:
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    return value.lower() if r.random() < 0.3 else value


VALUES: dict[str, dict[str, Make]] = {
    "phone": {"dev": _phone_dev, "heldout": _phone_heldout},
    "resident_id": {"dev": resident_id, "heldout": _id_heldout},
    "bank_card": {"dev": bank_card, "heldout": _card_heldout},
    "email": {"dev": email, "heldout": lambda r: email(r, fancy=True)},
}

CARRIERS = {
    "dev": (
        "请联系{}，已登记",
        "申请人联系方式：{}",
        "{}（本人）",
        "来电人{}反映噪音问题",
        "退款至{}，请核实",
        "Contact: {}",
        "please call back {} after 5pm",
        "证件号码{}，材料齐全",
    ),
    "heldout": (
        "经办人留存{}备查",
        "家属代办，留{}",
        "{}",
        "回执已发送至{}。",
        "核对信息:{},无误",
        "client {} requested a copy",
        "Reach me at {} thanks",
        "收款账户 {} 户名一致",
    ),
}


def _remark(r: random.Random, split: str, decoys: tuple[str, ...], decoy_share: float) -> str:
    if decoys and r.random() < decoy_share:
        return DECOYS[r.choice(decoys)][split](r)
    return r.choice(PLAIN[split])


def remarks(r: random.Random, split: str, kind: str | None, share: float, rows: int) -> list[str]:
    """One column: ``share`` of the rows carry a value of ``kind`` (``None``: look-alikes)."""
    if kind is None:
        return [_remark(r, split, tuple(DECOYS), share) for _ in range(rows)]
    carriers = set(r.sample(range(rows), round(share * rows)))
    return [
        r.choice(CARRIERS[split]).format(VALUES[kind][split](r))
        if i in carriers
        else _remark(r, split, tuple(DECOYS), DECOY_SHARE)
        for i in range(rows)
    ]


def columns(split: str) -> tuple[dict[str, list[str]], dict[str, dict[str, object]]]:
    """One split: ``{column: values}`` and ``{column: label}``."""
    r = random.Random(SEEDS[split])
    data: dict[str, list[str]] = {}
    labels: dict[str, dict[str, object]] = {}
    every_decoy = tuple(DECOYS)
    for kind in TYPES:
        for share in SHARES:
            for k in range(REPLICATES):
                name = f"{kind}_{round(share * 100)}pct_{k}"
                data[name] = remarks(r, split, kind, share, ROWS)
                labels[name] = {"type": kind, "share": share}
    for decoy in every_decoy:
        for density in (0.5, 1.0):
            name = f"neg_{decoy}_{round(density * 100)}pct"
            data[name] = [_remark(r, split, (decoy,), density) for _ in range(ROWS)]
            labels[name] = {"type": None, "negative": decoy}
    mixed = remarks(r, split, None, 0.8, ROWS)
    data["neg_mixed"], labels["neg_mixed"] = mixed, {"type": None, "negative": "mixed"}
    hotline = "0571-87001234" if split == "dev" else "service@hz.gov.cn"
    data["neg_hotline"] = [
        f"如有疑问请联系{hotline}" if r.random() < 0.6 else _remark(r, split, (), 0)
        for _ in range(ROWS)
    ]
    labels["neg_hotline"] = {"type": None, "negative": "hotline"}
    data["neg_plain"] = [_remark(r, split, (), 0) for _ in range(ROWS)]
    labels["neg_plain"] = {"type": None, "negative": "plain"}
    return data, labels


def build() -> tuple[dict[str, pa.Table], dict[str, dict[str, dict[str, object]]]]:
    tables, labels = {}, {}
    for split in SEEDS:
        data, labels[split] = columns(split)
        tables[split] = pa.table({name: pa.array(v, pa.string()) for name, v in data.items()})
    return tables, labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with the files, write none")
    args = parser.parse_args()
    tables, labels = build()
    if args.check:
        stale = [
            split
            for split, table in tables.items()
            if not pq.read_table(args.out / f"{split}.parquet").equals(table)
        ]
        stale += [] if json.loads((args.out / "labels.json").read_text()) == labels else ["labels"]
        print("up to date" if not stale else f"stale: {', '.join(stale)}")
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for split, table in tables.items():
        pq.write_table(table, args.out / f"{split}.parquet", compression="zstd")
    text = json.dumps(labels, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    (args.out / "labels.json").write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(tables)} ({ROWS} rows each column) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ingestion benchmark: a 10-million-row GBK CSV staged, profiled and scanned for PII.

    .venv/bin/python benchmarks/ingest/bench_ingest.py             (10M rows, about 1 GB)
    .venv/bin/python benchmarks/ingest/bench_ingest.py --rows 200000

The file is generated deterministically into a temporary folder (never
committed) with realistic columns: names, resident IDs with valid GB 11643
check characters, mobile numbers, addresses, amounts, dates and sex codes.
The pipeline (open + stage to Parquet + data dictionary + quality profile + PII
scan in sample mode) and the baseline (a bare DuckDB ``read_csv`` of the same
file parsing every column) each run in a child process, so each peak RSS is
its own. DuckDB cannot decode GBK without its ``encodings`` extension, which
an offline host cannot install, so the baseline reads the bytes as Latin-1:
the cheapest full parse DuckDB can make of this file.

Targets: peak memory <= 2 GB, pipeline/baseline ratio <= 3x.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

CHUNK = 500_000
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉兵梅鹏宇浩然子轩欣怡博文")
PLACES = [
    "浙江省杭州市西湖区",
    "浙江省杭州市上城区",
    "浙江省宁波市鄞州区",
    "广东省深圳市南山区",
    "广东省广州市天河区",
    "四川省成都市武侯区",
    "江苏省南京市鼓楼区",
    "北京市海淀区",
    "上海市浦东新区",
]
ROADS = [
    "文三路",
    "天目山路",
    "莫干山路",
    "解放路",
    "中山北路",
    "人民大道",
    "建设街",
    "和平巷",
    "学院路",
]
REGIONS = ["330106", "330102", "330212", "440305", "440106", "510107", "320106", "110108", "310115"]
PREFIXES = np.array(
    [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 158, 159, 186, 187, 188, 199]
)
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def _chunk(rng: np.random.Generator, start: int, n: int) -> pa.Table:
    second = np.array(GIVEN + [""] * len(GIVEN))  # 2- or 3-character names
    names = pa.array(
        np.char.add(
            np.char.add(rng.choice(SURNAMES, n), rng.choice(GIVEN, n)),
            second[rng.integers(0, len(second), n)],
        )
    )
    # Resident IDs: region + birth date + sequence + GB 11643 check character.
    births = np.datetime64("1940-01-01") + rng.integers(0, 75 * 365, n).astype("timedelta64[D]")
    ymd = births.astype("datetime64[D]").astype(str).astype("U10")
    seq = rng.integers(0, 1000, n)
    stems = np.char.add(
        np.char.add(
            np.array(REGIONS)[rng.integers(0, len(REGIONS), n)], np.char.replace(ymd, "-", "")
        ),
        np.char.zfill(seq.astype(str), 3),
    )
    digits = np.frombuffer(stems.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
    check = CHECK[(digits.astype(np.int64) @ WEIGHTS) % 11]
    ids = np.char.add(stems.astype("S17"), check.view("S1"))
    phones = PREFIXES[rng.integers(0, len(PREFIXES), n)] * 10**8 + rng.integers(0, 10**8, n)
    address = pc.binary_join_element_wise(
        pa.array(np.array(PLACES)[rng.integers(0, len(PLACES), n)]),
        pa.array(np.array(ROADS)[rng.integers(0, len(ROADS), n)]),
        pc.cast(pa.array(rng.integers(1, 999, n)), pa.string()),
        "",
    )
    return pa.table(
        {
            "记录号": pa.array(np.arange(start, start + n)),
            "姓名": names,
            "公民身份号码": pa.array(ids.astype(str)),
            "手机号码": pc.cast(pa.array(phones), pa.string()),
            "联系地址": pc.binary_join_element_wise(address, pa.array(["号"] * n), ""),
            "缴费金额": pa.array(np.round(rng.gamma(2.0, 400.0, n), 2)),
            "缴费日期": pa.array(
                np.datetime64("2020-01-01") + rng.integers(0, 1800, n).astype("timedelta64[D]")
            ),
            # GB/T 2261.1 sex code agreeing with the ID's 17th digit, except for 0.1% of rows.
            "性别": pa.array(np.where(rng.random(n) < 0.999, 2 - seq % 2, 1 + seq % 2)),
        }
    )


def generate(path: Path, rows: int) -> None:
    rng = np.random.default_rng(20240611)
    with path.open("wb") as out:
        for start in range(0, rows, CHUNK):
            table = _chunk(rng, start, min(CHUNK, rows - start))
            buffer = io.BytesIO()
            options = pacsv.WriteOptions(include_header=start == 0, quoting_style="none")
            pacsv.write_csv(table, buffer, write_options=options)
            out.write(buffer.getvalue().decode("utf-8").replace('"', "").encode("gbk"))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_ingest(path: Path, work: Path) -> dict[str, float]:
    from datacompact.ingest import (
        ConsistencyRule,
        QualityRules,
        detect_pii,
        infer_dictionary,
        open_source,
        profile_quality,
        stage_to_parquet,
    )

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    with open_source(path) as source:
        staged = stage_to_parquet(source, work / "staged.parquet")
    times["stage_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    dictionary = infer_dictionary(staged.path)
    times["dictionary_s"] = time.perf_counter() - t
    t = time.perf_counter()
    rules = QualityRules(
        checksums={"公民身份号码": "resident_id"},
        keys=(("记录号",),),
        consistency=(ConsistencyRule.id_sex("公民身份号码", "性别"),),
    )
    report = profile_quality(staged.path, dictionary=dictionary, rules=rules)
    times["quality_s"] = time.perf_counter() - t
    t = time.perf_counter()
    findings = detect_pii(staged.path, mode="sample")
    times["pii_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    times["rows"] = staged.rows
    times["parquet_mb"] = staged.size_bytes / 1e6
    times["peak_mb"] = _peak_mb()
    times["overall_quality"] = report.overall or 0.0
    times["pii_types"] = len(findings)
    print(
        json.dumps({"findings": [f"{f.column}:{f.type}" for f in findings]}, ensure_ascii=False),
        file=sys.stderr,
    )
    return times


def phase_baseline(path: Path) -> dict[str, float]:
    import duckdb

    con = duckdb.connect()
    t = time.perf_counter()
    columns = [
        row[0]
        for row in con.execute(
            "DESCRIBE SELECT * FROM read_csv(?, encoding='latin-1')", [str(path)]
        ).fetchall()
    ]
    select = ", ".join(f'max("{c}")' for c in columns)
    con.execute(
        f"SELECT count(*), {select} FROM read_csv(?, encoding='latin-1')", [str(path)]
    ).fetchall()
    return {"total_s": time.perf_counter() - t, "peak_mb": _peak_mb()}


def _child(phase: str, path: Path, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--file", str(path), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    sys.stderr.write(out.stderr)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--phase", choices=("generate", "ingest", "baseline"))
    parser.add_argument("--file", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.phase == "generate":
        generate(args.file, args.rows)
        return 0
    if args.phase == "ingest":
        print(json.dumps(phase_ingest(args.file, args.work)))
        return 0
    if args.phase == "baseline":
        print(json.dumps(phase_baseline(args.file)))
        return 0
    with tempfile.TemporaryDirectory(prefix="datacompact-bench-ingest-") as folder:
        work = Path(folder)
        path = work / "social_insurance_gbk.csv"
        t = time.perf_counter()
        # Every phase runs in its own child: Linux carries ru_maxrss across
        # fork+exec, so children of a big parent would report its peak.
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                "generate",
                "--file",
                str(path),
                "--rows",
                str(args.rows),
            ],
            check=True,
        )
        size = path.stat().st_size
        print(
            f"generated {args.rows:,} rows, {size / 1e6:,.0f} MB GBK CSV in {time.perf_counter() - t:.1f} s"
        )
        baseline = _child("baseline", path, work)
        ingest = _child("ingest", path, work)
    rows = ingest["rows"]
    print(
        f"bare DuckDB read_csv (all columns): {baseline['total_s']:.2f} s, peak {baseline['peak_mb']:.0f} MB"
    )
    print(
        f"stage to Parquet:  {ingest['stage_s']:.2f} s ({rows / ingest['stage_s']:,.0f} rows/s), "
        f"{ingest['parquet_mb']:.0f} MB Parquet"
    )
    print(f"data dictionary:   {ingest['dictionary_s']:.2f} s")
    print(
        f"quality profile:   {ingest['quality_s']:.2f} s (overall {ingest['overall_quality']:.1f})"
    )
    print(f"PII scan (sample): {ingest['pii_s']:.2f} s ({ingest['pii_types']:.0f} findings)")
    ratio = ingest["total_s"] / baseline["total_s"]
    print(f"total:             {ingest['total_s']:.2f} s ({rows / ingest['total_s']:,.0f} rows/s)")
    print(
        f"peak RSS: pipeline {ingest['peak_mb']:.0f} MB (target <= 2048), ratio {ratio:.2f}x (target <= 3)"
    )
    return 0 if ingest["peak_mb"] <= 2048 and ratio <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())

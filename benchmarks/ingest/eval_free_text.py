"""Precision and recall of PII detection inside free text, on the labelled corpus.

    .venv/bin/python benchmarks/ingest/eval_free_text.py                 (both splits)
    .venv/bin/python benchmarks/ingest/eval_free_text.py --dir other/    (independent data)
    .venv/bin/python benchmarks/ingest/eval_free_text.py --rows 1000000  (time both modes)
    .venv/bin/python benchmarks/ingest/eval_free_text.py --trials 20     (fresh seeds)

Runs :func:`datacompact.ingest.detect_pii` on each split of
``tests/data/free_text`` (written by ``free_text_corpus.py``) and prints,
per split, PII type and share, the column-level precision and recall, then
the false alarms on the hard-negative columns. A column counts as found for
a type when a finding of that type (``mobile`` or ``landline`` for a phone)
is reported for it; any personal finding on a negative column is a false
alarm. ``--dir`` takes any folder with ``<split>.parquet`` files and a
``labels.json`` of the same form, so independent data can be measured the
same way. Targets: precision and recall >= 0.95 for every type and share, and
no false alarm on a negative column.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "tests" / "data" / "free_text"
PHONE = {"mobile": "phone", "landline": "phone"}


def score(path: Path, labels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Counts per (type, share): tp, fn, fp; and false alarms per negative column."""
    from datacompact.ingest import detect_pii

    found: dict[str, set[str]] = {}
    for f in detect_pii(path):
        if f.personal:
            found.setdefault(f.column, set()).add(PHONE.get(f.type, f.type))
    tp: Counter[tuple[str, float]] = Counter()
    fn: Counter[tuple[str, float]] = Counter()
    fp: Counter[tuple[str, float]] = Counter()
    alarms: dict[str, list[str]] = {}
    for column, label in labels.items():
        got = found.get(column, set())
        kind = label["type"]
        if kind is None:
            if got:
                alarms[column] = sorted(got)
            continue
        share = float(label["share"])
        if kind in got:
            tp[(kind, share)] += 1
        else:
            fn[(kind, share)] += 1
        for other in got - {kind}:
            fp[(other, share)] += 1
    return {"tp": tp, "fn": fn, "fp": fp, "alarms": alarms, "negatives": _negatives(labels)}


def _negatives(labels: dict[str, dict[str, Any]]) -> int:
    return sum(1 for label in labels.values() if label["type"] is None)


def table(name: str, result: dict[str, Any]) -> list[str]:
    tp, fn, fp = result["tp"], result["fn"], result["fp"]
    lines = [f"{name}:", f"  {'type':<12} {'share':>6} {'precision':>9} {'recall':>7}  tp/fp/fn"]
    keys = sorted(set(tp) | set(fn) | set(fp))
    for kind, share in keys:
        precision = tp[(kind, share)] / max(1, tp[(kind, share)] + fp[(kind, share)])
        recall = tp[(kind, share)] / max(1, tp[(kind, share)] + fn[(kind, share)])
        lines.append(
            f"  {kind:<12} {share:>6.0%} {precision:>9.2f} {recall:>7.2f}  "
            f"{tp[(kind, share)]}/{fp[(kind, share)]}/{fn[(kind, share)]}"
        )
    alarms = result["alarms"]
    lines.append(
        f"  negative columns: {result['negatives']}, false alarms: {len(alarms)}"
        + "".join(f"\n    {column}: {', '.join(kinds)}" for column, kinds in alarms.items())
    )
    return lines


def passes(result: dict[str, Any]) -> bool:
    tp, fn, fp = result["tp"], result["fn"], result["fp"]
    for key in set(tp) | set(fn) | set(fp):
        if tp[key] < 0.95 * (tp[key] + fp[key]) or tp[key] < 0.95 * (tp[key] + fn[key]):
            return False
    return not result["alarms"]


def scale(rows: int, folder: Path) -> list[str]:
    """Time both modes on ``rows`` rows of three remark columns written like the dev split."""
    import random

    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    from datacompact.ingest import detect_pii

    sys.path.insert(0, str(HERE))
    from free_text_corpus import remarks

    r = random.Random(1)
    columns = {
        "备注": remarks(r, "dev", "phone", 0.05, rows),
        "处理意见": remarks(r, "dev", "resident_id", 0.01, rows),
        "说明": remarks(r, "dev", None, 0.8, rows),
    }
    path = folder / "scale.parquet"
    pq.write_table(pa.table(columns), path)
    lines = [f"{rows:,} rows x {len(columns)} remark columns:"]
    for mode in ("sample", "full"):
        t = time.perf_counter()
        findings = detect_pii(path, mode=mode)  # type: ignore[arg-type]
        found = ", ".join(f"{f.column}:{f.type} {f.share:.1%}" for f in findings)
        lines.append(f"  {mode:<6} {time.perf_counter() - t:6.2f} s  {found}")
    return lines


def trials(count: int) -> list[str]:
    """Recall at 1 and 5 % and false alarms on ``count`` fresh columns per cell and
    split (new seeds, the splits' templates), judged by the text verdict alone."""
    import random

    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from datacompact.ingest._free_text import scan, verdict

    sys.path.insert(0, str(HERE))
    from free_text_corpus import DECOYS, TYPES, remarks

    def found(values: list[str]) -> set[str]:
        tally = scan([pa.array(values, pa.string())])
        return {PHONE.get(f.type, f.type) for f in verdict(tally, tally.rows)}

    lines = [f"{count} fresh columns per type and share, per split (text verdict):"]
    for split, seed in (("dev", 999), ("heldout", 4242)):
        r = random.Random(seed)
        cells = []
        for kind in TYPES:
            for share in (0.01, 0.05):
                hits = sum(
                    kind in found(remarks(r, split, kind, share, 2000)) for _ in range(count)
                )
                cells.append(f"{kind} {share:.0%}: {hits}/{count}")
        alarms = sum(
            bool(found(remarks(r, split, None, 1.0, 2000))) for _ in range(count * len(DECOYS))
        )
        lines.append(f"  {split}: " + ", ".join(cells))
        lines.append(f"  {split}: false alarms {alarms}/{count * len(DECOYS)} look-alike columns")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=DATA)
    parser.add_argument("--rows", type=int, help="instead, time both modes on this many rows")
    parser.add_argument("--trials", type=int, help="instead, judge this many fresh columns")
    args = parser.parse_args()
    if args.trials:
        print("\n".join(trials(args.trials)))
        return 0
    if args.rows:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="datacompact-free-text-") as folder:
            print("\n".join(scale(args.rows, Path(folder))))
        return 0
    labels = json.loads((args.dir / "labels.json").read_text(encoding="utf-8"))
    ok = True
    for split, split_labels in labels.items():
        t = time.perf_counter()
        result = score(args.dir / f"{split}.parquet", split_labels)
        print("\n".join(table(f"{split} ({time.perf_counter() - t:.1f} s)", result)))
        ok &= passes(result)
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

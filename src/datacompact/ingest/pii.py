"""Personal-information detection per column of a staged Parquet file.

The types follow GB/T 35273-2020 Annex A (personal information) and mark the
"sensitive personal information" of its Annex B and PIPL art. 28 (identity
documents, financial accounts). Detection is column-wise in DuckDB: one
aggregate query counts, for every column and type, the values that match the
type's pattern *and* pass its checksum (see :mod:`._pii_rules`); no Python loop
runs over rows. Candidates are then re-validated per *distinct* value with
python-stdnum and phonenumbers, and the agreement scales the confidence.

Free-text columns are also searched *inside* their text (``in_text=True``):
resident IDs, bank cards, phones and e-mail addresses by the tokenizer of
:mod:`._free_text`, from 1 % of the rows up; addresses, plates, IP addresses
and credit codes by SQL in long text. Dates of birth are recognized by their
spread (decades of past dates) or by a column name that says so. A finding
carries the type, a confidence, the share and count of matching values, and
the share of all rows (empty ones included): never a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest._common import connect, sql_ident, sql_string
from datacompact.ingest._free_text import scan, verdict
from datacompact.ingest._pii_rules import (
    DOB_HINTS,
    DOB_NOT,
    PERSONAL,
    PII_TYPES,
    RULE_BY_TYPE,
    RULES,
    SENSITIVE,
    Rule,
    dob_date_sql,
    today,
)

__all__ = ["PII_TYPES", "ColumnFinding", "detect_pii"]

Mode = Literal["sample", "full"]
#: Text whose values average this many characters is also searched inside.
FREE_TEXT_CHARS = 15
#: Share of values of a free-text column that must contain a type.
IN_TEXT_SHARE = 0.02
#: Least share of a type whose family (e.g. phone numbers) holds the column together.
FAMILY_MIN_SHARE = 0.1
#: Share of a column's non-empty values with a Chinese character or a space
#: for the column to be prose, whose text the tokenizer searches.
PROSE_SHARE = 0.5
_PRUNE_ROWS = 1_000_000
_BATCH_ROWS = 131_072


@dataclass(frozen=True)
class ColumnFinding:
    """A type of personal information found in a column (no values, only counts)."""

    column: str
    type: str
    confidence: float
    share: float
    matched: int
    checked: int
    in_text: bool = False
    personal: bool = True
    sensitive: bool = False
    #: Rows scanned, empty ones included, and the share of them that carry the type.
    rows: int = 0
    row_share: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "type": self.type,
            "confidence": self.confidence,
            "share": self.share,
            "matched": self.matched,
            "checked": self.checked,
            "in_text": self.in_text,
            "personal": self.personal,
            "sensitive": self.sensitive,
            "rows": self.rows,
            "row_share": self.row_share,
        }


def detect_pii(
    parquet_path: Path | str,
    *,
    mode: Mode = "sample",
    sample_rows: int = 100_000,
    max_distinct: int = 2_000,
) -> list[ColumnFinding]:
    """Findings per column, strongest first within each column.

    ``mode="sample"`` checks a systematic sample of ``sample_rows`` rows (every
    k-th row, so the result is deterministic). ``mode="full"`` counts exactly
    over every row, for each type that occurs at least once in a sample of
    ``max(sample_rows, 1,000,000)`` rows (a full regex pass for every type and
    column would cost ten times more and find nothing new).
    """
    if mode not in ("sample", "full"):
        raise InvalidInput('mode 应为 "sample" 或 "full" / mode must be "sample" or "full"')
    if sample_rows < 1 or max_distinct < 1:
        raise InvalidInput("样本量必须为正 / sample_rows and max_distinct must be positive")
    path = Path(parquet_path)
    try:
        metadata = pq.ParquetFile(path).metadata
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedInput("expected a staged Parquet file, got one that does not open") from exc
    texts = [f.name for f in schema if _texty(f.type)]
    dates = [f.name for f in schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)]
    if not texts and not dates:
        return []
    con = connect(memory_limit="1GB")
    try:
        source = f"read_parquet({sql_string(str(path))})"
        sample = _sample(con, source, texts + dates, metadata.num_rows, sample_rows)
        stats = _stats(con, sample, texts)
        plan = [
            (c, r, inside)
            for c in texts
            if stats[c][0] > 0
            for r in RULES
            for inside in ((False, True) if r.extract and _long_text(stats[c]) else (False,))
        ]
        counts = _count(con, sample, plan)
        if mode == "full" and metadata.num_rows > sample_rows:
            if metadata.num_rows > _PRUNE_ROWS and sample_rows < _PRUNE_ROWS:
                wide = _sample(con, source, texts, metadata.num_rows, _PRUNE_ROWS, name="prune")
                plan = [p for p, n in _count(con, wide, plan).items() if n > 0]
            else:
                plan = [p for p, n in counts.items() if n > 0]
            stats = _stats(con, source, texts)
            counts = _count(con, source, plan)
        findings: list[ColumnFinding] = []
        family: dict[tuple[str, str], int] = {}
        for (c, r, inside), n in counts.items():
            if not inside and r.family is not None:
                family[(c, r.family)] = family.get((c, r.family), 0) + n
        whole = {
            (c, r.type)
            for (c, r, inside), n in counts.items()
            if not inside and _holds(r, n, family.get((c, r.family or ""), n), stats[c][0])
        }
        rows = _rows(con, sample if mode == "sample" else source)
        for (column, rule, inside), matched in counts.items():
            checked = stats[column][0]
            share = matched / checked if checked else 0.0
            if inside and (share < IN_TEXT_SHARE or (column, rule.type) in whole):
                continue
            if not inside and (column, rule.type) not in whole:
                continue
            agreement = _agreement(con, sample, column, rule, inside, max_distinct)
            confidence = rule.base * (0.6 + 0.4 * share) * agreement
            if any(h in column.lower() for h in rule.hints):
                confidence += 0.05
            if rule.type == "person_name" and stats[column][2] < 20:
                confidence *= 0.5  # a handful of repeated values is a category, not names
            if inside:
                confidence *= 0.9
            if agreement < 0.5:
                continue
            findings.append(
                _finding(column, rule.type, confidence, share, matched, checked, inside, rows)
            )
        scanned = source if mode == "full" else sample
        for column in texts:
            if stats[column][0] and stats[column][3] >= PROSE_SHARE:
                found = _in_text(con, scanned, column, rows)
                findings += [f for f in found if (column, f.type) not in whole]
        findings += _dates_of_birth(con, scanned, texts, dates, stats, rows)
    except duckdb.Error as exc:
        raise MalformedInput("无法扫描暂存文件 / could not scan the staged file") from exc
    finally:
        con.close()
    order = {name: i for i, name in enumerate(schema.names)}
    return sorted(findings, key=lambda f: (order[f.column], -f.confidence))


def _holds(rule: Rule, matched: int, family: int, checked: int) -> bool:
    """Whether a whole-value type holds in a column: its own share reaches the rule's
    threshold, or its family (mobile and landline are both "phone") reaches it
    together and the type itself is at least ``FAMILY_MIN_SHARE`` of the values.

    A column of contact numbers with 30 % landlines holds landlines although
    no single type is a majority; a stray landline in a mobile column does not.

    >>> from datacompact.ingest._pii_rules import RULE_BY_TYPE as R
    >>> _holds(R["landline"], 30, 100, 100), _holds(R["landline"], 3, 100, 100)
    (True, False)
    """
    if not checked:
        return False
    if matched / checked >= rule.threshold:
        return True
    return (
        rule.family is not None
        and family / checked >= rule.threshold
        and matched / checked >= FAMILY_MIN_SHARE
    )


def _in_text(
    con: duckdb.DuckDBPyConnection, source: str, column: str, rows: int
) -> list[ColumnFinding]:
    """Resident IDs, bank cards, phones and e-mail inside the text of a prose column."""
    q = sql_ident(column)
    values = _values([column], source)
    relation = con.sql(f"SELECT {q} FROM {values} WHERE {q} IS NOT NULL")  # noqa: S608 - identifier quoted
    tally = scan(relation.to_arrow_reader(_BATCH_ROWS))
    findings = []
    for found in verdict(tally, tally.rows):
        rule = RULE_BY_TYPE[found.type]
        # Validated tokens leave only chance to doubt, whatever their share.
        confidence = rule.base * 0.9 * found.purity
        if any(h in column.lower() for h in rule.hints):
            confidence += 0.05
        findings.append(
            _finding(
                column,
                found.type,
                confidence,
                found.share,
                found.matched,
                found.checked,
                True,
                rows,
            )
        )
    return findings


def _rows(con: duckdb.DuckDBPyConnection, source: str) -> int:
    ((count,),) = con.execute(f"SELECT count(*) FROM {source}").fetchall()  # noqa: S608 - source is the quoted read_parquet call
    return int(count)


def _long_text(stats: tuple[int, float, int, float]) -> bool:
    """Long values that are mostly prose (Chinese characters or spaces), not single tokens."""
    return stats[1] >= FREE_TEXT_CHARS and stats[3] >= 0.5


def _texty(kind: Any) -> bool:
    t = pa.types
    return bool(t.is_string(kind) or t.is_large_string(kind) or t.is_integer(kind))


def _finding(
    column: str,
    kind: str,
    confidence: float,
    share: float,
    matched: int,
    checked: int,
    inside: bool,
    rows: int,
) -> ColumnFinding:
    return ColumnFinding(
        column=column,
        type=kind,
        confidence=round(min(1.0, confidence), 3),
        share=round(share, 4),
        matched=matched,
        checked=checked,
        in_text=inside,
        personal=kind in PERSONAL,
        sensitive=kind in SENSITIVE,
        rows=rows,
        row_share=round(matched / rows, 4) if rows else 0.0,
    )


def _sample(
    con: duckdb.DuckDBPyConnection,
    source: str,
    columns: list[str],
    total: int,
    rows: int,
    *,
    name: str = "sample",
) -> str:
    if total <= rows:
        return source
    step = math.ceil(total / rows)
    select = ", ".join(sql_ident(c) for c in columns)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select} FROM "  # noqa: S608 - identifiers quoted; rule patterns are constants
        f"{source.removesuffix(')')}, file_row_number=true) WHERE file_row_number % {step} = 0"
    )
    return name


def _values(columns: list[str], source: str) -> str:
    """A subquery with each column as trimmed text (empty strings count as missing)."""
    parts = ", ".join(
        f"NULLIF(trim(CAST({sql_ident(c)} AS VARCHAR)), '') AS {sql_ident(c)}" for c in columns
    )
    return f"(SELECT {parts} FROM {source})"  # noqa: S608 - identifiers quoted; rule patterns are constants


def _stats(
    con: duckdb.DuckDBPyConnection, source: str, texts: list[str]
) -> dict[str, tuple[int, float, int, float]]:
    """Per text column: non-empty count, mean length, approximate distinct count, prose share."""
    if not texts:
        return {}
    parts = []
    for c in texts:
        q = sql_ident(c)
        prose = f"regexp_matches({q}, '[\\s\\x{{4e00}}-\\x{{9fa5}}]')"
        parts += [
            f"count({q})",
            f"coalesce(avg(length({q})), 0)",
            f"approx_count_distinct({q})",
            # Over non-empty values only: a remark column is mostly empty, and
            # its few remarks are what is searched.
            f"coalesce(avg(CASE WHEN {q} IS NULL THEN NULL WHEN {prose} THEN 1.0 ELSE 0.0 END), 0)",
        ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {_values(texts, source)}").fetchone() or ()  # noqa: S608 - identifiers quoted; rule patterns are constants
    return {
        c: (int(row[4 * i]), float(row[4 * i + 1]), int(row[4 * i + 2]), float(row[4 * i + 3]))
        for i, c in enumerate(texts)
    }


def _predicate(column: str, rule: Rule, inside: bool) -> str:
    value = sql_ident(column)
    if not inside:
        return rule.full(value)
    found = _extract(value, rule)
    return f"({found} <> '' AND {rule.full(found)})"


def _extract(value: str, rule: Rule) -> str:
    """The first candidate inside the text, standing alone (not part of a longer token)."""
    assert rule.extract is not None  # noqa: S101 - callers pass rules with a pattern
    pattern = f"(?:^|[^0-9A-Za-z@._-])({rule.extract})(?:[^0-9A-Za-z@_-]|$)"
    return f"regexp_extract({value}, '{pattern}', 1)"


def _count(
    con: duckdb.DuckDBPyConnection, source: str, plan: list[tuple[str, Rule, bool]]
) -> dict[tuple[str, Rule, bool], int]:
    if not plan:
        return {}
    columns = sorted({c for c, _, _ in plan})
    extracted: list[str] = []
    parts: list[str] = []
    for k, (column, rule, inside) in enumerate(plan):
        if inside:
            # Extract once per row into its own column; the predicate then reads it.
            alias = f"__dc_x{k}"
            extracted.append(f"{_extract(sql_ident(column), rule)} AS {alias}")
            parts.append(f"count(*) FILTER (WHERE {alias} <> '' AND {rule.full(alias)})")
        else:
            parts.append(f"count(*) FILTER (WHERE {_predicate(column, rule, False)})")
    values = _values(columns, source)
    if extracted:
        values = f"(SELECT *, {', '.join(extracted)} FROM {values})"  # noqa: S608 - identifiers quoted; rule patterns are constants
    row = con.execute(f"SELECT {', '.join(parts)} FROM {values}").fetchone() or ()  # noqa: S608 - identifiers quoted; rule patterns are constants
    return {p: int(n) for p, n in zip(plan, row, strict=True)}


def _agreement(
    con: duckdb.DuckDBPyConnection,
    source: str,
    column: str,
    rule: Rule,
    inside: bool,
    limit: int,
) -> float:
    """Share of distinct SQL-accepted candidates the reference library also accepts."""
    if rule.validate is None:
        return 1.0
    value = sql_ident(column)
    candidate = _extract(value, rule) if inside else value
    rows = con.execute(
        f"SELECT DISTINCT {candidate} AS v FROM {_values([column], source)} "  # noqa: S608 - identifiers quoted; rule patterns are constants
        f"WHERE {_predicate(column, rule, inside)} ORDER BY v LIMIT {int(limit)}"
    ).fetchall()
    if not rows:
        return 0.0
    return sum(1 for (v,) in rows if rule.validate(str(v))) / len(rows)


def _dates_of_birth(
    con: duckdb.DuckDBPyConnection,
    source: str,
    texts: list[str],
    dates: list[str],
    stats: dict[str, tuple[int, float, int, float]],
    rows: int,
) -> list[ColumnFinding]:
    """Columns of dates spread over decades in the past, or named as birth dates."""
    candidates = dates + [c for c in texts if 6 <= stats[c][1] <= 12]
    if not candidates:
        return []
    now = sql_string(today().isoformat())
    parts = []
    for c in candidates:
        q = sql_ident(c)
        d = f"CAST({q} AS DATE)" if c in dates else dob_date_sql(f"CAST({q} AS VARCHAR)")
        ok = f"({d} BETWEEN DATE '1900-01-01' AND DATE {now})"
        parts += [
            f"count({q})",
            f"count(*) FILTER (WHERE {ok})",
            f"stddev_samp(year({d})) FILTER (WHERE {ok})",
            f"median(date_diff('year', {d}, DATE {now})) FILTER (WHERE {ok})",
        ]
    row = con.execute(f"SELECT {', '.join(parts)} FROM {source}").fetchone() or ()  # noqa: S608 - identifiers quoted; rule patterns are constants
    findings = []
    for i, c in enumerate(candidates):
        total, ok, spread, age = row[4 * i : 4 * i + 4]
        if not total or not ok or ok / total < 0.5:
            continue
        name = c.lower()
        hinted = any(h in name for h in DOB_HINTS)
        if any(h in name for h in DOB_NOT) and not hinted:
            continue
        spread_ok = spread is not None and spread >= 8 and age is not None and 1 <= age <= 100
        if not hinted and not spread_ok:
            continue
        share = ok / total
        confidence = (0.9 if hinted else 0.6) * (0.6 + 0.4 * share) + (0.1 if spread_ok else 0.0)
        findings.append(
            _finding(c, "date_of_birth", confidence, share, int(ok), int(total), False, rows)
        )
    return findings

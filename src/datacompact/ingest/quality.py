"""Quality profiling of a staged Parquet file, in DuckDB, along five dimensions.

The dimensions follow GB/T 36344-2018 (data quality evaluation indicators):
completeness, validity (types, code lists, patterns, ID checksums per
GB 11643 / GB 32100 / Luhn), uniqueness of the declared keys, consistency
across columns (e.g. the birth date inside a resident ID equals the
``birth_date`` column) and timeliness (last update against the declared
frequency). Each dimension scores 0–100 as the share of passing values; the
overall score is their mean. Every check reports counts only: no value ever
leaves this module, so personal columns can be profiled safely.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from duckdb.func import FunctionNullHandling, PythonUDFType
from duckdb.sqltypes import TINYINT, VARCHAR

from datacompact.errors import InvalidInput, MalformedInput, UnknownField
from datacompact.ingest._common import connect, sql_ident, sql_string
from datacompact.ingest._pii_rules import RULE_BY_TYPE, dob_date_sql, ric_sex
from datacompact.ingest.schema import DataDictionary

__all__ = ["Check", "ConsistencyRule", "QualityReport", "QualityRules", "profile_quality"]

Dimension = Literal["completeness", "validity", "uniqueness", "consistency", "timeliness"]
DIMENSIONS: tuple[Dimension, ...] = (
    "completeness",
    "validity",
    "uniqueness",
    "consistency",
    "timeliness",
)
Frequency = Literal[
    "realtime", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly", "irregular"
]
PERIOD_DAYS: dict[str, float | None] = {
    "realtime": 1 / 24,
    "hourly": 1 / 24,
    "daily": 1,
    "weekly": 7,
    "monthly": 31,
    "quarterly": 92,
    "yearly": 366,
    "irregular": None,
}
Checksum = Literal["resident_id", "uscc", "bank_card"]
_CASTS = {
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "boolean": "BOOLEAN",
}
_OPS = ("<", "<=", "=", ">=", ">", "<>")
_RIC_UDF = "__dc_ric_sex"
_MALE = "('1', '男', 'M', 'm', 'male', 'Male')"
_FEMALE = "('2', '女', 'F', 'f', 'female', 'Female')"


@dataclass(frozen=True)
class ConsistencyRule:
    """A cross-column rule; build one with :meth:`id_birth_date`, :meth:`id_sex` or :meth:`compare`."""

    kind: Literal["id_birth_date", "id_sex", "compare"]
    columns: tuple[str, str]
    op: str | None = None

    @classmethod
    def id_birth_date(cls, id_column: str, birth_column: str) -> ConsistencyRule:
        """GB 11643-1999 §5.2: digits 7–14 of a resident ID are the holder's birth date."""
        return cls("id_birth_date", (id_column, birth_column))

    @classmethod
    def id_sex(cls, id_column: str, sex_column: str) -> ConsistencyRule:
        """GB 11643-1999 §5.3: the 17th digit is odd for men; sex per GB/T 2261.1 (1 男, 2 女)."""
        return cls("id_sex", (id_column, sex_column))

    @classmethod
    def compare(cls, left: str, op: str, right: str) -> ConsistencyRule:
        if op not in _OPS:
            raise InvalidInput(f"比较运算符无效 / expected an operator among {' '.join(_OPS)}")
        return cls("compare", (left, right), op)

    @property
    def name(self) -> str:
        a, b = self.columns
        return f"{a} {self.op} {b}" if self.kind == "compare" else f"{self.kind}({a}, {b})"


@dataclass(frozen=True)
class QualityRules:
    """What to check beyond the data dictionary's types and code lists."""

    required: tuple[str, ...] = ()
    patterns: dict[str, str] = field(default_factory=dict)
    checksums: dict[str, Checksum] = field(default_factory=dict)
    keys: tuple[tuple[str, ...], ...] = ()
    consistency: tuple[ConsistencyRule, ...] = ()
    frequency: Frequency | None = None
    last_updated: dt.datetime | None = None


@dataclass(frozen=True)
class Check:
    """One check: how many values it looked at and how many failed (never which)."""

    dimension: Dimension
    rule: str
    column: str | None
    checked: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "rule": self.rule,
            "column": self.column,
            "checked": self.checked,
            "failed": self.failed,
        }


@dataclass(frozen=True)
class QualityReport:
    """Scores 0–100 per dimension (``None`` when nothing was checked) and overall."""

    rows: int
    scores: dict[str, float | None]
    overall: float | None
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "scores": dict(self.scores),
            "overall": self.overall,
            "checks": [c.to_dict() for c in self.checks],
        }


def profile_quality(
    parquet_path: Path | str,
    *,
    dictionary: DataDictionary | None = None,
    rules: QualityRules | None = None,
    now: dt.datetime | None = None,
) -> QualityReport:
    """Profile ``parquet_path``; one aggregate query for all value checks, one per key."""
    rules = rules or QualityRules()
    path = Path(parquet_path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedInput("expected a staged Parquet file, got one that does not open") from exc
    names = set(schema.names)
    _known(names, rules, dictionary)
    source = f"read_parquet({sql_string(str(path))})"
    # (dimension, rule, column, SQL counting the checked values, SQL counting the failures)
    specs: list[tuple[Dimension, str, str | None, str, str]] = []
    for f in schema:
        q = sql_ident(f.name)
        blank = f"{q} IS NULL"
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            # Trim only values that start with a blank: most start with a letter.
            blank = f"CASE WHEN {q} IS NULL THEN true WHEN ascii({q}) > 32 THEN false ELSE trim({q}) = '' END"
        specs.append(
            ("completeness", "present", f.name, "count(*)", f"count(*) FILTER (WHERE {blank})")
        )
    for spec in dictionary.columns if dictionary else ():
        q = sql_ident(spec.name)
        arrow = schema.field(spec.name).type
        present = f"count({q})"
        if spec.type in _CASTS and (pa.types.is_string(arrow) or pa.types.is_large_string(arrow)):
            bad = f"{q} IS NOT NULL AND trim({q}) <> '' AND TRY_CAST(trim({q}) AS {_CASTS[spec.type]}) IS NULL"
            specs.append(
                (
                    "validity",
                    f"type:{spec.type}",
                    spec.name,
                    present,
                    f"count(*) FILTER (WHERE {bad})",
                )
            )
        if spec.code_list:
            codes = ", ".join(sql_string(c) for c in spec.code_list)
            bad = f"{q} IS NOT NULL AND CAST({q} AS VARCHAR) NOT IN ({codes})"
            specs.append(
                ("validity", "code_list", spec.name, present, f"count(*) FILTER (WHERE {bad})")
            )
    for column, pattern in rules.patterns.items():
        q = sql_ident(column)
        bad = f"{q} IS NOT NULL AND NOT regexp_full_match(CAST({q} AS VARCHAR), {sql_string(pattern)})"
        specs.append(
            ("validity", "pattern", column, f"count({q})", f"count(*) FILTER (WHERE {bad})")
        )
    derived: dict[str, str] = {}
    for column, kind in rules.checksums.items():
        if kind not in ("resident_id", "uscc", "bank_card"):
            raise InvalidInput(
                "校验类型无效 / expected a checksum among resident_id, uscc, bank_card"
            )
        q = sql_ident(column)
        bad = f"{q} IS NOT NULL AND NOT {_valid(column, kind, derived)}"
        specs.append(
            (
                "validity",
                f"checksum:{kind}",
                column,
                f"count({q})",
                f"count(*) FILTER (WHERE {bad})",
            )
        )
    for rule in rules.consistency:
        specs.append(_consistency(rule, derived))
    values = source
    # Normalized ID columns, then their checksum verdicts, are computed once per
    # row in two nested projections (an alias reused in the same SELECT would be
    # expanded, and recomputed, at each use).
    for prefix in ("__dc_norm_", "__dc_valid_"):
        layer = [
            f"{expr} AS {alias}" for alias, expr in derived.items() if alias.startswith(prefix)
        ]
        if layer:
            values = f"(SELECT *, {', '.join(layer)} FROM {values})"  # noqa: S608 - identifiers quoted; operators checked against a fixed set
    con = connect(memory_limit="1GB")
    if any(_RIC_UDF in expr for expr in derived.values()):
        con.create_function(
            _RIC_UDF,
            ric_sex,
            [VARCHAR],
            TINYINT,
            type=PythonUDFType.ARROW,
            null_handling=FunctionNullHandling.SPECIAL,
        )
    try:
        rows = int((con.execute(f"SELECT count(*) FROM {source}").fetchone() or (0,))[0])  # noqa: S608 - identifiers quoted; operators checked against a fixed set
        checks: list[Check] = []
        if specs:
            parts = [f"{checked}, {failed}" for _, _, _, checked, failed in specs]
            got = con.execute(f"SELECT {', '.join(parts)} FROM {values}").fetchone() or ()  # noqa: S608 - identifiers quoted; operators checked against a fixed set
            for i, (dim, label, where, _, _) in enumerate(specs):
                checks.append(Check(dim, label, where, int(got[2 * i]), int(got[2 * i + 1])))
        for key in rules.keys:
            cols = ", ".join(sql_ident(c) for c in key)
            distinct = con.execute(
                f"SELECT count(*) FROM (SELECT DISTINCT {cols} FROM {source})"  # noqa: S608 - identifiers quoted; operators checked against a fixed set
            ).fetchone()
            dups = rows - int((distinct or (0,))[0])
            checks.append(Check("uniqueness", "key", ",".join(key), rows, dups))
    except duckdb.Error as exc:
        raise MalformedInput(
            "质量规则无法执行（正则表达式或列类型有误？） / a quality rule could not run "
            "(invalid pattern or column type?)"
        ) from exc
    finally:
        con.close()
    scores: dict[str, float | None] = {}
    for dim in DIMENSIONS:
        mine = [c for c in checks if c.dimension == dim]
        checked = sum(c.checked for c in mine)
        scores[dim] = (
            round(100.0 * (1 - sum(c.failed for c in mine) / checked), 2) if checked else None
        )
    scores["timeliness"] = _timeliness(rules, now)
    scored = [s for s in scores.values() if s is not None]
    overall = round(sum(scored) / len(scored), 2) if scored else None
    return QualityReport(rows=rows, scores=scores, overall=overall, checks=tuple(checks))


def _known(names: set[str], rules: QualityRules, dictionary: DataDictionary | None) -> None:
    wanted = set(rules.required) | set(rules.patterns) | set(rules.checksums)
    wanted |= {c for key in rules.keys for c in key}
    wanted |= {c for rule in rules.consistency for c in rule.columns}
    if dictionary is not None:
        wanted |= set(dictionary.names)
    unknown = sorted(wanted - names)
    if unknown:
        raise UnknownField(
            f"规则引用了不存在的列 / rules name columns the data does not have: {', '.join(unknown)}",
            details={"columns": unknown},
        )


def _normalized(column: str, derived: dict[str, str]) -> str:
    """The alias of ``column`` as upper-case trimmed text, registered in ``derived``."""
    expr = f"upper(trim(CAST({sql_ident(column)} AS VARCHAR)))"
    for alias, known in derived.items():
        if known == expr:
            return alias
    alias = f"__dc_norm_{len(derived)}"
    derived[alias] = expr
    return alias


def _ric(column: str, derived: dict[str, str]) -> str:
    """The alias of the resident-ID verdict of ``column`` (see ``ric_sex``), computed once per row."""
    expr = f"{_RIC_UDF}(CAST({sql_ident(column)} AS VARCHAR))"
    for alias, known in derived.items():
        if known == expr:
            return alias
    alias = f"__dc_norm_{len(derived)}"  # the first projection layer
    derived[alias] = expr
    return alias


def _valid(column: str, kind: str, derived: dict[str, str]) -> str:
    """The alias of "``column`` passes the ``kind`` checksum", computed once per row."""
    if kind == "resident_id":
        # numpy over Arrow buffers: the SQL form of GB 11643 dominated a profile.
        return f"({_ric(column, derived)} IS NOT NULL)"
    expr = f"coalesce({RULE_BY_TYPE[kind].full(_normalized(column, derived))}, false)"
    for alias, known in derived.items():
        if known == expr:
            return alias
    alias = f"__dc_valid_{len(derived)}"
    derived[alias] = expr
    return alias


def _consistency(
    rule: ConsistencyRule, derived: dict[str, str]
) -> tuple[Dimension, str, str | None, str, str]:
    a, b = (sql_ident(c) for c in rule.columns)
    if rule.kind == "compare":
        both = f"{a} IS NOT NULL AND {b} IS NOT NULL"
        return (
            "consistency",
            rule.name,
            None,
            f"count(*) FILTER (WHERE {both})",
            f"count(*) FILTER (WHERE {both} AND NOT ({a} {rule.op} {b}))",
        )
    valid = _valid(rule.columns[0], "resident_id", derived)
    if rule.kind == "id_birth_date":
        ident = _normalized(rule.columns[0], derived)
        birth = dob_date_sql(f"trim(CAST({b} AS VARCHAR))")
        both = f"{b} IS NOT NULL AND {valid}"
        bad = f"{both} AND {birth} IS DISTINCT FROM CAST(strptime(substr({ident}, 7, 8), '%Y%m%d') AS DATE)"
    else:
        sex = f"trim(CAST({b} AS VARCHAR))"
        both = f"{b} IS NOT NULL AND {valid}"
        odd = f"{_ric(rule.columns[0], derived)} = 1"
        bad = f"{both} AND NOT (({odd} AND {sex} IN {_MALE}) OR (NOT {odd} AND {sex} IN {_FEMALE}))"
    return (
        "consistency",
        rule.name,
        rule.columns[0],
        f"count(*) FILTER (WHERE {both})",
        f"count(*) FILTER (WHERE {bad})",
    )


def _timeliness(rules: QualityRules, now: dt.datetime | None) -> float | None:
    """100 within one declared period of the last update, falling to 0 at three periods."""
    if rules.frequency is None or rules.last_updated is None:
        return None
    if rules.frequency not in PERIOD_DAYS:
        raise InvalidInput(f"更新频率无效 / expected a frequency among {', '.join(PERIOD_DAYS)}")
    period = PERIOD_DAYS[rules.frequency]
    if period is None:
        return None
    now = now or dt.datetime.now(dt.UTC)
    last = rules.last_updated
    if (last.tzinfo is None) != (now.tzinfo is None):
        raise InvalidInput(
            "时间需同为带时区或不带时区 / last_updated and now must both carry a time zone or neither"
        )
    age = (now - last).total_seconds() / 86400
    if age <= period:
        return 100.0
    return round(max(0.0, 100.0 * (1 - (age - period) / (2 * period))), 2)

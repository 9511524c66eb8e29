"""Conformance to data standards and derivation into their form, as DuckDB SQL.

The standards themselves are :mod:`datacompact.catalog.standards`.

Each mapped column becomes one SQL expression, so a whole file is checked in a
single column-wise scan. Code lists, formats and the region table travel as
bound parameters or a temporary table, never spliced into the SQL text; only
quoted identifiers and the quoted file path are.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from datacompact.catalog import _standard_codes as _codes
from datacompact.catalog.standards import (
    Check,
    ColumnMapping,
    ConformanceReport,
    DataElement,
    Derivation,
    DerivedColumn,
    ElementConformance,
    ElementType,
    MappingRow,
    Standard,
    get_standard,
)
from datacompact.errors import InvalidInput, MalformedInput

# Accepted spellings of a date when deriving GB/T 7408 form; conformance wants the first.
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Plan:
    """The resolved mappings of one call and the parameters their SQL binds."""

    def __init__(
        self, mappings: Sequence[ColumnMapping], extra: Mapping[str, Standard] | None = None
    ) -> None:
        if not mappings:
            raise InvalidInput("没有列映射 / no mappings: expected at least one column mapping")
        columns = [m.column for m in mappings]
        if len(set(columns)) != len(columns):
            raise InvalidInput("列映射重复 / duplicate mapping: expected each column mapped once")

        def resolve(standard_id: str) -> Standard:
            # Registered standards first, then the built-in ones.
            found = (extra or {}).get(standard_id)
            return found if found is not None else get_standard(standard_id)

        self.items = [(m, resolve(m.standard).element(m.element)) for m in mappings]
        self.params: dict[str, Any] = {}
        self.needs_regions = any(e.check is not None for _m, e in self.items)

    def _bind(self, name: str, value: Any) -> str:
        self.params[name] = value
        return f"${name}"

    def conforms(self, i: int, element: DataElement, v: str) -> str:
        """SQL that is true when the text ``v`` is a conforming value of ``element``."""
        tests = []
        if element.codes:
            tests.append(
                f"list_contains({self._bind(f'codes{i}', [c.code for c in element.codes])}, {v})"
            )
        if element.format:
            tests.append(f"regexp_full_match({v}, {self._bind(f'format{i}', element.format)})")
        if element.check is Check.GB2260:
            tests.append(f"{v} IN (SELECT code FROM dc_regions)")  # noqa: S608 - identifiers quoted, values bound or literal-escaped
        if element.check is Check.GB11643:
            tests.append(f"try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NOT NULL")
            # GB 11643-1999 §5.1 codes the county of residence when the number is issued,
            # which may be created after the birth year but cannot have ended before it.
            tests.append(
                "coalesce((SELECT coalesce(r.last_year, 9999) FROM dc_regions r "  # noqa: S608 - identifiers quoted, values bound or literal-escaped
                f"WHERE r.code = substr({v}, 1, 6)), 0) >= try_cast(substr({v}, 7, 4) AS INTEGER)"
            )
            # GB 11643-1999 §8.2: check = (12 - Σ aᵢ·Wᵢ mod 11) mod 11, 10 written as X.
            total = " + ".join(
                f"coalesce(try_cast(substr({v}, {k + 1}, 1) AS INTEGER), 0) * {w}"
                for k, w in enumerate(_codes.RESIDENT_ID_WEIGHTS)
            )
            check = f"(12 - ({total}) % 11) % 11"
            tests.append(
                f"(CASE {check} WHEN 10 THEN 'X' ELSE CAST({check} AS VARCHAR) END) "
                f"= substr({v}, 18, 1)"
            )
        if element.type is ElementType.DATE:
            tests.append(f"try_strptime({v}, '%Y-%m-%d') IS NOT NULL")
        return "coalesce(" + " AND ".join(tests) + ", false)"

    def derived(self, i: int, mapping: ColumnMapping, element: DataElement, column: str) -> str:
        """SQL for the standard form of ``column``; null when the value cannot be mapped."""
        text = f"CAST({_ident(column)} AS VARCHAR)"
        if element.codes:
            table = self.spellings(mapping, element)
            aliases = self._bind(f"aliases{i}", list(table))
            codes = self._bind(f"targets{i}", list(table.values()))
            return f"list_extract({codes}, list_position({aliases}, lower(trim({text}))))"
        if element.type is ElementType.DATE:
            parsed = ", ".join(f"try_strptime(trim({text}), {_literal(f)})" for f in _DATE_FORMATS)
            return f"CAST(coalesce({parsed}) AS DATE)"
        normal = f"upper(replace(trim({text}), ' ', ''))"
        return f"CASE WHEN {self.conforms(i, element, normal)} THEN {normal} END"

    def labelled(self, i: int, mapping: ColumnMapping, element: DataElement, v: str) -> str:
        """SQL that is true when ``v`` names a code by its label or an alias, not the code itself.

        Labels (中文 and English) and aliases are matched after trimming and
        lower-casing, as derivation maps them: ``男`` names code ``1`` of
        GB/T 2261.1. A code written in another case (``j`` for ``J``) is not a
        label, and stays non-conforming.
        """
        if not element.codes:
            return "false"
        codes = {c.code.strip().lower() for c in element.codes}
        labels = [k for k in self.spellings(mapping, element) if k not in codes]
        if not labels:
            return "false"
        return (
            f"coalesce(list_contains({self._bind(f'labels{i}', labels)}, lower(trim({v}))), false)"
        )

    @staticmethod
    def spellings(mapping: ColumnMapping, element: DataElement) -> dict[str, str]:
        table = element.aliases()
        codes = {c.code for c in element.codes}
        for spelling, code in mapping.aliases.items():
            if code not in codes:
                raise InvalidInput(
                    f"列 / column '{mapping.column}': expected aliases to map onto codes of "
                    f"'{element.id}', got a target that is not in its code list"
                )
            table[spelling.strip().lower()] = code
        return table


def _open(parquet: Path, plan: _Plan) -> tuple[duckdb.DuckDBPyConnection, int]:
    con = duckdb.connect(":memory:")
    try:
        con.execute(
            "CREATE TEMP VIEW src AS SELECT * FROM "  # noqa: S608 - identifiers quoted, values bound or literal-escaped
            f"read_parquet({_literal(str(parquet))}, file_row_number = true)"
        )
        names = {row[0] for row in con.execute("DESCRIBE src").fetchall()}
        rows = int(con.execute("SELECT count(*) FROM src").fetchall()[0][0])
    except duckdb.Error as exc:
        con.close()
        raise MalformedInput(
            "无法读取 Parquet 文件 / cannot read the data: expected a readable Parquet file, "
            "got a missing or unreadable file"
        ) from exc
    missing = [m.column for m, _e in plan.items if m.column not in names]
    if missing:
        con.close()
        raise InvalidInput(
            f"映射的列不存在 / mapped columns not in the data: {', '.join(missing)}",
            details={"columns": missing},
        )
    if plan.needs_regions:
        periods = _codes.region_periods()
        con.execute(
            "CREATE TEMP TABLE dc_regions AS SELECT unnest($c) AS code, unnest($y) AS last_year",
            {"c": [c for c, _y in periods], "y": [y for _c, y in periods]},
        )
    return con, rows


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[Any]:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise InvalidInput(
            "数据标准检查失败 / the standard check could not run on this data: expected "
            "columns castable to text, got a type or value DuckDB rejected"
        ) from exc


def conformance(
    *,
    parquet: Path,
    mappings: Sequence[ColumnMapping],
    sample_size: int = 5,
    standards: Mapping[str, Standard] | None = None,
) -> ConformanceReport:
    """The % of conforming values per mapped column, computed in one DuckDB scan.

    ``standards`` adds registered standards by identifier to the built-in ones.
    """
    plan = _Plan(mappings, standards)
    con, rows = _open(parquet, plan)
    try:
        selects = []
        tests = []
        for i, (m, element) in enumerate(plan.items):
            v = f"CAST({_ident(m.column)} AS VARCHAR)"
            by_code = plan.conforms(i, element, v)
            by_label = plan.labelled(i, m, element, v)
            tests.append(f"({by_code} OR {by_label})")
            selects.append(
                f"count({v}), count(*) FILTER (WHERE {v} IS NOT NULL AND {by_code}), "
                f"count(*) FILTER (WHERE {v} IS NOT NULL AND NOT {by_code} AND {by_label})"
            )
        counts = _run(con, f"SELECT {', '.join(selects)} FROM src", plan.params)[0]  # noqa: S608 - identifiers quoted, values bound or literal-escaped
        report = []
        for i, (m, element) in enumerate(plan.items):
            samples: tuple[str, ...] = ()
            if sample_size > 0 and not (element.personal or m.personal):
                v = f"CAST({_ident(m.column)} AS VARCHAR)"
                used = {k: p for k, p in plan.params.items() if re.search(rf"\${k}\b", tests[i])}
                found = _run(
                    con,
                    f"SELECT left({v}, 64) AS s, count(*) AS n FROM src WHERE {v} IS NOT NULL "  # noqa: S608 - identifiers quoted, values bound or literal-escaped
                    f"AND NOT {tests[i]} GROUP BY s ORDER BY n DESC, s LIMIT {int(sample_size)}",
                    used,
                )
                samples = tuple(str(s) for s, _n in found)
            values, coded, labelled = (int(c) for c in counts[3 * i : 3 * i + 3])
            report.append(
                ElementConformance(
                    m.column,
                    m.standard,
                    m.element,
                    values,
                    coded + labelled,
                    rows - values,
                    samples,
                    by_label=labelled,
                )
            )
        return ConformanceReport(rows, tuple(report))
    finally:
        con.close()


def derive(
    *,
    parquet: Path,
    mappings: Sequence[ColumnMapping],
    output: Path,
    standards: Mapping[str, Standard] | None = None,
) -> Derivation:
    """Write ``output``: ``parquet`` with each mapped column in its standard's form.

    Values that cannot be mapped become null and are counted, never listed.
    """
    plan = _Plan(mappings, standards)
    con, rows = _open(parquet, plan)
    try:
        exprs = [plan.derived(i, m, e, m.column) for i, (m, e) in enumerate(plan.items)]
        replace = ", ".join(
            f"{x} AS {_ident(m.column)}" for x, (m, _e) in zip(exprs, plan.items, strict=True)
        )
        # file_row_number keeps the source order through the region-table semi-joins.
        select = (
            f"SELECT * EXCLUDE (file_row_number) REPLACE ({replace}) FROM src "  # noqa: S608 - identifiers quoted, values bound or literal-escaped
            "ORDER BY file_row_number"
        )
        # Written beside the target and renamed: a failed run leaves no partial file behind.
        partial = output.with_name(f".{output.name}.{uuid.uuid4().hex}.partial")
        try:
            con.sql(select, params=plan.params).write_parquet(str(partial))
            os.replace(partial, output)
        except (duckdb.Error, OSError) as exc:
            partial.unlink(missing_ok=True)
            raise InvalidInput(
                "无法生成标准化版本 / cannot derive the standard form: expected columns castable "
                "to text and a writable output, got a value or path DuckDB rejected"
            ) from exc
        stats = ", ".join(f"count({_ident(m.column)})" for m, _e in plan.items)
        source = _run(con, f"SELECT {stats} FROM src", {})[0]  # noqa: S608 - identifiers quoted, values bound or literal-escaped
        target = _run(con, f"SELECT {stats} FROM read_parquet({_literal(str(output))})", {})[0]  # noqa: S608 - identifiers quoted, values bound or literal-escaped
        columns = []
        table: list[MappingRow] = []
        for i, (m, element) in enumerate(plan.items):
            by_code: dict[str, int] = {}
            if element.codes:
                spellings = plan.spellings(m, element)
                table += [MappingRow(m.column, element.id, s, c) for s, c in spellings.items()]
                found = _run(
                    con,
                    f"SELECT {_ident(m.column)}, count(*) FROM read_parquet({_literal(str(output))}) "  # noqa: S608 - identifiers quoted, values bound or literal-escaped
                    f"WHERE {_ident(m.column)} IS NOT NULL GROUP BY 1 ORDER BY 1",
                    {},
                )
                by_code = {str(code): int(n) for code, n in found}
            mapped, present = int(target[i]), int(source[i])
            columns.append(
                DerivedColumn(
                    m.column,
                    m.standard,
                    m.element,
                    mapped,
                    present - mapped,
                    rows - present,
                    by_code,
                )
            )
        return Derivation(output, rows, tuple(columns), tuple(table))
    finally:
        con.close()

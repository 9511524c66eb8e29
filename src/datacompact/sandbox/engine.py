"""Engines: the :class:`Engine` protocol, the :class:`Result`, and :class:`DuckDBEngine`.

An engine runs a governed :class:`~datacompact.sandbox.plan.Plan`. It
declares what it can apply with class-level flags; :func:`check_capabilities`
refuses a plan that needs something the engine lacks (a mask, a row filter, a
DP release), so a rule is never skipped silently on some engine.

:class:`DuckDBEngine` opens a fresh in-memory connection per request that
holds only the governed slice: a view per granted table, created by the
platform, then locks it down (external access off, configuration locked, no
extension loading or installing, Python replacement scans off, memory, thread
and time limits). User SQL has already passed the analyzer, which refuses
every table function, so the files DuckDB keeps on its allow-list for those
views are not reachable by name either. ``scan="arrow"`` goes further: the
files are read through Arrow datasets and DuckDB's allow-list stays empty, at
the cost measured in ``benchmarks/sandbox``.

Errors are generic for users ("query failed: ConversionException"); the
detailed DuckDB message, which may quote a data value, goes to the logger only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from sqlglot import exp

from datacompact.errors import InvalidInput, PolicyViolation
from datacompact.sandbox._masks import register_masks
from datacompact.sandbox._release import release
from datacompact.sandbox.budget import BudgetAccount
from datacompact.sandbox.plan import Plan, refuse
from datacompact.sandbox.rules.govern_tables import SOURCE_PREFIX

log = logging.getLogger("datacompact.sandbox")


@dataclass(frozen=True)
class Result:
    """What a governed query returns, with what its receipt needs."""

    rows: pa.Table
    columns_touched: Mapping[str, frozenset[str]]
    rows_scanned: int
    result_sha256: str
    epsilon_spent: float
    sql_sha256: str
    grant_id: str
    truncated: bool = False


@runtime_checkable
class Engine(Protocol):
    """Runs governed plans. One method, and flags saying which rules it can apply."""

    name: ClassVar[str]
    supports_masks: ClassVar[bool]
    supports_row_filters: ClassVar[bool]
    supports_dp: ClassVar[bool]

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result: ...


def check_capabilities(engine: Engine, plan: Plan) -> None:
    """Refuse ``plan`` if it needs a rule ``engine`` cannot apply."""
    needs = set(plan.requires) | ({"dp"} if plan.dp_aggregates else set())
    flags = {
        "masks": engine.supports_masks,
        "row_filters": engine.supports_row_filters,
        "dp": engine.supports_dp,
    }
    missing = sorted(n for n in needs if not flags.get(n, False))
    if missing:
        raise refuse(
            f"引擎 {engine.name} 无法执行规则 {', '.join(missing)}",
            f"engine {engine.name} cannot apply {', '.join(missing)}; the query is refused",
            rule="engine_capability",
            missing=missing,
        )
    if "govern_tables" not in plan.applied:
        raise refuse(
            "计划未经治理", "the plan was not rewritten by the sandbox", rule="ungoverned_plan"
        )


def result_digest(table: pa.Table) -> str:
    """SHA-256 of the canonical bytes of ``table``: its schema, then its rows sorted.

    Each row is JSON (keys in column order, no spaces, non-JSON values as
    their ``str``); rows are sorted so that the digest does not depend on
    the order an engine happened to return them in.

    >>> result_digest(pa.table({"a": [2, 1]})) == result_digest(pa.table({"a": [1, 2]}))
    True
    """
    header = json.dumps([[f.name, str(f.type)] for f in table.schema], separators=(",", ":"))
    rows = sorted(
        json.dumps(list(r.values()), separators=(",", ":"), default=str, ensure_ascii=False)
        for r in table.to_pylist()
    )
    digest = hashlib.sha256(header.encode())
    for row in rows:
        digest.update(b"\n" + row.encode())
    return digest.hexdigest()


class DuckDBEngine:
    """The default engine: DuckDB in process, one locked-down connection per request."""

    name: ClassVar[str] = "duckdb"
    supports_masks: ClassVar[bool] = True
    supports_row_filters: ClassVar[bool] = True
    supports_dp: ClassVar[bool] = True

    def __init__(
        self, *, pseudonym_key: bytes, scan: Literal["parquet", "arrow"] = "parquet"
    ) -> None:
        if len(pseudonym_key) < 16:
            raise InvalidInput("假名密钥过短 / expected a pseudonym key of at least 16 bytes")
        if scan not in ("parquet", "arrow"):
            raise InvalidInput("expected scan 'parquet' or 'arrow'")
        self._key = pseudonym_key
        self._scan = scan

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result:
        check_capabilities(self, plan)
        tables = sorted(
            {
                t.name.removeprefix(SOURCE_PREFIX)
                for t in plan.expression.find_all(exp.Table)
                if t.name.startswith(SOURCE_PREFIX)
            }
        )
        con = self.connect(plan, tables)
        try:
            table, truncated = self._run(con, plan)
        finally:
            con.close()
        spent = 0.0
        if plan.dp_aggregates:
            table, spent = release(table, plan, budget)
        scanned = sum(
            pq.ParquetFile(plan.grant.tables[t].parquet_path).metadata.num_rows for t in tables
        )
        return Result(
            rows=table,
            columns_touched=plan.touched,
            rows_scanned=scanned,
            result_sha256=result_digest(table),
            epsilon_spent=spent,
            sql_sha256=plan.sql_hash,
            grant_id=plan.grant.grant_id,
            truncated=truncated,
        )

    def connect(self, plan: Plan, tables: list[str]) -> duckdb.DuckDBPyConnection:
        """A fresh connection holding the governed sources of ``tables``, locked down."""
        con = duckdb.connect(":memory:")
        try:
            paths: list[str] = []
            for name in tables:
                path = plan.grant.tables[name].parquet_path
                if self._scan == "arrow":
                    con.register(f"{SOURCE_PREFIX}{name}", ds.dataset(path, format="parquet"))
                else:
                    paths.append(path)
                    literal = path.replace("'", "''")
                    con.execute(
                        f"CREATE VIEW {SOURCE_PREFIX}{name} AS SELECT * FROM read_parquet('{literal}')"
                    )
            register_masks(con, secret=self._key, context=f"grant:{plan.grant.grant_id}")
            limits = plan.limits
            # Order matters: the views need their files on the allow-list
            # before external access goes off, and locking comes last.
            settings: list[tuple[str, Any]] = [
                ("allowed_paths", paths),
                ("enable_external_access", False),
                ("python_enable_replacements", False),
                ("autoload_known_extensions", False),
                ("autoinstall_known_extensions", False),
                ("allow_community_extensions", False),
                ("memory_limit", limits.memory_limit),
                ("threads", limits.threads),
                ("lock_configuration", True),
            ]
            for setting, value in settings:
                con.execute(f"SET {setting} = $value", {"value": value})
        except duckdb.Error as exc:
            con.close()
            log.error("sandbox connection setup failed: %s", exc)
            raise InvalidInput(f"查询失败 / query failed: {type(exc).__name__}") from exc
        return con

    def _run(self, con: duckdb.DuckDBPyConnection, plan: Plan) -> tuple[pa.Table, bool]:
        cap = plan.limits.max_result_rows
        timer = threading.Timer(plan.limits.timeout_seconds, con.interrupt)
        timer.start()
        try:
            reader = con.sql(plan.sql()).to_arrow_reader(batch_size=min(cap + 1, 1_000_000))
            batches: list[pa.RecordBatch] = []
            count = 0
            for batch in reader:
                batches.append(batch)
                count += batch.num_rows
                if count > cap and not plan.dp_aggregates:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException as exc:
            log.warning("sandbox query interrupted after %ss", plan.limits.timeout_seconds)
            raise PolicyViolation(
                "查询超时 / the query exceeded its time limit",
                details={"rule": "time_limit", "seconds": plan.limits.timeout_seconds},
            ) from exc
        except duckdb.Error as exc:
            # The DuckDB message may quote a value (a failed cast, a row);
            # only the class name reaches the user.
            log.warning("sandbox query failed: %s: %s", type(exc).__name__, exc)
            raise InvalidInput(
                f"查询失败 / query failed: {type(exc).__name__}",
                details={"rule": "execution", "error": type(exc).__name__},
            ) from exc
        finally:
            timer.cancel()
        truncated = table.num_rows > cap and not plan.dp_aggregates
        return (table.slice(0, cap) if truncated else table), truncated

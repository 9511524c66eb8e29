"""Engines: the :class:`Engine` protocol, the :class:`Result`, and :class:`DuckDBEngine`.

An engine runs a governed :class:`~datacompact.sandbox.plan.Plan`. It
declares what it can apply with class-level flags; :func:`check_capabilities`
refuses a plan that needs something the engine lacks (a mask, a row filter, a
DP release), so a rule is never skipped silently on some engine. Every engine
hands its rows to :func:`finish`, so the DP release and the receipt fields do
not depend on the engine; :class:`~datacompact.sandbox.spark.SparkEngine` is
the other built-in one.

:class:`DuckDBEngine` runs each request on a fresh connection to an
in-memory database that holds no data and is locked down once, when it is
created: external access off (no file, no URL, not even the granted ones on
an allow-list), configuration locked, no extension loading or installing,
Python replacement scans off, memory and thread limits; the time limit
interrupts the request's own connection. The governed slice is registered on
that connection only, as Arrow datasets over the granted Parquet files: Arrow
registrations are connection-local, so one request never sees another's
tables, and they are gone when the connection closes. Creating a database
costs about 17 ms of CPU and a connection well under 1 ms
(``benchmarks/sandbox``), which is why the database is shared and the
connection is not. The memory and thread limits are the database's, so
queries running at the same time share them.

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
from typing import Any, ClassVar, Protocol, runtime_checkable

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
from sqlglot import exp

from datacompact.errors import InvalidInput, PolicyViolation
from datacompact.sandbox._masks import register_masks
from datacompact.sandbox._release import release
from datacompact.sandbox.budget import BudgetAccount
from datacompact.sandbox.grants import Limits
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


def source_tables(plan: Plan) -> list[str]:
    """The granted tables whose governed sources ``plan`` reads, sorted."""
    return sorted(
        {
            t.name.removeprefix(SOURCE_PREFIX)
            for t in plan.expression.find_all(exp.Table)
            if t.name.startswith(SOURCE_PREFIX)
        }
    )


def finish(
    plan: Plan,
    table: pa.Table,
    *,
    tables: list[str],
    truncated: bool,
    budget: BudgetAccount | None,
) -> Result:
    """The :class:`Result` of the rows an engine returned for ``plan``.

    Every engine ends here, so the DP release and the receipt fields are the
    same whichever engine ran the query.
    """
    spent = 0.0
    if plan.dp_aggregates:
        table, spent = release(table, plan, budget)
    scanned = sum(rows_in(plan.grant.tables[t].parquet_path) for t in tables)
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


class _Sources:
    """Arrow datasets and row counts of granted Parquet files, by path (versions never change)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._found: dict[str, tuple[ds.Dataset, int]] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> tuple[ds.Dataset, int]:
        with self._lock:
            found = self._found.get(path)
        if found is None:
            dataset = ds.dataset(path, format="parquet")
            found = (dataset, sum(f.metadata.num_rows for f in dataset.get_fragments()))
            with self._lock:
                if len(self._found) >= self._size:
                    self._found.pop(next(iter(self._found)))
                self._found[path] = found
        return found


SOURCES = _Sources()


def rows_in(path: str) -> int:
    """The number of rows of a granted Parquet file (cached)."""
    return SOURCES.get(path)[1]


class DuckDBEngine:
    """The default engine: DuckDB in process, one locked-down connection per request."""

    name: ClassVar[str] = "duckdb"
    supports_masks: ClassVar[bool] = True
    supports_row_filters: ClassVar[bool] = True
    supports_dp: ClassVar[bool] = True

    def __init__(self, *, pseudonym_key: bytes) -> None:
        if len(pseudonym_key) < 16:
            raise InvalidInput("假名密钥过短 / expected a pseudonym key of at least 16 bytes")
        self._key = pseudonym_key
        self._databases: dict[tuple[str, int], duckdb.DuckDBPyConnection] = {}
        self._lock = threading.Lock()

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result:
        check_capabilities(self, plan)
        tables = source_tables(plan)
        con = self.connect(plan, tables)
        try:
            table, truncated = self._run(con, plan)
        finally:
            con.close()
        return finish(plan, table, tables=tables, truncated=truncated, budget=budget)

    def _database(self, limits: Limits) -> duckdb.DuckDBPyConnection:
        """The locked-down, empty database for ``limits``, created once."""
        key = (limits.memory_limit, limits.threads)
        with self._lock:
            database = self._databases.get(key)
            if database is None:
                database = duckdb.connect(":memory:")
                # The mask functions are the only ones the platform adds; they
                # are registered before the configuration is locked.
                register_masks(database, secret=self._key)
                settings: list[tuple[str, Any]] = [
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
                    database.execute(f"SET {setting} = $value", {"value": value})
                self._databases[key] = database
            return database

    def connect(self, plan: Plan, tables: list[str]) -> duckdb.DuckDBPyConnection:
        """A fresh connection holding the governed sources of ``tables`` (connection-local)."""
        try:
            con = self._database(plan.limits).cursor()
        except duckdb.Error as exc:
            log.error("sandbox database setup failed: %s", exc)
            raise InvalidInput(f"查询失败 / query failed: {type(exc).__name__}") from exc
        try:
            for name in tables:
                dataset, _rows = SOURCES.get(plan.grant.tables[name].parquet_path)
                con.register(f"{SOURCE_PREFIX}{name}", dataset)
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            con.close()
            log.error("sandbox connection setup failed: %s", exc)
            raise InvalidInput(f"查询失败 / query failed: {type(exc).__name__}") from exc
        return con

    def close(self) -> None:
        with self._lock:
            for database in self._databases.values():
                database.close()
            self._databases.clear()

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

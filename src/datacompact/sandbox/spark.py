"""The Spark engine: the same governed plan, transpiled by SQLGlot, in local mode.

Install it with ``pip install 'datacompact[spark]'`` (PySpark 4.1 or newer and
Java 17) and import it as ``from datacompact.sandbox.spark import
SparkEngine``; :mod:`datacompact.sandbox` itself never imports PySpark.

An engine holds one SparkSession, started in the constructor so that the JVM
start is not part of any query. Each request gets a child session
(``newSession()``: its own temporary views, functions and settings) holding
only the governed slice: a temporary view per granted table, read from its
Parquet file and dropped after the request, and the ``__dc_mask_*`` functions
as Arrow UDFs that call :mod:`datacompact.privacy.masking` with the same
secret and grant context as :mod:`~datacompact.sandbox._masks`, so a
pseudonym is the same on DuckDB and on Spark.

A rule is never weakened in translation. The plan is transpiled with
``unsupported_level=RAISE``, and the Spark SQL is parsed back: every governed
source must come back with the same masked projections and the same row
filter. A plan that fails either check, or that calls a mask this engine does
not have, is refused (rule ``engine_capability``) instead of run.

The failure boundary is DuckDB's (see :mod:`datacompact.sandbox.engine`): a
DP plan is charged by :func:`~datacompact.sandbox.engine.charge_before_run`
before Spark runs it, and every failure after that (a Spark or Py4J error, a
cancelled job at the time limit, an Arrow conversion) is the one generic
:class:`~datacompact.errors.QueryFailed`; the Spark message, which may quote
a data value, goes to the logger only, as one bounded line.
Memory and threads are fixed when the JVM starts (``master``,
``spark.driver.memory``), so the per-request ``memory_limit`` and ``threads``
of :class:`~datacompact.sandbox.grants.Limits` do not apply here; the row cap
and the time limit do.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from sqlglot import ErrorLevel, exp, parse_one
from sqlglot.errors import SqlglotError

from datacompact.errors import ConfigurationError, InvalidInput, PolicyViolation
from datacompact.sandbox._masks import mask_functions
from datacompact.sandbox.budget import BudgetAccount
from datacompact.sandbox.engine import (
    Result,
    charge_before_run,
    check_capabilities,
    finish,
    query_failed,
    source_tables,
)
from datacompact.sandbox.plan import Plan, refuse
from datacompact.sandbox.rules.govern_tables import MASK_FUNCTIONS, SOURCE_PREFIX

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("datacompact.sandbox")

MASK_PREFIX = "__dc_mask_"
#: The mask functions the engine registers (``_masks.mask_functions``).
MASK_NAMES = frozenset(function for function, _type in MASK_FUNCTIONS.values())
#: Settings of the session every engine starts (``config`` may add to them).
DEFAULT_CONFIG: Mapping[str, str] = {
    # Classic, not Spark Connect: the engine needs the SparkContext (job tags,
    # the Python of the UDF workers) and runs everything in this process.
    "spark.api.mode": "classic",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # Defence in depth: the analyzer already allows granted names only, but a
    # table name must never be able to read a file (parquet.`/some/path`).
    "spark.sql.runSQLOnFiles": "false",
    # Without ANSI mode a failed cast, an overflow or a division by zero is
    # NULL, not an error: what DuckDB's TRY(...) gives the sandbox's rewritten
    # expressions (rules.safe_eval), which Spark SQL has no function for.
    "spark.sql.ansi.enabled": "false",
}
#: How often a timed-out request cancels its jobs again, in seconds.
_RECANCEL = 0.2
_INSTALL = (
    "未安装 Spark 引擎所需的 PySpark / the Spark engine needs PySpark 4.1 or newer: "
    "pip install 'datacompact[spark]'"
)


class SparkEngine:
    """Runs governed plans on Spark in local mode, one child session per request."""

    name: ClassVar[str] = "spark"
    supports_masks: ClassVar[bool] = True
    supports_row_filters: ClassVar[bool] = True
    supports_dp: ClassVar[bool] = True

    def __init__(
        self,
        *,
        pseudonym_key: bytes,
        master: str = "local[2]",
        config: Mapping[str, str] | None = None,
    ) -> None:
        if len(pseudonym_key) < 16:
            raise InvalidInput("假名密钥过短 / expected a pseudonym key of at least 16 bytes")
        try:
            from py4j.protocol import Py4JError  # type: ignore[import-untyped, unused-ignore]
            from pyspark import SparkContext
            from pyspark.errors import PySparkException
            from pyspark.logger import PySparkLogger
            from pyspark.sql import SparkSession
            from pyspark.sql.pandas.functions import arrow_udf
        except ImportError as exc:
            raise ConfigurationError(_INSTALL) from exc
        self._key = pseudonym_key
        self._arrow_udf: Any = arrow_udf
        self._errors: tuple[type[Exception], ...] = (PySparkException, Py4JError)
        # PySpark writes the full message of each failed query, data values
        # included, to stderr through loggers of its own that do not propagate;
        # the sandbox logs those details itself.
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name).disabled = True
        # There is one SparkContext per process: an engine stops only the one it started.
        self._owner = SparkContext._active_spark_context is None
        builder: Any = SparkSession.builder.master(master).appName("datacompact-sandbox")
        for key, value in {**DEFAULT_CONFIG, **(config or {})}.items():
            builder = builder.config(key, value)
        try:
            self._spark: SparkSession = builder.getOrCreate()
        except self._errors as exc:
            log.error("Spark did not start: %s", exc)
            raise ConfigurationError(
                "Spark 无法启动 / Spark did not start (it needs Java 17)"
            ) from exc
        context = self._spark.sparkContext
        # Python UDFs run in worker processes; by default those run "python3",
        # which need not be the interpreter that has datacompact and pyarrow.
        if "PYSPARK_PYTHON" not in os.environ:
            context.pythonExec = sys.executable
        context.setLogLevel("ERROR")

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result:
        check_capabilities(self, plan)
        sql = transpile(plan)
        tables = source_tables(plan)
        charge_before_run(plan, budget)
        # Charged: from here on every failure is the one generic QueryFailed.
        table, truncated = self._run(plan, sql, tables)
        return finish(plan, table, tables=tables, truncated=truncated)

    def close(self) -> None:
        """Stop Spark if this engine started it."""
        if self._owner:
            self._spark.stop()

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, plan: Plan, sql: str, tables: list[str]) -> tuple[pa.Table, bool]:
        session = self._spark.newSession()
        context = session.sparkContext
        cap = plan.limits.max_result_rows
        tag = f"datacompact-{uuid.uuid4().hex}"
        done, expired = threading.Event(), threading.Event()
        watchdog = threading.Thread(
            target=_watch,
            args=(context.cancelJobsWithTag, tag, plan.limits.timeout_seconds, done, expired),
            daemon=True,
        )
        # Job tags are thread-local, so only this request's jobs carry this one.
        context.addJobTag(tag)
        context.setInterruptOnCancel(True)
        watchdog.start()
        try:
            for name in tables:
                path = plan.grant.tables[name].parquet_path
                session.read.parquet(path).createOrReplaceTempView(f"{SOURCE_PREFIX}{name}")
            for mask in mask_functions(self._key):
                udf = self._arrow_udf(mask.function, mask.spark_returns)
                session.udf.register(mask.name, udf)
            frame = session.sql(sql)
            if not plan.dp_aggregates:
                frame = frame.limit(cap + 1)
            table = frame.toArrow()
        except Exception as exc:  # the boundary: see engine's module docstring
            raise _failed(plan, exc, expired.is_set()) from exc
        finally:
            done.set()
            context.removeJobTag(tag)
            for name in tables:
                session.catalog.dropTempView(f"{SOURCE_PREFIX}{name}")
        if expired.is_set():
            # The time ran out before a job started, so nothing was cancelled.
            raise _failed(plan, TimeoutError("no job was running"), True)
        truncated = table.num_rows > cap and not plan.dp_aggregates
        return (table.slice(0, cap) if truncated else table), truncated


def transpile(plan: Plan) -> str:
    """``plan`` as Spark SQL, or a refusal if Spark would not run the same governed query.

    >>> from datacompact.sandbox.examples import demo_plan
    >>> from datacompact.sandbox.rules.govern_tables import govern_tables
    >>> transpile(govern_tables(demo_plan("SELECT age FROM sbk", "records")))
    'SELECT `sbk`.`age` AS `age` FROM (SELECT `__dc_t`.`age` AS `age` FROM `__dc_src_sbk` AS `__dc_t` WHERE `age` >= 18) AS `sbk`'
    """
    called = {
        f.name.lower()
        for f in plan.expression.find_all(exp.Anonymous)
        if f.name.lower().startswith(MASK_PREFIX)
    }
    missing = sorted(called - MASK_NAMES)
    if missing:
        raise refuse(
            f"引擎 spark 无法执行脱敏函数 {', '.join(missing)}",
            f"engine spark cannot apply {', '.join(missing)}; the query is refused",
            rule="engine_capability",
            missing=missing,
        )
    tree = _without_try(_ordered_row_numbers(plan.expression))
    try:
        sql = tree.sql(dialect="spark", identify=True, unsupported_level=ErrorLevel.RAISE)
        back = parse_one(sql, dialect="spark")
    except SqlglotError as exc:
        log.info("plan not transpilable to Spark: %s", exc)
        raise _untranslatable() from exc
    if _governance(back) != _governance(tree):
        log.error("transpiling to Spark changed a governed source; refused: %s", sql)
        raise _untranslatable()
    return sql


def _without_try(tree: exp.Query) -> exp.Query:
    """``tree`` with each DuckDB ``TRY(x)`` as plain ``x``.

    The engine runs with ``spark.sql.ansi.enabled=false``, where casts,
    overflows and divisions by zero give NULL instead of raising: the same
    outcome ``TRY`` gives on DuckDB, so no value can fail a query on Spark either.
    """
    stripped = tree.transform(lambda node: node.this if isinstance(node, exp.Try) else node)
    assert isinstance(stripped, exp.Query)  # noqa: S101 - narrows the type for mypy
    return stripped


def _ordered_row_numbers(tree: exp.Query) -> exp.Query:
    """``tree`` with each unordered ``ROW_NUMBER() OVER (PARTITION BY k)`` ordered by ``k``.

    Spark refuses ROW_NUMBER over an unordered window; DuckDB numbers the rows
    in any order. Ordering by the partition keys, equal on every row of the
    partition, keeps "any order", so the contribution bound of a DP plan
    (``QUALIFY ROW_NUMBER() ... <= max_contributions``) holds as written.
    """
    tree = tree.copy()
    for window in tree.find_all(exp.Window):
        keys = window.args.get("partition_by")
        if isinstance(window.this, exp.RowNumber) and keys and not window.args.get("order"):
            window.set("order", exp.Order(expressions=[exp.Ordered(this=k.copy()) for k in keys]))
    return tree


def _governance(tree: exp.Expr) -> list[tuple[str, list[str], str]]:
    """Per governed source: its name, its projections and its row filter, as Spark SQL."""
    sources = []
    for table in tree.find_all(exp.Table):
        select = table.parent.parent if table.parent else None
        if not table.name.startswith(SOURCE_PREFIX) or not isinstance(select, exp.Select):
            continue
        where = select.args.get("where")
        sources.append(
            (
                table.name,
                [_spark_sql(p) for p in select.expressions],
                _spark_sql(where) if where is not None else "",
            )
        )
    return sorted(sources)


def _spark_sql(node: exp.Expr) -> str:
    return node.sql(dialect="spark", identify=True)


def _untranslatable() -> PolicyViolation:
    return refuse(
        "该查询无法在 Spark 上原样执行",
        "engine spark cannot run this query unchanged; the query is refused",
        rule="engine_capability",
        engine="spark",
    )


def _failed(plan: Plan, exc: Exception, expired: bool) -> Exception:
    """The generic failure of a Spark run; a cancelled one is named as DuckDB names it."""
    if not expired:
        return query_failed(plan, exc, stage="run on spark")
    note = f", time limit {plan.limits.timeout_seconds:g} s"
    return query_failed(plan, exc, stage="run on spark", error="InterruptException", note=note)


def _watch(
    cancel: Callable[[str], None],
    tag: str,
    seconds: float,
    done: threading.Event,
    expired: threading.Event,
) -> None:
    """After ``seconds``, cancel the jobs tagged ``tag`` until the request is done.

    Cancelling reaches running jobs only, so it is repeated: a job that starts
    after the deadline (the plan was still being optimized) is cancelled too.
    """
    if done.wait(seconds):
        return
    expired.set()
    while True:
        cancel(tag)
        if done.wait(_RECANCEL):
            return

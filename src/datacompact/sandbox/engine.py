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
Python replacement scans off, memory, spill and thread limits, and ``x // 0``
and ``x % 0`` giving NULL rather than an error; the time limit, counted from
the start of execution, interrupts the request's own connection. The governed slice is registered on
that connection only, as Arrow datasets over the granted Parquet files: Arrow
registrations are connection-local, so one request never sees another's
tables, and they are gone when the connection closes. Creating a database
costs about 17 ms of CPU and a connection well under 1 ms
(``benchmarks/sandbox``), which is why the database is shared and the
connection is not. The memory, spill and thread limits are the database's,
so queries running at the same time share them.

DuckDB spills to a private folder, never to the server's working directory:
each database gets its own ``0700`` folder under the
engine's ``spill_dir`` (see :func:`spill_folder`) or, without one, under a
``tempfile.mkdtemp`` folder; both are removed by :meth:`DuckDBEngine.close`.

The failure boundary. A DP plan's ε is charged by
:func:`charge_before_run` before its SQL runs and stays charged. After
that, every exception (a DuckDB error, an interrupt at the time limit, an
``OSError`` from the Arrow stream after its first batch, ``MemoryError``,
``RecursionError``, an error of the DP release) becomes one
:class:`~datacompact.errors.QueryFailed`, "查询失败 / the query failed",
with empty details: under every mode but plain records, how a query fails
must not depend on the data. Plain records may name the DuckDB error class
(``details["error"]``), since that mode releases the rows anyway. The
detail goes to the ``datacompact.sandbox`` logger as one line of at most
500 characters, without a traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
from sqlglot import exp

from datacompact.errors import ConfigurationError, InvalidInput, QueryFailed
from datacompact.sandbox._masks import register_masks
from datacompact.sandbox._release import release
from datacompact.sandbox.budget import BudgetAccount
from datacompact.sandbox.grants import Limits, OutputMode
from datacompact.sandbox.plan import Plan, refuse
from datacompact.sandbox.rules.govern_tables import SOURCE_PREFIX

log = logging.getLogger("datacompact.sandbox")

#: The one message of a query that failed after its analysis passed.
FAILED = "查询失败 / the query failed"
#: The longest log line a failure writes (a traceback once ran to 400 KB).
LOG_LINE_CHARS = 500
#: ``Conversion Error: …``: how DuckDB's message names its class when the
#: error reaches Python through the Arrow stream as a plain ``OSError``.
_DUCKDB_MESSAGE = re.compile(r"^([A-Za-z][A-Za-z ]{0,40}?) Error: ")


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
    #: The δ of a DP release (its noisy choice of groups), fixed at analysis.
    delta: float = 0.0


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

    Each row is JSON (values in column order, no spaces, non-JSON values as
    their ``str``); rows are sorted so that the digest does not depend on
    the order an engine happened to return them in. A column Python cannot
    hold (a date past year 9999, which DuckDB can) is taken as Arrow's text
    of it, so the digest never fails on a value.

    >>> result_digest(pa.table({"a": [2, 1]})) == result_digest(pa.table({"a": [1, 2]}))
    True
    """
    header = json.dumps([[f.name, str(f.type)] for f in table.schema], separators=(",", ":"))
    rows = sorted(
        json.dumps(row, separators=(",", ":"), default=str, ensure_ascii=False)
        for row in python_rows(table)
    )
    digest = hashlib.sha256(header.encode())
    for row in rows:
        digest.update(b"\n" + row.encode())
    return digest.hexdigest()


def python_rows(table: pa.Table) -> list[list[Any]]:
    """The rows of ``table`` as lists of Python values, never failing on a value.

    ``table.to_pylist()`` raises ``OverflowError`` on a date past year 9999,
    which DuckDB returns without complaint; such a column comes back as
    Arrow's text of its values instead, so that turning a result into rows
    cannot fail on the data.

    >>> day = pa.array([253402300800 * 10**6], pa.timestamp("us"))
    >>> python_rows(pa.table({"n": [1], "day": day}))
    [[1, '10000-01-01 00:00:00.000000']]
    """
    columns = [_python_values(column) for column in table.columns]
    if not columns:
        return [[] for _ in range(table.num_rows)]
    return [list(row) for row in zip(*columns, strict=True)]


def _python_values(column: pa.ChunkedArray) -> list[Any]:
    """The values of ``column`` as Python objects, or as Arrow's text when Python has no room."""
    try:
        values: list[Any] = column.to_pylist()
    except (OverflowError, ValueError):
        values = pc.cast(column, pa.string()).to_pylist()
    return values


def source_tables(plan: Plan) -> list[str]:
    """The granted tables whose governed sources ``plan`` reads, sorted."""
    return sorted(
        {
            t.name.removeprefix(SOURCE_PREFIX)
            for t in plan.expression.find_all(exp.Table)
            if t.name.startswith(SOURCE_PREFIX)
        }
    )


def charge_before_run(plan: Plan, budget: BudgetAccount | None) -> float:
    """Charge ``plan``'s ε to ``budget`` before any of its SQL runs; return what was charged.

    A DP system charges before it looks. Charged afterwards, a
    query that fails part-way (a cast error on one record, a timeout) would
    have read the data for free, and its failure would be an exact, unlimited
    oracle. The charge stays whatever happens next; plans without a DP
    release cost no ε.
    """
    if not plan.dp_aggregates:
        return 0.0
    if budget is None:
        raise refuse(
            "DP 查询需要隐私预算", "a DP release needs the grant's privacy budget", rule="dp_budget"
        )
    epsilon = plan.grant.epsilon_per_query
    budget.charge(epsilon)  # raises PolicyViolation (privacy_budget) if it does not fit
    return epsilon


#: The modes whose answers release the granted slice's rows (masked or
#: generalized), and so its size. Under aggregates and DP aggregates the exact
#: number of rows would tell whether one record exists (a DP count is noised
#: for that reason), so ``rows_scanned`` is 0 there: not released.
COUNTED_MODES: frozenset[OutputMode] = frozenset({"records", "masked_records", "k_anonymous"})


def finish(plan: Plan, table: pa.Table, *, tables: list[str], truncated: bool) -> Result:
    """The :class:`Result` of the rows an engine returned for ``plan``.

    Every engine ends here, after :func:`charge_before_run` and its own run,
    so the DP release and the receipt fields are the same whichever engine ran
    the query, and a failure of the release is the same generic failure as
    one of the engine.
    """
    try:
        spent = 0.0
        if plan.dp_aggregates:
            table, spent = release(table, plan)
        scanned = (
            sum(rows_in(plan.grant.tables[t].parquet_path) for t in tables)
            if plan.mode in COUNTED_MODES
            else 0
        )
        digest = result_digest(table)
    except QueryFailed:
        raise
    except Exception as exc:  # the boundary: see the module docstring
        raise query_failed(plan, exc, stage="result") from _short(exc)
    return Result(
        rows=table,
        columns_touched=plan.touched,
        rows_scanned=scanned,
        result_sha256=digest,
        epsilon_spent=spent,
        sql_sha256=plan.sql_hash,
        grant_id=plan.grant.grant_id,
        truncated=truncated,
        delta=plan.dp_delta if plan.dp_aggregates else 0.0,
    )


def query_failed(
    plan: Plan, exc: BaseException, *, stage: str, error: str | None = None, note: str = ""
) -> QueryFailed:
    """The one outcome of a charged query that failed, with its detail logged.

    ``error`` overrides the class name shown under plain records (e.g. a
    timeout that surfaced as an Arrow ``OSError``); ``note`` adds context
    to the log line only.
    """
    name = error or error_name(exc)
    text = " ".join(str(exc).split())
    line = (
        f"sandbox query failed at {stage} (grant {plan.grant.grant_id}, mode {plan.mode}, "
        f"sql {plan.sql_hash[:12]}{note}): {name}: {text}"
    )
    log.warning("%s", line[:LOG_LINE_CHARS])
    # Under every mode but plain records the answer must not depend on
    # what failed, so it carries nothing at all.
    details = {"error": name} if plan.mode == "records" else {}
    return QueryFailed(FAILED, details=details)


def error_name(exc: BaseException) -> str:
    """The class name of ``exc``, or of the DuckDB error an Arrow ``OSError`` carries.

    An error raised while the Arrow stream is read reaches Python as an
    ``OSError`` whose message starts with DuckDB's own name for it, so the
    same failure is named alike whether it came before or after the first batch.

    >>> error_name(OSError("Conversion Error: Could not convert string"))
    'ConversionException'
    >>> error_name(OSError("Out of Range Error: overflow")), error_name(MemoryError())
    ('OutOfRangeException', 'MemoryError')
    """
    if not isinstance(exc, duckdb.Error):
        match = _DUCKDB_MESSAGE.match(str(exc))
        if match:
            name = "".join(w[:1].upper() + w[1:] for w in match.group(1).split()) + "Exception"
            found = getattr(duckdb, name, None)
            if isinstance(found, type) and issubclass(found, duckdb.Error):
                return name
    return type(exc).__name__


def _short(exc: BaseException) -> BaseException:
    """``exc`` as the cause to chain: a ``RecursionError`` without its thousand frames."""
    return exc.with_traceback(None) if isinstance(exc, RecursionError) else exc


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


def spill_folder(home: Path) -> Path:
    """The spill folder of this process under the platform home: ``sandbox-spill/<pid>``.

    Per process, so that the first engine of a process may empty it (what is
    there was left by a process that died) without touching a live one's files.

    >>> spill_folder(Path("/srv/dc")) == Path("/srv/dc/sandbox-spill") / str(os.getpid())
    True
    """
    return home / "sandbox-spill" / str(os.getpid())


#: Spill folders already emptied by an engine of this process.
_EMPTIED: set[Path] = set()
_EMPTIED_LOCK = threading.Lock()


def _private_folder(folder: Path) -> Path:
    """Create ``folder`` (mode 0700) and, the first time in this process, empty it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.is_symlink() or not folder.is_dir():
            raise ConfigurationError(
                "溢出目录无效 / expected the spill folder to be a plain directory"
            )
        folder.chmod(0o700)  # mkdir's mode is masked by the umask, and it may have existed
        folder = folder.resolve()
        with _EMPTIED_LOCK:
            if folder not in _EMPTIED:
                # Emptied once per process only: later engines of this process
                # share the folder, and their databases spill into it.
                for entry in folder.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                _EMPTIED.add(folder)
    except OSError as exc:
        raise ConfigurationError(
            "无法准备溢出目录 / the spill folder cannot be created or emptied"
        ) from exc
    return folder


def _remove(folders: list[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    folders.clear()


#: Idle databases kept for reuse (each reads one set of granted files).
MAX_DATABASES = 32

_DatabaseKey = tuple[str, int, str, tuple[str, ...]]


@dataclass
class _Kept:
    """A database of the engine, the folder it spills into and the queries using it."""

    database: duckdb.DuckDBPyConnection
    spill: Path
    users: int = 0


class DuckDBEngine:
    """The default engine: DuckDB in process, one locked-down connection per request.

    ``spill_dir`` is where DuckDB may spill (a private folder, see
    :func:`spill_folder`); without one, the engine spills under a
    ``tempfile.mkdtemp`` folder. ``batch_rows`` bounds the rows per Arrow
    batch read from DuckDB.

    ``data_dirs`` are the folders of the granted Parquet files. DuckDB reads
    files under them with its own Parquet reader (``read_parquet``, metadata
    cached), about twice as fast as scanning them as Arrow datasets through
    Python; external access stays off, with only these folders allowed.
    Files elsewhere (a test's temporary file) are scanned as Arrow datasets.
    """

    name: ClassVar[str] = "duckdb"
    supports_masks: ClassVar[bool] = True
    supports_row_filters: ClassVar[bool] = True
    supports_dp: ClassVar[bool] = True

    def __init__(
        self,
        *,
        pseudonym_key: bytes,
        spill_dir: Path | None = None,
        batch_rows: int = 1_000_000,
        data_dirs: Sequence[Path] = (),
    ) -> None:
        if len(pseudonym_key) < 16:
            raise InvalidInput("假名密钥过短 / expected a pseudonym key of at least 16 bytes")
        if batch_rows < 1:
            raise InvalidInput("批大小必须为正 / expected a positive Arrow batch size")
        self._key = pseudonym_key
        self._batch_rows = batch_rows
        self._spill_dir = _private_folder(spill_dir) if spill_dir is not None else None
        self._data_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in data_dirs)
        self._databases: dict[_DatabaseKey, _Kept] = {}
        #: The spill folders of the databases, removed on close (or when the
        #: engine is garbage-collected without one).
        self._spills: list[Path] = []
        self._cleanup = weakref.finalize(self, _remove, self._spills)
        self._lock = threading.Lock()

    def execute(self, plan: Plan, *, budget: BudgetAccount | None = None) -> Result:
        check_capabilities(self, plan)
        tables = source_tables(plan)
        charge_before_run(plan, budget)
        # Charged: from here on every failure is the one generic QueryFailed.
        con = self.connect(plan, tables)
        try:
            table, truncated = self._run(con, plan)
        finally:
            self.disconnect(con, plan, tables)
        return finish(plan, table, tables=tables, truncated=truncated)

    def _database(self, limits: Limits, readable: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
        """The locked-down, empty database for ``limits`` that may read only ``readable``.

        Created once per (limits, files) and kept, the least recently used
        idle ones closed past :data:`MAX_DATABASES`; the caller holds it
        until :meth:`_release`.
        """
        key: _DatabaseKey = (
            limits.memory_limit,
            limits.threads,
            limits.max_temp_directory_size,
            readable,
        )
        with self._lock:
            kept = self._databases.pop(key, None)
            if kept is None:
                kept = self._new_database(limits, readable)
            self._databases[key] = kept  # most recently used last
            kept.users += 1
            self._evict()
            return kept.database

    def _release(self, limits: Limits, readable: tuple[str, ...]) -> None:
        key = (limits.memory_limit, limits.threads, limits.max_temp_directory_size, readable)
        with self._lock:
            kept = self._databases.get(key)
            if kept is not None:
                kept.users -= 1
            self._evict()

    def _evict(self) -> None:
        idle = [k for k, kept in self._databases.items() if kept.users == 0]
        for key in idle[: max(0, len(self._databases) - MAX_DATABASES)]:
            kept = self._databases.pop(key)
            kept.database.close()
            _remove([kept.spill])
            self._spills.remove(kept.spill)

    def _new_database(self, limits: Limits, readable: tuple[str, ...]) -> _Kept:
        # One folder per database: two DuckDB databases spilling into
        # the same folder would name their temporary files alike.
        if self._spill_dir is None:
            spill = Path(tempfile.mkdtemp(prefix="datacompact-spill-"))
        else:
            spill = Path(tempfile.mkdtemp(prefix="duckdb-", dir=self._spill_dir))
        self._spills.append(spill)
        database = duckdb.connect(":memory:")
        # The mask functions are the only ones the platform adds; they
        # are registered before the configuration is locked.
        register_masks(database, secret=self._key)
        settings: list[tuple[str, Any]] = [
            # Before external access is turned off, which freezes the folder.
            ("temp_directory", str(spill)),
            ("max_temp_directory_size", limits.max_temp_directory_size),
            # The granted files, and only they, stay readable (by read_parquet):
            # even SQL that slipped past the analyzer reads nothing else.
            ("allowed_paths", list(readable)),
            ("enable_object_cache", True),
            ("enable_external_access", False),
            ("python_enable_replacements", False),
            ("autoload_known_extensions", False),
            ("autoinstall_known_extensions", False),
            ("allow_community_extensions", False),
            ("memory_limit", limits.memory_limit),
            ("threads", limits.threads),
            # NULL, not an error, for x // 0 and x % 0: one data-dependent
            # failure less (a session setting, hence GLOBAL for the cursors).
            ("error_on_division_by_zero", False),
            ("lock_configuration", True),
        ]
        for setting, value in settings:
            database.execute(f"SET GLOBAL {setting} = $value", {"value": value})
        return _Kept(database, spill)

    def _readable(self, plan: Plan, tables: list[str]) -> tuple[str, ...]:
        """The granted files DuckDB reads itself: those under the data folders."""
        paths = {os.path.realpath(plan.grant.tables[name].parquet_path) for name in tables}
        return tuple(sorted(p for p in paths if p.startswith(self._data_dirs)))

    def connect(self, plan: Plan, tables: list[str]) -> duckdb.DuckDBPyConnection:
        """A fresh connection holding the governed sources of ``tables`` (connection-local).

        Release it with :meth:`disconnect`.
        """
        readable = self._readable(plan, tables)
        try:
            con = self._database(plan.limits, readable).cursor()
        except Exception as exc:  # the boundary: see the module docstring
            self._release(plan.limits, readable)
            raise query_failed(plan, exc, stage="setup") from _short(exc)
        try:
            for name in tables:
                self._attach(con, f"{SOURCE_PREFIX}{name}", plan.grant.tables[name].parquet_path)
        except Exception as exc:  # the boundary: see the module docstring
            self.disconnect(con, plan, tables)
            raise query_failed(plan, exc, stage="setup") from _short(exc)
        return con

    def disconnect(self, con: duckdb.DuckDBPyConnection, plan: Plan, tables: list[str]) -> None:
        con.close()
        self._release(plan.limits, self._readable(plan, tables))

    def _attach(self, con: duckdb.DuckDBPyConnection, name: str, path: str) -> None:
        """Make the Parquet file at ``path`` the connection-local relation ``name``."""
        real = os.path.realpath(path)
        if real.startswith(self._data_dirs):
            quoted = name.replace('"', '""')
            literal = real.replace("'", "''")
            con.execute(f"CREATE TEMP VIEW \"{quoted}\" AS SELECT * FROM read_parquet('{literal}')")  # noqa: S608 - name quoted, path literal-escaped
        else:
            dataset, _rows = SOURCES.get(path)
            con.register(name, dataset)

    def close(self) -> None:
        """Close the databases and remove their spill folders."""
        with self._lock:
            for kept in self._databases.values():
                kept.database.close()
            self._databases.clear()
            _remove(self._spills)

    def _run(self, con: duckdb.DuckDBPyConnection, plan: Plan) -> tuple[pa.Table, bool]:
        cap = plan.limits.max_result_rows
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            # The query may have ended and its connection closed meanwhile.
            with contextlib.suppress(duckdb.Error):
                con.interrupt()

        rows = 0
        timer = threading.Timer(plan.limits.timeout_seconds, expire)
        started = time.monotonic()
        try:
            sql = plan.sql()
            # The time limit counts from here: the start of execution.
            timer.start()
            reader = con.sql(sql).to_arrow_reader(batch_size=min(cap + 1, self._batch_rows))
            batches: list[pa.RecordBatch] = []
            for batch in reader:
                batches.append(batch)
                rows += batch.num_rows
                if rows > cap and not plan.dp_aggregates:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except Exception as exc:  # the boundary: see the module docstring
            note = f", after {time.monotonic() - started:.2f} s and {rows} rows"
            if expired.is_set():
                note += f", time limit {plan.limits.timeout_seconds:g} s"
            error = "InterruptException" if expired.is_set() else None
            raise query_failed(plan, exc, stage="run", error=error, note=note) from _short(exc)
        finally:
            timer.cancel()
        truncated = table.num_rows > cap and not plan.dp_aggregates
        return (table.slice(0, cap) if truncated else table), truncated

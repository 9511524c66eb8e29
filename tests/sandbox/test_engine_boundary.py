"""The engine's failure boundary, the charge before the run, the time limit and the spill folder.

Every failure after analysis must be the one :class:`QueryFailed`, the same
whatever happened, under every mode but plain records.
The user's SQL can no longer fail on data under those modes, so the
failures here come from plans broken on purpose after governance: what is
tested is the boundary, not which SQL still reaches it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.dataset as ds  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from sqlglot import exp, parse_one

from datacompact.errors import ConfigurationError, PolicyViolation, QueryFailed
from datacompact.sandbox import (
    ColumnRule,
    DuckDBEngine,
    EpsilonAccount,
    GrantedTable,
    GrantView,
    Limits,
    Plan,
    govern,
)
from datacompact.sandbox import engine as engine_module
from datacompact.sandbox.engine import FAILED, LOG_LINE_CHARS, python_rows, spill_folder

from . import _data

#: A self-join chain on a three-valued key: about 1.4e9 rows, seconds of work.
SLOW = (
    "SELECT COUNT(*) AS n FROM visits AS a JOIN visits AS b ON a.clinic = b.clinic "
    "JOIN visits AS c ON b.clinic = c.clinic JOIN visits AS d ON c.clinic = d.clinic "
    "JOIN visits AS e ON d.clinic = e.clinic"
)
#: Governed SQL that fails in DuckDB, each with a different error class.
BROKEN = {
    "ConversionException": "SELECT CAST(district AS INTEGER) AS n FROM __dc_src_sbk",
    "OutOfRangeException": "SELECT CAST(age AS BIGINT) * 9223372036854775807 AS n FROM __dc_src_sbk",
    "InvalidInputException": "SELECT error(district) AS n FROM __dc_src_sbk",
    "BinderException": "SELECT no_such_column AS n FROM __dc_src_sbk",
}


def broken(plan: Plan, sql: str) -> Plan:
    """``plan`` with its governed SQL replaced: still governed, under the same mode."""
    expression = parse_one(sql, dialect="duckdb")
    assert isinstance(expression, exp.Query)
    return replace(plan, expression=expression)


def base_plan(grant: GrantView, limits: Limits | None = None) -> Plan:
    sql = "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district"
    return govern(sql, grant, limits=limits or Limits())


def failure(engine: DuckDBEngine, plan: Plan, caplog: pytest.LogCaptureFixture) -> QueryFailed:
    """Run ``plan``, expect a QueryFailed, and check the one log line it wrote."""
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="datacompact.sandbox"),
        pytest.raises(QueryFailed) as info,
    ):
        engine.execute(plan, budget=EpsilonAccount(total=10.0))
    records = [r for r in caplog.records if r.name == "datacompact.sandbox"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert records[0].levelno == logging.WARNING
    assert records[0].exc_info is None
    assert "\n" not in line
    assert len(line) <= LOG_LINE_CHARS
    return info.value


@pytest.mark.parametrize("mode", ["aggregates", "masked_records", "dp_aggregates"])
def test_failures_look_alike_whatever_the_error(mode, grant_for, engine, caplog):
    grant = grant_for(mode)
    plan = base_plan(grant)
    answers, logged = set(), set()
    for name, sql in BROKEN.items():
        error = failure(engine, broken(plan, sql), caplog)
        answers.add((type(error), error.status, repr(error.to_envelope())))
        logged.add(name if name in caplog.text else "?")
    slow = base_plan(grant, Limits(timeout_seconds=0.2, max_joins=4))
    error = failure(engine, broken(slow, _governed_slow(grant_for)), caplog)
    answers.add((type(error), error.status, repr(error.to_envelope())))
    # One answer for four error classes and a timeout; the log tells them apart.
    assert answers == {
        (
            QueryFailed,
            422,
            repr({"error": {"code": "query_failed", "message": FAILED, "details": {}}}),
        )
    }
    assert logged == set(BROKEN)


def _governed_slow(grant_for) -> str:
    """The governed SQL of :data:`SLOW` (records), to run under another mode's plan."""
    return govern(SLOW, grant_for("records"), limits=Limits(max_joins=4)).sql()


def test_records_may_name_the_error_class(grant_for, engine, caplog):
    plan = base_plan(grant_for("records"))
    for name, sql in BROKEN.items():
        error = failure(engine, broken(plan, sql), caplog)
        assert error.message == FAILED
        assert error.details == {"error": name}


def test_the_time_limit_interrupts_from_the_start_of_execution(grant_for, engine, caplog):
    grant = grant_for("records")
    limits = Limits(timeout_seconds=0.2, max_joins=4)
    error = failure(engine, govern(SLOW, grant, limits=limits), caplog)
    assert error.details == {"error": "InterruptException"}
    seconds = float(re.search(r"after ([\d.]+) s", caplog.text).group(1))  # type: ignore[union-attr]
    # Cancelled near the limit, not after the seconds the join needs.
    assert 0.2 <= seconds < 2.0


@pytest.fixture
def late(tmp_path: Path) -> GrantView:
    """A table whose string column parses as integers except on its last rows."""
    n = 200_000
    values = [str(i) if i < n - 5 else f"x{i}" for i in range(n)]
    path = tmp_path / "late.parquet"
    pq.write_table(pa.table({"i": list(range(n)), "s": values}), path)
    table = GrantedTable(
        name="late",
        parquet_path=str(path),
        columns={"i": ColumnRule(), "s": ColumnRule()},
        output_mode="records",
    )
    return GrantView(grant_id="g-late", tables={"late": table})


def test_an_error_after_the_first_arrow_batch_is_a_query_failure(late, caplog):
    # Small Arrow batches and one thread: DuckDB streams about 100,000 rows
    # before it casts the bad ones, and the error comes out of the Arrow
    # stream as an OSError, once batches have been read.
    engine = DuckDBEngine(pseudonym_key=_data.KEY, batch_rows=1_000)
    limits = Limits(threads=1, max_result_rows=300_000)
    plan = govern("SELECT i, CAST(s AS INTEGER) AS v FROM late", late, limits=limits)
    error = failure(engine, plan, caplog)
    assert error.details == {"error": "ConversionException"}
    rows = int(re.search(r"and (\d+) rows", caplog.text).group(1))  # type: ignore[union-attr]
    assert rows >= 1_000, "the failure must come after at least one batch"
    assert "x199995" not in str(error.details)
    assert "x199995" not in error.message
    engine.close()


def test_a_release_failure_is_the_same_failure(grant_for, engine, caplog, monkeypatch):
    def failing(*args: object) -> object:
        raise ValueError("the noise could not be calibrated for this group")

    monkeypatch.setattr(engine_module, "release", failing)
    budget = EpsilonAccount(total=10.0)
    plan = govern(
        "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district", grant_for("dp_aggregates")
    )
    with (
        caplog.at_level(logging.WARNING, logger="datacompact.sandbox"),
        pytest.raises(QueryFailed) as info,
    ):
        engine.execute(plan, budget=budget)
    assert info.value.details == {}
    assert "ValueError" in caplog.text
    # Charged before the run, and kept.
    assert budget.spent == plan.grant.epsilon_per_query


def test_dp_is_charged_before_the_run_and_kept_on_failure(grant_for, engine, caplog):
    plan = base_plan(grant_for("dp_aggregates", epsilon=0.5))
    budget = EpsilonAccount(total=1.0)
    with pytest.raises(QueryFailed):
        engine.execute(broken(plan, BROKEN["ConversionException"]), budget=budget)
    assert budget.spent == 0.5


def test_dp_is_charged_once_on_success(grant_for, engine):
    plan = base_plan(grant_for("dp_aggregates", epsilon=0.5))
    budget = EpsilonAccount(total=1.0)
    result = engine.execute(plan, budget=budget)
    assert budget.spent == 0.5
    assert result.epsilon_spent == 0.5


def test_an_exhausted_budget_refuses_before_anything_runs(grant_for, engine):
    plan = base_plan(grant_for("dp_aggregates", epsilon=0.5))
    budget = EpsilonAccount(total=0.4)
    # The plan would fail if it ran; the refusal shows it never did.
    with pytest.raises(PolicyViolation) as info:
        engine.execute(broken(plan, BROKEN["ConversionException"]), budget=budget)
    assert info.value.details["rule"] == "privacy_budget"
    assert budget.spent == 0.0
    with pytest.raises(PolicyViolation) as info:
        engine.execute(plan, budget=None)
    assert info.value.details["rule"] == "dp_budget"


def _setting(engine: DuckDBEngine, limits: Limits, name: str) -> str:
    """A setting of the engine's database, read on its own connection (users cannot)."""
    # The database of plans whose files are all scanned as Arrow datasets (none readable).
    cursor = engine._database(limits, ()).cursor()
    try:
        return str(cursor.execute(f"SELECT current_setting('{name}')").fetchone()[0])  # type: ignore[index]
    finally:
        cursor.close()
        engine._release(limits, ())


def test_spill_folder_is_private_emptied_and_removed(tmp_path, grant_for):
    spill = tmp_path / "home" / "sandbox-spill" / "4242"
    (spill / "stale-folder").mkdir(parents=True)
    (spill / "stale-folder" / "duckdb_temp_block.tmp").write_bytes(b"left by a dead process")
    (spill / "stale.tmp").write_bytes(b"x")
    spill.chmod(0o755)
    engine = DuckDBEngine(pseudonym_key=_data.KEY, spill_dir=spill)
    assert list(spill.iterdir()) == []
    assert spill.stat().st_mode & 0o777 == 0o700
    limits = Limits(max_temp_directory_size="64MB")
    engine.execute(base_plan(grant_for("aggregates"), limits))
    folder = Path(_setting(engine, limits, "temp_directory"))
    assert folder.parent == spill.resolve()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert _setting(engine, limits, "max_temp_directory_size") == "61.0 MiB"
    # Another engine of the same process shares the folder and empties nothing.
    other = DuckDBEngine(pseudonym_key=_data.KEY, spill_dir=spill)
    assert folder.is_dir()
    engine.close()
    assert not folder.exists()
    assert spill.is_dir()
    other.close()


def test_without_a_spill_dir_a_private_temporary_folder_is_used(grant_for, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(pseudonym_key=_data.KEY)
    limits = Limits()
    engine.execute(base_plan(grant_for("aggregates"), limits))
    folder = Path(_setting(engine, limits, "temp_directory"))
    assert folder.parent == Path(tempfile.gettempdir())
    assert folder != tmp_path
    assert folder.stat().st_mode & 0o777 == 0o700
    engine.close()
    assert not folder.exists()


def test_spill_folder_is_per_process_under_the_home(tmp_path):
    assert spill_folder(tmp_path) == tmp_path / "sandbox-spill" / str(os.getpid())


def test_a_symlinked_spill_folder_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "spill").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigurationError):
        DuckDBEngine(pseudonym_key=_data.KEY, spill_dir=tmp_path / "spill")


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    """About 20 MB of rows to sort: more than a 16 MB database holds in memory."""
    n = 400_000
    values = [f"{(i * 7919) % n:012d}-padding-padding" for i in range(n)]
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"i": list(range(n)), "s": values}), path)
    return path


def test_spilling_goes_to_the_private_folder_within_its_limit(wide, tmp_path, monkeypatch):
    # Run on the engine's own database directly, as users cannot, to see its folder mid-query.
    monkeypatch.chdir(tmp_path)
    engine = DuckDBEngine(pseudonym_key=_data.KEY, spill_dir=tmp_path / "spill")
    for size, fits in (("1MB", False), ("1GB", True)):
        limits = Limits(memory_limit="16MB", threads=1, max_temp_directory_size=size)
        folder = Path(_setting(engine, limits, "temp_directory"))
        cursor = engine._database(limits, ()).cursor()
        cursor.register("src", ds.dataset(wide))
        try:
            reader = cursor.sql("SELECT s, i FROM src ORDER BY s").to_arrow_reader(batch_size=1_000)
            rows = reader.read_next_batch().num_rows
            spilled = [p.name for p in folder.iterdir()]
            rows += sum(batch.num_rows for batch in reader)
        except (OSError, duckdb.Error) as exc:
            assert not fits
            assert "max_temp_directory_size" in str(exc)  # noqa: PT017 - either outcome is checked
        else:
            assert fits
            assert rows == 400_000
            assert spilled
        finally:
            cursor.close()
            engine._release(limits, ())
    assert not (tmp_path / ".tmp").exists()
    engine.close()


def test_a_value_python_cannot_hold_does_not_fail_the_result(grant_for, engine):
    # DuckDB holds dates past year 9999; Python's datetime does not.
    sql = "SELECT district, DATE '9999-12-31' + INTERVAL 1 DAY AS d FROM sbk"
    result = engine.execute(govern(sql, grant_for("records")))
    assert len(result.result_sha256) == 64
    assert python_rows(result.rows)[0][1] == "10000-01-01 00:00:00.000000"

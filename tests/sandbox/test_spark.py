"""The Spark engine: the same governed plans as DuckDB give the same answers, or are refused.

One local-mode Spark serves the whole module (its JVM start is most of the
module's time); the queries run on the sandbox's own small resources.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import ClassVar, cast

import pytest
from sqlglot import exp, parse_one

from datacompact.errors import ConfigurationError, PolicyViolation, QueryFailed
from datacompact.sandbox import (
    ColumnRule,
    DuckDBEngine,
    Engine,
    EpsilonAccount,
    GrantView,
    Limits,
    OutputMode,
    Result,
    govern,
    run_query,
)
from datacompact.sandbox import spark as spark_module
from datacompact.sandbox.spark import SparkEngine

from . import _data
from .test_golden import GOLDEN, _parse

pytestmark = pytest.mark.slow


#: A short-lived JVM on a small CI machine starts and warms up twice as fast
#: without the optimizing JIT compiler; a server keeps Spark's defaults.
FAST_START = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkEngine]:
    with SparkEngine(pseudonym_key=_data.KEY, config=FAST_START) as engine:
        yield engine


def run(sql: str, grant: GrantView, engine: Engine, *, limits: Limits | None = None) -> Result:
    budget = EpsilonAccount(total=10.0)
    return run_query(sql, grant, engine=engine, budget=budget, limits=limits or Limits())


def _query(sql: str) -> exp.Query:
    tree = parse_one(sql)
    assert isinstance(tree, exp.Query)
    return tree


def same(sql: str, grant: GrantView, spark: SparkEngine, duckdb: DuckDBEngine) -> Result:
    """Run ``sql`` on both engines, assert the receipts agree, return Spark's result."""
    ours, theirs = run(sql, grant, spark), run(sql, grant, duckdb)
    # The digest covers the column names and types and the sorted rows.
    assert ours.result_sha256 == theirs.result_sha256, (ours.rows, theirs.rows)
    assert ours.rows_scanned == theirs.rows_scanned
    assert ours.columns_touched == theirs.columns_touched
    assert ours.truncated == theirs.truncated
    return ours


def test_aggregates_keep_the_group_threshold(grant_for, spark, engine):
    result = same(
        "SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM sbk GROUP BY district",
        grant_for("aggregates"),
        spark,
        engine,
    )
    assert sorted(result.rows.column("district").to_pylist()) == ["d0", "d1"]


def test_pseudonyms_and_masks_are_the_same_on_both_engines(grant_for, spark, engine):
    grant = grant_for("masked_records")
    result = same("SELECT pid, phone, birth FROM sbk", grant, spark, engine)
    pids = result.rows.column("pid").to_pylist()
    assert len(pids) == 42
    assert all(len(p) == 32 for p in pids)
    assert not {_data.resident_id(i) for i in range(49)} & set(pids)
    assert all(d.day == 1 for d in result.rows.column("birth").to_pylist())


def test_every_mask_kind_is_the_same_on_both_engines(paths, spark, engine):
    grant = _data.grant(paths, "records")
    sbk = grant.tables["sbk"]
    columns = {
        **sbk.columns,
        "name": ColumnRule(mask="redact"),
        "phone": ColumnRule(mask="partial", keep=(3, 2)),
        "birth": ColumnRule(mask="truncate_year"),
    }
    grant = replace(grant, tables={**grant.tables, "sbk": replace(sbk, columns=columns)})
    result = same("SELECT pid, name, phone, birth FROM sbk", grant, spark, engine)
    assert result.rows.column("name").null_count == 42
    assert {d.month for d in result.rows.column("birth").to_pylist()} == {1}


def test_row_filter_applies_below_user_predicates(grant_for, spark, engine):
    result = same(
        "SELECT COUNT(*) AS n FROM sbk WHERE age < 18 OR age >= 18",
        grant_for("records"),
        spark,
        engine,
    )
    assert result.rows.column("n").to_pylist() == [42]


def test_join(grant_for, spark, engine):
    result = same(
        "SELECT b.sector, COUNT(*) AS n FROM sbk AS s JOIN biz AS b ON s.district = b.district "
        "GROUP BY b.sector",
        grant_for("records"),
        spark,
        engine,
    )
    assert dict(zip(*result.rows.to_pydict().values(), strict=True))["it"] == 26


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_plans_run_alike(path, paths, spark, engine):
    header_mode, source, _ = _parse(path)
    mode = cast(OutputMode, header_mode)  # the golden files name valid modes only
    if mode != "dp_aggregates":
        same(source, _data.grant(paths, mode), spark, engine)
        return
    # At ε = 8 the noisy threshold is τ = 10: the groups of ≥ 13 adults appear on both engines.
    grant = _data.grant(paths, mode, epsilon=8.0)
    # Noisy values differ from run to run; the released groups and ε do not.
    ours, theirs = run(source, grant, spark), run(source, grant, engine)
    assert ours.rows.schema == theirs.rows.schema
    assert ours.rows.column("district").to_pylist() == theirs.rows.column("district").to_pylist()
    assert ours.epsilon_spent == theirs.epsilon_spent == 8.0


def test_row_cap_truncates(grant_for, spark):
    result = run(
        "SELECT district FROM sbk", grant_for("records"), spark, limits=Limits(max_result_rows=5)
    )
    assert result.rows.num_rows == 5
    assert result.truncated


def test_time_limit_cancels_the_query(grant_for, spark):
    # Each clinic has about 35 visits, so the chain joins about 1.6e8 rows:
    # seconds of work for Spark, far beyond the limit.
    sql = "SELECT COUNT(*) AS n FROM visits AS a" + "".join(
        f" JOIN visits AS {t} ON {t}.clinic = a.clinic" for t in "bcde"
    )
    with pytest.raises(QueryFailed) as info:
        run(sql, grant_for("records"), spark, limits=Limits(timeout_seconds=0.5))
    assert info.value.details == {"error": "InterruptException"}


class NoMaskSpark(SparkEngine):
    """Spark without the mask functions, as on a SQL endpoint that allows no UDFs."""

    supports_masks: ClassVar[bool] = False


def test_engine_without_masks_refuses(grant_for, spark):
    # Spark runs once per process: this engine shares the module's and does not stop it.
    with NoMaskSpark(pseudonym_key=_data.KEY) as no_masks:
        with pytest.raises(PolicyViolation) as info:
            run("SELECT pid FROM sbk", grant_for("records"), no_masks)
        assert info.value.details["missing"] == ["masks"]
        assert run("SELECT district FROM sbk", grant_for("records"), no_masks).rows.num_rows == 42


def test_untranspilable_plan_is_refused_not_weakened(grant_for, spark, engine):
    # DuckDB's MAX(x, n) is the list of the n largest values; Spark has no such form.
    sql = "SELECT MAX(age, 2) AS a FROM sbk"
    assert run(sql, grant_for("records"), engine).rows.num_rows == 1
    with pytest.raises(PolicyViolation) as info:
        run(sql, grant_for("records"), spark)
    assert info.value.details == {"rule": "engine_capability", "engine": "spark"}
    assert " / " in info.value.message


def _drop_filters(tree: exp.Expr) -> None:
    for where in list(tree.find_all(exp.Where)):
        where.pop()


def _drop_masks(tree: exp.Expr) -> None:
    for call in list(tree.find_all(exp.Anonymous)):
        call.replace(call.expressions[0])


@pytest.mark.parametrize("loss", [_drop_filters, _drop_masks])
def test_a_transpile_that_loses_a_rule_is_refused(grant_for, monkeypatch, loss):
    # As if SQLGlot's Spark generator silently left out a row filter or a mask.
    def lossy(sql: str, dialect: str) -> exp.Expr:
        tree = parse_one(sql, dialect=dialect)
        loss(tree)
        return tree

    plan = govern("SELECT district, phone FROM sbk", grant_for("records"))
    spark_module.transpile(plan)
    monkeypatch.setattr(spark_module, "parse_one", lossy)
    with pytest.raises(PolicyViolation) as info:
        spark_module.transpile(plan)
    assert info.value.details["rule"] == "engine_capability"


def test_unknown_mask_function_is_refused(grant_for, spark):
    plan = govern("SELECT phone FROM sbk", grant_for("records"))
    for call in plan.expression.find_all(exp.Anonymous):
        call.set("this", "__dc_mask_quarter")
    with pytest.raises(PolicyViolation) as info:
        spark.execute(plan)
    assert info.value.details["missing"] == ["__dc_mask_quarter"]


def test_errors_are_generic(grant_for, spark):
    # Spark runs without ANSI mode, so a failed cast is NULL (as TRY_CAST on DuckDB) ...
    answer = run("SELECT CAST(district AS INT) AS a FROM sbk", grant_for("records"), spark)
    assert set(answer.rows.column("a").to_pylist()) == {None}
    # ... and a plan that does fail (broken on purpose after governance) names no value.
    plan = govern("SELECT district FROM sbk", grant_for("records"))
    broken = replace(plan, expression=_query("SELECT nope FROM __dc_src_sbk WHERE 'd0' = 'd0'"))
    with pytest.raises(QueryFailed) as info:
        spark.execute(broken)
    error = info.value
    assert error.message == "查询失败 / the query failed"
    assert "d0" not in error.message
    assert "d0" not in str(error.details)
    # Under aggregates the answer names nothing. User SQL there can no longer
    # fail on data, so the plan is broken on purpose after governance.
    plan = govern("SELECT district, COUNT(*) AS n FROM sbk GROUP BY district", grant_for())
    broken = replace(plan, expression=_query("SELECT nope AS n FROM __dc_src_sbk"))
    with pytest.raises(QueryFailed) as info:
        spark.execute(broken)
    assert info.value.message == "查询失败 / the query failed"
    assert info.value.details == {}


def test_missing_pyspark_is_a_configuration_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(ConfigurationError) as info:
        SparkEngine(pseudonym_key=_data.KEY)
    assert "datacompact[spark]" in info.value.message


def test_sandbox_imports_without_pyspark():
    code = "import sys, datacompact.sandbox; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""DP releases: which groups appear is decided on a noisy count, with a stated δ.

The release's (ε, δ) is fixed at analysis, where OpenDP's calibration is
checked, and nothing in the release raises for a reason that depends on the data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from decimal import Decimal

import opendp.prelude as dp
import pyarrow as pa
import pytest

from datacompact.errors import PolicyViolation
from datacompact.privacy.dp import (
    RELEASE_DELTA,
    SELECTION_SHARE,
    calibrate_release,
    group_selection,
)
from datacompact.sandbox import GrantView, Plan, govern
from datacompact.sandbox._release import ENTITY, release
from datacompact.sandbox.rules.dp_release import release_calibration

from ._helpers import run

BY_DISTRICT = "SELECT district, COUNT(*) AS n FROM sbk GROUP BY district"
ALL_KINDS = (
    "SELECT district, COUNT(*) AS n, COUNT(age) AS c, SUM(income) AS s, AVG(income) AS a "
    "FROM sbk GROUP BY district"
)
GLOBAL = "SELECT COUNT(*) AS n, COUNT(age) AS c, SUM(income) AS s, AVG(income) AS a FROM sbk"

Release = Callable[[pa.Table, Plan], tuple[pa.Table, float]]


def pre_release(groups: dict[str | None, int], **slots: list[object]) -> pa.Table:
    """A pre-release table: ``n`` rows of ``n`` distinct entities per group, and extra slots."""
    keys = [key for key, n in groups.items() for _ in range(n)]
    columns: dict[str, object] = {"district": pa.array(keys, pa.string())}
    columns.update(slots)
    columns[ENTITY] = [f"e{i}" for i in range(len(keys))]
    return pa.table(columns)


def selection_map(scale: float, threshold: int, d_in: tuple[int, int, int]) -> tuple[float, float]:
    """OpenDP's own privacy map of its Laplace threshold mechanism, built independently."""
    domain = dp.map_domain(dp.atom_domain(T="i64"), dp.atom_domain(T="i64"))
    metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
    measurement = dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)
    epsilon, delta = measurement.map(d_in)
    return float(epsilon), float(delta)


# (a) The threshold and δ against OpenDP's privacy map.


@pytest.mark.parametrize(("k", "epsilon", "bound"), [(10, 1.0, 1), (10, 0.5, 3), (40, 1.0, 1)])
def test_threshold_and_delta_follow_opendp_map(grant_for, k, epsilon, bound) -> None:
    grant = dataclasses.replace(
        grant_for("dp_aggregates", k=k, epsilon=epsilon), max_contributions=bound
    )
    plan = govern(BY_DISTRICT, grant)
    selection = release_calibration(plan).selection
    assert selection is not None
    d_in = (bound, bound, 1)
    assert selection.threshold >= k
    assert selection.scale == pytest.approx(bound / (epsilon * SELECTION_SHARE))
    # δ is OpenDP's map one step below the threshold (opendp/opendp#2922): a
    # group of one person shows when its noise reaches threshold - 1.
    spent, delta = selection_map(selection.scale, selection.threshold - 1, d_in)
    assert (selection.epsilon, selection.delta) == (spent, delta)
    assert selection.epsilon <= epsilon * SELECTION_SHARE
    assert selection.delta <= RELEASE_DELTA
    assert plan.dp_delta == selection.delta
    # The threshold is the smallest that meets δ, unless k is larger still.
    if selection.threshold > k:
        assert selection_map(selection.scale, selection.threshold - 2, d_in)[1] > RELEASE_DELTA
    # One partition, integer noise: the discrete Laplace tail P(X ≥ τ - 1).
    if bound == 1:
        s, tau = selection.scale, selection.threshold
        tail = math.exp(-(tau - 1) / s) / (1 + math.exp(-1 / s))
        assert selection.delta == pytest.approx(tail, rel=1e-6)


def test_known_threshold_for_the_demo_grant(grant_for) -> None:
    # ε = 1, half for selection: discrete Laplace of scale 2, and 28 is the
    # first threshold with P(X ≥ τ - 1) ≤ 1e-6, above k = 10.
    plan = govern(BY_DISTRICT, grant_for("dp_aggregates", k=10, epsilon=1.0))
    selection = release_calibration(plan).selection
    assert selection is not None
    assert (selection.threshold, selection.scale) == (28, 2.0)


# (b) Two datasets that differ in one entity.


def appearance(release_fn: Release, table: pa.Table, plan: Plan, runs: int) -> float:
    """How often the group ``s`` appears in ``runs`` releases of ``table``."""
    shown = sum(
        "s" in release_fn(table, plan)[0].column("district").to_pylist() for _ in range(runs)
    )
    return shown / runs


def check_neighbours(release_fn: Release, grant: GrantView, runs: int = 2000) -> None:
    """Assert P1 ≤ e^ε P2 + δ both ways, for groups of k and k - 1 entities, within 4σ.

    The threshold equals k here, so the two groups straddle it: the chance a
    group appears then moves by exactly the factor e^ε the selection allows.
    An exact threshold at k shows one group always and the other never.
    """
    plan = govern(BY_DISTRICT, grant)
    selection = release_calibration(plan).selection
    assert selection is not None
    k = plan.dp_min_entities
    with_one = appearance(release_fn, pre_release({"s": k}), plan, runs)
    without = appearance(release_fn, pre_release({"s": k - 1}), plan, runs)
    factor = math.exp(selection.epsilon)
    for p1, p2 in ((with_one, without), (without, with_one)):
        sigma = math.sqrt((p1 * (1 - p1) + factor**2 * p2 * (1 - p2)) / runs)
        assert p1 <= factor * p2 + selection.delta + 4 * sigma + 1 / runs, (p1, p2)


@pytest.mark.slow
def test_one_entity_moves_appearance_within_epsilon_delta(grant_for) -> None:
    grant = grant_for("dp_aggregates", k=30, epsilon=1.0)
    selection = release_calibration(govern(BY_DISTRICT, grant)).selection
    assert selection is not None
    assert selection.threshold == 30
    check_neighbours(release, grant)


@pytest.mark.slow
def test_lone_entity_shows_no_more_often_than_delta() -> None:
    # A large δ makes the tail measurable: with OpenDP's raw map (one step
    # short, opendp/opendp#2922) a lone entity's group would show about
    # 0.27 of the time against a stated δ of about 0.1.
    selection = group_selection(1.0, max_contributions=1, min_entities=2, delta=0.2)
    runs = 4000
    rate = sum(bool(selection.kept([1])) for _ in range(runs)) / runs
    sigma = math.sqrt(selection.delta * (1 - selection.delta) / runs)
    assert rate <= selection.delta + 4 * sigma


# (c) The receipt's (ε, δ).


def test_release_returns_epsilon_and_plan_carries_delta(grant_for) -> None:
    grant = grant_for("dp_aggregates", epsilon=0.8)
    plan = govern(ALL_KINDS, grant)
    calibrated = release_calibration(plan)
    rows, epsilon = release(pre_release({"d0": 50}, **slots(50)), plan)
    assert epsilon == 0.8
    assert 0 < plan.dp_delta == calibrated.delta <= RELEASE_DELTA
    assert calibrated.selection is not None
    # Half for the selection, the rest split between the four aggregates.
    assert calibrated.selection.epsilon <= 0.4
    assert all(a.epsilon <= 0.1 for a in calibrated.aggregates)
    assert calibrated.selection.epsilon + sum(a.epsilon for a in calibrated.aggregates) <= 0.8
    assert rows.column_names == ["district", "n", "c", "s", "a"]


def test_global_release_has_no_delta(grant_for) -> None:
    plan = govern(GLOBAL, grant_for("dp_aggregates", epsilon=0.5))
    calibrated = release_calibration(plan)
    assert calibrated.selection is None
    assert plan.dp_delta == 0.0 == calibrated.delta
    assert release(pre_release({None: 3}, **slots(3)), plan)[1] == 0.5


def test_engine_result_carries_the_epsilon(grant_for, engine) -> None:
    grant = grant_for("dp_aggregates", epsilon=1.0)
    result = run(BY_DISTRICT, grant, engine)
    assert result.epsilon_spent == 1.0
    # d2 and d3 hold 2 and 1 adults: far below τ = 28, they appear with P ≤ δ.
    assert set(result.rows.column("district").to_pylist()) <= {"d0", "d1"}


# (d) Calibration refused at analysis, before any data is read.


@pytest.mark.parametrize("epsilon", [5e-324, 1e-300, 1e-17])
@pytest.mark.parametrize("sql", [BY_DISTRICT, GLOBAL])
def test_uncalibratable_epsilon_is_refused_at_analysis(grant_for, epsilon, sql) -> None:
    with pytest.raises(PolicyViolation) as info:
        govern(sql, grant_for("dp_aggregates", epsilon=epsilon))
    assert info.value.details == {"rule": "dp_calibration"}
    assert " / " in info.value.message


@pytest.mark.parametrize("epsilon", [math.nan, math.inf, 0.0, -1.0])
def test_non_positive_or_non_finite_epsilon_is_refused(epsilon) -> None:
    with pytest.raises(PolicyViolation) as info:
        calibrate_release(
            epsilon,
            aggregates=[("count", None)],
            max_contributions=1,
            min_entities=10,
            grouped=True,
        )
    assert info.value.details == {"rule": "dp_calibration"}


@pytest.mark.parametrize("bounds", [(-1e308, 1e308), (0.0, 1e308)])
def test_bounds_with_a_non_finite_scale_are_refused(grant_for, bounds) -> None:
    grant = grant_for("dp_aggregates")
    sbk = grant.tables["sbk"]
    income = dataclasses.replace(sbk.columns["income"], dp_bounds=bounds)
    table = dataclasses.replace(sbk, columns={**sbk.columns, "income": income})
    grant = dataclasses.replace(grant, tables={**grant.tables, "sbk": table})
    with pytest.raises(PolicyViolation) as info:
        govern("SELECT SUM(income) AS s FROM sbk", grant)
    assert info.value.details == {"rule": "dp_calibration"}
    # The count alone needs no bounds and calibrates.
    assert govern("SELECT COUNT(*) AS n FROM sbk", grant).dp_aggregates


# (e) A global aggregate is always released.


@pytest.mark.parametrize("entities", [0, 1, 2])
def test_global_aggregate_always_appears(grant_for, entities) -> None:
    plan = govern(GLOBAL, grant_for("dp_aggregates", k=10))
    for _ in range(20):
        rows, _ = release(pre_release({None: entities}, **slots(entities)), plan)
        assert rows.num_rows == 1
        assert all(math.isfinite(v) for v in rows.to_pylist()[0].values())
        assert 0.0 <= rows.column("a")[0].as_py() <= 20_000.0


# Data edges: fixed outcomes, never an exception.


def slots(n: int, values: list[object] | None = None) -> dict[str, list[object]]:
    """The three slots of ALL_KINDS / GLOBAL: COUNT(age), SUM(income), AVG(income)."""
    income: list[object] = values if values is not None else [1000.0] * n
    return {"__dc_a1": [30] * n, "__dc_a2": income, "__dc_a3": income}


EDGES = [
    [math.nan] * 60,
    [math.inf, -math.inf] * 30,
    [None] * 60,
    [1e300, -1e300, math.nan, None] * 15,
]


@pytest.mark.parametrize("values", EDGES, ids=["nan", "inf", "null", "mixed"])
@pytest.mark.parametrize("sql", [ALL_KINDS, GLOBAL])
def test_edge_values_release_without_failure(grant_for, values, sql) -> None:
    plan = govern(sql, grant_for("dp_aggregates", epsilon=4.0))
    rows, _ = release(pre_release({"d0": 60}, **slots(60, values)), plan)
    for row in rows.to_pylist():
        assert all(math.isfinite(row[name]) for name in ("n", "c", "s", "a"))
        assert 0.0 <= row["a"] <= 20_000.0


@pytest.mark.parametrize(
    "column",
    [
        pa.array([2**62 + 1] * 60, pa.int64()),
        pa.array([Decimal("12.50")] * 60, pa.decimal128(10, 2)),
        pa.array([True, False] * 30),
    ],
    ids=["int64", "decimal", "bool"],
)
def test_numeric_types_are_cast_without_range_checks(grant_for, column) -> None:
    plan = govern(GLOBAL, grant_for("dp_aggregates"))
    rows, _ = release(
        pre_release({None: 60}, __dc_a1=[1] * 60, __dc_a2=column, __dc_a3=column), plan
    )
    assert rows.num_rows == 1


def test_text_column_under_sum_is_refused_by_its_type(grant_for) -> None:
    plan = govern(GLOBAL, grant_for("dp_aggregates"))
    table = pre_release({None: 3}, __dc_a1=[1] * 3, __dc_a2=["7", "x", "9"], __dc_a3=["1"] * 3)
    with pytest.raises(PolicyViolation) as info:
        release(table, plan)
    assert info.value.details["rule"] == "dp_release"
    assert "7" not in info.value.message
    assert "x" not in info.value.message.split("/")[0]


def test_no_group_kept_gives_an_empty_table_with_the_schema(grant_for) -> None:
    plan = govern(ALL_KINDS, grant_for("dp_aggregates"))
    for table in (pre_release({"d3": 1}, **slots(1)), pre_release({}, **slots(0))):
        rows, _ = release(table, plan)
        assert rows.num_rows == 0
        assert rows.schema.names == ["district", "n", "c", "s", "a"]
        assert rows.schema.field("district").type == pa.string()


def test_kept_groups_come_out_sorted_with_null_keys_kept(grant_for) -> None:
    plan = govern(BY_DISTRICT, grant_for("dp_aggregates", k=2, epsilon=20.0))
    rows, _ = release(pre_release({"z": 40, None: 40, "a": 40, "m": 40}), plan)
    assert rows.column("district").to_pylist() == ["a", "m", "z", None]


def test_each_entity_is_counted_once_per_group(grant_for) -> None:
    # Ten rows of one entity (max_contributions lets through more than one row)
    # are one entity for the selection: the group stays far below τ.
    grant = dataclasses.replace(grant_for("dp_aggregates", k=10, epsilon=1.0), max_contributions=10)
    plan = govern(BY_DISTRICT, grant)
    table = pa.table({"district": ["s"] * 10, ENTITY: ["same"] * 10})
    assert all(release(table, plan)[0].num_rows == 0 for _ in range(200))

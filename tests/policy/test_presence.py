"""Presence or absence of one record never shows in the whole answer of a governed query.

:mod:`tests.sandbox.test_differential` runs its queries on twins of the same
size that differ in one record's values. Here the two resources differ in
size: the second one holds the relief roster plus one more person (alone in
their district, with an amount no one else comes near), the first one does
not. Each generated query runs on both through the whole service path
(:func:`~datacompact.policy.queries.run_query`: grant, charge, engine,
stored result, page token, receipt) and the whole answer is compared, not
only the engine's outcome: success or failure, the error's class, message
and details, what was charged and what is left of the grant, the record of
the query (``rows_scanned``, ε, δ, columns touched, status, rule), the
``protection`` statement with ``groups_suppressed``, the columns and their
types, ``row_limit``, and the first page read back from the stored result.

What may differ is exactly what each mode releases:

- ``masked_records`` and ``k_anonymous`` release rows, so the rows, their
  number (``total_rows``, ``result_rows``, ``rows_scanned``), whether a next
  page exists and the result's hash may differ; how the query failed may not.
- ``aggregates`` releases the groups of at least k entities and their exact
  values: the rows and their number may differ, ``rows_scanned`` may not (it
  is not released: the slice's size would say whether the record exists).
- ``dp_aggregates`` releases noisy values and a noisy choice of groups.

Where a number of rows may differ, the existence of a next page must still be
exactly what that number implies, so the token is no channel of its own.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeDecisionIn, ResourceBase
from datacompact.errors import DataCompactError
from datacompact.policy import queries
from datacompact.policy.schemas import QueryResult
from datacompact.store.models import Grant

from ..conftest import PgServer, SharedWorld, Template, World, shared_world
from .test_queries import ALL_COLUMNS, CSV, _grant, _resident_id

EXAMPLES = int(os.environ.get("DATACOMPACT_PRESENCE_EXAMPLES") or "60")
#: Small pages, so that whether a next page exists is exercised on short answers too.
PAGE_ROWS = 3
POLICY = queries.QueryPolicy(refusals_per_minute=1_000_000, time_quantum=0.0, page_rows=PAGE_ROWS)
TABLE = "relief_roster"

#: The one person of the second roster: alone in 临平区, with an amount near the
#: limits of the narrower integer types (a SMALLINT cast, a product by 10^14
#: overflow on them alone).
_ID = _resident_id(77)
EXTRA = f"孤鸿,{_ID},13900000077,临平区,99999\n"

#: What each mode releases: the parts of the answer that may depend on the record.
COUNTED = {"masked_records", "k_anonymous"}
MODES = ("masked_records", "aggregates", "dp_aggregates", "k_anonymous")
#: The columns of each mode's grant (aggregate grants hold no name).
COLUMNS = {
    "masked_records": ALL_COLUMNS,
    "k_anonymous": ["区县", "金额"],
    "aggregates": ["区县", "金额", "手机号"],
    "dp_aggregates": ["区县", "金额", "手机号"],
}


@dataclass
class Pair:
    """The two rosters' grants under one mode, in one world."""

    world: World
    absent: int
    present: int


def _register(world: World, folder: Path, name: str, csv: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "people.csv"
    file.write_text(csv, encoding="utf-8")
    steward = world.principal("department.data_steward")
    rid = resources.register_resource(
        db=world.platform.db,
        home=world.platform.settings.home,
        actor=steward,
        data=ResourceBase.model_validate({"name": name, "name_en": "Relief roster"}),
        file=file,
    ).value.id
    with world.platform.db.write() as session:
        resources.decide_grade(
            session=session,
            actor=steward,
            resource_id=rid,
            decision=GradeDecisionIn(decision="confirm"),
        )
    return rid


@pytest.fixture(scope="module")
def _pairs(
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Iterator[dict[str, tuple[SharedWorld, dict[str, Pair]]]]:
    built: dict[str, tuple[SharedWorld, dict[str, Pair]]] = {}
    yield built
    for shared, _ in built.values():
        shared.close()


@pytest.fixture
def pairs(
    backend: str,
    _pairs: dict[str, tuple[SharedWorld, dict[str, Pair]]],
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> dict[str, Pair]:
    """Two rosters, 40 and 41 people, and one grant on each under every mode (per store)."""
    if backend not in _pairs:
        shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
        world = shared.world
        folder = tmp_path_factory.mktemp("presence")
        absent = _register(world, folder / "absent", "救助对象名册（甲）", CSV)
        present = _register(world, folder / "present", "救助对象名册（乙）", CSV + EXTRA)
        found = {}
        for mode in MODES:
            options: dict[str, Any] = {"mode": mode, "columns": COLUMNS[mode]}
            options["queries_allowed"] = 100_000
            if mode == "dp_aggregates":
                options["epsilon"] = 10.0
            found[mode] = Pair(
                world, _grant(world, absent, **options), _grant(world, present, **options)
            )
        _pairs[backend] = (shared, found)
    return _pairs[backend][1]


# -- the grammar -------------------------------------------------------------------

S = st.SearchStrategy[str]


def _call(template: str, *parts: S) -> S:
    return st.tuples(*parts).map(lambda found: template.format(*found))


def _choose(*values: str) -> S:
    return st.sampled_from(values)


#: Thresholds around the roster's amounts (100 to 139) and the extra person's.
AMOUNTS = ("0", "120", "130", "131", "139", "140", "99999", "100000")


def number(depth: int) -> S:
    """Numbers, some of which overflow or fail to cast on the extra person's values only."""
    leaves = st.one_of(
        _choose("金额", "1", "0", "-1", "2147483647", "9223372036854775807"),
        _choose("CAST(区县 AS INTEGER)", "LENGTH(区县)", "CAST(金额 AS SMALLINT)"),
    )
    if depth == 0:
        return leaves
    n, b = number(depth - 1), boolean(depth - 1)
    return st.one_of(
        leaves,
        _call("({} {} {})", n, _choose("+", "-", "*", "/", "//", "%"), n),
        _call("(金额 * {})", _choose("100000000000000", "1000000", "-1")),
        _call("(1000 // (金额 - {}))", _choose(*AMOUNTS)),
        _call("CASE WHEN {} THEN CAST('x' AS INTEGER) ELSE {} END", b, n),
        _call("CAST({} AS {})", n, _choose("INTEGER", "SMALLINT", "TINYINT", "DECIMAL(4,1)")),
        _call("COALESCE({}, {})", n, n),
    )


def boolean(depth: int) -> S:
    leaves = st.one_of(
        _call("金额 {} {}", _choose("=", "<", ">=", "<>"), _choose(*AMOUNTS)),
        _choose("区县 = '临平区'", "区县 <> '西湖区'", "手机号 LIKE '1390000007%'", "TRUE"),
    )
    if depth == 0:
        return leaves
    n, b = number(depth - 1), boolean(depth - 1)
    return st.one_of(
        leaves,
        _call("{} {} {}", n, _choose("=", "<", ">="), n),
        _call("({} {} {})", b, _choose("AND", "OR"), b),
        _call("NOT ({})", b),
        _call("CASE WHEN {} THEN CAST('x' AS INTEGER) ELSE 1 END = 1", b),
    )


def key(depth: int) -> S:
    """A GROUP BY key: a district, a band of amounts, or an expression that may fail."""
    return st.one_of(
        _choose("区县", "(金额 >= 130)", "(金额 >= 131)", "(金额 > 10000)", "(区县 = '临平区')"),
        number(depth),
    )


def having() -> S:
    aggregate = _choose("COUNT(*)", "SUM(金额)", "AVG(金额)", "MAX(金额)", "COUNT(DISTINCT 区县)")
    return st.one_of(
        _call("{} {} {}", aggregate, _choose(">", "<", "="), _choose(*AMOUNTS, "10", "11")),
        _call(
            "CASE WHEN {} > {} THEN CAST('x' AS INTEGER) ELSE 1 END = 1",
            aggregate,
            _choose(*AMOUNTS, "10"),
        ),
        _call("CAST(SUM(金额) AS SMALLINT) > {}", _choose("0", "10")),
        _call("(1000 // (COUNT(*) - {})) > 0", _choose("10", "11", "15", "16")),
    )


def tail() -> S:
    return st.one_of(
        st.just(""),
        _call(" ORDER BY {} LIMIT {}", _choose("1", "2", "n", "g"), _choose("1", "2", "5")),
        _call(" LIMIT {} OFFSET {}", _choose("1", "3"), _choose("0", "2", "4")),
    )


def aggregate_queries(*, dp: bool) -> S:
    b, g = boolean(2), key(1)
    if dp:
        # COUNT only: the roster's amounts carry no DP bounds, so a DP SUM is refused.
        counted = _choose("COUNT(*)", "COUNT(金额)", "COUNT(手机号)")
        return st.one_of(
            _call(f"SELECT {{}} AS g, {{}} AS n FROM {TABLE} WHERE {{}} GROUP BY 1", g, counted, b),
            _call(f"SELECT {{}} AS n FROM {TABLE} WHERE {{}}", counted, b),
        )
    return st.one_of(
        _call(
            f"SELECT {{}} AS g, COUNT(*) AS n, SUM(金额) AS s FROM {TABLE} WHERE {{}} "
            "GROUP BY 1{}{}",
            g,
            b,
            st.one_of(st.just(""), having().map(lambda h: f" HAVING {h}")),
            tail(),
        ),
        _call(f"SELECT COUNT(*) AS n, SUM({{}}) AS s FROM {TABLE} WHERE {{}}", number(1), b),
        _call(
            f"SELECT 区县 AS g, COUNT(*) AS n, MAX({{}}) AS m FROM {TABLE} GROUP BY 区县{{}}",
            number(1),
            tail(),
        ),
    )


def record_queries() -> S:
    v, b = st.one_of(number(2), _choose("区县", "手机号")), boolean(2)
    return st.one_of(
        _call(
            f"SELECT {{}} AS a, 区县 AS g FROM {TABLE} WHERE {{}}{{}}",
            v,
            b,
            _choose("", " ORDER BY 1 LIMIT 5", " LIMIT 2 OFFSET 39"),
        ),
        _call(
            f"SELECT 区县 AS g, COUNT(*) AS n, SUM({{}}) AS s FROM {TABLE} WHERE {{}} "
            "GROUP BY 1 ORDER BY 1",
            number(1),
            b,
        ),
        _call(
            f"SELECT 金额 AS a, ROW_NUMBER() OVER (ORDER BY {{}}) AS n FROM {TABLE} WHERE {{{{}}}}",
            v,
            b,
        ),
    )


QUERIES: dict[str, Callable[[], S]] = {
    "masked_records": record_queries,
    "k_anonymous": record_queries,
    "aggregates": lambda: aggregate_queries(dp=False),
    "dp_aggregates": lambda: aggregate_queries(dp=True),
}


# -- the whole answer -----------------------------------------------------------------

Answer = dict[str, Any]


def answer(world: World, grant_id: int, mode: str, sql: str) -> Answer:
    """Everything the API would answer to ``sql``, minus what the mode releases."""
    before = _use(world, grant_id)
    try:
        result = queries.run_query(
            db=world.platform.db,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal("enterprise.analyst"),
            grant_id=grant_id,
            sql=sql,
            epsilon=0.01 if mode == "dp_aggregates" else None,
            policy=POLICY,
        ).value
    except DataCompactError as exc:
        return {
            "outcome": type(exc).__name__,
            "status": exc.status,
            "code": exc.code,
            "message": exc.message,
            # The grant's id is the only detail that differs by construction.
            "details": {k: v for k, v in exc.details.items() if k != "grant_id"},
            # A failure after the charge keeps it, the same on both: the count and ε.
            "charged": [
                now - then for now, then in zip(_use(world, grant_id), before, strict=True)
            ],
        }
    return {"outcome": "ok", **_normalized(world, mode, result)}


def _use(world: World, grant_id: int) -> tuple[int, float]:
    """What the grant has used so far: its query count and its ε."""
    with world.platform.db.read() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        return grant.queries_used, float(grant.epsilon_spent)


def _normalized(world: World, mode: str, result: QueryResult) -> Answer:
    body = result.model_dump(mode="json")
    record = body.pop("query")
    # Identity of the query and of the grant: different by construction.
    for name in ("id", "grant_id", "log_index", "created_at"):
        record.pop(name)
    with world.platform.db.read() as session:
        page = queries.result_page(
            session=session,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal("enterprise.analyst"),
            query_id=result.query.id,
            policy=POLICY,
        ).model_dump(mode="json")
    rows = body.pop("rows")
    assert page.pop("rows") == rows, "the stored first page is the answer's first page"
    for shown in (body, page):
        # A next page exists exactly when the released rows go past the first page.
        token = shown.pop("next_page_token")
        assert (token is not None) == (shown["total_rows"] > PAGE_ROWS), (token, shown)
    page.pop("query_id")
    # The released values (noisy under DP) and their hash.
    record.pop("result_sha256")
    # Under every mode here the number of rows is released (exact groups of at
    # least k entities, a noisy choice of groups, or the rows themselves), and
    # with it whether the engine's row limit cut them.
    for shown in (body, page):
        shown.pop("total_rows")
        if mode != "dp_aggregates":  # a DP release is never cut
            shown.pop("truncated")
    record.pop("result_rows")
    if mode in COUNTED:
        record.pop("rows_scanned")
    return {**body, "query": record, "page": page}


def _check_pair(pair: Pair, mode: str, sql: str) -> tuple[Answer, Answer]:
    absent = answer(pair.world, pair.absent, mode, sql)
    present = answer(pair.world, pair.present, mode, sql)
    assert absent == present, sql
    return absent, present


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_whole_answer_does_not_show_whether_one_record_exists(
    mode: str, pairs: dict[str, Pair]
) -> None:
    pair = pairs[mode]
    outcomes: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(sql=QUERIES[mode]())
    def check(sql: str) -> None:
        found, _ = _check_pair(pair, mode, sql)
        outcomes.append(str(found["outcome"]))

    check()
    # A grammar that only produced refusals would prove nothing.
    assert "ok" in outcomes, outcomes
    print(f"\n{mode}: { {o: outcomes.count(o) for o in set(outcomes)} }")


#: Queries whose outcome the extra person alone could decide, were the pipeline
#: not built against it: each on both rosters, under each mode.
PROBES = (
    f"SELECT COUNT(*) AS n FROM {TABLE} WHERE CAST(金额 AS SMALLINT) > 0",
    f"SELECT COUNT(*) AS n, SUM(金额 * 100000000000000) AS s FROM {TABLE}",
    f"SELECT 区县 AS g, COUNT(*) AS n FROM {TABLE} WHERE 区县 = '临平区' GROUP BY 1",
    f"SELECT COUNT(*) AS n FROM {TABLE} WHERE CASE WHEN 金额 = 99999 THEN CAST('x' AS INTEGER) "
    "ELSE 1 END = 1",
    f"SELECT (金额 >= 131) AS g, COUNT(*) AS n FROM {TABLE} GROUP BY 1",
)


@pytest.mark.parametrize("mode", MODES)
def test_probes_on_one_record_answer_alike(mode: str, pairs: dict[str, Pair]) -> None:
    for sql in PROBES:
        _check_pair(pairs[mode], mode, sql)
    # The extra person is really there: under records-like modes their
    # district is one of the released values.
    if mode == "masked_records":
        found = queries.run_query(
            db=pairs[mode].world.platform.db,
            home=pairs[mode].world.platform.settings.home,
            secret=pairs[mode].world.platform.secret,
            actor=pairs[mode].world.principal("enterprise.analyst"),
            grant_id=pairs[mode].present,
            sql=f"SELECT 区县 FROM {TABLE} WHERE 区县 = '临平区'",
            policy=POLICY,
        ).value
        assert found.total_rows == 1

"""What a governed answer says about itself, and its pages and streams, on both stores.

Every answer states its suppression, noise and generalization without reading
a row; the count of suppressed groups is withheld wherever it could reveal one
record. Pages and streams read the stored result: nothing runs or is charged
again, and a page token cannot be forged or moved to another result.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datacompact.api import create_app
from datacompact.errors import Forbidden, InvalidInput, NotFound, PolicyViolation
from datacompact.policy import _results, applications, grants, queries
from datacompact.policy.schemas import QueryResult, ResultPage

from ..conftest import World, tampered
from .test_queries import (
    _grant,
    _grant_row,
    _refused,
    _roster_worlds,
    _set_status,
    resource_id,
    world,
)

# The fixtures shared with test_queries: one world per store with the roster registered.
__all__ = ["_roster_worlds", "resource_id", "world"]

ANALYST = "enterprise.analyst"


def _run(
    world: World, grant_id: int, sql: str, page_rows: int = 1000, **options: Any
) -> QueryResult:
    return queries.run_query(
        db=world.platform.db,
        home=world.platform.settings.home,
        secret=world.platform.secret,
        actor=world.principal(ANALYST),
        grant_id=grant_id,
        sql=sql,
        policy=queries.QueryPolicy(time_quantum=0, page_rows=page_rows),
        **options,
    ).value


def _page(
    world: World, query_id: int, token: str | None = None, *, who: str = ANALYST, **policy: Any
) -> ResultPage:
    with world.platform.db.read() as session:
        return queries.result_page(
            session=session,
            home=world.platform.settings.home,
            secret=world.platform.secret,
            actor=world.principal(who),
            query_id=query_id,
            page_token=token,
            policy=queries.QueryPolicy(page_rows=15, **policy),
        )


def test_each_mode_states_how_its_answer_was_protected(world: World, resource_id: int) -> None:
    masked = _grant(world, resource_id)
    answer = _run(world, masked, "SELECT 手机号, 金额 FROM relief_roster")
    assert answer.protection is not None
    assert answer.protection.model_dump() | {"note": ""} == {
        "mode": "masked_records",
        "suppression": "none",
        "suppression_threshold": None,
        "groups_suppressed": 0,
        "noise_added": False,
        "epsilon": None,
        "delta": None,
        "generalized": False,
        "masked": True,
        "note": "",
    }

    aggregated = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    answer = _run(world, aggregated, "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县")
    protection = answer.protection
    assert protection is not None
    assert (protection.suppression, protection.suppression_threshold) == ("group_threshold", 10)
    assert protection.groups_suppressed is None  # withheld, though two groups were suppressed
    assert not protection.noise_added
    assert "withheld" in protection.note

    dp = _grant(world, resource_id, mode="dp_aggregates", columns=["区县"], epsilon=1.0)
    answer = _run(
        world, dp, "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县", epsilon=0.5
    )
    protection = answer.protection
    assert protection is not None
    assert protection.noise_added
    assert protection.epsilon == pytest.approx(0.5)
    assert protection.delta == pytest.approx(answer.query.delta)
    assert (protection.delta or 0) > 0
    assert protection.suppression == "noisy_threshold"
    assert protection.suppression_threshold is not None
    assert protection.suppression_threshold >= 10
    assert protection.groups_suppressed is None
    whole = _run(world, dp, "SELECT count(*) AS n FROM relief_roster", epsilon=0.1)
    assert whole.protection is not None
    assert (whole.protection.groups_suppressed, whole.protection.delta) == (0, 0.0)

    k_anonymous = _grant(world, resource_id, mode="k_anonymous")
    answer = _run(world, k_anonymous, "SELECT 区县, 金额 FROM relief_roster")
    assert answer.protection is not None
    assert answer.protection.generalized
    assert answer.protection.suppression == "k_anonymous_release"


def test_what_an_answer_says_does_not_depend_on_one_record(world: World, resource_id: int) -> None:
    """A filter only one person can meet: the statement is the same with or without them.

    Even a yes/no "some groups were suppressed" would differ here (one group
    below k against none), an exact membership oracle; the count is withheld.
    """
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    sql = "SELECT 区县, count(*) AS n FROM relief_roster WHERE 金额 = {} GROUP BY 区县"
    present = _run(world, grant_id, sql.format(103))  # exactly one person has 103
    absent = _run(world, grant_id, sql.format(99_999))  # nobody has it
    assert present.rows == absent.rows == []
    assert present.protection == absent.protection
    assert (present.total_rows, present.truncated) == (absent.total_rows, absent.truncated)


def test_answers_come_in_pages_that_neither_run_nor_charge_again(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id)
    sql = "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额"
    answer = _run(world, grant_id, sql, page_rows=15)
    assert (len(answer.rows), answer.total_rows, answer.truncated) == (15, 40, False)
    assert answer.row_limit == 100_000
    assert answer.next_page_token
    used = _grant_row(world, grant_id).queries_used

    rows, offsets = list(answer.rows), []
    token: str | None = answer.next_page_token
    while token:
        page = _page(world, answer.query.id, token)
        offsets.append(page.offset)
        rows += page.rows
        token = page.next_page_token
    assert offsets == [15, 30]
    assert [r[1] for r in rows] == sorted(100 + k for k in range(40))
    first = _page(world, answer.query.id)  # no token: the first page again
    assert first.rows == answer.rows
    assert first.protection == answer.protection
    assert _grant_row(world, grant_id).queries_used == used


def test_a_page_token_cannot_be_forged_or_moved(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    one = _run(world, grant_id, "SELECT 金额 FROM relief_roster", page_rows=10)
    other = _run(world, grant_id, "SELECT 区县 FROM relief_roster", page_rows=10)
    assert one.next_page_token
    assert other.next_page_token
    body, mac = one.next_page_token.split(".")
    forged = [
        f"{tampered(body)}.{mac}",  # another offset, the old signature
        f"{body}.{tampered(mac)}",
        "not-a-token",
        "",
        f"{body}.{mac}.{mac}",
    ]
    for token in forged:
        with pytest.raises(InvalidInput) as caught:
            _page(world, one.query.id, token)
        assert caught.value.details == {"field": "page_token"}
    with pytest.raises(InvalidInput):
        _page(world, one.query.id, other.next_page_token)  # another query's result


def test_pages_are_for_the_grantee_under_an_active_grant(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    answer = _run(world, grant_id, "SELECT 区县 FROM relief_roster")
    with pytest.raises(Forbidden):
        _page(world, answer.query.id, who="regulator.reviewer")
    _set_status(world, grant_id, "suspend")
    with pytest.raises(PolicyViolation):
        _page(world, answer.query.id)


def test_refused_and_expired_results_have_no_pages(
    world: World, resource_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_id = _grant(world, resource_id, columns=["区县", "金额"])
    _refused(world, grant_id, "SELECT 姓名 FROM relief_roster")
    with world.platform.db.read() as session:
        refused_id = max(
            q.id
            for q in queries.list_queries(
                session=session, actor=world.principal(ANALYST), grant_id=grant_id
            )
        )
    with pytest.raises(NotFound):
        _page(world, refused_id)
    answer = _run(world, grant_id, "SELECT 区县 FROM relief_roster")
    with pytest.raises(NotFound) as caught:
        _page(world, answer.query.id, result_retention=-1.0)
    assert "expired" in caught.value.message
    # A later result of the grant removes the ones past the retention, once
    # the process's last look at the grant's folder is old enough.
    home = world.platform.settings.home
    stored = home / "results" / str(grant_id) / f"{answer.query.id}.parquet"
    assert stored.exists()
    old = time.time() - 3 * 24 * 3600
    os.utime(stored, (old, old))
    _run(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert stored.exists()  # looked at when the first result was stored
    monkeypatch.setattr(_results, "SWEEP_SECONDS", 0.0)
    _run(world, grant_id, "SELECT 金额 FROM relief_roster")
    assert not stored.exists()


def _aged(path: Path, hours: float) -> None:
    old = time.time() - hours * 3600
    os.utime(path, (old, old))


def test_the_sweep_removes_expired_results_of_grants_never_queried_again(
    world: World, resource_id: int
) -> None:
    home, settings = world.platform.settings.home, world.platform.settings
    first = _grant(world, resource_id, columns=["区县", "金额"])
    second = _grant(world, resource_id, columns=["区县", "金额"])
    old = _run(world, first, "SELECT 区县 FROM relief_roster").query.id
    fresh = _run(world, second, "SELECT 金额 FROM relief_roster").query.id
    expired = home / "results" / str(first) / f"{old}.parquet"
    kept = home / "results" / str(second) / f"{fresh}.parquet"
    # A write that died with its process, long ago, and one in progress now.
    dead = home / "results" / str(second) / ".result-dead.tmp"
    live = home / "results" / str(second) / ".result-live.tmp"
    dead.write_bytes(b"")
    live.write_bytes(b"")
    _aged(expired, settings.query_result_retention_hours + 1)
    _aged(dead, settings.query_result_retention_hours + 1)

    assert queries.sweep_results(home=home, settings=settings) == 2
    assert not expired.exists()
    assert not dead.exists()
    assert kept.exists()
    assert live.exists()
    assert expired.parent.is_dir()  # a folder stays: a query may be writing into it
    with pytest.raises(NotFound):
        _page(world, old)
    assert _page(world, fresh).total_rows == 40
    assert queries.sweep_results(home=home, settings=settings) == 0


def test_a_served_platform_sweeps_at_start_up_and_then_on_a_schedule(
    world: World, resource_id: int
) -> None:
    home, settings = world.platform.settings.home, world.platform.settings
    grant_id = _grant(world, resource_id, columns=["区县", "金额"])
    query_ids = [_run(world, grant_id, "SELECT 区县 FROM relief_roster").query.id for _ in range(2)]
    paths = [home / "results" / str(grant_id) / f"{q}.parquet" for q in query_ids]
    _aged(paths[0], settings.query_result_retention_hours + 1)
    app = create_app(world.platform)

    async def serve() -> None:
        async with app.router.lifespan_context(app):
            assert not paths[0].exists()  # at start-up
            assert paths[1].exists()

    asyncio.run(serve())
    # The schedule: a sweeper with a short interval finds what aged meanwhile.
    sweeper = queries.results_sweeper(home=home, settings=settings, interval=0.05)
    sweeper.start()
    try:
        _aged(paths[1], settings.query_result_retention_hours + 1)
        deadline = time.monotonic() + 10
        while paths[1].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert not paths[1].exists()
    assert not sweeper.is_alive()


def test_a_result_streams_whole_as_csv_or_parquet(world: World, resource_id: int) -> None:
    grant_id = _grant(world, resource_id)
    answer = _run(
        world, grant_id, "SELECT 区县, 金额 FROM relief_roster ORDER BY 金额", page_rows=5
    )
    with world.platform.db.read() as session:
        chunks, rows, truncated = queries.result_stream(
            session=session,
            home=world.platform.settings.home,
            actor=world.principal(ANALYST),
            query_id=answer.query.id,
            fmt="csv",
        )
        text = b"".join(chunks).decode()
        parquet, _, _ = queries.result_stream(
            session=session,
            home=world.platform.settings.home,
            actor=world.principal(ANALYST),
            query_id=answer.query.id,
            fmt="parquet",
        )
        table = pq.read_table(io.BytesIO(b"".join(parquet)))
        with pytest.raises(InvalidInput):
            queries.result_stream(
                session=session,
                home=world.platform.settings.home,
                actor=world.principal(ANALYST),
                query_id=answer.query.id,
                fmt="xlsx",
            )
    lines = text.splitlines()
    assert (rows, truncated, len(lines)) == (40, False, 41)
    assert lines[0] == "区县,金额"
    assert lines[1].endswith(",100")
    assert table.num_rows == 40
    assert table.column_names == ["区县", "金额"]


def test_grants_applications_and_overlaps_name_their_parties(
    world: World, resource_id: int
) -> None:
    grant_id = _grant(world, resource_id)
    with world.platform.db.read() as session:
        shown = grants.get_grant(session=session, actor=world.principal(ANALYST), grant_id=grant_id)
        listed = grants.list_grants(session=session, actor=world.principal(ANALYST))
        application = applications.get_application(
            session=session, actor=world.principal(ANALYST), application_id=shown.application_id
        )
    assert (shown.holder_name, shown.grantee_name) == (
        "测试department.admin",
        "测试enterprise.admin",
    )
    assert shown.resource_name == "救助对象名册"
    assert {(g.holder_name, g.grantee_name) for g in listed} == {
        ("测试department.admin", "测试enterprise.admin")
    }
    assert application.applicant_name == "测试enterprise.admin"

"""The catalog listing (``list_catalog``) against the full views it replaces, on both stores.

A page of the catalog decides, ranks and counts every entry from a narrow
projection and builds full views of the shown page only. These tests build a
varied catalog (several holders, private and unpublished entries, themes,
grades, share and open types, frequencies, ratings) and check, for several
callers and filters, that the listing says what the full views say: the same
results in the same order, the same facet values, labels and counts, the same
total and page.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from datacompact.catalog import resources as service
from datacompact.catalog.codes import make_code
from datacompact.catalog.schemas import GradeCode, ResourcePublic
from datacompact.errors import NotFound
from datacompact.permissions import Principal
from datacompact.store.models import Participant, Rating, Resource

from ..conftest import World
from ..value._value import executed, grant

NAMES = (
    ("社会保险缴费明细", "Social insurance contributions"),
    ("住房公积金缴存记录", "Housing fund deposits"),
    ("道路交通流量", None),
    ("社保参保人员名录", "Insured persons"),
    ("企业营业执照信息", "Business licences"),
)
THEMES = ((), ("社保",), ("交通", "城市"), ("社保", "民生"), ("民生",))
GRADES = (None, "general-1", "general-2", "general-3", "general-4", "important")
SHARES = ("unconditional", "conditional", "not_shared")
OPENS = ("open", "conditional_open", "not_open")
FREQUENCIES = ("daily", "monthly", "yearly", "irregular")
HOLDERS = ("department", "enterprise", "enterprise2")


def _fill(world: World) -> None:
    """37 resources whose facets vary independently of each other; some are rated."""
    sequences: Counter[int] = Counter()
    ids: list[int] = []
    with world.platform.db.write() as session:
        for i in range(37):
            holder = session.get_one(Participant, world.ids[HOLDERS[i % 3]])
            sequences[holder.id] += 1
            name, name_en = NAMES[i % 5]
            row = Resource(
                code=make_code(
                    region="330106", holder_uscc=holder.uscc, sequence=sequences[holder.id]
                ).text,
                holder_id=holder.id,
                name=f"{name} {i}",
                name_en=f"{name_en} {i}" if name_en else None,
                description="按月汇总的记录" if i % 2 else "",
                themes=list(THEMES[i % 5]),
                tags=["社保", "缴费"] if i % 4 == 0 else ["统计"],
                grade=GRADES[i % 6],
                share_type=SHARES[i % 3],
                open_type=OPENS[(i // 3) % 3],
                update_frequency=FREQUENCIES[i % 4],
                private=i % 11 == 5,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        # Ratings move the ranking of a query with words (search.rating_boost).
        for rid, score in ((ids[0], 5), (ids[15], 1), (ids[20], 4)):
            gid = grant(
                session,
                resource_id=rid,
                holder_id=world.ids["department"],
                grantee_id=world.ids["enterprise2"],
            )
            executed(session, world, grant_id=gid, grantee_id=world.ids["enterprise2"])
            session.add(
                Rating(
                    kind="data",
                    grant_id=gid,
                    resource_id=rid,
                    rater_id=world.ids["enterprise2"],
                    rated_id=world.ids["department"],
                    scores={"accuracy": score, "usefulness": score},
                )
            )


def _old_facets(rows: list[ResourcePublic]) -> dict[str, list[tuple[str, str, int]]]:
    """The facets as the catalog page counted them before: over every result's full view."""
    counts: dict[str, Counter[tuple[str, str]]] = {name: Counter() for name in service.FACETS}
    for row in rows:
        counts["holder"][(str(row.holder_id), row.holder_name)] += 1
        for theme in row.themes:
            counts["theme"][(theme, theme)] += 1
        if row.grade:
            counts["grade"][(row.grade, row.grade)] += 1
        for name in ("share_type", "open_type", "update_frequency"):
            value = getattr(row, name)
            counts[name][(value, value)] += 1
    return {
        name: [(value, label, n) for (value, label), n in counter.most_common()]
        for name, counter in counts.items()
    }


CASES: list[dict[str, Any]] = [
    {},
    {"query": "社保"},
    {"query": "社会保险 housing"},
    {"query": "交通", "theme": "城市"},
    {"holder": "enterprise"},
    {"grade": GradeCode.GENERAL_2},
    {"share_type": "conditional", "open_type": "open"},
    {"update_frequency": "monthly", "query": "记录"},
    {"theme": "民生", "update_frequency": "yearly"},
    {"query": "没有这个词"},
]
CALLERS = ("anonymous", "department.data_steward", "enterprise.analyst", "regulator.admin")


def _caller(world: World, key: str) -> Principal:
    if key == "anonymous":
        return Principal.anonymous(world.platform.settings.governance_mode)
    return world.principal(key)


def test_listing_counts_and_pages_as_the_full_views_do(world: World) -> None:
    _fill(world)
    for key in CALLERS:
        actor = _caller(world, key)
        for case in CASES:
            search = {
                "query": case.get("query", ""),
                "holder_id": world.ids[case["holder"]] if "holder" in case else None,
                "grade": case.get("grade"),
                "share_type": case.get("share_type"),
                "theme": case.get("theme"),
            }
            open_type, frequency = case.get("open_type"), case.get("update_frequency")
            with world.platform.db.read() as session:
                full = service.search_resources(session=session, actor=actor, limit=5000, **search)
                rows = [
                    r
                    for r in full
                    if (open_type is None or r.open_type == open_type)
                    and (frequency is None or r.update_frequency == frequency)
                ]
                for page in (1, 2, 9):
                    listing = service.list_catalog(
                        session=session,
                        actor=actor,
                        open_type=open_type,
                        update_frequency=frequency,
                        page=page,
                        page_size=4,
                        **search,
                    )
                    where = (key, case, page)
                    assert listing.total == len(rows), where
                    assert listing.pages == max(1, -(-len(rows) // 4)), where
                    assert listing.page == min(page, listing.pages), where
                    start = (listing.page - 1) * 4
                    assert listing.data == rows[start : start + 4], where
                    facets = {n: [tuple(v) for v in vs] for n, vs in listing.facets.items()}
                    assert facets == _old_facets(rows), where


def test_listing_shows_only_what_the_caller_may_read(world: World) -> None:
    _fill(world)
    for key in CALLERS:
        actor = _caller(world, key)
        with world.platform.db.read() as session:
            expected = []
            for rid in session.scalars(Resource.__table__.select().with_only_columns(Resource.id)):
                try:
                    expected.append(
                        service.get_resource(session=session, actor=actor, resource_id=rid)
                    )
                except NotFound:
                    continue
            listing = service.list_catalog(session=session, actor=actor, page_size=100)
        # A query without a word lists in the order search.rank gives it: by id.
        assert listing.data == sorted(expected, key=lambda r: r.id), key
        assert listing.total == len(expected), key
        # The varied catalog hides something from everyone but the holders it belongs to.
        assert 0 < listing.total < 37, key


@pytest.mark.parametrize("words", ["", "社保"])
def test_an_empty_catalog_lists_nothing(world: World, words: str) -> None:
    with world.platform.db.read() as session:
        listing = service.list_catalog(
            session=session, actor=_caller(world, "anonymous"), query=words
        )
    assert (listing.data, listing.total, listing.page, listing.pages) == ([], 0, 1, 1)
    assert all(values == [] for values in listing.facets.values())

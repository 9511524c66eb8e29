"""Ratings feed the catalog's ranking and the task matching."""

from __future__ import annotations

from sqlalchemy import update

from datacompact.catalog import search
from datacompact.catalog.resources import search_catalog
from datacompact.procurement.matching import Candidate, Lot, rank_candidates
from datacompact.store.models import Rating, Resource

from ..conftest import World
from ._value import executed, grant, resource


def _doc(doc_id: str) -> search.Document:
    return search.Document(id=doc_id, fields={"name_zh": "社保缴费记录"})


def test_a_better_rated_resource_ranks_first_among_equals() -> None:
    docs = [_doc("1"), _doc("2")]
    assert [h.id for h in search.rank("社保", docs)] == ["1", "2"]
    boosts = {"2": search.rating_boost(4.5, 20), "1": search.rating_boost(2.0, 20)}
    assert [h.id for h in search.rank("社保", docs, boosts=boosts)] == ["2", "1"]
    # A boost never brings in a document the words do not match.
    assert search.rank("公积金", docs, boosts=boosts) == []


def test_the_owners_rating_joins_the_delivery_record() -> None:
    lot = Lot("L", "政务云运维", "监控与故障处置", "operations")
    same = "Government cloud operations, monitoring"
    pool = [
        Candidate("a", "A", capabilities=same, kpi=0.8),
        Candidate("b", "B", capabilities=same, kpi=0.8, rating=1.0, ratings=3),
        Candidate("c", "C", capabilities=same, kpi=0.8, rating=0.0, ratings=3),
    ]
    ranking = rank_candidates(lot, pool)
    assert [m.candidate_id for m in ranking.matches] == ["b", "a", "c"]
    by_id = {m.candidate_id: m for m in ranking.matches}
    assert by_id["b"].components["kpi"] == 0.9
    assert any("owners' rating" in r for r in by_id["b"].reasons)
    rated_only = rank_candidates(
        lot, [Candidate("d", "D", capabilities=same, rating=0.25, ratings=1)]
    )
    assert rated_only.matches[0].components["kpi"] == 0.25


def test_catalog_search_ranks_by_rating_in_the_store(world: World) -> None:
    ids = world.ids
    with world.platform.db.write() as session:
        first = resource(session, ids["department"], "R-1", name="社保缴费记录")
        second = resource(session, ids["department"], "R-2", name="社保缴费记录")
        session.execute(
            update(Resource)
            .where(Resource.id.in_([first, second]))
            .values(share_type="unconditional")
        )
        for rid, score in ((first, 2), (second, 5)):
            for k, rater in enumerate(("enterprise", "enterprise2")):
                gid = grant(
                    session, resource_id=rid, holder_id=ids["department"], grantee_id=ids[rater]
                )
                executed(session, world, grant_id=gid, grantee_id=ids[rater])
                session.add(
                    Rating(
                        kind="data",
                        grant_id=gid,
                        resource_id=rid,
                        rater_id=ids[rater],
                        rated_id=ids["department"],
                        scores={
                            "accuracy": score,
                            "completeness": score,
                            "timeliness": score,
                            "usefulness": score - k,
                        },
                    )
                )
    with world.platform.db.read() as session:
        found = search_catalog(
            session=session, actor=world.principal("enterprise.analyst"), query="社保"
        )
    assert [r.id for r in found.data][:2] == [second, first]

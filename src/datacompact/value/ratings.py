"""Market ratings (市场评价): users rate the data, owners rate the contractors.

* A grantee rates the data of a grant once the grant has ended (expired or
  revoked), if it ran at least one query under it: accuracy, completeness,
  timeliness, usefulness, each 1–5, with a comment.
* A project owner rates the supplier of a contract once a milestone was
  accepted: quality, timeliness, O&M response.
* One rating per rater and grant or contract. Nobody rates itself or a
  participant of its group under common control
  (:func:`datacompact.procurement.groups.participant_groups`).
* A rating is never edited in place: :func:`revise_rating` logs a new revision
  and keeps every earlier one; the rated party may answer (:func:`answer_rating`).
* The means and the count per resource and per participant
  (:func:`datacompact.store.ratings.aggregates`) feed the catalog's ranking and
  the task matching.

The log carries the scores and the length of a comment or answer, never its
text, which may hold personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datacompact.clock import utcnow
from datacompact.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PolicyViolation
from datacompact.events import EventType, NewEvent, Recorded, record_events
from datacompact.permissions import Actions, Principal, Resource, authorize
from datacompact.procurement.groups import participant_groups
from datacompact.store.models import (
    Grant,
    GrantQuery,
    Rating,
    RatingReply,
    RatingRevision,
)
from datacompact.store.project_models import Contract, Lot, Milestone, Project
from datacompact.store.ratings import CONTRACTOR_DIMENSIONS, DATA_DIMENSIONS, aggregates
from datacompact.value.schemas import (
    AggregatePublic,
    RatingPublic,
    ReplyPublic,
    RevisionPublic,
)

__all__ = ["CONTRACTOR_DIMENSIONS", "DATA_DIMENSIONS", "answer_rating", "get_rating"]
__all__ += ["list_ratings", "participant_rating", "rate_contractor", "rate_data"]
__all__ += ["resource_rating", "revise_rating"]

_DIMENSIONS = {"data": DATA_DIMENSIONS, "contractor": CONTRACTOR_DIMENSIONS}


def _check_scores(kind: str, scores: Mapping[str, int]) -> dict[str, int]:
    wanted = _DIMENSIONS[kind]
    if set(scores) != set(wanted):
        raise InvalidInput(
            f"评分维度须为 {', '.join(wanted)} / expected scores for {', '.join(wanted)}",
            details={"field": "scores"},
        )
    for name in wanted:
        value = scores[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise InvalidInput(
                "评分须为 1 至 5 的整数 / expected each score as an integer from 1 to 5",
                details={"field": f"scores.{name}"},
            )
    return {name: int(scores[name]) for name in wanted}


def _not_related(session: Session, rater: int, rated: int) -> None:
    """Nobody rates itself or a participant under the same control."""
    if rater == rated:
        raise PolicyViolation(
            "不能评价本方 / a participant cannot rate itself", details={"rule": "self_rating"}
        )
    groups = participant_groups(session)
    if groups.get(rater) is not None and groups.get(rater) == groups.get(rated):
        raise PolicyViolation(
            "不能评价同一控制下的关联方 / a participant cannot rate one under common control",
            details={"rule": "group_rating"},
        )


def _history(session: Session, row: Rating) -> tuple[list[RevisionPublic], list[ReplyPublic]]:
    revisions = session.scalars(
        select(RatingRevision)
        .where(RatingRevision.rating_id == row.id)
        .order_by(RatingRevision.revision)
    )
    replies = session.scalars(
        select(RatingReply).where(RatingReply.rating_id == row.id).order_by(RatingReply.id)
    )
    return (
        [
            RevisionPublic(
                revision=r.revision,
                scores=dict(r.scores),
                comment=r.comment,
                log_index=r.log_index,
                created_at=r.created_at,
            )
            for r in revisions
        ],
        [
            ReplyPublic(
                participant_id=r.participant_id,
                text=r.text,
                log_index=r.log_index,
                created_at=r.created_at,
            )
            for r in replies
        ],
    )


def _view(session: Session, row: Rating) -> RatingPublic:
    history, replies = _history(session, row)
    return RatingPublic(
        id=row.id,
        kind=row.kind,
        grant_id=row.grant_id,
        contract_id=row.contract_id,
        resource_id=row.resource_id,
        rater_id=row.rater_id,
        rated_id=row.rated_id,
        revision=row.revision,
        scores=dict(row.scores),
        comment=row.comment,
        log_index=row.log_index,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=history,
        replies=replies,
    )


def _record(
    session: Session, actor: Principal, row: Rating, scores: dict[str, int], comment: str
) -> Recorded[RatingPublic]:
    already = session.scalar(
        select(func.count())
        .select_from(Rating)
        .where(
            Rating.rater_id == row.rater_id,
            Rating.grant_id == row.grant_id
            if row.grant_id is not None
            else Rating.contract_id == row.contract_id,
        )
    )
    if already:
        raise Conflict(
            "已评价过，请修订原评价 / already rated: revise the rating instead",
            details={"rule": "one_rating"},
        )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            "已评价过，请修订原评价 / already rated: revise the rating instead",
            details={"rule": "one_rating"},
        ) from exc
    payload = {
        "kind": row.kind,
        "grant_id": row.grant_id,
        "contract_id": row.contract_id,
        "resource_id": row.resource_id,
        "rated_id": row.rated_id,
        "revision": 1,
        "scores": scores,
        "comment_chars": len(comment),
    }
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.RATING_SUBMITTED, "rating", row.id, payload)],
    )
    row.log_index = event.seq
    session.add(
        RatingRevision(
            rating_id=row.id,
            revision=1,
            scores=scores,
            comment=comment,
            member_id=actor.member_id,
            log_index=event.seq,
        )
    )
    session.flush()
    return Recorded(_view(session, row), event.seq)


def rate_data(
    *,
    session: Session,
    actor: Principal,
    grant_id: int,
    scores: Mapping[str, int],
    comment: str = "",
) -> Recorded[RatingPublic]:
    """The grantee rates the data of a grant that ended, having used it."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("授权不存在 / grant not found", details={"grant_id": grant_id})
    authorize(
        actor=actor,
        action=Actions.RATING_SUBMIT,
        resource=Resource(participant_id=grant.grantee_id),
    )
    checked = _check_scores("data", scores)
    _not_related(session, grant.grantee_id, grant.holder_id)
    used = session.scalar(
        select(func.count())
        .select_from(GrantQuery)
        .where(GrantQuery.grant_id == grant.id, GrantQuery.status == "executed")
    )
    if not used:
        raise PolicyViolation(
            "未在该授权下使用过数据，不能评价 / only a grantee that used the data may rate it",
            details={"rule": "never_used"},
        )
    if grant.status != "revoked" and grant.expires_at > utcnow():
        raise InvalidTransition(
            "授权结束后方可评价 / the data can be rated once the grant has ended",
            details={"rule": "grant_not_ended"},
        )
    row = Rating(
        kind="data",
        grant_id=grant.id,
        resource_id=grant.resource_id,
        rater_id=grant.grantee_id,
        rated_id=grant.holder_id,
        scores=checked,
        comment=comment,
    )
    return _record(session, actor, row, checked, comment)


def rate_contractor(
    *,
    session: Session,
    actor: Principal,
    contract_id: int,
    scores: Mapping[str, int],
    comment: str = "",
) -> Recorded[RatingPublic]:
    """The project owner rates a contract's supplier once a milestone was accepted."""
    found = session.execute(
        select(Contract, Project.owner_id)
        .join(Lot, Lot.id == Contract.lot_id)
        .join(Project, Project.id == Lot.project_id)
        .where(Contract.id == contract_id)
    ).first()
    if found is None:
        raise NotFound("合同不存在 / contract not found", details={"contract_id": contract_id})
    contract, owner_id = found
    authorize(actor=actor, action=Actions.RATING_SUBMIT, resource=Resource(participant_id=owner_id))
    checked = _check_scores("contractor", scores)
    _not_related(session, owner_id, contract.supplier_id)
    accepted = session.scalar(
        select(func.count())
        .select_from(Milestone)
        .where(Milestone.contract_id == contract.id, Milestone.status == "accepted")
    )
    if not accepted and contract.status != "accepted":
        raise InvalidTransition(
            "有里程碑验收后方可评价 / the contractor can be rated once a milestone is accepted",
            details={"rule": "no_accepted_milestone"},
        )
    row = Rating(
        kind="contractor",
        contract_id=contract.id,
        rater_id=owner_id,
        rated_id=contract.supplier_id,
        scores=checked,
        comment=comment,
    )
    return _record(session, actor, row, checked, comment)


def _load(session: Session, rating_id: int, *, lock: bool = False) -> Rating:
    row = session.get(Rating, rating_id, with_for_update=lock)
    if row is None:
        raise NotFound("评价不存在 / rating not found", details={"rating_id": rating_id})
    return row


def revise_rating(
    *,
    session: Session,
    actor: Principal,
    rating_id: int,
    scores: Mapping[str, int],
    comment: str = "",
) -> Recorded[RatingPublic]:
    """The rater revises its rating: a new logged revision; the earlier ones stay."""
    row = _load(session, rating_id, lock=True)
    authorize(
        actor=actor, action=Actions.RATING_SUBMIT, resource=Resource(participant_id=row.rater_id)
    )
    checked = _check_scores(row.kind, scores)
    row.revision += 1
    row.scores = checked
    row.comment = comment
    row.updated_at = utcnow()
    payload = {"revision": row.revision, "scores": checked, "comment_chars": len(comment)}
    (event,) = record_events(
        session,
        actor=actor,
        events=[NewEvent(EventType.RATING_REVISED, "rating", row.id, payload)],
    )
    row.log_index = event.seq
    session.add(
        RatingRevision(
            rating_id=row.id,
            revision=row.revision,
            scores=checked,
            comment=comment,
            member_id=actor.member_id,
            log_index=event.seq,
        )
    )
    session.flush()
    return Recorded(_view(session, row), event.seq)


def answer_rating(
    *, session: Session, actor: Principal, rating_id: int, text: str
) -> Recorded[RatingPublic]:
    """The rated party answers a rating; every answer is logged and kept."""
    row = _load(session, rating_id)
    authorize(
        actor=actor, action=Actions.RATING_ANSWER, resource=Resource(participant_id=row.rated_id)
    )
    reply = RatingReply(
        rating_id=row.id, participant_id=row.rated_id, member_id=actor.member_id, text=text
    )
    session.add(reply)
    session.flush()
    (event,) = record_events(
        session,
        actor=actor,
        events=[
            NewEvent(
                EventType.RATING_ANSWERED,
                "rating",
                row.id,
                {"reply_id": reply.id, "text_chars": len(text)},
            )
        ],
    )
    reply.log_index = event.seq
    session.flush()
    return Recorded(_view(session, row), event.seq)


def get_rating(*, session: Session, actor: Principal, rating_id: int) -> RatingPublic:
    authorize(actor=actor, action=Actions.RATING_READ, resource=Resource())
    return _view(session, _load(session, rating_id))


def list_ratings(
    *,
    session: Session,
    actor: Principal,
    resource_id: int | None = None,
    participant_id: int | None = None,
    limit: int = 100,
) -> list[RatingPublic]:
    """Ratings of a resource, or of a participant (as the rated party), newest first."""
    authorize(actor=actor, action=Actions.RATING_READ, resource=Resource())
    statement = select(Rating).order_by(Rating.id.desc()).limit(limit)
    if resource_id is not None:
        statement = statement.where(Rating.resource_id == resource_id)
    if participant_id is not None:
        statement = statement.where(Rating.rated_id == participant_id)
    return [_view(session, r) for r in session.scalars(statement)]


def _aggregate(kind: Literal["data", "contractor"], session: Session, key: int) -> AggregatePublic:
    found = aggregates(session, kind=kind, ids=[key]).get(key)
    if found is None:
        return AggregatePublic(count=0, overall=None, dimensions={})
    return AggregatePublic(count=found.count, overall=found.overall, dimensions=found.dimensions)


def resource_rating(*, session: Session, actor: Principal, resource_id: int) -> AggregatePublic:
    """The data ratings of a resource: each dimension's mean and the count."""
    authorize(actor=actor, action=Actions.RATING_READ, resource=Resource())
    return _aggregate("data", session, resource_id)


def participant_rating(
    *, session: Session, actor: Principal, participant_id: int
) -> AggregatePublic:
    """The contractor ratings of a participant: each dimension's mean and the count."""
    authorize(actor=actor, action=Actions.RATING_READ, resource=Resource())
    return _aggregate("contractor", session, participant_id)

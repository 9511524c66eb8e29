"""Routes for holders' shares and market ratings (thin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from datacompact.api._deps import MAX_ID, Credentials, ObjectId, reading, receipt, writing
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.value import contribution, ratings
from datacompact.value.schemas import (
    ContractorRatingIn,
    DataRatingIn,
    DistributionIn,
    RatingRevisionIn,
    ReplyIn,
    ShareRuleIn,
)

router = APIRouter(tags=["value"], responses=documented(*AUTHENTICATED))

Product = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$", description="产品编码")
]


@router.put(
    "/products/{product}/share-rule",
    summary="设定产品收益分配规则（监管方）/ set how a product's revenue is shared",
)
def set_rule(
    product: Product, body: ShareRuleIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contribution.set_share_rule(
            session=session, actor=actor, product=product, rule=body.rule, weights=body.weights
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/products/{product}/share-rule", summary="产品收益分配规则 / a product's share rule")
def get_rule(product: Product, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = contribution.get_share_rule(session=session, actor=actor, product=product)
        return {"data": found.model_dump(mode="json")}


@router.post(
    "/products/{product}/distributions",
    status_code=201,
    summary="按贡献分配一期收益 / split a period's revenue among holders by contribution",
)
def distribute(
    product: Product, body: DistributionIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = contribution.distribute(
            session=session,
            actor=actor,
            product=product,
            period=body.period,
            uses=[(u.query_id, u.revenue) for u in body.uses],
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/distributions/{distribution_id}", summary="收益分配 / a distribution and its lines")
def show_distribution(
    distribution_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = contribution.get_distribution(
            session=session, actor=actor, distribution_id=distribution_id
        )
        return {"data": found.model_dump(mode="json")}


@router.get(
    "/distributions/{distribution_id}/recompute",
    summary="由日志重算收益分配 / recompute a distribution from its logged inputs",
)
def recompute(
    distribution_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = contribution.recompute(
            session=session, actor=actor, distribution_id=distribution_id
        )
        return {"data": found.model_dump(mode="json")}


@router.get(
    "/participants/{participant_id}/earnings",
    summary="持有方按资源的收益 / a holder's earnings per resource",
)
def earnings(
    participant_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = contribution.holder_earnings(session=session, actor=actor, holder_id=participant_id)
        return {"data": found.model_dump(mode="json")}


@router.post("/ratings/data", status_code=201, summary="评价授权数据 / rate the data of a grant")
def rate_data(body: DataRatingIn, request: Request, credentials: Credentials) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = ratings.rate_data(
            session=session,
            actor=actor,
            grant_id=body.grant_id,
            scores=body.scores.model_dump(),
            comment=body.comment,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post(
    "/ratings/contractor", status_code=201, summary="评价承建方 / rate a contract's supplier"
)
def rate_contractor(
    body: ContractorRatingIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = ratings.rate_contractor(
            session=session,
            actor=actor,
            contract_id=body.contract_id,
            scores=body.scores.model_dump(),
            comment=body.comment,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get("/ratings", summary="市场评价 / ratings of a resource or a participant")
def list_ratings(
    request: Request,
    credentials: Credentials,
    resource_id: int | None = Query(None, ge=1, le=MAX_ID),
    participant_id: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        rows = ratings.list_ratings(
            session=session,
            actor=actor,
            resource_id=resource_id,
            participant_id=participant_id,
            limit=limit,
        )
        return {"data": [r.model_dump(mode="json") for r in rows]}


@router.get("/ratings/{rating_id}", summary="一条评价及其修订与答复 / a rating, its history")
def show_rating(rating_id: ObjectId, request: Request, credentials: Credentials) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = ratings.get_rating(session=session, actor=actor, rating_id=rating_id)
        return {"data": found.model_dump(mode="json")}


@router.post(
    "/ratings/{rating_id}/revisions",
    status_code=201,
    summary="修订评价（保留历史）/ revise a rating, keeping its history",
)
def revise(
    rating_id: ObjectId, body: RatingRevisionIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = ratings.revise_rating(
            session=session,
            actor=actor,
            rating_id=rating_id,
            scores=body.scores,
            comment=body.comment,
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.post("/ratings/{rating_id}/replies", status_code=201, summary="答复评价 / answer a rating")
def answer(
    rating_id: ObjectId, body: ReplyIn, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with writing(request, credentials) as (session, actor):
        recorded = ratings.answer_rating(
            session=session, actor=actor, rating_id=rating_id, text=body.text
        )
        return receipt(recorded.value.model_dump(mode="json"), recorded.log_index)


@router.get(
    "/resources/{resource_id}/rating", summary="资源的数据评价汇总 / a resource's data ratings"
)
def resource_rating(
    resource_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = ratings.resource_rating(session=session, actor=actor, resource_id=resource_id)
        return {"data": found.model_dump(mode="json")}


@router.get(
    "/participants/{participant_id}/rating",
    summary="参与方的承建评价汇总 / a participant's contractor ratings",
)
def participant_rating(
    participant_id: ObjectId, request: Request, credentials: Credentials
) -> dict[str, Any]:
    with reading(request, credentials) as (session, actor):
        found = ratings.participant_rating(
            session=session, actor=actor, participant_id=participant_id
        )
        return {"data": found.model_dump(mode="json")}

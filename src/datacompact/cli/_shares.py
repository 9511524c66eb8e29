"""``datacompact shares ...`` and ``datacompact ratings ...`` (thin).

Holders' shares of a product's revenue by contribution, and market ratings of
data and contractors. Each command calls one service function locally, or the
matching route with ``--url`` / ``--profile``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datacompact.cli._context import TokenOption, run
from datacompact.cli._output import JsonFlag, handled, listed, recorded, shown
from datacompact.errors import MalformedInput

shares_app = typer.Typer(
    help="持有方按贡献分享收益 / holders' shares of revenue by contribution", no_args_is_help=True
)
ratings_app = typer.Typer(
    help="市场评价：数据与承建方 / market ratings of data and contractors", no_args_is_help=True
)

Product = Annotated[str, typer.Argument(help="产品编码 / product code")]
LINE_COLUMNS = ("resource_id", "holder_id", "amount", "uses")


def _one(found: Any, as_json: bool) -> None:
    """Render one object the service or the API returned."""
    shown(found.model_dump(mode="json"), as_json)


def _distribution(result: Any, as_json: bool) -> None:
    data = result.value.model_dump(mode="json")
    if as_json:
        recorded(result, as_json)
        return
    summary = {k: data[k] for k in ("id", "product", "period", "rule", "revenue", "uses")}
    shown(summary | {"log_index": result.log_index}, False)
    listed(*LINE_COLUMNS, title="份额 / shares")(data["lines"], False)


@shares_app.command("rule")
def set_rule(
    product: Product,
    rule: Annotated[str, typer.Option("--rule", help="shapley | equal | rows_scanned | weights")],
    weight: Annotated[
        list[str] | None,
        typer.Option("--weight", help="资源权重 / RESOURCE_ID=WEIGHT, for --rule weights"),
    ] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """设定产品收益分配规则（监管方）/ set how a product's revenue is shared (regulator)."""
    from datacompact.value import contribution
    from datacompact.value.schemas import ShareRuleIn

    with handled(as_json):
        pairs = [w.split("=", 1) for w in weight or []]
        if any(len(p) != 2 for p in pairs):
            raise MalformedInput(
                "权重格式为 资源编号=权重 / expected --weight RESOURCE_ID=WEIGHT",
                details={"option": "--weight"},
            )
        body = ShareRuleIn.model_validate({"rule": rule, "weights": dict(pairs)})
        run(
            lambda on: contribution.set_share_rule(
                session=on.session,
                actor=on.actor,
                product=product,
                rule=body.rule,
                weights=body.weights,
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "PUT", f"/products/{product}/share-rule", body.model_dump(mode="json")
            ),
        )


@shares_app.command("distribute")
def distribute(
    product: Product,
    file: Annotated[
        Path,
        typer.Option(
            "--file", help='JSON：{"period": "2026-11", "uses": [{"query_id", "revenue"}]}'
        ),
    ],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """按贡献分配一期收益 / split a period's revenue of a product among holders."""
    from datacompact.value import contribution
    from datacompact.value.schemas import DistributionIn

    with handled(as_json):
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise MalformedInput(
                "无法读取文件 / expected a readable file, got one that cannot be read",
                details={"file": file.name},
            ) from exc
        body = DistributionIn.model_validate_json(raw)
        run(
            lambda on: contribution.distribute(
                session=on.session,
                actor=on.actor,
                product=product,
                period=body.period,
                uses=[(u.query_id, u.revenue) for u in body.uses],
            ),
            who=token,
            as_json=as_json,
            render=_distribution,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/products/{product}/distributions", body.model_dump(mode="json")
            ),
        )


@shares_app.command("show")
def show(
    distribution_id: Annotated[int, typer.Argument(min=1, help="分配编号 / distribution id")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """一次收益分配及各资源份额 / a distribution and each resource's share."""
    from datacompact.value import contribution

    run(
        lambda on: contribution.get_distribution(
            session=on.session, actor=on.actor, distribution_id=distribution_id
        ),
        who=token,
        as_json=as_json,
        render=_one,
        remote=lambda api: api.data(f"/distributions/{distribution_id}"),
    )


@shares_app.command("recompute")
def recompute(
    distribution_id: Annotated[int, typer.Argument(min=1, help="分配编号 / distribution id")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """由日志中的输入重算分配 / recompute a distribution from its logged inputs."""
    from datacompact.value import contribution

    def render(found: Any, as_json: bool) -> None:
        shown(
            found.model_dump(mode="json")
            if as_json
            else {
                "distribution_id": found.distribution_id,
                "matches": found.matches,
                "first_mismatch": found.first_mismatch,
            },
            as_json,
        )
        if not found.matches:
            raise typer.Exit(1)

    run(
        lambda on: contribution.recompute(
            session=on.session, actor=on.actor, distribution_id=distribution_id
        ),
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data(f"/distributions/{distribution_id}/recompute"),
    )


@shares_app.command("earnings")
def earnings(
    participant_id: Annotated[int, typer.Argument(min=1, help="持有方编号 / holder id")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """持有方按资源的收益 / a holder's earnings per resource."""
    from datacompact.value import contribution

    def render(found: Any, as_json: bool) -> None:
        if as_json:
            shown(found.model_dump(mode="json"), True)
            return
        rows = [
            {
                "resource_id": r["resource_id"],
                "total": r["total"],
                "distributions": len(r["distributions"]),
            }
            for r in found.model_dump(mode="json")["resources"]
        ]
        listed("resource_id", "total", "distributions", title=f"收益合计 / total {found.total}")(
            rows, False
        )

    run(
        lambda on: contribution.holder_earnings(
            session=on.session, actor=on.actor, holder_id=participant_id
        ),
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data(f"/participants/{participant_id}/earnings"),
    )


def _scores(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs or []:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise MalformedInput(
                "评分格式为 维度=1..5 / expected --score DIMENSION=1..5",
                details={"option": "--score"},
            )
        out[name.strip()] = int(value)
    return out


ScoreOption = Annotated[
    list[str],
    typer.Option("--score", help="维度=分数 / DIMENSION=1..5, once per dimension"),
]
CommentOption = Annotated[str, typer.Option("--comment", help="评语 / comment")]


@ratings_app.command("data")
def rate_data(
    grant_id: Annotated[int, typer.Argument(min=1, help="授权编号 / grant id")],
    score: ScoreOption,
    comment: CommentOption = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """评价授权数据（准确、完整、及时、有用）/ rate the data of a grant that ended."""
    from datacompact.value import ratings
    from datacompact.value.schemas import DataRatingIn

    with handled(as_json):
        body = DataRatingIn.model_validate(
            {"grant_id": grant_id, "scores": _scores(score), "comment": comment}
        )
        run(
            lambda on: ratings.rate_data(
                session=on.session,
                actor=on.actor,
                grant_id=body.grant_id,
                scores=body.scores.model_dump(),
                comment=body.comment,
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change("POST", "/ratings/data", body.model_dump(mode="json")),
        )


@ratings_app.command("contractor")
def rate_contractor(
    contract_id: Annotated[int, typer.Argument(min=1, help="合同编号 / contract id")],
    score: ScoreOption,
    comment: CommentOption = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """评价承建方（质量、及时、运维响应）/ rate a contract's supplier."""
    from datacompact.value import ratings
    from datacompact.value.schemas import ContractorRatingIn

    with handled(as_json):
        body = ContractorRatingIn.model_validate(
            {"contract_id": contract_id, "scores": _scores(score), "comment": comment}
        )
        run(
            lambda on: ratings.rate_contractor(
                session=on.session,
                actor=on.actor,
                contract_id=body.contract_id,
                scores=body.scores.model_dump(),
                comment=body.comment,
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", "/ratings/contractor", body.model_dump(mode="json")
            ),
        )


RatingId = Annotated[int, typer.Argument(min=1, help="评价编号 / rating id")]


@ratings_app.command("revise")
def revise(
    rating_id: RatingId,
    score: ScoreOption,
    comment: CommentOption = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """修订评价（记入日志，保留历史）/ revise a rating; the history stays."""
    from datacompact.value import ratings
    from datacompact.value.schemas import RatingRevisionIn

    with handled(as_json):
        body = RatingRevisionIn.model_validate({"scores": _scores(score), "comment": comment})
        run(
            lambda on: ratings.revise_rating(
                session=on.session,
                actor=on.actor,
                rating_id=rating_id,
                scores=body.scores,
                comment=body.comment,
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/ratings/{rating_id}/revisions", body.model_dump(mode="json")
            ),
        )


@ratings_app.command("answer")
def answer(
    rating_id: RatingId,
    text: Annotated[str, typer.Option("--text", help="答复 / the answer")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """被评价方答复评价 / answer a rating of your participant."""
    from datacompact.value import ratings
    from datacompact.value.schemas import ReplyIn

    with handled(as_json):
        body = ReplyIn.model_validate({"text": text})
        run(
            lambda on: ratings.answer_rating(
                session=on.session, actor=on.actor, rating_id=rating_id, text=body.text
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/ratings/{rating_id}/replies", body.model_dump(mode="json")
            ),
        )


@ratings_app.command("show")
def show_rating(rating_id: RatingId, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """一条评价、修订历史与答复 / a rating with its history and answers."""
    from datacompact.value import ratings

    run(
        lambda on: ratings.get_rating(session=on.session, actor=on.actor, rating_id=rating_id),
        who=token,
        as_json=as_json,
        render=_one,
        remote=lambda api: api.data(f"/ratings/{rating_id}"),
    )


@ratings_app.command("summary")
def summary(
    resource: Annotated[
        int | None, typer.Option("--resource", min=1, help="资源编号 / resource id")
    ] = None,
    participant: Annotated[
        int | None, typer.Option("--participant", min=1, help="参与方编号 / participant id")
    ] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """资源或承建方的评价汇总（均分与条数）/ mean scores and count of a resource or contractor."""
    from datacompact.value import ratings

    with handled(as_json):
        if (resource is None) == (participant is None):
            raise MalformedInput(
                "须且只能给出 --resource 或 --participant / expected one of --resource, --participant",
                details={"option": "--resource"},
            )

        def local(on: Any) -> Any:
            if resource is not None:
                return ratings.resource_rating(
                    session=on.session, actor=on.actor, resource_id=resource
                )
            return ratings.participant_rating(
                session=on.session, actor=on.actor, participant_id=participant or 0
            )

        path = (
            f"/resources/{resource}/rating"
            if resource is not None
            else f"/participants/{participant}/rating"
        )
        run(local, who=token, as_json=as_json, render=_one, remote=lambda api: api.data(path))

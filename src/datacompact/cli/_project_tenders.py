"""``datacompact projects tender|tender-show|bid|open|score|award`` (thin).

Registered on ``projects_app`` by :mod:`datacompact.cli._projects`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, recorded, shown
from datacompact.cli._project_io import Id, json_option
from datacompact.cli._remote import ApiClient


def tender(
    lot_id: Id,
    method: Annotated[str, typer.Option(help="lowest_price 或 comprehensive")],
    opens_at: Annotated[datetime, typer.Option(help="开始时间（UTC）/ opens at, UTC")],
    deadline: Annotated[datetime, typer.Option(help="截止时间（UTC）/ deadline, UTC")],
    committee: Annotated[
        list[int], typer.Option("--member", help="评委成员编号 / committee member id")
    ],
    token: TokenOption = None,
    weights: Annotated[
        str | None, typer.Option(help='权重 JSON / weights, e.g. {"price": 30, "technical": 70}')
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """发布招标 / tender a lot."""
    from datetime import UTC

    from datacompact.procurement import tenders
    from datacompact.procurement.schemas import TenderCreate

    def aware(moment: datetime) -> str:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()

    def body() -> dict[str, Any]:
        return {
            "method": method,
            "weights": json_option(weights, "weights"),
            "opens_at": aware(opens_at),
            "deadline": aware(deadline),
            "committee": committee,
        }

    def action(on: Acting) -> Any:
        data = TenderCreate.model_validate(body())
        return tenders.publish_tender(session=on.session, actor=on.actor, lot_id=lot_id, data=data)

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/lots/{lot_id}/tender", body())

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


def tender_show(tender_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """招标详情 / show a tender."""
    from datacompact.procurement import tenders

    def action(on: Acting) -> Any:
        return tenders.get_tender(
            session=on.session, actor=on.actor, tender_id=tender_id
        ).model_dump(mode="json")

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/tenders/{tender_id}"),
    )


def bid(
    tender_id: Id,
    file: Annotated[
        Path, typer.Option("--file", exists=True, dir_okay=False, help="投标文件 / bid document")
    ],
    price: Annotated[str, typer.Option(help="报价（元）/ price in CNY")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """投标：文件哈希后加密密封 / submit a bid; the document is hashed and sealed."""
    from datacompact.procurement import tenders

    def action(on: Acting) -> Any:
        return tenders.submit_bid(
            session=on.session,
            actor=on.actor,
            secret=on.platform.secret,
            tender_id=tender_id,
            price=price,
            document=file.read_bytes(),
        )

    def remote(api: ApiClient) -> Any:
        import base64

        document = base64.b64encode(file.read_bytes()).decode("ascii")
        return api.change(
            "POST", f"/tenders/{tender_id}/bids", {"price": price, "document": document}
        )

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


def open_(tender_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """开标（截止后）/ open the bids, at or after the deadline."""
    from datacompact.procurement import tenders

    def action(on: Acting) -> Any:
        return tenders.open_bids(
            session=on.session, actor=on.actor, secret=on.platform.secret, tender_id=tender_id
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/tenders/{tender_id}/opening")

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


def score(
    bid_id: Id,
    token: TokenOption = None,
    technical: Annotated[str | None, typer.Option(help="技术分 0–100")] = None,
    qualification: Annotated[str | None, typer.Option(help="资质分 0–100")] = None,
    past_performance: Annotated[str | None, typer.Option(help="业绩分 0–100")] = None,
    sme_local: Annotated[str | None, typer.Option(help="中小企业/本地分 0–100")] = None,
    as_json: JsonFlag = False,
) -> None:
    """评委评分 / a committee member scores a bid."""
    from datacompact.procurement import tenders
    from datacompact.procurement.schemas import ScoreIn

    def action(on: Acting) -> Any:
        data = ScoreIn(
            technical=technical,
            qualification=qualification,
            past_performance=past_performance,
            sme_local=sme_local,
        )
        return tenders.score_bid(session=on.session, actor=on.actor, bid_id=bid_id, data=data)

    def remote(api: ApiClient) -> Any:
        scores = {
            "technical": technical,
            "qualification": qualification,
            "past_performance": past_performance,
            "sme_local": sme_local,
        }
        body = {k: v for k, v in scores.items() if v is not None}
        return api.change("POST", f"/bids/{bid_id}/scores", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


def award(
    tender_id: Id,
    token: TokenOption = None,
    bid: Annotated[
        int | None, typer.Option("--bid", min=1, help="授予排名靠后的投标 / a lower-ranked bid")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """定标：授予排名第一的投标 / award the lot to the first-ranked bid."""
    from datacompact.procurement import tenders

    def action(on: Acting) -> Any:
        return tenders.award_tender(
            session=on.session, actor=on.actor, tender_id=tender_id, bid_id=bid
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/tenders/{tender_id}/award", {"bid_id": bid})

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)

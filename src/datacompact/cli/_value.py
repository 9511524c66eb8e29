"""``datacompact prices`` and ``datacompact billing``: the price list, statements, revenue.

Each command parses its options, calls one service of :mod:`datacompact.value`
(here or, remotely, the matching route) and renders the answer. The price
list is public: ``prices list`` and ``prices show`` need no token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from datacompact.cli._context import ANONYMOUS, TokenOption, run
from datacompact.cli._output import JsonFlag, emit, handled, recorded

if TYPE_CHECKING:
    from datacompact.cli._remote import ApiClient

prices_app = typer.Typer(
    help="产品和服务清单与收费标准 / the product and service list and its prices",
    no_args_is_help=True,
)
billing_app = typer.Typer(
    help="计量、账单、最高准许收入与年度报告 / metering, statements, permitted revenue, "
    "annual reports",
    no_args_is_help=True,
)

ItemId = Annotated[int, typer.Argument(min=1, help="收费项目编号 / price item id")]
GrantId = Annotated[int, typer.Argument(min=1, help="授权编号 / grant id")]
OperatorId = Annotated[int, typer.Argument(min=1, help="运营机构编号 / operator's participant id")]
Year = Annotated[int, typer.Argument(min=2000, max=2999, help="年度 / year")]
PeriodOption = Annotated[str, typer.Option("--period", help="账期 / month, YYYY-MM")]
ITEM_COLUMNS = (
    "id",
    "operator_name",
    "code",
    "kind",
    "form",
    "unit",
    "version",
    "ceiling",
    "price",
)


def _json(found: Any) -> Any:
    """A service's model (or the API's object) as JSON data, lists item by item."""
    if isinstance(found, list):
        return [_json(item) for item in found]
    return found.model_dump(mode="json")


def _shown(found: Any, as_json: bool) -> None:
    emit(_json(found), as_json=as_json)


def _listed(*columns: str) -> Any:
    return lambda rows, as_json: emit(_json(rows), as_json=as_json, columns=columns)


def _public(path: str) -> Any:
    return lambda api: api.public(path)["data"]


@prices_app.command("list")
def list_prices(
    operator: Annotated[
        int | None, typer.Option("--operator", min=1, help="只看该运营机构 / one operator only")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """公示的收费标准 / the published price list (no token needed)."""
    from datacompact.value import prices

    query = "" if operator is None else f"?operator_id={operator}"
    run(
        lambda on: prices.price_list(session=on.session, actor=on.actor, operator_id=operator),
        who=ANONYMOUS,
        as_json=as_json,
        render=_listed(*ITEM_COLUMNS),
        remote=_public(f"/public/prices{query}"),
    )


@prices_app.command("show")
def show_price(item_id: ItemId, as_json: JsonFlag = False) -> None:
    """收费项目及其历次版本 / an item and every version it has had."""
    from datacompact.value import prices

    run(
        lambda on: prices.get_item(session=on.session, actor=on.actor, item_id=item_id),
        who=ANONYMOUS,
        as_json=as_json,
        render=_shown,
        remote=_public(f"/public/prices/{item_id}"),
    )


@prices_app.command("add")
def add_item(
    code: Annotated[str, typer.Option("--code", help="项目编码 / item code, a-z 0-9 _ . -")],
    title: Annotated[str, typer.Option("--title", help="名称 / title")],
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="query_service | extract | psi_service | derived_dataset | api"
        ),
    ],
    form: Annotated[
        str,
        typer.Option(
            "--form",
            help="收费方式 / product_quantity | service_count | service_time | call_volume",
        ),
    ],
    unit: Annotated[
        str,
        typer.Option(
            "--unit",
            help="计量单位 / copy, row, thousand_rows, service, hour, minute, call, thousand_calls",
        ),
    ],
    resource: Annotated[
        int | None, typer.Option("--resource", min=1, help="数据资源编号 / resource id")
    ] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """登记产品或服务（在核定上限前免费）/ list a product or service, free until a ceiling is set."""
    from datacompact.value import prices
    from datacompact.value.schemas import PriceItemCreate

    with handled(as_json):
        data = PriceItemCreate.model_validate(
            {
                "code": code,
                "title": title,
                "kind": kind,
                "form": form,
                "unit": unit,
                "resource_id": resource,
            }
        )
        run(
            lambda on: prices.list_item(session=on.session, actor=on.actor, data=data),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change("POST", "/prices", data.model_dump(mode="json")),
        )


def _change(
    item_id: int, value: str, reason: str, which: str, token: str | None, as_json: bool
) -> None:
    from datacompact.value import prices
    from datacompact.value.schemas import PriceChange

    change = PriceChange(value=value, reason=reason)
    service = prices.set_ceiling if which == "ceiling" else prices.set_price
    run(
        lambda on: service(session=on.session, actor=on.actor, item_id=item_id, change=change),
        who=token,
        as_json=as_json,
        render=recorded,
        transaction="write",
        remote=lambda api: api.change(
            "POST", f"/prices/{item_id}/{which}", {"value": value, "reason": reason}
        ),
    )


ValueArgument = Annotated[str, typer.Argument(help="元，十进制 / yuan, decimal text such as 12.50")]
ReasonOption = Annotated[str, typer.Option("--reason", help="理由 / reason")]


@prices_app.command("ceiling")
def set_ceiling(
    item_id: ItemId,
    value: ValueArgument,
    reason: ReasonOption = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """制定上限收费标准（监管方）/ set an item's ceiling price, as the authorizing body."""
    _change(item_id, value, reason, "ceiling", token, as_json)


@prices_app.command("set")
def set_price(
    item_id: ItemId,
    value: ValueArgument,
    reason: ReasonOption = "",
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """确定具体收费标准（不高于上限）/ set your item's price, at or below its ceiling."""
    _change(item_id, value, reason, "price", token, as_json)


@billing_app.command("classify")
def classify(
    grant_id: GrantId,
    purpose_class: Annotated[str, typer.Option("--class", help="public_interest | commercial")],
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """认定授权用途为公益或经营 / class a grant's use as public-interest or commercial."""
    from datacompact.value import charging
    from datacompact.value.schemas import PurposeClassIn

    with handled(as_json):
        data = PurposeClassIn.model_validate({"purpose_class": purpose_class, "reason": reason})
        run(
            lambda on: charging.assign_purpose_class(
                session=on.session, actor=on.actor, grant_id=grant_id, data=data
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/grants/{grant_id}/purpose-class", data.model_dump(mode="json")
            ),
        )


@billing_app.command("misuse")
def misuse(
    grant_id: GrantId,
    reason: Annotated[str, typer.Option("--reason", help="理由 / reason")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """登记公益授权下的经营使用 / report a commercial use under a public-interest grant."""
    from datacompact.value import charging
    from datacompact.value.schemas import MisuseIn

    with handled(as_json):
        data = MisuseIn(reason=reason)
        run(
            lambda on: charging.report_misuse(
                session=on.session, actor=on.actor, grant_id=grant_id, data=data
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/grants/{grant_id}/misuse", data.model_dump(mode="json")
            ),
        )


@billing_app.command("usage")
def usage(
    item: Annotated[int, typer.Option("--item", min=1, help="收费项目编号 / item id")],
    grant: Annotated[int, typer.Option("--grant", min=1, help="授权编号 / grant id")],
    quantity: Annotated[
        str, typer.Option("--quantity", help="用量，按项目单位 / in the item's unit")
    ],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """计量一次使用（隐私求交、接口调用、连接时长）/ meter a PSI run, API calls or time."""
    from datacompact.value import metering
    from datacompact.value.schemas import UsageIn

    with handled(as_json):
        data = UsageIn(item_id=item, grant_id=grant, quantity=quantity)
        run(
            lambda on: metering.record_usage(session=on.session, actor=on.actor, data=data),
            who=token,
            as_json=as_json,
            render=lambda result, as_json: emit(result.value, as_json=as_json),
            transaction="write",
            remote=lambda api: api.change("POST", "/billing/usage", data.model_dump(mode="json")),
        )


@billing_app.command("issue")
def issue(period: PeriodOption, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """出具本方一个已结束月份的账单 / issue your statement of a month that has ended."""
    from datacompact.value import statements

    run(
        lambda on: statements.issue_statement(session=on.session, actor=on.actor, period=period),
        who=token,
        as_json=as_json,
        render=recorded,
        transaction="write",
        remote=lambda api: api.change("POST", "/billing/statements", {"period": period}),
    )


@billing_app.command("statement")
def statement(
    operator_id: OperatorId,
    period: Annotated[str, typer.Argument(help="账期 / month, YYYY-MM")],
    user: Annotated[
        int | None, typer.Option("--user", min=1, help="只看该用户 / one user's lines")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="输出 CSV / print CSV")] = False,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """月度账单（用户只见本方明细）/ a month's statement; a user sees its own lines."""
    from datacompact.value import statements

    def local(on: Any) -> Any:
        found = statements.get_statement(
            session=on.session, actor=on.actor, operator_id=operator_id, period=period, user_id=user
        )
        return statements.statement_csv(found) if csv else found

    def remote(api: ApiClient) -> Any:
        path = f"/billing/statements/{operator_id}/{period}"
        params = {"user_id": user, "format": "csv" if csv else "json"}
        if csv:
            return api.download(path, **params)[0].decode()
        return api.data(path, **params)

    def render(found: Any, as_json: bool) -> None:
        if isinstance(found, str):
            typer.echo(found, nl=False)
        else:
            _shown(found, as_json)

    run(local, who=token, as_json=as_json, render=render, remote=remote)


@billing_app.command("cap")
def cap(
    operator_id: OperatorId,
    year: Annotated[int, typer.Option("--year", min=2000, max=2999, help="年度 / year")],
    maximum: Annotated[str, typer.Option("--maximum", help="最高准许收入（元）/ in yuan")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """核定最高准许收入（扣减上年超收）/ set the maximum permitted revenue, less last year's excess."""
    from datacompact.value import revenue
    from datacompact.value.schemas import RevenueCapIn

    with handled(as_json):
        data = RevenueCapIn(year=year, maximum=maximum)
        run(
            lambda on: revenue.set_revenue_cap(
                session=on.session, actor=on.actor, operator_id=operator_id, data=data
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/billing/caps/{operator_id}", {"year": year, "maximum": maximum}
            ),
        )


@billing_app.command("revenue")
def revenue_status(
    operator_id: OperatorId, year: Year, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """收入与最高准许收入及预警 / revenue against the permitted revenue, with the alert."""
    from datacompact.value import revenue

    run(
        lambda on: revenue.revenue_status(
            session=on.session, actor=on.actor, operator_id=operator_id, year=year
        ),
        who=token,
        as_json=as_json,
        render=_shown,
        remote=lambda api: api.data(f"/billing/revenue/{operator_id}/{year}"),
    )


@billing_app.command("report")
def report(
    operator_id: OperatorId, year: Year, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """年度经营情况报告 / an operator's annual operating report."""
    from datacompact.value import revenue

    run(
        lambda on: revenue.annual_report(
            session=on.session, actor=on.actor, operator_id=operator_id, year=year
        ),
        who=token,
        as_json=as_json,
        render=_shown,
        remote=lambda api: api.data(f"/billing/reports/{operator_id}/{year}"),
    )


@billing_app.command("file-report")
def file_report(year: Year, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """报送本方年度经营情况报告 / file your annual operating report (its digest is logged)."""
    from datacompact.value import revenue

    run(
        lambda on: revenue.file_annual_report(session=on.session, actor=on.actor, year=year),
        who=token,
        as_json=as_json,
        render=recorded,
        transaction="write",
        remote=lambda api: api.change("POST", f"/billing/reports/{year}"),
    )

"""``datacompact projects ...``: projects, modes, meetings, lots, tenders, bids, awards (thin)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datacompact.cli import _project_tenders
from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, console, emit, listed, recorded, shown
from datacompact.cli._project_io import PROJECT_COLUMNS, Id
from datacompact.cli._remote import ApiClient

projects_app = typer.Typer(
    help="政企合作项目：标段、招标、投标、评标、定标 / cooperation projects and procurement",
    no_args_is_help=True,
)


@projects_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="项目名称 / project name")],
    domain: Annotated[str, typer.Option(help="领域 / domain, e.g. health")],
    sponsor: Annotated[int, typer.Option(min=1, help="业务主管部门 / sponsoring department id")],
    technical: Annotated[int, typer.Option(min=1, help="技术部门 / technical department id")],
    budget: Annotated[str, typer.Option(help="预算（元）/ budget in CNY, e.g. 1200000.00")],
    mode: Annotated[
        str, typer.Option(help="合作模式 / government_purchase, ppp, franchise, jv_platform")
    ],
    token: TokenOption = None,
    description: Annotated[str, typer.Option(help="描述 / description")] = "",
    classified: Annotated[bool, typer.Option(help="涉密 / classified work")] = False,
    resource: Annotated[
        list[int] | None, typer.Option("--resource", help="数据资源 / resource id")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """创建合作项目并提出合作模式 / create a project and propose its cooperation mode."""
    from datacompact.procurement import projects
    from datacompact.procurement.schemas import ProjectCreate

    body = {
        "name": name,
        "description": description,
        "domain": domain,
        "sponsor_id": sponsor,
        "technical_id": technical,
        "budget": budget,
        "classified": classified,
        "mode": mode,
        "resource_ids": resource or [],
    }

    def action(on: Acting) -> Any:
        data = ProjectCreate.model_validate(body)
        return projects.create_project(session=on.session, actor=on.actor, data=data)

    def remote(api: ApiClient) -> Any:
        return api.change("POST", "/projects", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("list")
def list_projects(token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """合作项目列表 / list cooperation projects."""
    from datacompact.procurement import projects

    def action(on: Acting) -> Any:
        rows = projects.list_projects(session=on.session, actor=on.actor)
        return [p.model_dump(mode="json") for p in rows]

    run(
        action,
        who=token,
        as_json=as_json,
        render=listed(*PROJECT_COLUMNS),
        remote=lambda api: api.data("/projects"),
    )


@projects_app.command("show")
def show(project_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """项目详情 / show a project."""
    from datacompact.procurement import projects

    def action(on: Acting) -> Any:
        found = projects.get_project(session=on.session, actor=on.actor, project_id=project_id)
        return found.model_dump(mode="json")

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/projects/{project_id}"),
    )


@projects_app.command("link")
def link(
    project_id: Id,
    resource: Annotated[list[int], typer.Option("--resource", help="数据资源 / resource id")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """关联数据资源，项目继承其最高分级 / link resources; the project inherits the highest grade."""
    from datacompact.procurement import projects

    def action(on: Acting) -> Any:
        return projects.link_resources(
            session=on.session, actor=on.actor, project_id=project_id, resource_ids=resource
        )

    def remote(api: ApiClient) -> Any:
        body = {"resource_ids": resource}
        return api.change("POST", f"/projects/{project_id}/resources", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("propose-mode")
def propose_mode(
    project_id: Id,
    mode: Annotated[str, typer.Option(help="合作模式 / cooperation mode")],
    reason: Annotated[str, typer.Option(help="理由 / reason")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """业主重新提出合作模式 / the owner proposes another mode."""
    from datacompact.procurement import projects
    from datacompact.procurement.schemas import ModeProposalIn

    body = {"mode": mode, "reason": reason}

    def action(on: Acting) -> Any:
        data = ModeProposalIn.model_validate(body)
        return projects.propose_mode(
            session=on.session,
            actor=on.actor,
            project_id=project_id,
            mode=data.mode.value,
            reason=data.reason,
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/projects/{project_id}/mode", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("decide-mode")
def decide_mode(
    project_id: Id,
    decision: Annotated[str, typer.Option(help="approve 或 reject")],
    reason: Annotated[str, typer.Option(help="理由 / reason")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """审批合作模式（监管方）/ approve or reject the mode (the regulator)."""
    from datacompact.procurement import projects
    from datacompact.procurement.schemas import ModeDecisionIn

    body = {"decision": decision, "reason": reason}

    def action(on: Acting) -> Any:
        data = ModeDecisionIn.model_validate(body)
        return projects.decide_mode(
            session=on.session,
            actor=on.actor,
            project_id=project_id,
            decision=data.decision,
            reason=data.reason,
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/projects/{project_id}/mode-decisions", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("meeting")
def meeting(
    project_id: Id,
    held_on: Annotated[str, typer.Option(help="会议日期 / date, YYYY-MM-DD")],
    attendee: Annotated[list[int], typer.Option("--attendee", help="与会方 / participant id")],
    decision: Annotated[list[str], typer.Option("--decision", help="决议 / a decision")],
    token: TokenOption = None,
    minutes_sha256: Annotated[str | None, typer.Option(help="纪要哈希 / minutes SHA-256")] = None,
    as_json: JsonFlag = False,
) -> None:
    """记录联席会议及其决议 / record a joint meeting and its decisions."""
    from datacompact.procurement import projects
    from datacompact.procurement.schemas import MeetingCreate

    body = {
        "held_on": held_on,
        "attendees": attendee,
        "decisions": decision,
        "minutes_sha256": minutes_sha256,
    }

    def action(on: Acting) -> Any:
        data = MeetingCreate.model_validate(body)
        return projects.record_meeting(
            session=on.session, actor=on.actor, project_id=project_id, data=data
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/projects/{project_id}/meetings", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("lot")
def lot(
    project_id: Id,
    title: Annotated[str, typer.Option(help="标段名称 / lot title")],
    category: Annotated[
        str,
        typer.Option(
            help="类别 / module_development, integration, data_services, operations, security_assessment"
        ),
    ],
    system: Annotated[str, typer.Option(help="所属系统 / the system it builds or runs")],
    budget: Annotated[str, typer.Option(help="预算（元）/ budget in CNY")],
    token: TokenOption = None,
    description: Annotated[str, typer.Option(help="描述 / description")] = "",
    requirement: Annotated[
        list[str] | None, typer.Option("--requirement", help="资质要求 / NAME=MIN_LEVEL")
    ] = None,
    open_source: Annotated[bool, typer.Option(help="开源交付 / open-source delivery")] = False,
    code_escrow: Annotated[bool, typer.Option(help="代码托管 / code in escrow")] = False,
    successor_of: Annotated[
        int | None, typer.Option(min=1, help="接续的标段 / preceding lot")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """新增标段 / add a lot to a project."""
    from datacompact.procurement import lots
    from datacompact.procurement.schemas import LotCreate

    requirements = []
    for item in requirement or []:
        name, _, level = item.rpartition("=")
        requirements.append({"name": name, "min_level": level})

    body = {
        "title": title,
        "description": description,
        "category": category,
        "system": system,
        "budget": budget,
        "requirements": requirements,
        "open_source": open_source,
        "code_escrow": code_escrow,
        "successor_of": successor_of,
    }

    def action(on: Acting) -> Any:
        data = LotCreate.model_validate(body)
        return lots.create_lot(session=on.session, actor=on.actor, project_id=project_id, data=data)

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/projects/{project_id}/lots", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("lot-show")
def lot_show(lot_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """标段详情 / show a lot."""
    from datacompact.procurement import lots

    def action(on: Acting) -> Any:
        return lots.get_lot(session=on.session, actor=on.actor, lot_id=lot_id).model_dump(
            mode="json"
        )

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/lots/{lot_id}"),
    )


@projects_app.command("match")
def match(lot_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """任务匹配：为标段推荐企业 / rank enterprises for a lot, with reasons."""
    from datacompact.procurement import lots

    def action(on: Acting) -> Any:
        return lots.match_lot(session=on.session, actor=on.actor, lot_id=lot_id).model_dump(
            mode="json"
        )

    def render(ranking: dict[str, Any], as_json: bool) -> None:
        if as_json:
            emit(ranking, as_json=True)
            return
        if ranking["matches"]:
            emit(
                ranking["matches"],
                as_json=False,
                columns=("participant_id", "name", "score", "reasons"),
            )
        else:
            console.print(
                f"没有匹配 / no match: {ranking['empty_reason']}", highlight=False, soft_wrap=True
            )
        if ranking["excluded"]:
            console.print(
                f"排除 / excluded: {len(ranking['excluded'])} "
                f"({', '.join(e['name'] for e in ranking['excluded'])}); --json for reasons",
                highlight=False,
                soft_wrap=True,
            )

    run(
        action,
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data(f"/lots/{lot_id}/matches"),
    )


@projects_app.command("cancel-lot")
def cancel_lot(
    lot_id: Id,
    reason: Annotated[str, typer.Option(help="理由 / reason")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """取消未授予的标段（投标不开启）/ cancel a lot not yet awarded; its bids stay sealed."""
    from datacompact.procurement import lots
    from datacompact.procurement.schemas import LotCancelIn

    def action(on: Acting) -> Any:
        data = LotCancelIn(reason=reason)
        return lots.cancel_lot(
            session=on.session, actor=on.actor, lot_id=lot_id, reason=data.reason
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/lots/{lot_id}/cancellation", {"reason": reason})

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@projects_app.command("exception")
def exception(
    lot_id: Id,
    supplier: Annotated[int, typer.Option(min=1, help="供应商 / supplier participant id")],
    reason: Annotated[str, typer.Option(help="理由 / reason")],
    token: TokenOption = None,
    rule: Annotated[str, typer.Option(help="规则 / rule")] = "separation.dev_ops",
    as_json: JsonFlag = False,
) -> None:
    """监管方批准规则例外 / the regulator grants a rule exception."""
    from datacompact.procurement import lots
    from datacompact.procurement.schemas import ExceptionCreate

    body = {"supplier_id": supplier, "rule": rule, "reason": reason}

    def action(on: Acting) -> Any:
        data = ExceptionCreate.model_validate(body)
        return lots.grant_exception(
            session=on.session,
            actor=on.actor,
            lot_id=lot_id,
            supplier_id=data.supplier_id,
            rule=data.rule,
            reason=data.reason,
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/lots/{lot_id}/exceptions", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


projects_app.command("tender")(_project_tenders.tender)
projects_app.command("tender-show")(_project_tenders.tender_show)
projects_app.command("bid")(_project_tenders.bid)
projects_app.command("open")(_project_tenders.open_)
projects_app.command("score")(_project_tenders.score)
projects_app.command("award")(_project_tenders.award)

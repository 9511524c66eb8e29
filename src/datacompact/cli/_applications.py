"""``datacompact applications ...`` and ``datacompact inbox`` (thin).

An application's content comes from a JSON file (``--file``, the body of
``POST /api/v1/applications``) or, for one resource, from options; an
amendment takes only what changes, with a note for the reviewers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, emit, recorded, shown
from datacompact.cli._remote import ApiClient
from datacompact.errors import InvalidInput

applications_app = typer.Typer(
    help="数据使用申请：提交、审核、修改、撤回 / data-use applications: apply, decide, amend, withdraw",
    no_args_is_help=True,
)

Id = Annotated[int, typer.Argument(min=1, help="申请编号 / application id")]
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        dir_okay=False,
        help="申请内容 JSON（同 API 请求体）/ the application as JSON, the API's body",
    ),
]
ScenarioOption = Annotated[str | None, typer.Option(help="使用场景 / the scenario")]
PurposeOption = Annotated[
    str | None, typer.Option(help="用途（受控词表）/ purpose, e.g. credit_assessment")
]
PurposeTextOption = Annotated[str | None, typer.Option(help="用途说明 / purpose in words")]
ResourceOption = Annotated[
    int | None, typer.Option("--resource", min=1, help="数据资源编号 / resource id")
]
ColumnsOption = Annotated[
    str | None, typer.Option(help="所需列，逗号分隔 / columns wanted, comma-separated")
]
ModeOption = Annotated[
    str | None,
    typer.Option(help="输出方式 / records, masked_records, k_anonymous, aggregates, dp_aggregates"),
]
KOption = Annotated[int | None, typer.Option("--k", min=2, help="k-匿名的 k / k of k_anonymous")]
GroupOption = Annotated[
    int | None, typer.Option(min=1, help="最小分组人数 / minimum group size of aggregates")
]
DaysOption = Annotated[
    int | None, typer.Option(min=1, max=365, help="期限（天）/ duration in days")
]
QueriesOption = Annotated[
    int | None, typer.Option(min=1, help="预计查询次数 / expected number of queries")
]
EpsilonOption = Annotated[
    float | None, typer.Option(min=0.0, help="差分隐私预算 ε / ε budget of dp_aggregates")
]

LIST_COLUMNS = ("id", "applicant_id", "status", "revision", "purpose", "awaiting", "scenario")


def _read_file(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            f"无法读取申请文件 / cannot read the application file: {exc.strerror}",
            details={"option": "--file"},
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput(
            "申请文件须为 UTF-8 JSON / expected the application file as UTF-8 JSON",
            details={"option": "--file"},
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput(
            "申请文件须为 JSON 对象 / expected a JSON object in the application file",
            details={"option": "--file"},
        )
    return data


def _from_options(
    *,
    file: Path | None,
    scenario: str | None,
    purpose: str | None,
    purpose_text: str | None,
    resource: int | None,
    columns: str | None,
    mode: str | None,
    k: int | None,
    min_group_size: int | None,
    duration_days: int | None,
    expected_queries: int | None,
    epsilon: float | None,
    parts: list[str] | None = None,
    joint: bool = False,
) -> dict[str, Any]:
    """The body the options give: the file's, with each option given on top of it."""
    body = _read_file(file) if file is not None else {}
    if parts:
        if resource is not None:
            raise InvalidInput(
                "--part 与 --resource 不能同用 / expected either --part (repeated) or --resource",
                details={"option": "--part"},
            )
        body["resources"] = [_part(text) for text in parts]
    if joint:
        body["joint"] = True
    plain = {
        "scenario": scenario,
        "purpose": purpose,
        "purpose_text": purpose_text,
        "duration_days": duration_days,
        "expected_queries": expected_queries,
        "epsilon": epsilon,
    }
    body |= {name: value for name, value in plain.items() if value is not None}
    if (resource is None) != (columns is None):
        raise InvalidInput(
            "--resource 与 --columns 须同时给出 / expected --resource and --columns together",
            details={"option": "--columns" if columns is None else "--resource"},
        )
    if resource is not None and columns is not None:
        names = [c.strip() for c in columns.split(",") if c.strip()]
        body["resources"] = [{"resource_id": resource, "columns": names}]
    if mode is not None:
        body["output"] = {"mode": mode}
    if k is not None or min_group_size is not None:
        if "output" not in body:
            raise InvalidInput(
                "--k 与 --min-group-size 须与 --mode 同用 / expected --mode with --k or "
                "--min-group-size",
                details={"option": "--mode"},
            )
        if k is not None:
            body["output"]["k"] = k
        if min_group_size is not None:
            body["output"]["min_group_size"] = min_group_size
    return body


def _part(text: str) -> dict[str, Any]:
    """One ``--part``: ``RESOURCE:COLUMN,COLUMN[:MODE]``, a resource of a joint application.

    >>> _part("3:身份证号,区县:aggregates")
    {'resource_id': 3, 'columns': ['身份证号', '区县'], 'output': {'mode': 'aggregates'}}
    """
    pieces = text.split(":")
    if len(pieces) not in (2, 3) or not pieces[0].strip().isdigit():
        raise InvalidInput(
            "--part 格式为 资源编号:列,列[:输出方式] / expected --part RESOURCE:COLUMN,COLUMN[:MODE]",
            details={"option": "--part"},
        )
    found: dict[str, Any] = {
        "resource_id": int(pieces[0]),
        "columns": [c.strip() for c in pieces[1].split(",") if c.strip()],
    }
    if len(pieces) == 3:
        found["output"] = {"mode": pieces[2].strip()}
    return found


def _table(rows: list[dict[str, Any]], as_json: bool) -> None:
    """Applications as a table: whose turn it is as ``party:participant``, the scenario's first line."""
    if as_json:
        emit(rows, as_json=True)
        return
    shaped = [
        {
            **row,
            "awaiting": "; ".join(
                f"{t['party']}:{','.join(str(p) for p in t['participants'])}"
                for t in row["awaiting"]
            ),
            "scenario": (row["scenario"].splitlines() or [""])[0],
        }
        for row in rows
    ]
    emit(shaped, as_json=False, columns=LIST_COLUMNS)


@applications_app.command("list")
def list_applications(
    token: TokenOption = None,
    awaiting_me: Annotated[
        bool, typer.Option("--awaiting-me", help="只列轮到本人处理的 / only those awaiting you")
    ] = False,
    state: Annotated[
        str | None,
        typer.Option(
            help="状态 / pending, changes_requested, approved, rejected or withdrawn",
        ),
    ] = None,
    applicant: Annotated[int | None, typer.Option(min=1, help="申请方编号 / applicant id")] = None,
    resource: ResourceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="每页条数 / page size")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="跳过条数 / rows to skip")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """本人可见的申请，或轮到本人处理的 / applications you may see, or those awaiting you."""
    from datacompact.policy import applications

    def action(on: Acting) -> list[dict[str, Any]]:
        rows = applications.list_applications(
            session=on.session,
            actor=on.actor,
            awaiting_me=awaiting_me,
            state=state,
            applicant=applicant,
            resource=resource,
            limit=limit,
            offset=offset,
        )
        return [r.model_dump(mode="json") for r in rows]

    def remote(api: ApiClient) -> Any:
        return api.data(
            "/applications",
            awaiting="me" if awaiting_me else None,
            state=state,
            applicant=applicant,
            resource=resource,
            limit=limit,
            offset=offset,
        )

    run(action, who=token, as_json=as_json, render=_table, remote=remote)


@applications_app.command("show")
def show(application_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """申请详情：当前修订、审核进度、轮到谁 / an application, its reviews and whose turn it is."""
    from datacompact.policy import applications

    run(
        lambda on: applications.get_application(
            session=on.session, actor=on.actor, application_id=application_id
        ).model_dump(mode="json"),
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/applications/{application_id}"),
    )


@applications_app.command("revisions")
def revisions(application_id: Id, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """申请的历次修订 / the earlier revisions of an application, as each stood."""
    from datacompact.policy import applications

    run(
        lambda on: [
            r.model_dump(mode="json")
            for r in applications.list_revisions(
                session=on.session, actor=on.actor, application_id=application_id
            )
        ],
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/applications/{application_id}/revisions"),
    )


@applications_app.command("apply")
def apply(
    token: TokenOption = None,
    file: FileOption = None,
    scenario: ScenarioOption = None,
    purpose: PurposeOption = None,
    purpose_text: PurposeTextOption = None,
    resource: ResourceOption = None,
    columns: ColumnsOption = None,
    mode: ModeOption = None,
    k: KOption = None,
    min_group_size: GroupOption = None,
    duration_days: DaysOption = None,
    expected_queries: QueriesOption = None,
    epsilon: EpsilonOption = None,
    part: Annotated[
        list[str] | None,
        typer.Option(
            "--part",
            help="联合申请的资源 资源编号:列,列[:输出方式]，可重复 / a resource of a joint "
            "application, RESOURCE:COLUMN,COLUMN[:MODE], repeatable",
        ),
    ] = None,
    joint: Annotated[
        bool,
        typer.Option(
            "--joint",
            help="多持有方联合授权：一个授权覆盖全部资源，查询可连接 / one joint grant over "
            "every resource, whose queries may join them",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """提交一场景一申请 / apply to use data for one scenario (--file, or options for one resource)."""
    from datacompact.policy import applications
    from datacompact.policy.schemas import ApplicationCreate

    def options() -> dict[str, Any]:
        return _from_options(
            file=file,
            scenario=scenario,
            purpose=purpose,
            purpose_text=purpose_text,
            resource=resource,
            columns=columns,
            mode=mode,
            k=k,
            min_group_size=min_group_size,
            duration_days=duration_days,
            expected_queries=expected_queries,
            epsilon=epsilon,
            parts=part,
            joint=joint,
        )

    def action(on: Acting) -> Any:
        return applications.submit_application(
            session=on.session, actor=on.actor, data=ApplicationCreate.model_validate(options())
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", "/applications", options())

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@applications_app.command("decide")
def decide(
    application_id: Id,
    decision: Annotated[
        str, typer.Option(help="决定 / approve, reject or request_changes", show_default=False)
    ],
    reason: Annotated[str, typer.Option(help="理由 / reason", show_default=False)],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """按治理模式的顺序审核申请 / approve, reject or ask for changes, in your turn."""
    from datacompact.policy import applications
    from datacompact.policy.schemas import ReviewIn

    def action(on: Acting) -> Any:
        body = ReviewIn.model_validate({"decision": decision, "reason": reason})
        return applications.review_application(
            session=on.session,
            actor=on.actor,
            application_id=application_id,
            decision=body.decision,
            reason=body.reason,
        )

    def remote(api: ApiClient) -> Any:
        body = {"decision": decision, "reason": reason}
        return api.change("POST", f"/applications/{application_id}/decisions", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@applications_app.command("amend")
def amend(
    application_id: Id,
    note: Annotated[
        str, typer.Option(help="修改说明 / what changed, for the reviewers", show_default=False)
    ],
    token: TokenOption = None,
    file: FileOption = None,
    scenario: ScenarioOption = None,
    purpose: PurposeOption = None,
    purpose_text: PurposeTextOption = None,
    resource: ResourceOption = None,
    columns: ColumnsOption = None,
    mode: ModeOption = None,
    k: KOption = None,
    min_group_size: GroupOption = None,
    duration_days: DaysOption = None,
    expected_queries: QueriesOption = None,
    epsilon: EpsilonOption = None,
    as_json: JsonFlag = False,
) -> None:
    """按审核意见修改申请，提交新修订 / amend an application sent back for changes."""
    from datacompact.policy import applications
    from datacompact.policy.schemas import ApplicationAmend

    def options() -> dict[str, Any]:
        body = _from_options(
            file=file,
            scenario=scenario,
            purpose=purpose,
            purpose_text=purpose_text,
            resource=resource,
            columns=columns,
            mode=mode,
            k=k,
            min_group_size=min_group_size,
            duration_days=duration_days,
            expected_queries=expected_queries,
            epsilon=epsilon,
        )
        return {**body, "note": note}

    def action(on: Acting) -> Any:
        return applications.amend_application(
            session=on.session,
            actor=on.actor,
            application_id=application_id,
            data=ApplicationAmend.model_validate(options()),
        )

    def remote(api: ApiClient) -> Any:
        return api.change("POST", f"/applications/{application_id}/revisions", options())

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


@applications_app.command("withdraw")
def withdraw(
    application_id: Id,
    reason: Annotated[str, typer.Option(help="理由 / reason", show_default=False)],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """撤回待审或待修改的申请 / withdraw an application under review or sent back."""
    from datacompact.policy import applications
    from datacompact.policy.schemas import WithdrawIn

    def action(on: Acting) -> Any:
        body = WithdrawIn.model_validate({"reason": reason})
        return applications.withdraw_application(
            session=on.session, actor=on.actor, application_id=application_id, reason=body.reason
        )

    def remote(api: ApiClient) -> Any:
        body = {"reason": reason}
        return api.change("POST", f"/applications/{application_id}/withdrawal", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="write", remote=remote)


INBOX_COLUMNS = ("kind", "id", "title", "since", "turn", "action")


def inbox(
    token: TokenOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="每页条数 / page size")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="跳过条数 / items to skip")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """本人待办：待审申请、待改申请、注册与合作模式审批 / what awaits you, oldest first."""
    from datacompact.oversight import inbox as service

    def render(page: dict[str, Any], as_json: bool) -> None:
        if as_json:
            emit(page, as_json=True)
            return
        rows = [
            {
                **item,
                "turn": "; ".join(
                    f"{t['party']}:"
                    + ",".join(p["name"] or str(p["id"]) for p in t["participants"])
                    for t in item["turn"]
                ),
            }
            for item in page["items"]
        ]
        shown_to = offset + len(rows)
        emit(
            rows,
            as_json=False,
            columns=INBOX_COLUMNS,
            title=f"待办 / awaiting you: {shown_to - len(rows) + 1 if rows else 0}–{shown_to} "
            f"of {page['total']}",
        )

    def remote(api: ApiClient) -> dict[str, Any]:
        items, answer = api.page("/inbox", limit=limit, offset=offset)
        return {"items": items, "total": answer.get("total", len(items))}

    run(
        lambda on: service.inbox(
            session=on.session, actor=on.actor, limit=limit, offset=offset
        ).model_dump(mode="json"),
        who=token,
        as_json=as_json,
        render=render,
        remote=remote,
    )

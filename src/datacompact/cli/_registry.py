"""``datacompact participants ...`` and ``datacompact tokens ...`` (thin)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from datacompact.cli._context import (
    ANONYMOUS,
    Acting,
    TokenOption,
    initialized_settings,
    run,
    target,
)
from datacompact.cli._output import JsonFlag, handled, listed, shown
from datacompact.cli._remote import ApiClient
from datacompact.errors import MalformedInput, UnknownField
from datacompact.permissions import Role
from datacompact.registry.schemas import (
    Decision,
    ParticipantCreate,
    ParticipantKind,
    ParticipantStatus,
    TokenPublic,
)

participants_app = typer.Typer(help="参与方登记与审批 / participant registry", no_args_is_help=True)
tokens_app = typer.Typer(help="API 令牌 / API tokens", no_args_is_help=True)

LIST_COLUMNS = ("id", "kind", "name", "uscc", "region_code", "status")


def _read_registration(path: Path) -> ParticipantCreate:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedInput(
            f"无法读取注册文件 / expected a UTF-8 JSON file, got an unreadable one ({type(exc).__name__})",
            details={"file": str(path)},
        ) from exc
    try:
        return ParticipantCreate.model_validate(raw)
    except ValidationError as exc:
        unknown = sorted(
            {
                ".".join(str(p) for p in e["loc"])
                for e in exc.errors()
                if e["type"] == "extra_forbidden"
            }
        )
        if unknown:
            # The same class the API uses, so a typo reads the same on both edges.
            raise UnknownField(
                f"注册文件含未知字段 / unknown field(s) in the registration file: {', '.join(unknown)}",
                details={"fields": unknown},
            ) from exc
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise MalformedInput(
            f"注册文件内容无效 / invalid registration file: check {', '.join(fields)}",
            details={"fields": fields},
        ) from exc


@participants_app.command("bootstrap")
def bootstrap(
    file: Annotated[Path, typer.Option("--file", help="首个参与方 JSON / first participant JSON")],
    as_json: JsonFlag = False,
) -> None:
    """登记首个参与方（审批方）并签发其管理员令牌 / register the first, approving participant.

    仅限服务器本地，无对应 API / on the server only: it has no API route.
    """
    from datacompact.registry import participants as service

    with handled(as_json):
        initialized_settings()  # an uninitialized home is named before a malformed file
        data = _read_registration(file)

    def action(on: Acting) -> dict[str, Any]:
        settings = on.platform.settings
        recorded = service.bootstrap_platform(
            session=on.session,
            secret=on.platform.secret,
            governance=settings.governance_mode,
            data=data,
            token_ttl=timedelta(days=settings.token_ttl_days),
        )
        result = recorded.value
        view = service.public_view(result.participant).model_dump(mode="json")
        return {
            **view,
            "admin": result.admin.username,
            "admin_token": result.token,
            "log_index": recorded.log_index,
        }

    run(action, who=ANONYMOUS, as_json=as_json, render=shown, transaction="write")


@participants_app.command("list")
def list_participants(
    token: TokenOption = None,
    kind: Annotated[
        ParticipantKind | None, typer.Option(help="按类型过滤 / filter by kind")
    ] = None,
    status: Annotated[ParticipantStatus | None, typer.Option(help="按状态 / by status")] = None,
    as_json: JsonFlag = False,
) -> None:
    """列出参与方 / list participants."""

    def action(on: Acting) -> list[dict[str, Any]]:
        from datacompact.registry import participants as service

        rows = service.list_participants(
            session=on.session, actor=on.actor, kind=kind, status=status, limit=1000
        )
        return [r.model_dump(mode="json") for r in rows]

    run(
        action,
        who=token,
        as_json=as_json,
        render=listed(*LIST_COLUMNS),
        remote=lambda api: api.data(
            "/participants",
            kind=kind.value if kind else None,
            status=status.value if status else None,
            limit=1000,
        ),
    )


@participants_app.command("show")
def show(participant_id: int, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """查看参与方 / show one participant."""

    def action(on: Acting) -> dict[str, Any]:
        from datacompact.registry import participants as service

        found = service.get_participant(
            session=on.session, actor=on.actor, participant_id=participant_id
        )
        return found.model_dump(mode="json")

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/participants/{participant_id}"),
    )


@participants_app.command("register")
def register(
    file: Annotated[Path, typer.Option("--file", help="注册申请 JSON / registration JSON file")],
    as_json: JsonFlag = False,
) -> None:
    """提交注册申请（待审批）/ file a registration application (pending approval)."""
    from datacompact.registry import participants as service

    with handled(as_json):
        target()  # no platform to act on is named before a malformed file
        data = _read_registration(file)

    def action(on: Acting) -> dict[str, Any]:
        recorded = service.register_participant(
            session=on.session, actor=on.actor, secret=on.platform.secret, data=data
        )
        view = service.public_view(recorded.value).model_dump(mode="json")
        return {**view, "log_index": recorded.log_index}

    def remote(api: ApiClient) -> dict[str, Any]:
        done = api.change("POST", "/participants", data.model_dump(mode="json"))
        return {**done.value, "log_index": done.log_index}

    run(action, who=ANONYMOUS, as_json=as_json, render=shown, transaction="write", remote=remote)


def _decide(
    participant_id: int, decision: Decision, reason: str, token: str | None, as_json: bool
) -> None:
    from datacompact.registry import participants as service

    def action(on: Acting) -> dict[str, Any]:
        recorded = service.decide_participant(
            session=on.session,
            actor=on.actor,
            participant_id=participant_id,
            decision=decision,
            reason=reason,
        )
        view = service.public_view(recorded.value).model_dump(mode="json")
        return {**view, "log_index": recorded.log_index}

    def remote(api: ApiClient) -> dict[str, Any]:
        body = {"decision": decision.value, "reason": reason}
        done = api.change("POST", f"/participants/{participant_id}/decisions", body)
        return {**done.value, "log_index": done.log_index}

    run(
        action,
        who=token,
        as_json=as_json,
        render=listed(*LIST_COLUMNS, "log_index"),
        transaction="write",
        remote=remote,
    )


ReasonOption = Annotated[str, typer.Option("--reason", help="理由（记入日志）/ reason, logged")]


@participants_app.command("approve")
def approve(
    participant_id: int, reason: ReasonOption, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """批准注册 / approve a pending registration."""
    _decide(participant_id, Decision.APPROVE, reason, token, as_json)


@participants_app.command("reject")
def reject(
    participant_id: int, reason: ReasonOption, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """驳回注册 / reject a pending registration."""
    _decide(participant_id, Decision.REJECT, reason, token, as_json)


@participants_app.command("suspend")
def suspend(
    participant_id: int, reason: ReasonOption, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """暂停参与方 / suspend an approved participant."""
    _decide(participant_id, Decision.SUSPEND, reason, token, as_json)


@participants_app.command("reinstate")
def reinstate(
    participant_id: int, reason: ReasonOption, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """恢复参与方 / reinstate a suspended participant."""
    _decide(participant_id, Decision.REINSTATE, reason, token, as_json)


@participants_app.command("revoke")
def revoke(
    participant_id: int, reason: ReasonOption, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """撤销参与方 / revoke a participant for good."""
    _decide(participant_id, Decision.REVOKE, reason, token, as_json)


TOKEN_COLUMNS = ("id", "member_id", "label", "scopes", "expires_at", "revoked_at")


@tokens_app.command("issue")
def issue(
    token: TokenOption = None,
    label: Annotated[str, typer.Option(help="用途标签 / label")] = "cli",
    scope: Annotated[
        list[Role] | None, typer.Option("--scope", help="限定角色 / limit to roles")
    ] = None,
    ttl_days: Annotated[
        int | None, typer.Option(min=1, max=365, help="有效天数 / lifetime in days")
    ] = None,
    member_id: Annotated[
        int | None, typer.Option(help="为成员签发（管理员）/ for a member (admin)")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """签发新令牌（只显示一次）/ issue a new token (shown once)."""
    from datacompact.registry import tokens as token_service

    def action(on: Acting) -> dict[str, Any]:
        recorded = token_service.issue_token(
            session=on.session,
            actor=on.actor,
            label=label,
            scopes=scope or None,
            ttl=timedelta(days=ttl_days or on.platform.settings.token_ttl_days),
            member_id=member_id,
        )
        record, value = recorded.value
        view = TokenPublic.model_validate(record).model_dump(mode="json")
        return {**view, "token": value, "log_index": recorded.log_index}

    def remote(api: ApiClient) -> dict[str, Any]:
        body = {
            "label": label,
            "scopes": [r.value for r in scope] if scope else None,
            "ttl_days": ttl_days,
            "member_id": member_id,
        }
        done = api.change("POST", "/tokens", {k: v for k, v in body.items() if v is not None})
        return {**done.value, "log_index": done.log_index}

    run(action, who=token, as_json=as_json, render=shown, transaction="write", remote=remote)


@tokens_app.command("list")
def list_tokens(
    token: TokenOption = None,
    member_id: Annotated[int | None, typer.Option(help="成员（管理员）/ member (admin)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """列出令牌 / list tokens."""
    from datacompact.registry import tokens as token_service

    run(
        lambda on: [
            TokenPublic.model_validate(t).model_dump(mode="json")
            for t in token_service.list_tokens(
                session=on.session, actor=on.actor, member_id=member_id
            )
        ],
        who=token,
        as_json=as_json,
        render=listed(*TOKEN_COLUMNS),
        remote=lambda api: api.data("/tokens", member_id=member_id),
    )


@tokens_app.command("revoke")
def revoke_token(token_id: int, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """吊销令牌 / revoke a token."""
    from datacompact.registry import tokens as token_service

    def action(on: Acting) -> dict[str, Any]:
        recorded = token_service.revoke_token(session=on.session, actor=on.actor, token_id=token_id)
        view = TokenPublic.model_validate(recorded.value).model_dump(mode="json")
        return {**view, "log_index": recorded.log_index}

    def remote(api: ApiClient) -> dict[str, Any]:
        done = api.change("DELETE", f"/tokens/{token_id}")
        return {**done.value, "log_index": done.log_index}

    run(action, who=token, as_json=as_json, render=shown, transaction="write", remote=remote)

"""``datacompact psi ...``: private set intersection under a grant (thin).

``psi run`` plays the requester's side on this machine: it normalizes the
keys of a file here, and only blinded points leave it, whether the platform
is this machine's home folder or a remote one (``--url``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, emit, err_console, listed
from datacompact.cli._remote import ApiClient

if TYPE_CHECKING:
    from datacompact.events import Recorded

psi_app = typer.Typer(help="隐私求交 / private set intersection", no_args_is_help=True)


def _read_keys(file: Path) -> list[str]:
    from datacompact.errors import InvalidInput

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "无法读取键文件 / cannot read the key file: expected UTF-8 text, one key a line",
            details={"field": "keys"},
        ) from exc
    return [line for line in text.splitlines() if line.strip()]


@psi_app.command("run")
def run_psi(
    keys_file: Annotated[
        Path, typer.Argument(help="键文件，每行一个 / the requester's keys, one a line")
    ],
    grant: Annotated[int, typer.Option("--grant", min=1, help="授权编号 / grant id")],
    key_column: Annotated[
        str, typer.Option("--key-column", help="持有方的键列 / the holder's key column")
    ],
    key_kind: Annotated[
        str, typer.Option("--key-kind", help="resident_id, uscc or phone")
    ] = "resident_id",
    mode: Annotated[
        str, typer.Option("--mode", help="cardinality, intersection or attributes")
    ] = "cardinality",
    sql: Annotated[
        str | None,
        typer.Option("--sql", help="attributes 模式下对匹配行的受治理 SQL / governed SQL"),
    ] = None,
    skip_malformed: Annotated[
        bool,
        typer.Option(
            "--skip-malformed", help="跳过格式错误的键（只报告个数）/ drop malformed keys"
        ),
    ] = False,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """在授权下与持有方求交 / intersect this machine's keys with a holder's column under a grant.

    Each run is one use of the grant, logged with the sizes of both sets and
    of the result, never a key. Malformed keys are refused with their count.
    """
    from datacompact import fusion

    rounds: dict[str, fusion.RequesterRound] = {}

    def read() -> tuple[str, ...]:
        # Inside the command's error handling: a refusal is a message and an exit code.
        return fusion.requester_keys(key_kind, _read_keys(keys_file), skip_malformed=skip_malformed)

    def second(opened: Any, keys: tuple[str, ...]) -> fusion.RequesterRound:
        return fusion.answer_round(
            context=opened.context,
            holder_points=opened.holder_points,
            keys=keys,
            group_name=opened.group,
            workers=2,
        )

    def action(on: Acting) -> Recorded[Any]:
        keys = read()
        opened = fusion.open_psi(
            db=on.platform.db,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            actor=on.actor,
            grant_id=grant,
            mode=mode,
            key_column=key_column,
            key_kind=key_kind,
            declared_size=len(keys),
            policy=fusion.PsiPolicy.from_settings(on.platform.settings),
        ).value
        rounds["answer"] = answer = second(opened, keys)
        return fusion.exchange_psi(
            db=on.platform.db,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            actor=on.actor,
            run_id=opened.run_id,
            holder_points=answer.holder_points,
            requester_points=answer.requester_points,
            sql=sql,
            engine=on.platform.sandbox,
            policy=fusion.PsiPolicy.from_settings(on.platform.settings),
        )

    def remote(api: ApiClient) -> Any:
        keys = read()
        opened = api.change(
            "POST",
            "/psi/runs",
            {
                "grant_id": grant,
                "mode": mode,
                "key_column": key_column,
                "key_kind": key_kind,
                "declared_size": len(keys),
            },
        ).value
        rounds["answer"] = answer = second(opened, keys)
        body = {
            "run_id": opened.run_id,
            "holder_points": answer.holder_points,
            "requester_points": answer.requester_points,
        }
        return api.change("POST", "/psi/exchange", body | ({"sql": sql} if sql else {}))

    def render(recorded: Recorded[Any], as_json: bool) -> None:
        result = recorded.value
        data = result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)
        matches = data.pop("matches", None)
        if matches is not None:
            data["keys"] = fusion.matched_keys(rounds["answer"].order, matches)
        emit({**data, "receipt": {"log_index": recorded.log_index}}, as_json=as_json)
        if not as_json:
            err_console.print(
                f"回执 / receipt: PSI run {data['run_id']}, log index {recorded.log_index}",
                highlight=False,
            )

    run(action, who=token, as_json=as_json, render=render, transaction="own", remote=remote)


@psi_app.command("list")
def list_runs(
    grant: Annotated[int, typer.Option("--grant", min=1, help="授权编号 / grant id")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """授权的隐私求交记录（最新在前）/ a grant's PSI runs, newest first: counts, never keys."""
    from datacompact import fusion

    run(
        lambda on: [
            r.model_dump(mode="json")
            for r in fusion.list_runs(session=on.session, actor=on.actor, grant_id=grant)
        ],
        who=token,
        as_json=as_json,
        render=listed(
            "id", "mode", "status", "declared_size", "holder_size", "requester_size", "log_index"
        ),
        remote=lambda api: api.data("/psi/runs", grant_id=grant),
    )

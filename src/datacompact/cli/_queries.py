"""``datacompact query`` and ``datacompact grants ...`` (thin)."""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, console, emit, err_console, listed, shown

if TYPE_CHECKING:
    from datacompact.events import Recorded
    from datacompact.policy.schemas import QueryResult

grants_app = typer.Typer(help="数据使用授权 / data-use grants", no_args_is_help=True)
queries_app = typer.Typer(help="查询记录与审查 / query logs and audits", no_args_is_help=True)

GRANT_COLUMNS = (
    "id",
    "resource_id",
    "table",
    "status",
    "expires_at",
    "max_queries",
    "queries_used",
    "epsilon_spent",
)


def query(
    sql: Annotated[
        str, typer.Argument(help="一条 SELECT（DuckDB 方言）/ one SELECT, DuckDB dialect")
    ],
    grant: Annotated[int, typer.Option("--grant", min=1, help="授权编号 / grant id")],
    token: TokenOption = None,
    epsilon: Annotated[
        float | None,
        typer.Option(min=0.0, max=10.0, help="本次差分隐私查询的 ε / ε for a DP query"),
    ] = None,
    as_json: JsonFlag = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="输出 CSV / print the rows as CSV")] = False,
) -> None:
    """在授权下运行受治理的 SQL / run governed SQL under a grant; prints rows and the receipt."""
    from datacompact.policy import queries

    def render(recorded: Recorded[QueryResult], as_json: bool) -> None:
        answer = recorded.value
        names = [c["name"] for c in answer.columns]
        if as_json:
            emit(
                {**answer.model_dump(mode="json"), "receipt": {"log_index": recorded.log_index}},
                as_json=True,
            )
        elif as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(names)
            writer.writerows(answer.model_dump(mode="json")["rows"])
        else:
            table = Table(*names)
            for row in answer.model_dump(mode="json")["rows"]:
                table.add_row(*("-" if v is None else str(v) for v in row))
            console.print(table)
        # The receipt goes to stderr so that --csv output stays clean.
        if not as_json:
            left = "" if answer.epsilon_left is None else f", ε left {answer.epsilon_left:g}"
            err_console.print(
                f"回执 / receipt: log index {recorded.log_index}, "
                f"{len(answer.rows)} rows{' (truncated)' if answer.truncated else ''}, "
                f"ε spent {answer.query.epsilon:g}, {answer.queries_left} queries left{left}",
                highlight=False,
            )

    run(
        lambda on: queries.run_query(
            db=on.platform.db,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            actor=on.actor,
            grant_id=grant,
            sql=sql,
            epsilon=epsilon,
            engine=on.platform.sandbox,
            recheck=on.recheck,
            policy=queries.QueryPolicy.from_settings(on.platform.settings, on.platform.rate_limits),
        ),
        who=token,
        as_json=as_json,
        render=render,
        transaction="own",
        remote=lambda api: api.change(
            "POST", "/queries", {"grant_id": grant, "sql": sql, "epsilon": epsilon}
        ),
    )


@grants_app.command("list")
def list_grants(token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """本方持有或授出的授权 / grants your participant holds or granted."""

    def action(on: Acting) -> list[dict[str, Any]]:
        from datacompact.policy import grants

        return [
            g.model_dump(mode="json")
            for g in grants.list_grants(session=on.session, actor=on.actor)
        ]

    run(
        action,
        who=token,
        as_json=as_json,
        render=listed(*GRANT_COLUMNS),
        remote=lambda api: api.data("/grants"),
    )


@grants_app.command("show")
def show_grant(grant_id: int, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """授权详情与 ODRL 协议 / a grant and its ODRL agreement."""

    def action(on: Acting) -> dict[str, Any]:
        from datacompact.policy import grants

        found = grants.get_grant(session=on.session, actor=on.actor, grant_id=grant_id)
        return found.model_dump(mode="json")

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/grants/{grant_id}"),
    )


@queries_app.command("list")
def list_queries(
    grant: Annotated[int, typer.Option("--grant", min=1, help="授权编号 / grant id")],
    token: TokenOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="条数 / how many")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """授权的查询记录（最新在前）/ a grant's query log, newest first."""
    from datacompact.policy import queries

    run(
        lambda on: [
            r.model_dump(mode="json")
            for r in queries.list_queries(
                session=on.session, actor=on.actor, grant_id=grant, limit=limit
            )
        ],
        who=token,
        as_json=as_json,
        render=listed(
            "id", "status", "rule", "rows_scanned", "result_rows", "epsilon", "log_index"
        ),
        remote=lambda api: api.data("/queries", grant_id=grant, limit=limit),
    )


@queries_app.command("overlaps")
def overlaps(
    token: TokenOption = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="回溯天数 / days back")] = 30,
    threshold: Annotated[
        float, typer.Option(min=0.01, max=1.0, help="相似度阈值 / similarity threshold")
    ] = 0.8,
    as_json: JsonFlag = False,
) -> None:
    """监管方：近似重复的查询对（差分攻击线索）/ regulator: near-duplicate query pairs."""
    from datacompact.policy import queries

    run(
        lambda on: [
            f.model_dump(mode="json")
            for f in queries.find_overlaps(
                session=on.session, actor=on.actor, days=days, threshold=threshold
            )
        ],
        who=token,
        as_json=as_json,
        render=listed("first_query_id", "second_query_id", "grantee_id", "kind", "reason"),
        remote=lambda api: api.data("/queries/overlaps", days=days, threshold=threshold),
    )

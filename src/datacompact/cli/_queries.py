"""``datacompact query`` and ``datacompact grants ...`` (thin)."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import (
    JsonFlag,
    console,
    emit,
    err_console,
    fitted_table,
    listed,
    shown,
)
from datacompact.cli._remote import ApiClient

if TYPE_CHECKING:
    from datacompact.events import Recorded
    from datacompact.policy.schemas import QueryResult, ResultPage

grants_app = typer.Typer(help="数据使用授权 / data-use grants", no_args_is_help=True)
queries_app = typer.Typer(help="查询记录与审查 / query logs and audits", no_args_is_help=True)

GRANT_COLUMNS = (
    "id",
    "resource_id",
    "resource_name",
    "holder_name",
    "grantee_name",
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
    as_csv: Annotated[
        bool, typer.Option("--csv", help="以 CSV 输出全部行 / print every row as CSV")
    ] = False,
) -> None:
    """在授权下运行受治理的 SQL / run governed SQL under a grant; prints rows and the receipt.

    Prints the first page (``DATACOMPACT_QUERY_PAGE_ROWS``) and says how to read
    the rest; ``--csv`` prints every row. Either way the query runs and is
    charged once.
    """
    from dataclasses import replace

    from datacompact.policy import queries

    def render(recorded: Recorded[QueryResult], as_json: bool) -> None:
        answer = recorded.value
        if as_json:
            emit(
                {**answer.model_dump(mode="json"), "receipt": {"log_index": recorded.log_index}},
                as_json=True,
            )
            return
        names = [c["name"] for c in answer.columns]
        rows = answer.model_dump(mode="json")["rows"]
        if as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(names)
            writer.writerows(rows)
        else:
            print_rows(names, rows)
        # Everything else goes to stderr so that --csv output stays clean.
        left = "" if answer.epsilon_left is None else f", ε left {answer.epsilon_left:g}"
        err_console.print(
            f"回执 / receipt: query {answer.query.id}, log index {recorded.log_index}, "
            f"ε spent {answer.query.epsilon:g}, {answer.queries_left} queries left{left}",
            highlight=False,
        )
        for line in result_notes(
            shown=len(rows),
            total=answer.total_rows,
            truncated=answer.truncated,
            row_limit=answer.row_limit,
            protection=answer.protection.model_dump() if answer.protection else None,
            query_id=answer.query.id,
            next_token=None if as_csv else answer.next_page_token,
        ):
            err_console.print(line, highlight=False, soft_wrap=True)

    def action(on: Acting) -> Recorded[QueryResult]:
        policy = queries.QueryPolicy.from_settings(on.platform.settings, on.platform.rate_limits)
        if as_csv:
            policy = replace(policy, page_rows=ALL_ROWS)
        return queries.run_query(
            db=on.platform.db,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            actor=on.actor,
            grant_id=grant,
            sql=sql,
            epsilon=epsilon,
            engine=on.platform.sandbox,
            recheck=on.recheck,
            policy=policy,
        )

    def remote(api: ApiClient) -> Any:
        done = api.change("POST", "/queries", {"grant_id": grant, "sql": sql, "epsilon": epsilon})
        answer = done.value
        if as_csv:
            # Every row, page after page of the stored result: nothing runs or is charged again.
            while answer.get("next_page_token"):
                page = api.data(
                    f"/queries/{answer.query.id}/rows", page_token=answer.next_page_token
                )
                answer["rows"] = [*answer.rows, *page.rows]
                answer["next_page_token"] = page.get("next_page_token")
        return done

    run(action, who=token, as_json=as_json, render=render, transaction="own", remote=remote)


#: Rows per page when every row is wanted at once: the engine's own row limit.
ALL_ROWS = 100_000


def print_rows(names: list[str], rows: list[list[Any]]) -> None:
    """A result as a table that folds long values; the row count when there is no row."""
    table = fitted_table(*names)
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row))
    if rows:
        console.print(table)
    else:
        console.print(f"0 行 / 0 rows ({', '.join(names)})", highlight=False)


def result_notes(
    *,
    shown: int,
    total: int,
    truncated: bool,
    row_limit: int,
    protection: dict[str, Any] | None,
    query_id: int,
    next_token: str | None,
    offset: int = 0,
) -> list[str]:
    """What a person must know about a result besides its rows: pages, cuts, protection."""
    notes = [f"行 / rows: {offset + 1 if shown else 0}–{offset + shown} of {total}"]
    if truncated:
        notes.append(
            f"结果已在 {row_limit} 行处截断 / the result was cut at the row limit of {row_limit} "
            "rows (truncated); narrow the query"
        )
    if next_token:
        notes.append(
            f"下一页 / next page: datacompact queries rows {query_id} --page-token {next_token}"
            f"  (全部 / all: datacompact queries rows {query_id} --csv)"
        )
    if protection:
        parts = [protection["note"]]
        if protection.get("suppression_threshold"):
            parts.append(f"threshold {protection['suppression_threshold']}")
        if protection.get("noise_added"):
            parts.append(f"ε {protection['epsilon']:g}, δ {protection['delta']:.2g}")
        if protection.get("generalized"):
            parts.append("generalized")
        notes.append("保护 / protection: " + "; ".join(parts))
    return notes


@queries_app.command("rows")
def rows(
    query_id: Annotated[int, typer.Argument(min=1, help="查询编号 / query id")],
    token: TokenOption = None,
    page_token: Annotated[
        str | None, typer.Option("--page-token", help="上一页给出的令牌 / token of the next page")
    ] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="以 CSV 输出全部行 / print every row as CSV")
    ] = False,
    parquet: Annotated[
        Path | None,
        typer.Option("--parquet", help="把全部行写入 Parquet 文件 / write every row to this file"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """已执行查询的结果分页或全部行（不重新运行、不再计费）/ a page or all rows of an executed query.

    Reads the result stored when the query ran: nothing runs again and nothing
    is charged again.
    """
    from datacompact.policy import queries

    if as_csv or parquet is not None:
        fmt = "parquet" if parquet is not None else "csv"

        def stream(on: Acting) -> tuple[Iterator[bytes], int, bool]:
            return queries.result_stream(
                session=on.session,
                home=on.platform.settings.home,
                actor=on.actor,
                query_id=query_id,
                fmt=fmt,
                policy=queries.QueryPolicy.from_settings(on.platform.settings),
            )

        def write(found: tuple[Iterator[bytes], int, bool], as_json: bool) -> None:
            chunks, total, truncated = found
            if parquet is not None:
                with parquet.open("wb") as file:
                    for chunk in chunks:
                        file.write(chunk)
            else:
                for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            cut = " (truncated at the row limit)" if truncated else ""
            err_console.print(f"{total} 行 / rows{cut}", highlight=False)

        def remote(api: ApiClient) -> tuple[Iterator[bytes], int, bool]:
            content, headers = api.download(f"/queries/{query_id}/rows", format=fmt)
            total = int(headers.get("x-total-rows", "0"))
            return iter([content]), total, headers.get("x-truncated") == "true"

        run(stream, who=token, as_json=as_json, render=write, remote=remote)
        return

    def render(page: ResultPage, as_json: bool) -> None:
        if as_json:
            emit(page.model_dump(mode="json"), as_json=True)
            return
        print_rows([c["name"] for c in page.columns], page.model_dump(mode="json")["rows"])
        for line in result_notes(
            shown=len(page.rows),
            total=page.total_rows,
            truncated=page.truncated,
            row_limit=ALL_ROWS,
            protection=page.protection.model_dump() if page.protection else None,
            query_id=page.query_id,
            next_token=page.next_page_token,
            offset=page.offset,
        ):
            err_console.print(line, highlight=False, soft_wrap=True)

    run(
        lambda on: queries.result_page(
            session=on.session,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            actor=on.actor,
            query_id=query_id,
            page_token=page_token,
            policy=queries.QueryPolicy.from_settings(on.platform.settings),
        ),
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data(f"/queries/{query_id}/rows", page_token=page_token),
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
        render=listed(
            "first_query_id", "second_query_id", "grantee_id", "grantee_name", "kind", "reason"
        ),
        remote=lambda api: api.data("/queries/overlaps", days=days, threshold=threshold),
    )

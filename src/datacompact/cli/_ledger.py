"""``datacompact ledger ...``: the operator's view of the log in the local store (thin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datacompact.cli._context import open_platform
from datacompact.cli._output import JsonFlag, emit, handled
from datacompact.errors import Conflict, InvalidInput, LogBehind, VerificationFailed

ledger_app = typer.Typer(
    help="透明日志（服务器端，本地存储）/ the transparency log in the local store (server-side)",
    no_args_is_help=True,
)


@ledger_app.command("key")
def key() -> None:
    """打印日志验证公钥（供见证与审计方配置）/ print the log's verifier key for witnesses and auditors.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    with handled():
        print(open_platform().log_signer.verifier().vkey)


@ledger_app.command("checkpoint")
def checkpoint(as_json: JsonFlag = False) -> None:
    """立即签发检查点并提交见证 / sign a checkpoint now and get it witnessed.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    with handled(as_json):
        platform = open_platform()
        try:
            row = platform.checkpoint()
        finally:
            platform.close()
        from datacompact.ledger.formats.note import Note
        from datacompact.ledger.formats.receipt import witness_status

        status = witness_status(platform.witness_policy, Note.from_text(row.note))
        emit(
            {
                "tree_size": row.size,
                "root_hash": row.root.hex(),
                "witnessed": status["witnessed"],
                "cosigners": status["cosigners"],
                "missing": status["missing"],
                "checkpoint": row.note,
            },
            as_json=as_json,
        )


@ledger_app.command("check")
def check(as_json: JsonFlag = False) -> None:
    """从条目重算整棵树并与存储和已签检查点比对 / recompute the tree and compare with the store.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    from datacompact.ledger.log.check import check_ledger

    with handled(as_json):
        platform = open_platform()
        try:
            with platform.db.read() as session:
                report = check_ledger(session, log_verifier=platform.log_signer.verifier())
        finally:
            platform.close()
        summary = {
            "ok": report.ok,
            "entries": report.size,
            "nodes": report.nodes,
            "checkpoints": report.checkpoints,
            "root_hash": report.root.hex(),
            "problems": report.problems,
            "recoveries": report.recoveries,
            "held_behind": report.held_size,
        }
        if not report.ok:
            if as_json:
                emit(summary, as_json=True)
            raise VerificationFailed(
                f"日志被篡改或损坏 / the log does not match its entries: {report.problems[0]}"
                + (f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""),
                details={"problems": report.problems},
            )
        if report.held_size is not None:
            if as_json:
                emit(summary, as_json=True)
            raise LogBehind(
                f"日志完整，但落后于已发布的检查点（大小 {report.held_size}），运行 datacompact "
                f"recover 之前拒绝写入 / the log is intact but behind the published checkpoint of "
                f"size {report.held_size}: writes are refused until `datacompact recover`",
                details={"size": report.size, "published_size": report.held_size},
            )
        title = "日志完整 / the log is intact"
        for found in report.recoveries:
            title += (
                f"\n恢复声明 / recovery statement at {found['index']}: entries "
                f"{found['lost_first']}..{found['lost_last']} of the checkpoint of size "
                f"{found['old_size']} were lost in a restore"
            )
        emit(summary, as_json=as_json, title=title)


@ledger_app.command("bundle")
def bundle(
    index: Annotated[int, typer.Argument(min=0, help="日志序号 / log index of the entry")],
    out: Annotated[
        Path | None,
        typer.Option("--out", dir_okay=False, help="写入新文件 / write to this new file"),
    ] = None,
    size: Annotated[
        int | None,
        typer.Option("--size", min=1, help="按该大小的检查点证明 / prove against this size"),
    ] = None,
) -> None:
    """导出回执包（条目、证明、检查点、副署）/ write one entry's self-contained receipt bundle.

    Reads the local store; from another machine, `datacompact verify receipt
    --index N --url URL --save FILE` fetches the same bundle over HTTP.
    """
    from datacompact.ledger.log import checkpoints

    with handled():
        platform = open_platform()
        try:
            with platform.db.read() as session:
                found = checkpoints.receipt_bundle(
                    session,
                    index=index,
                    size=size,
                    policy=platform.witness_policy,
                    log_key=platform.log_signer.verifier(),
                )
        finally:
            platform.close()
        text = json.dumps(found, ensure_ascii=False, indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            with open(out, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError as exc:
            raise Conflict(
                "文件已存在 / expected a new file for --out, got an existing one"
            ) from exc
        except OSError as exc:
            raise InvalidInput(
                "无法写入 / expected a writable path for --out, got another"
            ) from exc
    typer.echo(f"回执包已写入 / bundle of entry {index} written to {out}", err=True)

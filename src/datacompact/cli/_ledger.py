"""``datacompact ledger ...``: the operator's view of the log in the local store (thin)."""

from __future__ import annotations

import typer

from datacompact.cli._context import open_platform
from datacompact.cli._output import JsonFlag, emit, handled
from datacompact.errors import LogBehind, VerificationFailed

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
        emit(
            {
                "tree_size": row.size,
                "root_hash": row.root.hex(),
                "witnessed": row.witnessed,
                "cosigners": row.cosigners,
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

"""``datacompact backup``, ``restore`` and ``recover``: the operator's backup commands (thin).

See docs/operations.md ("Backup", "Restore and recovery") for the procedure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datacompact.cli._context import open_platform, refuse_remote
from datacompact.cli._output import JsonFlag, emit, handled
from datacompact.config import get_settings

CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="已发布的最新检查点文件（来自审计方、见证或旧主目录）/ the newest checkpoint "
        "published outside the backup (from an auditor, a witness or the old home)",
        show_default=False,
    ),
]


def backup(
    out: Annotated[
        Path, typer.Option("--out", help="新的或空的备份目录 / a new or empty backup folder")
    ],
    as_json: JsonFlag = False,
) -> None:
    """在线备份数据库与主目录 / back up the store and the home folder while the server runs.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    from datacompact.backup import take_backup

    with handled(as_json):
        open_platform().close()  # refuses an uninitialized home with a clear message
        result = take_backup(get_settings(), out)
        emit(result.to_dict(), as_json=as_json, title="备份完成 / backup written")


def restore(
    folder: Annotated[Path, typer.Argument(help="备份目录 / the backup folder")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="替换非空的主目录与数据库（旧主目录改名保留）/ replace a non-empty home and "
            "database (the old home is kept, renamed)",
        ),
    ] = False,
    checkpoint: CheckpointOption = None,
    as_json: JsonFlag = False,
) -> None:
    """校验并恢复备份 / check a backup against its manifest and restore it.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    from datacompact.backup import restore_backup

    with handled(as_json):
        refuse_remote()
        result = restore_backup(get_settings(), folder, force=force, checkpoint_file=checkpoint)
        title = (
            "已恢复，但日志落后于已发布的检查点：运行 datacompact recover / restored, but the log "
            "is behind a published checkpoint: run `datacompact recover`"
            if result.held
            else "已恢复 / restored"
        )
        emit(result.to_dict(), as_json=as_json, title=title)


def recover(
    lost_since_checkpoint: Annotated[
        Path,
        typer.Option(
            "--lost-since-checkpoint",
            help="恢复前最新的已发布检查点 / the newest published checkpoint",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """声明恢复中丢失的条目并恢复写入 / declare the entries lost in a restore and resume writes.

    服务器端命令，直接操作本机平台主目录与存储，不接受 --url /
    server-side: works on this machine's platform home folder and store, never on a --url.
    """
    from datacompact.ledger.log import checkpoints, recovery

    with handled(as_json):
        platform = open_platform()
        try:
            signer = platform.log_signer
            evidence, note = recovery.read_checkpoint_file(lost_since_checkpoint, signer.verifier())
            with platform.db.write() as session:
                result = recovery.recover(
                    session,
                    signer=signer,
                    policy=platform.witness_policy,
                    evidence=evidence,
                    note=note,
                    state=platform.settings.home / checkpoints.SIGNED_STATE_FILE,
                )
        finally:
            platform.close()
        emit(
            result,
            as_json=as_json,
            title="已记录丢失声明，日志恢复写入 / loss declared in the log; writes resume",
        )

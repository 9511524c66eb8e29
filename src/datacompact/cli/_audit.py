"""``datacompact audit``: mirror a tlog-tiles log and verify it, for auditors.

The command parses its options, calls :func:`~datacompact.ledger.auditor.audit.audit_log`
and renders the result. Exit code 0 means verified. Any failure prints one
line to stderr, Chinese first then English, naming the finding (fork, altered
entry, ...), and exits with the error's ``exit_code``: 8 for tampering, forks
and a missing quorum, 2 for malformed input, 9 when the log cannot be reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from datacompact.cli._output import JsonFlag, handled

if TYPE_CHECKING:
    # Imported when the command runs: every other command (and every server
    # worker, which imports the CLI's module) would pay for the auditor's stack.
    import httpx

    from datacompact.ledger.auditor.audit import AuditResult


#: Chinese label of each finding; the English one is the finding's value.
def make_client() -> httpx.Client | None:
    """The HTTP client to use; ``None`` lets the audit open its own. Tests replace this."""
    return None


def _summary(result: AuditResult) -> str:
    witnessed = f"{len(result.witnesses)} (quorum {result.quorum})"
    verified = (
        f"已验证 / verified: {result.origin} size {result.size} root {result.root_hash.hex()} "
        f"witnesses {witnessed} entries mirrored {result.size} "
        f"(+{result.entries_fetched} fetched)"
    )
    if result.receipts:
        verified += (
            f"; receipts {len(result.receipts)}/{len(result.receipts)} verified end to end "
            f"(log signature, entry, inclusion proof, audited root; indices "
            f"{result.receipts[0]}..{result.receipts[-1]})"
        )
    loss = result.recovery
    if not loss:
        return verified
    return (
        f"日志声明丢失 / declared loss: entries {loss['lost_first']}..{loss['lost_last']} "
        f"({loss['lost_count']}) of the checkpoint of size {loss['old_size']} were lost in a "
        f"restore (statement at {loss['index']}; old mirror kept under superseded/)\n{verified}"
    )


def audit(
    url: Annotated[str, typer.Option("--url", help="日志前缀 / tlog-tiles log prefix URL")],
    key: Annotated[str, typer.Option("--key", help="日志公钥 / log verifier key (vkey)")],
    state: Annotated[Path, typer.Option("--state", help="镜像状态目录 / mirror state directory")],
    witness: Annotated[
        list[str] | None, typer.Option("--witness", help="见证公钥 / witness vkey (repeatable)")
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(
            "--quorum", min=0, help="所需见证数 / witnesses required (default: all given)"
        ),
    ] = None,
    receipts: Annotated[
        int,
        typer.Option(
            "--receipts",
            min=0,
            help="抽查回执数 / also verify N receipts spread over the tree (DataCompact logs)",
        ),
    ] = 0,
    accept_loss: Annotated[
        bool,
        typer.Option(
            "--accept-loss",
            help="接受日志签名声明的恢复丢失（已核验）并重新镜像 / adopt a recovered log whose "
            "signed statement of lost entries verifies, keeping the old mirror",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """审计日志 / Mirror a transparency log and recompute its tree from the entries."""
    with handled(as_json):
        from datacompact.ledger.auditor.audit import audit_log

        result = audit_log(
            url=url,
            log_key=key,
            state_dir=state,
            witness_keys=witness or [],
            quorum=quorum,
            client=make_client(),
            receipts=receipts,
            accept_loss=accept_loss,
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        typer.echo(_summary(result))

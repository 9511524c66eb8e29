"""``datacompact audit``: mirror a tlog-tiles log and verify it; recompute statements.

The command parses its options, calls :func:`~datacompact.ledger.auditor.audit.audit_log`
and renders the result. Exit code 0 means verified. Any failure prints one
line to stderr, Chinese first then English, naming the finding (fork, altered
entry, ...), and exits with the error's ``exit_code``: 8 for tampering, forks
and a missing quorum, 2 for malformed input, 9 when the log cannot be reached.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from datacompact.cli._context import TokenOption, run
from datacompact.cli._output import JsonFlag, handled
from datacompact.errors import VerificationFailed

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


class _AuditGroup(TyperGroup):
    """``audit`` with a subcommand, or the log's audit when none is named.

    ``datacompact audit --url ... --key ... --state ...`` has audited the log
    since before ``audit billing`` existed, and still does: arguments that do
    not start with a subcommand's name go to ``audit log``.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["log", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(
    cls=_AuditGroup,
    help="审计日志或账单 / audit the transparency log (`audit log`, the default) or the "
    "statements of a month (`audit billing`)",
    no_args_is_help=True,
)
audit_app.command("log")(audit)


@audit_app.command("billing")
def billing(
    period: Annotated[str, typer.Option("--period", help="账期 / month, YYYY-MM")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """依日志与公示价格复算一个月的全部账单 / recompute a month's statements from the log.

    Exit code 0 when every line and total matches; otherwise the first line
    that does not, and exit code 8 (tampering).
    """
    from datacompact.value import statements

    def render(result: Any, as_json: bool) -> None:
        data = result.model_dump(mode="json")
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False))
        elif result.ok:
            typer.echo(
                f"账单一致 / statements match the log: {result.period}, "
                f"{result.statements} statements, {result.lines} lines, total {result.total}; "
                f"unbilled lines {result.unbilled_lines}; findings {len(result.findings)}"
            )
        else:
            typer.echo(f"账单不符 / {result.first_mismatch.message}", err=True)
        for finding in result.findings:
            if not as_json:
                typer.echo(
                    f"发现 / finding: grant {finding.grant_id} {finding.kind}: {finding.message}"
                )
        if not result.ok:
            raise typer.Exit(VerificationFailed.exit_code)

    run(
        lambda on: statements.audit_billing(session=on.session, actor=on.actor, period=period),
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data("/billing/audit", period=period),
    )

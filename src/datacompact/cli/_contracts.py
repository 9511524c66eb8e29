"""``datacompact projects contract|handover|sla|kpi|deliver|accept|alerts|...`` (thin).

Delivery and transparency of cooperation projects: contracts signed from
awards, SLA reports, deliverables and code escrow, result-oriented acceptance,
alerts and the OCDS export.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datacompact.cli._context import ANONYMOUS, Acting, TokenOption, run
from datacompact.cli._output import JsonFlag, console, emit, err_console, handled, listed, recorded
from datacompact.cli._remote import ApiClient
from datacompact.errors import MalformedInput

if TYPE_CHECKING:
    from datacompact.delivery.schemas import ContractPublic
    from datacompact.events import Recorded

delivery_app = typer.Typer(
    help="合同、验收、预警与公开 / contracts, acceptance, alerts and OCDS", no_args_is_help=True
)

KPI_COLUMNS = ("name", "comparator", "target", "unit", "measured", "measured_in", "met")
ContractId = Annotated[int, typer.Argument(min=1, help="合同编号 / contract id")]


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise MalformedInput(
            "无法读取文件 / expected a readable file, got one that cannot be read",
            details={"file": file.name},
        ) from exc


def _base64(content: bytes) -> str:
    import base64

    return base64.b64encode(content).decode("ascii")


def _contract(recorded: Recorded[ContractPublic], as_json: bool) -> None:
    """Render a change to a contract: the contract, its log entry, then its KPIs for people."""
    data = recorded.value.model_dump(mode="json")
    if as_json:
        emit({**data, "log_index": recorded.log_index}, as_json=True)
        return
    emit(
        {k: data[k] for k in ("id", "status", "supplier_id", "value", "starts_on", "ends_on")}
        | {"log_index": recorded.log_index},
        as_json=False,
    )
    emit(data["kpis"], as_json=False, columns=KPI_COLUMNS, title="指标 / KPIs")


@delivery_app.command("contract")
def sign(
    file: Annotated[
        Path, typer.Option("--file", help="合同 JSON：award_id, starts_on, ends_on, kpis, ...")
    ],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """依中标签订合同（指标与付款节点）/ sign a contract from an award, with KPIs and milestones."""
    from datacompact.delivery import contracts
    from datacompact.delivery.schemas import ContractCreate

    with handled(as_json):
        data = ContractCreate.model_validate_json(_read(file))
        run(
            lambda on: contracts.sign_contract(session=on.session, actor=on.actor, data=data),
            who=token,
            as_json=as_json,
            render=_contract,
            transaction="write",
            remote=lambda api: api.change("POST", "/contracts", data.model_dump(mode="json")),
        )


@delivery_app.command("handover")
def handover(
    contract_id: ContractId,
    documentation: Annotated[bool, typer.Option(help="文档 / documentation")] = False,
    credentials: Annotated[bool, typer.Option(help="账号凭据 / credentials")] = False,
    code_escrow: Annotated[bool, typer.Option(help="代码托管 / code in escrow")] = False,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """记录已收到的交接包 / record the handover package received."""
    from datacompact.delivery import contracts
    from datacompact.delivery.schemas import HandoverIn

    with handled(as_json):
        data = HandoverIn(
            documentation=documentation, credentials=credentials, code_escrow=code_escrow
        )
        run(
            lambda on: contracts.update_handover(
                session=on.session, actor=on.actor, contract_id=contract_id, data=data
            ),
            who=token,
            as_json=as_json,
            render=_contract,
            transaction="write",
            remote=lambda api: api.change(
                "PUT", f"/contracts/{contract_id}/handover", data.model_dump(mode="json")
            ),
        )


@delivery_app.command("sla")
def sla(
    contract_id: ContractId,
    file: Annotated[Path, typer.Option("--file", help="报告：.json 或 .csv（period,kpi,value）")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """报送一个期间（YYYY-MM）的运维 SLA / report one period's O&M SLA figures."""
    from datacompact.delivery import contracts

    with handled(as_json):
        media_type = "text/csv" if file.suffix.lower() == ".csv" else "application/json"
        data = contracts.parse_sla_report(_read(file), media_type)
        run(
            lambda on: contracts.report_sla(
                session=on.session, actor=on.actor, contract_id=contract_id, data=data
            ),
            who=token,
            as_json=as_json,
            render=_contract,
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/contracts/{contract_id}/sla-reports", data.model_dump(mode="json")
            ),
        )


@delivery_app.command("kpi")
def kpi(contract_id: ContractId, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """合同指标：实测与目标 / a contract's KPIs, measured against their targets."""
    from datacompact.delivery import contracts

    def render(data: dict[str, Any], as_json: bool) -> None:
        if as_json:
            emit(data, as_json=True)
            return
        emit(data["kpis"], as_json=False, columns=KPI_COLUMNS, title=f"合同 {data['id']}")
        emit(
            data["milestones"],
            as_json=False,
            columns=("id", "title", "amount", "due_on", "kpis", "status"),
            title="付款节点 / milestones",
        )

    run(
        lambda on: contracts.get_contract(
            session=on.session, actor=on.actor, contract_id=contract_id
        ).model_dump(mode="json"),
        who=token,
        as_json=as_json,
        render=render,
        remote=lambda api: api.data(f"/contracts/{contract_id}"),
    )


DELIVERABLE_COLUMNS = ("id", "kind", "name", "size", "sha256", "sealed", "created_at")


@delivery_app.command("deliver")
def deliver(
    contract_id: ContractId,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", help="open_source | open_data | key_code（关键代码托管 / key code in escrow）"
        ),
    ],
    file: Annotated[Path, typer.Option("--file", help="交付文件（文件名即名称）/ the file")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """交付开源代码、开放数据或托管关键代码 / deposit a deliverable (key code: in escrow)."""
    from datacompact.delivery import deliverables

    with handled(as_json):
        content = _read(file)
        run(
            lambda on: deliverables.deposit(
                session=on.session,
                actor=on.actor,
                home=on.platform.settings.home,
                secret=on.platform.secret,
                contract_id=contract_id,
                kind=kind,
                name=file.name,
                content=content,
            ),
            who=token,
            as_json=as_json,
            render=recorded,
            transaction="write",
            remote=lambda api: api.change(
                "POST",
                f"/contracts/{contract_id}/deliverables",
                {"kind": kind, "name": file.name, "content": _base64(content)},
            ),
        )


@delivery_app.command("deliverables")
def list_deliverables(
    contract_id: ContractId, token: TokenOption = None, as_json: JsonFlag = False
) -> None:
    """合同交付物（仅元数据）/ a contract's deliverables, metadata only."""
    from datacompact.delivery import deliverables

    run(
        lambda on: [
            r.model_dump(mode="json")
            for r in deliverables.list_deliverables(
                session=on.session, actor=on.actor, contract_id=contract_id
            )
        ],
        who=token,
        as_json=as_json,
        render=listed(*DELIVERABLE_COLUMNS, title=f"合同 {contract_id} 交付物 / deliverables"),
        remote=lambda api: api.data(f"/contracts/{contract_id}/deliverables"),
    )


@delivery_app.command("release-escrow")
def release_escrow(
    contract_id: ContractId,
    sha256: Annotated[str, typer.Argument(help="托管代码的 SHA-256 / the escrowed file's hash")],
    reason: Annotated[str, typer.Option("--reason", help="调取理由（记入日志）/ logged reason")],
    out: Annotated[Path, typer.Option("--out", help="解密后写入的文件 / file to write")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """调取托管代码（合同终止或接续风险）/ release escrowed key code, logged with a reason."""
    from datacompact.delivery import deliverables
    from datacompact.ledger.witness import write_atomic

    def render(released: Recorded[bytes], as_json: bool) -> None:
        try:
            write_atomic(out, released.value)  # 0600: it is key code
        except OSError as exc:
            raise MalformedInput(
                "无法写入输出文件 / expected a writable --out file, got one that cannot be written",
                details={"file": out.name},
            ) from exc
        emit(
            {
                "contract_id": contract_id,
                "sha256": sha256,
                "size": len(released.value),
                "out": str(out),
                "log_index": released.log_index,
            },
            as_json=as_json,
        )

    def remote(api: ApiClient) -> Any:
        import base64

        from datacompact.cli._remote import Received

        done = api.change(
            "POST", f"/contracts/{contract_id}/deliverables/{sha256}/release", {"reason": reason}
        )
        try:
            content = base64.b64decode(done.value["content"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedInput(
                "平台返回的托管代码不是 base64 / expected the released code as base64",
                details={"field": "content"},
            ) from exc
        return Received(content, done.log_index)

    run(
        lambda on: deliverables.release_escrow(
            session=on.session,
            actor=on.actor,
            home=on.platform.settings.home,
            secret=on.platform.secret,
            contract_id=contract_id,
            sha256=sha256,
            reason=reason,
        ),
        who=token,
        as_json=as_json,
        render=render,
        transaction="write",
        remote=remote,
    )


@delivery_app.command("accept")
def accept(
    contract_id: ContractId,
    milestone: Annotated[
        int | None,
        typer.Option(min=1, help="付款节点；省略则合同终验 / milestone; omit for final acceptance"),
    ] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """验收付款节点或整个合同（指标须达标）/ accept a milestone or the contract, KPIs met."""
    from datacompact.delivery import contracts

    def action(on: Acting) -> Recorded[ContractPublic]:
        if milestone is None:
            return contracts.accept_contract(
                session=on.session, actor=on.actor, contract_id=contract_id
            )
        return contracts.accept_milestone(
            session=on.session, actor=on.actor, contract_id=contract_id, milestone_id=milestone
        )

    def remote(api: ApiClient) -> Any:
        if milestone is None:
            return api.change("POST", f"/contracts/{contract_id}/acceptance")
        return api.change("POST", f"/contracts/{contract_id}/milestones/{milestone}/acceptance")

    run(action, who=token, as_json=as_json, render=_contract, transaction="write", remote=remote)


@delivery_app.command("alerts")
def alerts(
    token: TokenOption = None,
    max_share: Annotated[
        str, typer.Option(help="单一供应商份额上限 / largest share of one group")
    ] = "0.30",
    hhi: Annotated[str, typer.Option(help="HHI 预警线 / HHI threshold")] = "2500",
    horizon_days: Annotated[
        int, typer.Option(min=0, max=3650, help="到期预警天数 / days ahead")
    ] = 90,
    include_single: Annotated[
        bool,
        typer.Option(
            "--include-single",
            help="单一合同的业主或领域也预警 / alert on owners and domains with one award too",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """集中度、锁定与运维接续预警 / concentration, lock-in and O&M continuity alerts.

    For regulators and audit bodies only. An owner or a domain with a single
    award is always 100 % and HHI 10,000, so it alerts only with
    ``--include-single``.
    """
    from datacompact.decimals import parse_decimal_field
    from datacompact.oversight import alerts as service

    with handled(as_json):
        share = parse_decimal_field(max_share, "max_share")
        threshold = parse_decimal_field(hhi, "hhi")
        run(
            lambda on: service.alerts(
                session=on.session,
                actor=on.actor,
                max_share=share,
                hhi_threshold=threshold,
                horizon_days=horizon_days,
                include_single=include_single,
            ).model_dump(mode="json"),
            who=token,
            as_json=as_json,
            render=_alerts,
            remote=lambda api: api.data(
                "/alerts",
                max_share=str(share),
                hhi_threshold=str(threshold),
                horizon_days=horizon_days,
            ),
        )


def _alerts(data: dict[str, Any], as_json: bool) -> None:
    """Render the alerts: the whole report with ``--json``, one line an alert for people."""
    if as_json:
        emit(data, as_json=True)
        return
    messages = [
        _named(a) for key in ("concentration_alerts", "lock_in", "continuity") for a in data[key]
    ]
    for message in messages:
        console.print(f"[yellow]![/] {message}", highlight=False)
    if not messages:
        console.print("无预警 / no alerts")


def _named(alert: dict[str, Any]) -> str:
    """An alert's message followed by the names of the firm and owner its ids stand for."""
    names = [
        alert[k] for k in ("group_name", "supplier_name", "key_name") if alert.get(k) is not None
    ]
    message = str(alert["message"])
    return message + (f" ({'; '.join(names)})" if names else "")


@delivery_app.command("export-ocds")
def export_ocds(
    out: Annotated[
        Path | None, typer.Option("--out", help="写入文件（默认标准输出）/ file, else stdout")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """导出 OCDS 1.1.5 发布包（公开数据，无需令牌）/ export the OCDS release package (public)."""
    from datacompact.clock import utcnow
    from datacompact.oversight import ocds, transparency

    def render(package: dict[str, Any], _: bool) -> None:
        text = ocds.to_json(package)
        if out is None:
            print(text)
            return
        out.write_text(text + "\n", encoding="utf-8")
        err_console.print(
            f"已导出 {len(package['releases'])} 个发布 / wrote {len(package['releases'])}"
            f" releases to {out}",
            highlight=False,
        )

    run(
        lambda on: transparency.release_package(
            session=on.session, base_url=on.platform.settings.public_base_url, published=utcnow()
        ),
        who=ANONYMOUS,
        as_json=as_json,
        render=render,
        remote=lambda api: api.public("/public/ocds/release-package.json"),
    )

"""The ``datacompact`` command line (Typer + Rich). Commands are thin.

Exit codes are listed in ``datacompact.cli._output`` and ``docs/cli.md``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from datacompact import __version__
from datacompact.cli._audit import audit
from datacompact.cli._backup import backup, recover, restore
from datacompact.cli._catalog import catalog_app, resources_app, standards_app
from datacompact.cli._context import open_platform
from datacompact.cli._contracts import delivery_app
from datacompact.cli._ledger import ledger_app
from datacompact.cli._ledger_offline import verify_app, witness_app
from datacompact.cli._output import JsonFlag, console, emit, handled
from datacompact.cli._privacy import anonymize
from datacompact.cli._projects import projects_app
from datacompact.cli._queries import grants_app, queries_app, query
from datacompact.cli._registry import participants_app, tokens_app

app = typer.Typer(
    name="datacompact",
    help="DataCompact 可信政企数据协作平台 / trusted government-enterprise data collaboration",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(participants_app, name="participants")
app.add_typer(tokens_app, name="tokens")
app.add_typer(resources_app, name="resources")
app.add_typer(catalog_app, name="catalog")
app.add_typer(standards_app, name="standards")
app.add_typer(grants_app, name="grants")
app.add_typer(queries_app, name="queries")
# One `projects` group: procurement (projects, lots, tenders, bids) and delivery
# (contracts, SLA, acceptance, alerts, OCDS export) are built in two modules.
projects_app.registered_commands.extend(delivery_app.registered_commands)
app.add_typer(projects_app, name="projects")
app.add_typer(ledger_app, name="ledger")
app.add_typer(verify_app, name="verify")
app.add_typer(witness_app, name="witness")
app.command("audit")(audit)
app.command("backup")(backup)
app.command("restore")(restore)
app.command("recover")(recover)
app.command("anonymize")(anonymize)
app.command("query")(query)

HostOption = Annotated[str, typer.Option(help="监听地址 / address to bind")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="端口 / port")]


@app.command()
def version() -> None:
    """显示版本 / print the version."""
    console.print(__version__)


@app.command()
def init(as_json: JsonFlag = False) -> None:
    """创建主目录、平台密钥并迁移数据库 / create the home folder and secret, migrate the store."""
    with handled(as_json):
        platform = open_platform(must_exist=False)
        created = platform.initialize()
        settings = platform.settings
        emit(
            {
                "home": str(settings.home.resolve()),
                "created": created,
                "database": platform.db.read_engine.url.render_as_string(hide_password=True),
                "governance_mode": settings.governance_mode.value,
            },
            as_json=as_json,
            title="已初始化 / initialized",
        )
        platform.close()


def _serve(host: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from datacompact.config import get_settings

    # Only the home folder here: each worker opens the platform and migrates
    # the store in the background (see datacompact.serving), so that the
    # server answers /healthz at once and /readyz once the store is ready.
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    console.print(
        f"DataCompact 服务地址 / serving on http://{host}:{port}  (Ctrl+C 停止 / to stop)"
    )
    uvicorn.run(
        "datacompact.serving:app_from_settings",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
    )


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="工作进程数 / worker processes (one per core)")
    ] = 1,
) -> None:
    """启动 API 服务 / serve the API."""
    with handled():
        _serve(host, port, workers)


@app.command()
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="只生成不启动 / build only")] = False,
    scale: Annotated[
        float,
        typer.Option(
            min=0.0, max=100.0, help="演示数据集规模，0 为不登记 / dataset size, 0 for none"
        ),
    ] = 1.0,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    as_json: JsonFlag = False,
) -> None:
    """生成演示城市（幂等）并启动服务 / build the demo city (idempotent) and serve it."""
    from datacompact.demo import build_demo

    with handled(as_json):
        platform = open_platform(must_exist=False)
        platform.initialize()
        summary = build_demo(platform, datasets_scale=scale or None)
        platform.close()
        emit(summary, as_json=as_json, title="演示城市 / demo city")
        if not no_serve:
            _serve(host, port)


def main() -> None:
    app()

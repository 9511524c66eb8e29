"""The ``datacompact`` application: its groups and commands (Typer + Rich). Commands are thin.

Exit codes are listed in ``datacompact.cli._output`` and ``docs/cli.md``.
"""

from __future__ import annotations

import os
import ssl
import sys
from pathlib import Path
from typing import Annotated, ClassVar

import typer

from datacompact import __version__
from datacompact.cli._context import choose, open_platform, refuse_remote
from datacompact.cli._lazy import LazyGroup, Where
from datacompact.cli._output import JsonFlag, console, emit, handled, step_printer
from datacompact.errors import ConfigurationError, InvalidInput


def _projects() -> typer.Typer:
    # One `projects` group: procurement (projects, lots, tenders, bids) and delivery
    # (contracts, SLA, acceptance, alerts, OCDS export) are built in two modules.
    from datacompact.cli._contracts import delivery_app
    from datacompact.cli._projects import projects_app

    if not any(c in projects_app.registered_commands for c in delivery_app.registered_commands):
        projects_app.registered_commands.extend(delivery_app.registered_commands)
    return projects_app


class _Root(LazyGroup):
    """The root group: each group or command module is imported when it is called."""

    lazy: ClassVar[dict[str, Where]] = {
        "participants": ("datacompact.cli._registry", "participants_app"),
        "tokens": ("datacompact.cli._registry", "tokens_app"),
        "resources": ("datacompact.cli._catalog", "resources_app"),
        "catalog": ("datacompact.cli._catalog", "catalog_app"),
        "standards": ("datacompact.cli._catalog", "standards_app"),
        "applications": ("datacompact.cli._applications", "applications_app"),
        "grants": ("datacompact.cli._queries", "grants_app"),
        "queries": ("datacompact.cli._queries", "queries_app"),
        "projects": _projects,
        "ledger": ("datacompact.cli._ledger", "ledger_app"),
        "verify": ("datacompact.cli._ledger_offline", "verify_app"),
        "witness": ("datacompact.cli._ledger_offline", "witness_app"),
        "inbox": ("datacompact.cli._applications", "inbox"),
        "audit": ("datacompact.cli._audit", "audit_app"),
        "prices": ("datacompact.cli._value", "prices_app"),
        "billing": ("datacompact.cli._value", "billing_app"),
        "backup": ("datacompact.cli._backup", "backup"),
        "restore": ("datacompact.cli._backup", "restore"),
        "recover": ("datacompact.cli._backup", "recover"),
        "anonymize": ("datacompact.cli._privacy", "anonymize"),
        "query": ("datacompact.cli._queries", "query"),
        "shares": ("datacompact.cli._shares", "shares_app"),
        "ratings": ("datacompact.cli._shares", "ratings_app"),
        "psi": ("datacompact.cli._psi", "psi_app"),
    }


app = typer.Typer(
    name="datacompact",
    cls=_Root,
    help="DataCompact 可信政企数据协作平台 / trusted government-enterprise data collaboration"
    "\n\n命令在本机平台主目录（./.datacompact 或 DATACOMPACT_HOME）上运行，或以 --url 加令牌、"
    "--profile 远程调用平台 API / commands act on this machine's platform home folder "
    "(./.datacompact or DATACOMPACT_HOME), or on a remote platform's API with --url and a "
    "token, or with a profile stored by `datacompact login`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="远程平台地址 / act on the platform at this URL over its API (or DATACOMPACT_URL)",
            show_default=False,
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help="datacompact login 保存的配置 / act as the profile stored by `datacompact login` "
            "(or DATACOMPACT_PROFILE)",
            show_default=False,
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="显示版本 / print the version"
        ),
    ] = False,
) -> None:
    """Where the commands act: ``--url`` and ``--profile`` come before the command."""
    choose(url=url, profile=profile)


@app.command()
def login(
    user: Annotated[str, typer.Option("--user", help="用户名 / username")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="平台地址 / the platform's URL", show_default=False),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="配置名称 / profile name [default: default]"),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="从标准输入读密码 / read the password from stdin"),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """登录远程平台并保存令牌（权限 0600）/ log in and store a token in a profile (mode 0600)."""
    from datacompact.cli import _profiles

    _profiles.login(url, user, profile, password_stdin, as_json)


@app.command()
def logout(
    profile: Annotated[
        str | None,
        typer.Option("--profile", help="配置名称 / profile name [default: default]"),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """吊销令牌并删除配置 / revoke the profile's token and forget the profile."""
    from datacompact.cli import _profiles

    _profiles.logout(profile, as_json)


HostOption = Annotated[str, typer.Option(help="监听地址 / address to bind")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="端口 / port")]


@app.command()
def version() -> None:
    """显示版本 / print the version."""
    console.print(__version__)


@app.command()
def init(as_json: JsonFlag = False) -> None:
    """创建主目录、平台密钥并迁移数据库 / create the home folder and secret, migrate the store.

    服务器端命令 / server-side: creates and migrates this machine's platform home folder.
    """
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


def _tls(certfile: Path | None, keyfile: Path | None) -> tuple[str, str] | None:
    """uvicorn's TLS arguments, once both files are readable and make a certificate and its key."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise InvalidInput(
            "--certfile 与 --keyfile 须同时给出 / expected both --certfile and --keyfile, got only "
            + ("--certfile" if keyfile is None else "--keyfile"),
            details={"option": "--keyfile" if keyfile is None else "--certfile"},
        )
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise ConfigurationError(
                f"无法读取 TLS 文件 / cannot read the file of {option}: {exc.strerror}",
                details={"option": option, "path": str(path)},
            ) from None
    # The same check the server makes when it starts, made before it starts: a
    # certificate that is not PEM or a key that is not its pair fails here. An
    # encrypted key is refused too (the callback gives no password) instead of
    # the server prompting for one.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile, password=lambda: b"")
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            "TLS 证书与私钥不可用 / expected a PEM certificate chain and its unencrypted private "
            f"key, got files that do not make one ({type(exc).__name__})",
            details={"certfile": str(certfile), "keyfile": str(keyfile)},
        ) from None
    return str(certfile), str(keyfile)


def _serve(
    host: str,
    port: int,
    workers: int = 1,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    import uvicorn

    from datacompact.config import get_settings
    from datacompact.ratelimits import RateLimits

    tls = _tls(certfile, keyfile)
    # Only the home folder here: each worker opens the platform and migrates
    # the store in the background (see datacompact.serving), so that the
    # server answers /healthz at once and /readyz once the store is ready.
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    # An unusable rate-limit storage fails here, once, not in every worker.
    RateLimits(settings.rate_limit_storage_uri)
    scheme = "https" if tls else "http"
    cert, key = tls or (None, None)
    console.print(
        f"DataCompact 服务地址 / serving on {scheme}://{host}:{port}  (Ctrl+C 停止 / to stop)"
    )
    target = "datacompact.serving:app_from_settings"
    if workers > 1:
        # uvicorn spawns its workers, and a spawned process imports the parent's
        # main module again: this CLI with all its commands. Handing the process
        # over to uvicorn's own command line first makes each worker import
        # uvicorn and datacompact.serving only, and answer seconds sooner.
        argv = [sys.executable, "-m", "uvicorn", target, "--factory", "--workers", str(workers)]
        argv += ["--host", host, "--port", str(port), "--log-level", "warning"]
        # Workers share the connections out evenly (datacompact.serving.BalancedLoop,
        # which finds its board through datacompact.serving.BOARD_ENV, named here
        # as a string: the CLI sits below the serving layer).
        argv += ["--loop", "datacompact.serving:balanced_loop_factory"]
        os.environ["DATACOMPACT_SERVE_BOARD"] = str(settings.home / f".serve-{port}.connections")
        if cert and key:
            argv += ["--ssl-certfile", cert, "--ssl-keyfile", key]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - this interpreter, no shell
    uvicorn.run(
        target,
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=cert,
        ssl_keyfile=key,
    )


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="工作进程数 / worker processes (one per core)")
    ] = 1,
    certfile: Annotated[
        Path | None,
        typer.Option(
            "--certfile",
            dir_okay=False,
            help="TLS 证书链（PEM），与 --keyfile 同用 / TLS certificate chain (PEM), with --keyfile",
        ),
    ] = None,
    keyfile: Annotated[
        Path | None,
        typer.Option(
            "--keyfile",
            dir_okay=False,
            help="TLS 私钥（PEM，不加密）/ the certificate's private key (PEM, unencrypted)",
        ),
    ] = None,
) -> None:
    """启动 API 服务 / serve the API (HTTPS with --certfile and --keyfile).

    服务器端命令 / server-side: serves this machine's platform home folder.
    """
    with handled():
        refuse_remote()
        _serve(host, port, workers, certfile, keyfile)


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
    witness_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65534,
            help="两个演示见证的首个端口（默认 --port+1）/ first port of the two demo witnesses "
            "(default: --port + 1)",
        ),
    ] = None,
    no_witnesses: Annotated[
        bool,
        typer.Option(
            "--no-witnesses", help="不启动演示见证 / serve without the two demo witnesses"
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """生成演示城市（幂等）并启动服务 / build the demo city (idempotent) and serve it.

    服务器端命令 / server-side: builds the city in this machine's platform home folder.

    Each step is printed to stderr as it starts, with the time elapsed; with
    ``--json`` nothing but the summary is printed.

    Serving starts two witnesses first, each a separate `datacompact witness
    serve` process with its own key and state under the home folder, under a
    2-of-2 policy (`witness.policy`), unless DATACOMPACT_WITNESS_POLICY names
    witnesses already or --no-witnesses is given.
    """
    from datacompact.demo import build_demo

    with handled(as_json):
        platform = open_platform(must_exist=False)
        platform.initialize()
        summary = build_demo(
            platform, datasets_scale=scale or None, progress=None if as_json else step_printer()
        )
        log_vkey = platform.log_signer.verifier().vkey
        own_witnesses = not (no_serve or no_witnesses or platform.settings.witness_policy)
        platform.close()
        emit(summary, as_json=as_json, title="演示城市 / demo city")
        if not no_serve:
            first = witness_port or port + 1
            _serve_demo(platform.settings.home, log_vkey, (first, first + 1), own_witnesses)
            _serve(host, port)


def _serve_demo(home: Path, log_vkey: str, ports: tuple[int, int], start: bool) -> None:
    """Start the demo's witnesses and point the server at them; stopped when the CLI exits."""
    if not start:
        return
    import atexit
    import signal

    from datacompact.config import get_settings
    from datacompact.demo import witnesses

    found, policy = witnesses.prepare_witnesses(home, log_vkey=log_vkey, ports=ports)
    processes = witnesses.start_witnesses(found, log_vkey=log_vkey)
    atexit.register(witnesses.stop_witnesses, processes)
    # uvicorn shuts down on SIGTERM, then raises the signal again under the
    # handler it found, whose default ends the process without atexit: exit
    # through Python instead, so that the witnesses stop with the demo.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    # The server reads its settings afresh: it must see the demo's policy.
    os.environ["DATACOMPACT_WITNESS_POLICY"] = str(policy)
    get_settings.cache_clear()
    for witness, process in zip(found, processes, strict=True):
        console.print(f"见证 / witness {witness.name}: {witness.url} (pid {process.pid})")
    console.print(f"见证策略 / witness policy: {policy} (2 of 2)")

"""How a CLI command acts on the platform: context, actor, call, render.

Every command that acts as a member of the platform has the same four steps,
run by :func:`run`::

    @standards_app.command("list")
    def list_standards(token: TokenOption = None, as_json: JsonFlag = False) -> None:
        from datacompact.catalog import standards_registry

        run(
            lambda on: standards_registry.list_standards(session=on.session, actor=on.actor),
            who=token,
            as_json=as_json,
            render=listed("id", "title_zh", "builtin"),
        )

- **context**: the settings from the environment and the platform they open
  (:func:`open_platform`), closed again once the call returns;
- **actor**: who acts, authenticated from ``--token`` (or ``DATACOMPACT_TOKEN``)
  inside the call's own transaction, or :data:`ANONYMOUS` for the commands
  anyone may run;
- **call**: one service function, run on an :class:`Acting` (the platform,
  the actor and the transaction). :func:`call` is the only place where a
  command opens the platform and authenticates: the one seam where a client
  of the HTTP API can take the local store's place;
- **render**: a function of the call's result and ``--json``
  (see :mod:`datacompact.cli._output`), with every error mapped to its
  message and exit code by :func:`~datacompact.cli._output.handled`.

A command that parses files or options before it acts does so inside
``handled(as_json)`` and then runs; operator commands that work on the home
folder itself (``init``, ``backup``, ``ledger ...``) have no actor and open
the platform directly.

**Local or remote.** The same command runs in one of two places, chosen by
:func:`target` once per call:

- *remote*, over the platform's HTTP API, when ``--url`` or ``--profile`` is
  given before the command (``datacompact --url https://... resources search``),
  or ``DATACOMPACT_URL`` / ``DATACOMPACT_PROFILE`` is set, or when there is no
  platform home here but ``datacompact login`` stored a ``default`` profile.
  :func:`run` then calls the command's ``remote`` function with an
  :class:`~datacompact.cli._remote.ApiClient`; it calls the matching route and
  returns what the local call returns, so one renderer serves both. A command
  with no route has no ``remote`` and says so (:data:`NO_ROUTE`);
- *local*, on the platform home folder of this machine (``./.datacompact`` or
  ``DATACOMPACT_HOME``), as the server's operators do.

With neither, a command never creates a platform by accident: it fails with
:class:`~datacompact.errors.NoPlatform`, which names both ways. The server-side
commands (``init``, ``serve``, ``demo``, ``ledger``, ``backup``, ``restore``,
``recover``) open the home folder directly through :func:`open_platform`, which
refuses a ``--url`` or profile.

The store (SQLAlchemy, Alembic) is imported when a command opens the platform,
and httpx when it calls a remote one, not when the CLI starts, so commands that
never touch either (``anonymize``, ``verify``, ``witness``, ``--help``) start
quickly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from datacompact.cli._output import handled
from datacompact.errors import NoPlatform, RemoteError, Unauthenticated

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from datacompact.cli._remote import ApiClient
    from datacompact.config import Settings
    from datacompact.permissions import Principal
    from datacompact.platform import Platform

T = TypeVar("T")

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DATACOMPACT_TOKEN",
        help="API 令牌 / API token of the acting member (or DATACOMPACT_TOKEN)",
        show_default=False,
    ),
]


class Anonymous(Enum):
    """The actor of a command that needs no token (registration, public exports)."""

    ANONYMOUS = "anonymous"


ANONYMOUS = Anonymous.ANONYMOUS

#: Who acts: the ``--token`` value (``None`` when it was not given), or ANONYMOUS.
Who = str | None | Anonymous

#: The call's transaction: one read or one write transaction around the call,
#: or ``"own"`` for services that open their own (long ingestions, governed
#: queries) and authenticate again inside their last one through ``recheck``.
Transaction = Literal["read", "write", "own"]


#: Where a command acts when it is remote: the platform's URL and the token a
#: profile holds (``None``: the command's ``--token``, or anonymous).
@dataclass(frozen=True)
class Remote:
    url: str
    token: str | None = None
    profile: str | None = None


#: The ``--url`` and ``--profile`` given before the command (set by the root callback).
chosen: dict[str, str | None] = {"url": None, "profile": None}

#: What a command without an API route says when it is run remotely.
NO_ROUTE = (
    "此命令没有对应的 API，只能在平台服务器上于平台主目录中运行 / this command has no API "
    "route: run it on the platform's server, in its home folder"
)
#: The ``--help`` line of such commands.
LOCAL_ONLY_HELP = "（仅限服务器本地 / on the server only: it has no API route）"


def choose(*, url: str | None, profile: str | None) -> None:
    """Remember the root options ``--url`` and ``--profile`` for this invocation."""
    chosen["url"] = url
    chosen["profile"] = profile


def explicit_options() -> tuple[str | None, str | None]:
    url = chosen["url"] or os.environ.get("DATACOMPACT_URL") or None
    profile = chosen["profile"] or os.environ.get("DATACOMPACT_PROFILE") or None
    return url, profile


def explicit_remote() -> Remote | None:
    """The remote platform named by ``--url``/``--profile`` or their variables, if any."""
    from datacompact.cli import _profiles

    url, name = explicit_options()
    if name is not None:
        profile = _profiles.load(name)
        if url is not None and url != profile.url:
            # Another URL than the profile's: the profile's token is not sent there.
            return Remote(url, None, name)
        return Remote(profile.url, profile.token or None, name)
    if url is not None:
        return _logged_in(url) or Remote(url)
    return None


def _logged_in(url: str) -> Remote | None:
    """``url`` with the token ``datacompact login`` stored for that very URL, if any.

    ``login --url X`` then ``DATACOMPACT_URL=X datacompact ...`` acts as the
    login: the token goes back to the platform that issued it, and nowhere
    else. The ``default`` profile is preferred when several hold that URL.
    """
    from datacompact.cli import _profiles
    from datacompact.cli._remote import normalized_url
    from datacompact.errors import ConfigurationError, InvalidInput

    try:
        wanted = normalized_url(url)
        stored = _profiles.load_all()
        names = sorted(stored, key=lambda name: name != _profiles.DEFAULT_PROFILE)
        for name in names:
            profile = stored[name]
            if profile.token and normalized_url(profile.url) == wanted:
                return Remote(url, profile.token, name)
    except (InvalidInput, ConfigurationError):
        # A bad URL is reported when it is used; an unreadable profiles file
        # only matters to the commands that name a profile.
        return None
    return None


def _home_initialized() -> bool:
    from datacompact.config import get_settings

    return get_settings().secret_path.exists()


def default_remote() -> Remote | None:
    """The ``default`` profile of ``datacompact login``, if one is stored."""
    from datacompact.cli import _profiles

    default = _profiles.load_all().get(_profiles.DEFAULT_PROFILE)
    if default is None:
        return None
    return Remote(default.url, default.token or None, _profiles.DEFAULT_PROFILE)


def target() -> Remote | None:
    """Where the next call acts: a remote platform, or ``None`` for this machine's home.

    Explicit options first; then the home folder here; then the ``default``
    profile of ``datacompact login``; then :class:`NoPlatform`.
    """
    found = explicit_remote()
    if found is not None or _home_initialized():
        return found
    found = default_remote()
    if found is None:
        raise no_platform()
    return found


def no_platform() -> NoPlatform:
    from datacompact.config import get_settings

    return NoPlatform(
        "此处没有平台主目录。请在平台服务器上于主目录中运行（或设置 DATACOMPACT_HOME），或以 "
        "--url 加令牌、datacompact login 连接远程平台；datacompact init 仅用于新建平台 / no "
        "platform home folder here: run on the platform's server in its home folder (or set "
        "DATACOMPACT_HOME), or point at a remote platform with --url URL and --token (or "
        "`datacompact login --url URL --user NAME`); `datacompact init` only creates a new "
        "platform",
        details={"home": str(get_settings().home)},
    )


def initialized_settings() -> Settings:
    """The settings from the environment, once their home folder has been initialized."""
    from datacompact.config import get_settings

    settings = get_settings()
    if not settings.secret_path.exists():
        raise no_platform()
    return settings


def refuse_remote() -> None:
    """Fail a server-side command given a remote platform: it works on this machine only."""
    url, profile = explicit_options()
    if url is not None or profile is not None:
        raise RemoteError(
            "此命令直接操作平台存储，只能在平台服务器上运行，不接受 --url 或 --profile / this "
            "command works on the platform's store itself: run it on the server, without "
            "--url, --profile, DATACOMPACT_URL or DATACOMPACT_PROFILE",
            details={"remote": True},
        )


def open_platform(*, must_exist: bool = True) -> Platform:
    """This machine's platform, for the server-side commands; never a remote one."""
    from datacompact.config import get_settings
    from datacompact.platform import Platform

    refuse_remote()
    return Platform(initialized_settings() if must_exist else get_settings())


def client(remote: Remote, who: Who) -> ApiClient:
    """The API client of ``remote``, acting with the command's token or the profile's."""
    from datacompact.cli._remote import ApiClient

    if who is ANONYMOUS:
        return ApiClient(remote.url, None)
    return ApiClient(remote.url, who or remote.token)


def _actor_for(platform: Platform, session: Session, who: Who) -> Principal:
    from datacompact.permissions import Principal
    from datacompact.registry.tokens import authenticate

    if who is ANONYMOUS:
        return Principal.anonymous(platform.settings.governance_mode)
    if not who:
        raise Unauthenticated(
            "需要令牌：--token 或 DATACOMPACT_TOKEN / a token is required: --token or DATACOMPACT_TOKEN"
        )
    return authenticate(session=session, token=who, governance=platform.settings.governance_mode)


@dataclass(frozen=True)
class Acting:
    """What a command's call receives: the open platform, who acts and the transaction."""

    platform: Platform
    actor: Principal
    who: Who
    in_transaction: Session | None

    @property
    def session(self) -> Session:
        """The session of the call's transaction (none for ``transaction="own"``)."""
        if self.in_transaction is None:
            raise RuntimeError("this call opens its own transactions: use recheck, not session")
        return self.in_transaction

    def recheck(self, session: Session) -> Principal:
        """The actor authenticated again, inside a service's own last transaction."""
        return _actor_for(self.platform, session, self.who)


def call(
    action: Callable[[Acting], T],
    *,
    who: Who,
    transaction: Transaction = "read",
    remote: Callable[[ApiClient], T] | None = None,
) -> T:
    """Run the command where :func:`target` says: ``remote`` over the API, or ``action`` here.

    Here: open the platform, authenticate inside the transaction, run
    ``action``, close.
    """
    where = explicit_remote()
    if where is None:
        try:
            platform = open_platform()
        except NoPlatform:
            where = default_remote()
            if where is None:
                raise
    if where is not None:
        if remote is None:
            raise RemoteError(NO_ROUTE, details={"remote": True})
        if who is None and where.token is None:
            raise Unauthenticated(
                "需要令牌：--token、DATACOMPACT_TOKEN 或 datacompact login / a token is "
                "required: --token, DATACOMPACT_TOKEN or `datacompact login`"
            )
        with client(where, who) as api:
            return remote(api)
    try:
        if transaction == "own":
            with platform.db.read() as session:
                actor = _actor_for(platform, session, who)
            return action(Acting(platform, actor, who, None))
        opened = platform.db.write() if transaction == "write" else platform.db.read()
        with opened as session:
            return action(Acting(platform, _actor_for(platform, session, who), who, session))
    finally:
        # Release the pool at once: a CLI process opens the store for one call.
        platform.close()


def run(
    action: Callable[[Acting], T],
    *,
    who: Who,
    as_json: bool,
    render: Callable[[T, bool], None],
    transaction: Transaction = "read",
    remote: Callable[[ApiClient], T] | None = None,
) -> None:
    """A command's four steps: the platform, who acts, the call, its rendering or error.

    ``remote`` is the same call over the API (see :func:`call`); a command
    without one fails remotely with :data:`NO_ROUTE`.
    """
    with handled(as_json):
        render(call(action, who=who, transaction=transaction, remote=remote), as_json)

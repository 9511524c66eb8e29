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

The store (SQLAlchemy, Alembic) is imported when a command opens the platform,
not when the CLI starts, so commands that never touch it (``anonymize``,
``verify``, ``witness``, ``--help``) start quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from datacompact.cli._output import handled
from datacompact.config import Settings, get_settings
from datacompact.errors import ConfigurationError, Unauthenticated

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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


def initialized_settings() -> Settings:
    """The settings from the environment, once their home folder has been initialized."""
    settings = get_settings()
    if not settings.secret_path.exists():
        raise ConfigurationError(
            "平台尚未初始化，请先运行 datacompact init / the platform is not initialized: "
            "run `datacompact init` first",
            details={"home": str(settings.home)},
        )
    return settings


def open_platform(*, must_exist: bool = True) -> Platform:
    from datacompact.platform import Platform

    return Platform(initialized_settings() if must_exist else get_settings())


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


def call(action: Callable[[Acting], T], *, who: Who, transaction: Transaction = "read") -> T:
    """Open the platform, authenticate inside the transaction, run ``action``, close."""
    platform = open_platform()
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
) -> None:
    """A command's four steps: the platform, who acts, the call, its rendering or error."""
    with handled(as_json):
        render(call(action, who=who, transaction=transaction), as_json)

"""How CLI commands reach the platform: settings from the environment, a token for identity.

The store (SQLAlchemy, Alembic) is imported when a command opens the platform,
not when the CLI starts, so commands that never touch it (``anonymize``,
``verify``, ``witness``, ``--help``) start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from datacompact.config import get_settings
from datacompact.errors import ConfigurationError, Unauthenticated

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from datacompact.permissions import Principal
    from datacompact.platform import Platform

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DATACOMPACT_TOKEN",
        help="API 令牌 / API token of the acting member (or DATACOMPACT_TOKEN)",
        show_default=False,
    ),
]


def open_platform(*, must_exist: bool = True) -> Platform:
    from datacompact.platform import Platform

    settings = get_settings()
    if must_exist and not settings.secret_path.exists():
        raise ConfigurationError(
            "平台尚未初始化，请先运行 datacompact init / the platform is not initialized: "
            "run `datacompact init` first",
            details={"home": str(settings.home)},
        )
    return Platform(settings)


def actor_for(platform: Platform, session: Session, token: str | None) -> Principal:
    from datacompact.registry.tokens import authenticate

    if not token:
        raise Unauthenticated(
            "需要令牌：--token 或 DATACOMPACT_TOKEN / a token is required: --token or DATACOMPACT_TOKEN"
        )
    return authenticate(session=session, token=token, governance=platform.settings.governance_mode)

"""How CLI commands reach the platform: settings from the environment, a token for identity."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from datacompact.config import get_settings
from datacompact.errors import ConfigurationError, Unauthenticated
from datacompact.permissions import Principal
from datacompact.platform import Platform
from datacompact.registry.tokens import authenticate

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
    settings = get_settings()
    if must_exist and not settings.secret_path.exists():
        raise ConfigurationError(
            "平台尚未初始化，请先运行 datacompact init / the platform is not initialized: "
            "run `datacompact init` first",
            details={"home": str(settings.home)},
        )
    return Platform(settings)


def actor_for(platform: Platform, session: Session, token: str | None) -> Principal:
    if not token:
        raise Unauthenticated(
            "需要令牌：--token 或 DATACOMPACT_TOKEN / a token is required: --token or DATACOMPACT_TOKEN"
        )
    return authenticate(session=session, token=token, governance=platform.settings.governance_mode)

"""The ``datacompact`` command line (Typer + Rich). Commands are thin.

The application (:data:`app`) lives in :mod:`datacompact.cli._app` and is
imported on first use, so ``datacompact --version`` answers without loading
Typer, Rich, pydantic or any command. Exit codes are listed in
``datacompact.cli._output`` and ``docs/cli.md``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from datacompact import __version__

if TYPE_CHECKING:
    import typer

    app: typer.Typer

__all__ = ["app", "main"]


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(__version__)
        return
    from datacompact.cli._app import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from datacompact.cli._app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

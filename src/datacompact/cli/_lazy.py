"""Groups and commands imported when they are called, so one command loads only its own module.

``datacompact resources search`` imports the catalog's commands and nothing
of the projects, the ledger or the anonymizer; ``datacompact --help`` imports
them all to list them. A :class:`LazyGroup` is the root group of the
application: the commands defined on it are there at once, and each entry of
:attr:`LazyGroup.lazy` is a name and the module attribute that holds its Typer
group or command function, imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

#: A name of the root group and where its group or command is: a module and an
#: attribute, or a function that returns the Typer group (for assembled groups).
Where = tuple[str, str] | Callable[[], typer.Typer]


def command_of(name: str, where: Where) -> Any:
    """The Click command of a Typer group or command function, named ``name``."""
    if callable(where):
        found: Any = where()
    else:
        module, attribute = where
        found = getattr(importlib.import_module(module), attribute)
    parent = typer.Typer()
    if isinstance(found, typer.Typer):
        # Added as a group, as `add_typer` does: a group of one command stays a group.
        parent.add_typer(found, name=name)
    else:
        parent.command(name)(found)
        parent.command("-")(_placeholder)  # two commands: `parent` is a group
    # Typer ships its own copy of Click, so a group is whatever has commands.
    command: Any = typer.main.get_command(parent).commands[name]  # type: ignore[attr-defined]
    return command


def _placeholder() -> None:
    """Never called: makes the parent of a lone command a group."""


class LazyGroup(TyperGroup):
    """A Typer group whose :attr:`lazy` entries are imported when they are looked up."""

    lazy: ClassVar[dict[str, Where]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, Any] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = command_of(cmd_name, self.lazy[cmd_name])
        return self._loaded[cmd_name]

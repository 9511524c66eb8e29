"""Output and errors of the CLI, decided in one place.

Every command renders through :func:`emit` (a Rich table or panel for people,
``--json`` for scripts), usually by one of the render steps below (:func:`shown`,
:func:`listed`, :func:`recorded`), and runs inside :func:`handled`, which maps
the error tree to exit codes:

====  =========================================================
code  meaning
====  =========================================================
0     success (for ``verify`` and ``audit``: verified)
1     internal error
2     invalid input (bad identifier, unknown field, malformed file)
3     configuration error (home folder, secret, settings)
4     not authenticated (missing, unknown, expired or revoked token)
5     forbidden (role, ownership or governance rule)
6     not found
7     conflict (duplicate registration, invalid status change)
8     verification failed (signature, proof, tampered log)
9     metadata store unavailable
10    governed query failed after it was charged (one message whatever happened)
11    rate limited (too many requests of one kind; retry later)
12    no platform to act on: no home folder here and no --url or profile, or a command with no API route given a --url
13    remote platform unreachable (no such host, connection refused, timeout)
14    the --url answers, but not as a DataCompact platform
15    the remote platform's TLS certificate is not trusted
====  =========================================================
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from datacompact.errors import DataCompactError, InvalidInput

if TYPE_CHECKING:
    from datacompact.events import Recorded

JsonFlag = Annotated[bool, typer.Option("--json", help="输出 JSON / print JSON for scripts")]

console = Console()
err_console = Console(stderr=True)


@contextmanager
def handled(as_json: bool = False) -> Iterator[None]:
    """Turn a :class:`DataCompactError` into one line on stderr and its exit code."""
    try:
        try:
            yield
        except ValidationError as exc:
            # Options that reach a schema: report the fields, never the values.
            fields = sorted({".".join(str(p) for p in e["loc"]) or "value" for e in exc.errors()})
            raise InvalidInput(
                f"参数无效 / invalid option values: check {', '.join(fields)}",
                details={"fields": fields},
            ) from exc
    except DataCompactError as exc:
        if as_json:
            print(json.dumps(exc.to_envelope(), ensure_ascii=False), file=sys.stderr)
        else:
            err_console.print(
                f"[bold red]{exc.title}[/] {escape(one_line(exc))}", highlight=False, soft_wrap=True
            )
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        # A bug, not a user error: one line, no data; DATACOMPACT_DEBUG=1 shows the trace.
        if os.environ.get("DATACOMPACT_DEBUG"):
            raise
        err_console.print(
            f"[bold red]内部错误 / internal error[/] ({type(exc).__name__}); "
            "set DATACOMPACT_DEBUG=1 for details",
            highlight=False,
        )
        raise typer.Exit(1) from None


def one_line(exc: DataCompactError) -> str:
    """``[code] [finding] message``: what follows the error's title on the console."""
    label = exc.details.get("finding_label")
    finding = f" [{label}]" if isinstance(label, str) else ""
    return f"[{exc.code}]{finding}: {exc.message}"


def emit(
    data: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    title: str = "",
    empty: str = "",
) -> None:
    """Print ``data``: JSON for scripts, a table (lists) or key/value grid (objects) for people.

    A list with no row prints ``empty`` (or a generic line) instead of a bare
    header, so that "nothing found" is never a blank table.
    """
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    if isinstance(data, list):
        if not data:
            console.print(empty or "没有结果 / nothing found", highlight=False)
            return
        cols = list(columns or data[0].keys())
        table = fitted_table(*cols, title=title)
        for row in data:
            table.add_row(*(_cell(row.get(c)) for c in cols))
        console.print(table)
        return
    if isinstance(data, dict):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in data.items():
            if columns is None or key in columns:
                grid.add_row(str(key), _cell(value))
        if title:
            console.print(f"[bold]{title}[/]")
        console.print(grid)
        return
    console.print(str(data))


def fitted_table(*columns: str, title: str = "") -> Table:
    """A table that fits the terminal: long values fold onto more lines, never cut with '…'."""
    table = Table(title=title or None, expand=False, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def step_printer() -> Callable[[str], None]:
    """A progress callback printing each step to stderr with the seconds since the first one."""
    started = time.monotonic()

    def step(message: str) -> None:
        elapsed = time.monotonic() - started
        err_console.print(
            f"[dim]{elapsed:7.1f} s[/] {escape(message)}", highlight=False, soft_wrap=True
        )

    return step


def shown(data: Any, as_json: bool) -> None:
    """Render one object (a key/value grid) or a list with all its columns."""
    emit(data, as_json=as_json)


def listed(*columns: str, title: str = "") -> Callable[[Any, bool], None]:
    """Render rows as a table of these columns (every field with ``--json``)."""

    def render(rows: Any, as_json: bool) -> None:
        emit(rows, as_json=as_json, columns=columns, title=title)

    return render


def recorded(result: Recorded[Any], as_json: bool) -> None:
    """Render a change: the object as it now stands and the index of its log entry."""
    emit({**result.value.model_dump(mode="json"), "log_index": result.log_index}, as_json=as_json)


def _cell(value: Any) -> str:
    """A value as table text: nested objects as ``key: value`` lines, lists one item a line."""
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return "\n".join(_lines(value)) or "-"
    return str(value)


def _lines(value: Any, indent: str = "") -> list[str]:
    """``key: value`` lines of nested JSON, indented by depth (scalars stay on their key's line)."""
    out: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, item in items:
        label = f"{indent}{key}: " if key is not None else f"{indent}- "
        if isinstance(item, dict | list) and item:
            if not isinstance(item, dict) and all(not isinstance(i, dict | list) for i in item):
                out.append(label + ", ".join("-" if i is None else str(i) for i in item))
            elif key is None and isinstance(item, dict):
                # A list of objects: each item's first key on its "- " line.
                first, *rest = _lines(item, indent + "  ")
                out.extend([label + first.lstrip(), *rest])
            else:
                out.append(label.rstrip())
                out.extend(_lines(item, indent + "  "))
        else:
            out.append(label + ("-" if item is None or item in ({}, []) else str(item)))
    return out

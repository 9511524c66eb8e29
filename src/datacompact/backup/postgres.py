"""PostgreSQL through its own tools: ``pg_dump`` (custom format) and ``pg_restore``.

The dump and the log size written into the manifest come from one and the
same snapshot: a REPEATABLE READ transaction exports its snapshot
(``pg_export_snapshot()``), reads the log head and the migration revision,
and stays open while ``pg_dump --snapshot`` dumps exactly that state. The
server keeps taking writes the whole time.

The tools must be at least the server's major version (``pg_dump`` refuses
newer servers, and an older ``pg_restore`` cannot read a newer archive).
They are looked up in ``/usr/lib/postgresql/<major>/bin`` first (Debian and
Ubuntu keep one folder per version), then on ``PATH``. The password, if the
URL has one, goes to the tools through ``PGPASSWORD``, never on a command
line that ``ps`` would show.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import make_url

from datacompact.errors import ConfigurationError, StoreUnavailable

_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")
_TIMEOUT_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Target:
    """How the PostgreSQL tools reach the database of a SQLAlchemy URL."""

    conninfo: str
    env: dict[str, str]


def target_of(url: str) -> Target:
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return Target(plain.render_as_string(hide_password=False), env)


def server_major(connection: Connection) -> int:
    number = connection.execute(text("SHOW server_version_num")).scalar_one()
    return int(number) // 10000


def find_tool(name: str, major: int) -> Path:
    """``pg_dump`` or ``pg_restore`` of at least the server's major version."""
    candidates = [Path(f"/usr/lib/postgresql/{major}/bin/{name}")]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and _tool_major(candidate) >= major:
            return candidate
    raise ConfigurationError(
        f"找不到 PostgreSQL {major} 或更新版本的 {name} / expected {name} of PostgreSQL {major} "
        "or newer, got none on this machine: install the client tools of the server's version",
        details={"tool": name, "server_major": major},
    )


def _tool_major(tool: Path) -> int:
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [str(tool), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    match = _VERSION.search(out)
    return int(match.group(1)) if match else 0


def _run(command: list[str], target: Target, what: str) -> None:
    try:
        # No shell, and every value is passed as --option=value, never as an option itself.
        done = subprocess.run(  # noqa: S603
            command, env=target.env, capture_output=True, text=True, timeout=_TIMEOUT_SECONDS
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise StoreUnavailable(
            f"{what}失败 / {what} could not run", details={"tool": Path(command[0]).name}
        ) from exc
    if done.returncode != 0:
        # The tool's own message names tables and options, not row data; the
        # last line is what an operator needs to act.
        last = (done.stderr.strip().splitlines() or [""])[-1][:300]
        raise StoreUnavailable(
            f"{what}失败 / {what} failed: {last}",
            details={"tool": Path(command[0]).name, "exit_status": done.returncode},
        )


def dump(connection: Connection, url: str, snapshot: str, out: Path) -> None:
    """``pg_dump -Fc`` of the database at ``url`` as of the exported ``snapshot``."""
    tool = find_tool("pg_dump", server_major(connection))
    target = target_of(url)
    _run(
        [
            str(tool),
            "--format=custom",
            f"--snapshot={snapshot}",
            "--no-password",
            f"--file={out}",
            f"--dbname={target.conninfo}",
        ],
        target,
        "数据库导出 / pg_dump",
    )


def is_empty(engine: Engine) -> bool:
    """True if the database holds no table in any schema the platform uses."""
    return not inspect(engine).get_table_names()


def clear(engine: Engine) -> None:
    """Drop the ``public`` schema with everything in it and create it again (``--force``)."""
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


def restore(engine: Engine, url: str, archive: Path) -> None:
    """``pg_restore`` an archive into the (empty) database at ``url``, all or nothing."""
    with engine.connect() as connection:
        major = server_major(connection)
    tool = find_tool("pg_restore", major)
    target = target_of(url)
    _run(
        [
            str(tool),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            f"--dbname={target.conninfo}",
            str(archive),
        ],
        target,
        "数据库恢复 / pg_restore",
    )

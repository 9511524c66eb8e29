"""Named profiles of a remote CLI: a platform's URL and a token, in the user's config folder.

``datacompact login`` writes one; ``--profile NAME`` or ``DATACOMPACT_PROFILE``
picks one; ``datacompact logout`` removes it. The file is
``$XDG_CONFIG_HOME/datacompact/profiles.toml`` (``~/.config/...`` when the
variable is unset), a TOML table per profile::

    [profiles.default]
    url = "https://platform.example.gov.cn"
    user = "amr.analyst"
    token = "dc_..."
    token_id = 17
    expires_at = "2027-01-06T10:00:00+00:00"

It holds bearer tokens, so it is written with mode 0600 in a folder of mode
0700, replaced atomically, and refused when anyone but its owner may read it
(as ssh refuses a readable private key).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from datacompact.errors import ConfigurationError, InvalidInput, NotAPlatform, NotFound

DEFAULT_PROFILE = "default"
PROFILES_FILE = "profiles.toml"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Profile:
    """One platform the CLI can act on, and who acts there."""

    url: str
    token: str
    user: str = ""
    token_id: int | None = None
    expires_at: str = ""


def config_dir() -> Path:
    """The user's DataCompact config folder (XDG base directories)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "datacompact"


def profiles_path() -> Path:
    return config_dir() / PROFILES_FILE


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "配置名称无效 / invalid profile name: expected 1 to 64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit",
            details={"option": "--profile"},
        )
    return name


def load_all() -> dict[str, Profile]:
    """Every stored profile; none when the file does not exist."""
    path = profiles_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigurationError(
            f"无法读取配置文件 / cannot read the profiles file: {exc.strerror}",
            details={"path": str(path)},
        ) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigurationError(
                "配置文件含令牌，其他用户不得读取，请执行 chmod 600 / the profiles file holds "
                "tokens and others may read it: run `chmod 600` on it",
                details={"path": str(path), "mode": oct(stat.S_IMODE(mode))},
            )
        try:
            document = tomllib.load(handle)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise ConfigurationError(
                "配置文件不是有效的 TOML / the profiles file is not valid TOML",
                details={"path": str(path)},
            ) from None
    found: dict[str, Profile] = {}
    tables = document.get("profiles", {})
    for name, table in tables.items() if isinstance(tables, dict) else ():
        if not isinstance(table, dict) or not isinstance(table.get("url"), str):
            continue
        token_id = table.get("token_id")
        found[name] = Profile(
            url=table["url"],
            token=str(table.get("token", "")),
            user=str(table.get("user", "")),
            token_id=token_id if isinstance(token_id, int) else None,
            expires_at=str(table.get("expires_at", "")),
        )
    return found


def load(name: str) -> Profile:
    """The profile called ``name``, or a :class:`NotFound` that says how to create it."""
    profile = load_all().get(check_name(name))
    if profile is None:
        raise NotFound(
            "没有此配置，请先运行 datacompact login / no such profile: run "
            "`datacompact login --url URL --user NAME` first",
            details={"profile": name, "path": str(profiles_path())},
        )
    return profile


def _toml(profiles: dict[str, Profile]) -> str:
    lines = [
        "# datacompact login 写入；含 API 令牌，请勿外传 / written by `datacompact login`;",
        "# it holds API tokens: keep it private (mode 0600).",
    ]
    for name, profile in sorted(profiles.items()):
        lines.append("")
        lines.append(f"[profiles.{json.dumps(name)}]")
        for key, value in asdict(profile).items():
            if value is None:
                continue
            # A JSON string with ASCII escapes is a valid TOML basic string.
            text = str(value) if isinstance(value, int) else json.dumps(value)
            lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def _write(profiles: dict[str, Profile]) -> Path:
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / PROFILES_FILE
    # mkstemp creates the file with mode 0600; os.replace swaps it in whole.
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".profiles-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_toml(profiles))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save(name: str, profile: Profile) -> Path:
    """Store ``profile`` as ``name`` (replacing one of that name); the file's path."""
    profiles = load_all()
    profiles[check_name(name)] = profile
    return _write(profiles)


def remove(name: str) -> Profile:
    """Forget the profile called ``name``; the profile that was removed."""
    profiles = load_all()
    removed = load(name)
    del profiles[name]
    _write(profiles)
    return removed


# -- the commands ------------------------------------------------------------


def login(
    url: str | None,
    user: str,
    profile: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Log in with a password, store the token as a profile, print who and where."""
    import sys

    import typer

    from datacompact.cli import _context
    from datacompact.cli._output import emit, handled
    from datacompact.cli._remote import ApiClient, normalized_url

    with handled(as_json):
        explicit_url, explicit_profile = _context.explicit_options()
        name = check_name(profile or explicit_profile or DEFAULT_PROFILE)
        where = url or explicit_url
        if where is None:
            raise InvalidInput(
                "需要平台地址：--url 或 DATACOMPACT_URL / the platform's URL is required: "
                "--url or DATACOMPACT_URL",
                details={"option": "--url"},
            )
        where = normalized_url(where)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("密码 / password", hide_input=True)
        with ApiClient(where, None) as api:
            issued = api.change(
                "POST",
                "/auth/token",
                {"username": user, "password": password, "label": "datacompact CLI"},
            ).value
        token = issued.get("token")
        if not isinstance(token, str):
            raise NotAPlatform(
                "登录应答中没有令牌 / the platform's login answer holds no token: check --url",
                details={"url": where},
            )
        path = save(
            name,
            Profile(
                url=where,
                token=token,
                user=user,
                token_id=issued.get("id") if isinstance(issued.get("id"), int) else None,
                expires_at=str(issued.get("expires_at") or ""),
            ),
        )
        emit(
            {
                "profile": name,
                "url": where,
                "user": user,
                "expires_at": issued.get("expires_at"),
                "file": str(path),
            },
            as_json=as_json,
            title="已登录 / logged in",
        )


def logout(profile: str | None, as_json: bool) -> None:
    """Revoke the profile's token on the platform if it answers, and forget the profile."""
    from datacompact.cli import _context
    from datacompact.cli._output import emit, err_console, handled
    from datacompact.cli._remote import ApiClient
    from datacompact.errors import DataCompactError

    with handled(as_json):
        _, explicit_profile = _context.explicit_options()
        name = check_name(profile or explicit_profile or DEFAULT_PROFILE)
        stored = load(name)
        revoked = False
        if stored.token_id is not None and stored.token:
            try:
                with ApiClient(stored.url, stored.token) as api:
                    api.change("DELETE", f"/tokens/{stored.token_id}")
                revoked = True
            except DataCompactError as exc:
                # Forgotten here all the same; the token expires on its own.
                err_console.print(
                    f"[yellow]令牌未能在平台上吊销 / the token was not revoked on the platform[/] "
                    f"({exc.code}); it expires at {stored.expires_at or 'its expiry'}",
                    highlight=False,
                )
        remove(name)
        emit(
            {"profile": name, "url": stored.url, "revoked": revoked},
            as_json=as_json,
            title="已退出 / logged out",
        )

"""The README's command blocks run from a second machine, against the served demo city.

The same blocks as ``tests/test_readme.py``, in the same order, but from a
folder of their own with no ``.datacompact`` in it, a ``HOME`` and config
folder of their own, and no ``DATACOMPACT_HOME``: the CLI knows only the
platform's URL (``DATACOMPACT_URL``) and the demo users' tokens, which the
operator hands out (the credentials file is read where the operator wrote it,
as a user would be given their token). The operator's own commands
(``datacompact ledger ...``: they read the store itself) run on the server,
in its folder, as the README says they must.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .test_readme import README, RUN_SECONDS, blocks, city

pytestmark = pytest.mark.slow

# The served demo city of the local README test.
__all__ = ["city"]

#: Commands that touch the store directly: on the server, never through the URL.
SERVER_SIDE = re.compile(r"\bdatacompact (ledger)\b")


def remote_script(text: str, *, base: str, server_folder: Path) -> str:
    """One README block as the second machine runs it."""
    credentials = server_folder / ".datacompact" / "demo-credentials.json"
    text = text.replace("127.0.0.1:8000", base)
    text = text.replace('".datacompact/demo-credentials.json"', f'"{credentials}"')
    # The operator's commands run in the server's folder (see :func:`on_server`).
    return SERVER_SIDE.sub(lambda m: f"on_server {m[0]}", text)


def on_server(server_folder: Path) -> str:
    """The shell function that runs a command in the server's folder, without the URL."""
    return (
        f"on_server() {{ (cd '{server_folder}' && "
        'env -u DATACOMPACT_URL -u DATACOMPACT_TOKEN "$@"); }'
    )


def test_remote_script_rewrites() -> None:
    script = remote_script(
        'open(".datacompact/demo-credentials.json") curl http://127.0.0.1:8000/x\n'
        "datacompact ledger check   # operator",
        base="127.0.0.1:9",
        server_folder=Path("/srv/city"),
    )
    assert '"/srv/city/.datacompact/demo-credentials.json"' in script
    assert "http://127.0.0.1:9/x" in script
    assert "on_server datacompact ledger check   # operator" in script


def test_every_readme_command_runs_from_a_second_machine(
    city: tuple[Path, dict[str, str], str], tmp_path: Path
) -> None:
    work, env, base = city
    second = tmp_path / "second"
    second.mkdir()
    env = env | {
        "HOME": str(second),
        "XDG_CONFIG_HOME": str(second / ".config"),
        "DATACOMPACT_URL": f"http://{base}",
    }
    runnable = [b for b in blocks(README.read_text(encoding="utf-8")) if b.skip is None]
    script = ["set -euo pipefail", on_server(work)]
    for block in runnable:
        script.append(f"echo '>>> README.md line {block.line}' >&2")
        script.append(remote_script(block.text, base=base, server_folder=work))
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=second,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )
    markers = re.findall(r">>> README\.md line \d+", result.stderr)
    where = markers[-1] if markers else "before the first block"
    assert result.returncode == 0, f"failed in the block at {where}:\n{result.stderr[-4000:]}"
    assert len(markers) == len(runnable)
    # Nothing of a platform was created on the second machine.
    assert not (second / ".datacompact").exists()

"""The README's command blocks run, in order, on a fresh demo city served by ``datacompact serve``.

Every ```` ```sh ```` block of README.md runs, unless the line before it is a
``<!-- readme-test: skip (reason) -->`` comment. The blocks run one after the
other in one bash process (``set -euo pipefail``), as a reader would type them
in one terminal: from a folder holding ``.datacompact`` built by
``datacompact demo --no-serve`` at the smallest scale, with that city served
on a free port that replaces the README's ``127.0.0.1:8000``. ``datacompact``
and ``python3`` on the PATH are this interpreter.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import datacompact

from .test_smoke import STARTUP_SECONDS, free_port

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
DEMO_SCALE = "0.01"
RUN_SECONDS = 900


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    text: str
    skip: str | None  # the reason, when the block must not run


def blocks(text: str) -> list[Block]:
    """The ``sh`` blocks of a Markdown text, each with the skip reason written before it."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            start = i
            i += 1
            body: list[str] = []
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            match = SKIP.search(before)
            found.append(Block(start + 1, "\n".join(body), match["reason"] if match else None))
        i += 1
    return found


def test_the_block_parser() -> None:
    text = "x\n<!-- readme-test: skip (a reason) -->\n```sh\nmake demo\n```\n\n```sh\nls\n```\n"
    assert blocks(text) == [Block(3, "make demo", "a reason"), Block(7, "ls", None)]


def test_every_skipped_block_says_why_and_most_blocks_run() -> None:
    found = blocks(README.read_text(encoding="utf-8"))
    skipped = [b for b in found if b.skip is not None]
    assert all(b.skip and b.skip.strip() for b in skipped)
    assert len(found) - len(skipped) >= 5
    # Commands that serve until stopped never run unmarked.
    for block in found:
        if re.search(r"\b(make demo|datacompact (serve|demo)|witness serve)\b", block.text):
            assert block.skip is not None, block.line


def test_the_readme_links_nothing_outside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    root = README.parent
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert not re.match(r"[a-z]+://", target), target
        path = target.split("#", 1)[0]
        if path:
            assert (root / path).exists(), target


@pytest.fixture
def city(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A fresh demo city in ``tmp_path/work``, served; yields (folder, env, base URL)."""
    work = tmp_path / "work"
    work.mkdir()
    shims = tmp_path / "bin"
    shims.mkdir()
    for name, command in {
        "datacompact": f"{shlex.quote(sys.executable)} -m datacompact",
        "python3": shlex.quote(sys.executable),
    }.items():
        shim = shims / name
        shim.write_text(f'#!/bin/sh\nexec {command} "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOMPACT_")}
    env["PATH"] = f"{shims}{os.pathsep}{env.get('PATH', '')}"
    # The commands run the code under test, whatever the working folder.
    source = str(Path(datacompact.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    built = subprocess.run(
        ["datacompact", "demo", "--no-serve", "--scale", DEMO_SCALE, "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        ["datacompact", "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        yield work, env, base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_every_readme_command_runs_on_a_fresh_demo_city(
    city: tuple[Path, dict[str, str], str],
) -> None:
    work, env, base = city
    runnable = [b for b in blocks(README.read_text(encoding="utf-8")) if b.skip is None]
    script = ["set -euo pipefail"]
    for block in runnable:
        script.append(f"echo '>>> README.md line {block.line}' >&2")
        script.append(block.text.replace("127.0.0.1:8000", base))
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
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

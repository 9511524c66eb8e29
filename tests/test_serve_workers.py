"""``datacompact serve --workers 2``: the workers share keep-alive connections evenly.

Both stores: the workers serve the platform, so each opens the store; which
worker holds a connection is read from ``/proc`` (the socket's inode in the
process's descriptors), not from anything the server reports about itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datacompact.serving import ConnectionBoard
from tests.conftest import PgServer

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 90
CONNECTIONS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _held(pids: list[int], port: int) -> dict[int, int]:
    """Established connections to ``port`` held by each process in ``pids``."""
    owner: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    owner[target[8:-1]] = pid
    held = dict.fromkeys(pids, 0)
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = row.split()
        local_port, state, inode = int(cols[1].rsplit(":", 1)[1], 16), cols[3], cols[9]
        if local_port == port and state == "01" and inode in owner:
            held[owner[inode]] += 1
    return held


def _get(sock: socket.socket, path: str) -> int:
    """One keep-alive HTTP/1.1 GET on an open socket; the response's status."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1])


@pytest.fixture
def served(
    backend: str, tmp_path: Path, pg_server: PgServer | None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOMPACT_")}
    env["DATACOMPACT_HOME"] = str(tmp_path / "home")
    database = None
    if backend == "postgresql" and pg_server is not None:
        database = f"dct_workers_{os.getpid()}_{time.monotonic_ns()}"
        env["DATACOMPACT_DATABASE_URL"] = pg_server.create(database)
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "datacompact", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        ready = 0
        while ready < 2 * CONNECTIONS:  # both workers ready: many fresh connections say so
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the server did not come up"
            try:
                code = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except httpx.TransportError:
                code = 0
            ready = ready + 1 if code == 200 else 0
            time.sleep(0.05)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if database and pg_server is not None:
            pg_server.drop_later(database)


def test_a_burst_of_keep_alive_connections_is_shared_by_both_workers(
    served: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = served
    workers = _workers(process.pid)
    assert len(workers) == 2
    # Opened together, as a client's connection pool does: asyncio alone lets
    # whichever worker wakes first accept all of them.
    burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    try:
        assert all(_get(sock, "/readyz") == 200 for sock in burst)
        held = _held(workers, port)
        assert sum(held.values()) == CONNECTIONS
        assert sorted(held.values()) in ([4, 4], [3, 5]), held

        # One worker killed: the other keeps its connections, and takes new
        # ones at once (the dead worker's slot on the board no longer counts).
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while len(kept := [sock for sock in burst if _alive(sock)]) > held[workers[1]]:
            assert time.monotonic() < deadline, "the killed worker's connections stayed open"
            time.sleep(0.05)
        assert len(kept) == held[workers[1]]
        assert all(_get(sock, "/healthz") == 200 for sock in kept)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port)) as fresh:
            assert _get(fresh, "/healthz") == 200
        assert time.monotonic() - started < 5
    finally:
        for sock in burst:
            sock.close()


def _alive(sock: socket.socket) -> bool:
    """Whether the server end of a keep-alive connection is still open."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


_CLAIM = """
import sys
from pathlib import Path
from datacompact.serving import ConnectionBoard
board = ConnectionBoard(Path(sys.argv[1]))
board.publish(int(sys.argv[2]))
print(board.slot, flush=True)
sys.stdin.read()
"""


def test_the_board_counts_live_workers_only(tmp_path: Path) -> None:
    path = tmp_path / "board"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIM, str(path), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for count in (5, 2)
    ]
    try:
        slots = [int(child.stdout.readline()) for child in children if child.stdout]
        assert sorted(slots) == [0, 1]
        board = ConnectionBoard(path)
        assert board.slot == 2  # the first slot nobody holds
        assert sorted(board.others()) == [2, 5]
        board.publish(3)
        children[0].kill()
        children[0].wait()
        assert board.others() == [2]  # a dead worker's numbers stay in the file, ignored
        restarted = ConnectionBoard(path)  # a new worker takes the free slot over, at 0
        assert restarted.slot == slots[0]
    finally:
        for child in children:
            child.kill()
            child.wait()
            for pipe in (child.stdin, child.stdout):
                if pipe is not None:
                    pipe.close()


def test_the_cli_names_the_board_the_workers_read() -> None:
    from datacompact import serving
    from datacompact.cli import _app

    assert f'os.environ["{serving.BOARD_ENV}"]' in Path(_app.__file__).read_text(encoding="utf-8")

"""End to end: a log served by ``datacompact serve``, two witness processes, ``datacompact audit``.

Everything runs as separate processes talking HTTP on 127.0.0.1, as an
auditor, two independent witnesses and the platform would in production.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "datacompact"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _wait_http(
    url: str,
    ready: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
    seconds: float = 30,
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        try:
            response = httpx.get(url, timeout=2)
            if ready(response):
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not become ready")
        time.sleep(0.2)


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [*CLI, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop()


def test_served_log_is_witnessed_and_audited(tmp_path: Path, processes: Processes) -> None:
    env = {**os.environ, "DATACOMPACT_HOME": str(tmp_path / "home")}
    assert _run(env, "init").returncode == 0
    log_vkey = _run(env, "ledger", "key").stdout.strip()

    witness_vkeys = []
    policy = [f"log {log_vkey}"]
    for name in ("audit-office", "industry-alliance"):
        keygen = _run(env, "witness", "keygen", "--name", name, "--out", str(tmp_path / name))
        assert keygen.returncode == 0, keygen.stderr
        vkey = keygen.stdout.strip().splitlines()[-1]
        port = _free_port()
        processes.start(
            env, "witness", "serve", "--key", str(tmp_path / name), "--log-key", log_vkey,
            "--state", str(tmp_path / f"{name}-state"), "--port", str(port),
        )  # fmt: skip
        witness_vkeys.append(vkey)
        policy.append(f"witness {name} {vkey} http://127.0.0.1:{port}")
    policy += ["group both 2 audit-office industry-alliance", "quorum both"]
    (tmp_path / "policy").write_text("\n".join(policy) + "\n")

    env["DATACOMPACT_WITNESS_POLICY"] = str(tmp_path / "policy")
    env["DATACOMPACT_CHECKPOINT_INTERVAL_SECONDS"] = "1"
    assert _run(env, "demo", "--no-serve", "--scale", "0.01").returncode == 0
    port = _free_port()
    processes.start(env, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/readyz")
    note = _wait_http(f"{base}/ledger/checkpoint", lambda r: r.text.count("\n—") >= 3).text
    assert "audit-office" in note
    assert "industry-alliance" in note

    audit = [
        "audit", "--url", f"{base}/ledger", "--key", log_vkey,
        "--witness", witness_vkeys[0], "--witness", witness_vkeys[1], "--quorum", "2",
    ]  # fmt: skip
    first = _run(env, *audit, "--state", str(tmp_path / "mirror"), "--json")
    assert first.returncode == 0, first.stderr

    # The platform keeps working; the next audit is incremental and consistent.
    token = _json_token(tmp_path / "home" / "demo-credentials.json")
    created = httpx.post(
        f"{base}/api/v1/tokens", json={"label": "e2e"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    index = created.json()["receipt"]["log_index"]
    _wait_http(f"{base}/ledger/checkpoint", lambda r: _size(r.text) > index)
    second = _run(env, *audit, "--state", str(tmp_path / "mirror"))
    assert second.returncode == 0, second.stderr

    # The operator edits an old entry in the database: a fresh audit catches it.
    with sqlite3.connect(tmp_path / "home" / "datacompact.db") as db:
        entry = db.execute("SELECT entry FROM events WHERE seq = 3").fetchone()[0]
        db.execute(
            "UPDATE events SET entry = ? WHERE seq = 3", (entry.replace(b'"v":1', b'"v":7'),)
        )
    tampered = _run(env, *audit, "--state", str(tmp_path / "fresh-mirror"))
    assert tampered.returncode == 8, tampered.stderr
    assert len(tampered.stderr.strip().splitlines()) == 1
    check = _run(env, "ledger", "check")
    assert check.returncode == 8


def _json_token(path: Path) -> str:
    return str(json.loads(path.read_text())[0]["token"])


def _size(note: str) -> int:
    lines = note.splitlines()
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1


def test_the_demo_serves_under_two_witness_processes(tmp_path: Path) -> None:
    """`datacompact demo` runs both witnesses; stopping one shows in receipts and /readyz."""
    env = {
        **os.environ,
        "DATACOMPACT_HOME": str(tmp_path / "home"),
        "DATACOMPACT_CHECKPOINT_INTERVAL_SECONDS": "1",
    }
    env.pop("DATACOMPACT_WITNESS_POLICY", None)
    port, first = _free_port(), _free_port()
    while first + 1 == port:
        first = _free_port()
    out = open(tmp_path / "demo.out", "wb")  # noqa: SIM115 - closed below, after the process
    demo = subprocess.Popen(
        [*CLI, "demo", "--scale", "0", "--port", str(port), "--witness-port", str(first)],
        env={**env, "COLUMNS": "200"},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        # The demo city is built before it is served: minutes on a busy machine.
        ready = _wait_http(f"{base}/readyz", seconds=600).json()
        assert ready["status"] == "ready", ready
        assert ready["witnesses"]["cosigners"] == ["city-audit-office", "enterprise-council"]
        printed = (tmp_path / "demo.out").read_text(errors="replace")
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", printed)]
        assert len(pids) == 2, printed
        policy = tmp_path / "home" / "witness.policy"

        verified = _run(
            env, "verify", "receipt", "--index", "5", "--url", base,
            "--witness-policy", str(policy),
        )  # fmt: skip
        assert verified.returncode == 0, verified.stderr
        assert "witnessed by city-audit-office, enterprise-council" in verified.stdout

        # Stop one witness; the next entry's receipt is not witnessed and says who is missing.
        os.kill(pids[1], signal.SIGTERM)
        token = _json_token(tmp_path / "home" / "demo-credentials.json")
        created = httpx.post(
            f"{base}/api/v1/tokens",
            json={"label": "e2e"},
            headers={"Authorization": f"Bearer {token}"},
        )
        index = created.json()["receipt"]["log_index"]
        # Signed first, then cosigned: wait for the witness that is still up.
        proof = _wait_http(
            f"{base}/ledger/proof/{index}",
            lambda r: r.status_code == 200 and r.json()["cosigners"] == ["city-audit-office"],
        ).json()
        assert proof["witnessed"] is False
        assert proof["missing"] == ["enterprise-council"]
        degraded = httpx.get(f"{base}/readyz")
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded"
        assert degraded.json()["witnesses"]["unreachable"] == ["enterprise-council"]
        refused = _run(
            env, "verify", "receipt", "--index", str(index), "--url", base,
            "--witness-policy", str(policy),
        )  # fmt: skip
        assert refused.returncode == 8
        assert "missing enterprise-council" in refused.stderr
    finally:
        # SIGTERM, as a service manager stops it (Ctrl+C's SIGINT ends in Python anyway).
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        out.close()
    # The demo stopped its remaining witness on the way out.
    time.sleep(0.5)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{first}", timeout=1)

"""End to end: ``datacompact demo --no-serve`` then ``datacompact serve`` as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    variables = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DATACOMPACT_")  # no database URL, token or mode from outside
    }
    return variables | {"DATACOMPACT_HOME": str(home)}


def datacompact(*args: str) -> list[str]:
    return [sys.executable, "-m", "datacompact", *args]


@pytest.fixture
def server(env: dict[str, str], home: Path, tmp_path: Path) -> Iterator[str]:
    built = subprocess.run(
        datacompact("demo", "--no-serve", "--scale", "0.01", "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["participants"] > 40
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        datacompact("serve", "--port", str(port)), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_served_demo_city(server: str, home: Path) -> None:
    credentials = json.loads((home / "demo-credentials.json").read_text(encoding="utf-8"))
    by_user = {c["user"]: c for c in credentials}
    analyst = {"Authorization": f"Bearer {by_user['amr.analyst']['token']}"}

    with httpx.Client(base_url=server, timeout=10) as client:
        assert client.get("/readyz").json()["status"] == "ready"
        document = client.get("/api/v1/openapi.json").json()
        assert "/api/v1/participants" in document["paths"]

        me = client.get("/api/v1/me", headers=analyst)
        assert me.status_code == 200
        assert me.json()["data"]["username"] == "amr.analyst"

        listed = client.get("/api/v1/participants", headers=analyst).json()["data"]
        assert len(listed) == len({c["participant"] for c in credentials})

        events = client.get("/api/v1/events", headers=analyst).json()["data"]
        assert [e["index"] for e in events] == list(range(len(events)))

        issued = client.post("/api/v1/tokens", json={"label": "smoke"}, headers=analyst)
        assert issued.status_code == 201, issued.text
        body = issued.json()
        assert body["receipt"]["log_index"] >= len(events)
        new = {"Authorization": f"Bearer {body['data']['token']}"}
        assert client.get("/api/v1/me", headers=new).status_code == 200

        denied = client.get("/api/v1/me")
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "unauthenticated"

"""How fast the CLI starts, and a remote command end to end against a local server.

Three figures, each the median (and the fastest) of ``--runs`` fresh processes:

- ``datacompact --version``: the interpreter and the entry point only;
- a remote ``resources search`` (``--url`` and a token): the CLI, its catalog
  commands, the HTTP client and one request to ``datacompact serve`` on this
  machine, from a home folder with no platform in it;
- the same search run locally on the server's home folder, for comparison
  (it opens the store itself).

Each figure has the processes' CPU time beside the wall time: on a shared,
busy machine the wall time is mostly waiting for a core, and the CPU time
is what it comes to on an idle one. The search's request alone (one
keep-alive ``GET /api/v1/resources``) is timed apart.

Targets (wall time): ``--version`` ≤ 0.3 s; the remote search ≤ 0.5 s.

The platform is a fresh one (``init``, one bootstrapped participant and one
registered resource), served by ``datacompact serve`` with one worker.

Run: ``.venv/bin/python benchmarks/cli/bench_startup.py [--runs N]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from stdnum.cn import uscc

VERSION_TARGET_S = 0.3
REMOTE_SEARCH_TARGET_S = 0.5
STEM = "11330100MB0000001"  # a regulator's code without its check character


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "datacompact", *args]


@dataclass
class Timed:
    """Wall-clock seconds of each process, and the CPU seconds it used (user + system)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> Timed:
    timed = Timed()
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        timed.wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        timed.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv[2:])} failed: {done.stderr.strip()}")
    return timed


def _report(label: str, timed: Timed, target: float | None) -> bool:
    median = statistics.median(timed.wall)
    line = (
        f"{label:<34} median {median:6.3f} s   fastest {min(timed.wall):6.3f} s   "
        f"CPU median {statistics.median(timed.cpu):6.3f} s"
    )
    if target is None:
        print(line)
        return True
    met = median <= target
    print(f"{line}   target ≤ {target:.1f} s: {'met' if met else 'NOT met'}")
    return met


def _platform(folder: Path) -> tuple[dict[str, str], str]:
    """A fresh platform home with one participant and one resource; its env and a token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOMPACT_")}
    env |= {"DATACOMPACT_HOME": str(folder / "home")}
    subprocess.run(_cli("init"), env=env, check=True, capture_output=True)
    registration = {
        "kind": "regulator",
        "name": "基准测试监管方",
        "uscc": STEM + uscc.calc_check_digit(STEM),
        "region_code": "330106",
        "admin": {
            "username": "bench.admin",
            "display_name": "管理员",
            "password": "correct horse battery",
        },
    }
    (folder / "first.json").write_text(json.dumps(registration), encoding="utf-8")
    done = subprocess.run(
        _cli("participants", "bootstrap", "--file", str(folder / "first.json"), "--json"),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = str(json.loads(done.stdout)["admin_token"])
    (folder / "人口.csv").write_text(
        "街道,常住人口\n" + "".join(f"街道{i},{1000 + i}\n" for i in range(200)), encoding="utf-8"
    )
    data = str(folder / "人口.csv")
    register = _cli("resources", "register", "--file", data, "--name", "常住人口", "--token", token)
    subprocess.run(register, env=env, check=True, capture_output=True)
    return env, token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dc-bench-cli-") as tmp:
        folder = Path(tmp)
        client = folder / "client"
        client.mkdir()
        client_env = {k: v for k, v in os.environ.items() if not k.startswith("DATACOMPACT_")}
        client_env |= {"HOME": str(client), "XDG_CONFIG_HOME": str(client / ".config")}
        version = _timed(_cli("--version"), client_env, client, args.runs)

        server_env, token = _platform(folder)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with (folder / "serve.log").open("wb") as log:
            server = subprocess.Popen(
                _cli("serve", "--port", str(port)), env=server_env, stdout=log, stderr=log
            )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not come up")
                time.sleep(0.2)
            remote = _cli("--url", base, "resources", "search", "人口", "--token", token)
            _timed(remote, client_env, client, 1)  # the server's first request warms it
            remote_times = _timed(remote, client_env, client, args.runs)
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=base, headers=headers) as http:
                answers = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    http.get("/api/v1/resources", params={"q": "人口"}).raise_for_status()
                    answers.append(time.perf_counter() - started)
            local = _cli("resources", "search", "人口", "--token", token)
            local_times = _timed(local, server_env, folder, args.runs)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(f"CLI start-up, {args.runs} processes each, {os.cpu_count()} cores")
    met = _report("datacompact --version", version, VERSION_TARGET_S)
    met &= _report("remote resources search", remote_times, REMOTE_SEARCH_TARGET_S)
    print(
        f"{'  of which the request itself':<34} median {statistics.median(answers):6.3f} s   "
        f"fastest {min(answers):6.3f} s"
    )
    _report("local resources search (server)", local_times, None)
    print(
        "CPU is the processes' own user + system time: what the wall time comes to on a "
        f"machine with nothing else to run (load average now {os.getloadavg()[0]:.1f})"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())

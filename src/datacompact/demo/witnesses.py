"""The demo city's two witnesses: separate processes, own keys, own state, a 2-of-2 policy.

``datacompact demo`` runs each witness as ``datacompact witness serve`` in a
process of its own, as an independent witness operator would, with its key
and state under ``$DATACOMPACT_HOME/witnesses/<name>/`` (the key mode 0600,
made once and kept across runs). The platform learns of them through a C2SP
tlog-policy file, ``$DATACOMPACT_HOME/witness.policy``: the log's key, each
witness's name, key and URL, and a quorum of both. Every checkpoint the
served demo signs is pushed to both, so every demo receipt is witnessed while
both run; stop one and receipts say ``"witnessed": false`` and name it as
missing, and ``/readyz`` reports ``degraded``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datacompact.config import write_private_file
from datacompact.errors import Conflict, StoreUnavailable
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.witness import witness_reachable

__all__ = [
    "NAMES",
    "POLICY_FILE",
    "DemoWitness",
    "prepare_witnesses",
    "start_witnesses",
    "stop_witnesses",
]

#: The two witnesses of the demo city, in policy order.
NAMES = ("city-audit-office", "enterprise-council")
POLICY_FILE = "witness.policy"
FOLDER = "witnesses"
KEY_FILE = "witness.key"
STATE_FOLDER = "state"
LOG_FILE = "witness.log"
START_SECONDS = 60.0


@dataclass(frozen=True)
class DemoWitness:
    """One demo witness: its name, folder, port and verifier key."""

    name: str
    folder: Path
    port: int
    vkey: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def key_path(self) -> Path:
        return self.folder / KEY_FILE


def _witness(home: Path, name: str, port: int) -> DemoWitness:
    folder = home / FOLDER / name
    (folder / STATE_FOLDER).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / KEY_FILE
    if path.exists():
        signer = CosignatureSigner.from_skey(path.read_text(encoding="ascii").strip())
    else:
        signer = CosignatureSigner.generate(name)
        write_private_file(path, (signer.skey + "\n").encode("ascii"))
    return DemoWitness(name, folder, port, signer.verifier().vkey)


def prepare_witnesses(
    home: Path, *, log_vkey: str, ports: Sequence[int]
) -> tuple[list[DemoWitness], Path]:
    """Each witness's key (made once) and state folder, and the 2-of-2 policy file.

    The policy is rewritten on every run, since the ports may change.
    """
    witnesses = [_witness(home, name, port) for name, port in zip(NAMES, ports, strict=True)]
    lines = [
        "# The demo city's witnesses (datacompact demo writes this file).",
        f"log {log_vkey}",
        *(f"witness {w.name} {w.vkey} {w.url}" for w in witnesses),
        f"group demo-witnesses all {' '.join(w.name for w in witnesses)}",
        "quorum demo-witnesses",
    ]
    policy = home / POLICY_FILE
    policy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return witnesses, policy


def start_witnesses(
    witnesses: Sequence[DemoWitness], *, log_vkey: str
) -> list[subprocess.Popen[bytes]]:
    """Start ``datacompact witness serve`` for each, and wait until each answers HTTP.

    A witness that exits or stays silent stops the others and raises
    ``StoreUnavailable`` naming it (its output is in its folder's log).
    """
    for witness in witnesses:
        _check_free(witness)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for witness in witnesses:
            command = [
                sys.executable, "-m", "datacompact", "witness", "serve",
                "--key", str(witness.key_path), "--log-key", log_vkey,
                "--state", str(witness.folder / STATE_FOLDER), "--port", str(witness.port),
            ]  # fmt: skip
            with open(witness.folder / LOG_FILE, "ab") as log:
                started.append(
                    subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments, no shell
                        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=os.environ
                    )
                )
        for witness, process in zip(witnesses, started, strict=True):
            _wait(witness, process)
    except BaseException:
        stop_witnesses(started)
        raise
    return started


def _check_free(witness: DemoWitness) -> None:
    # Another process answering on the port would pass for our witness.
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", witness.port))
        except OSError as exc:
            raise Conflict(
                f"端口 {witness.port} 已被占用，无法启动演示见证 {witness.name}（用 --witness-port "
                f"换一个）/ port {witness.port} is in use: cannot start the demo witness "
                f"{witness.name} (choose others with --witness-port)",
                details={"port": witness.port},
            ) from exc


def _wait(witness: DemoWitness, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not witness_reachable(witness.url, timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise StoreUnavailable(
                f"演示见证 {witness.name} 未能启动（端口 {witness.port} 被占用？）/ the demo "
                f"witness {witness.name} did not start (port {witness.port} in use?); "
                f"see {witness.folder / LOG_FILE}",
            )
        time.sleep(0.2)


def stop_witnesses(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Terminate the witness processes and wait for them (kill after 10 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

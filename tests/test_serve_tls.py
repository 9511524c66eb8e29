"""``datacompact serve --certfile/--keyfile``: HTTPS, and clear refusals before it starts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from datacompact.cli import app


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "datacompact test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(_key_pem(key))
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def _serve(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["serve", *args])
    return result.exit_code, result.output


def test_a_certificate_without_its_key_is_refused(tls: tuple[Path, Path]) -> None:
    cert, key = tls
    code, output = _serve("--certfile", str(cert))
    assert code == 2
    assert "--keyfile" in output
    code, output = _serve("--keyfile", str(key))
    assert code == 2
    assert "--certfile" in output


def test_unreadable_or_mismatched_files_are_refused_before_starting(
    tls: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls
    code, output = _serve("--certfile", str(cert), "--keyfile", str(tmp_path / "missing.key"))
    assert code == 3
    assert "--keyfile" in output
    _, other_key = self_signed(tmp_path, "other")
    code, output = _serve("--certfile", str(cert), "--keyfile", str(other_key))
    assert code == 3
    assert "PEM" in output
    # A key is never printed, whatever is wrong with it.
    code, output = _serve("--certfile", str(key), "--keyfile", str(key))
    assert code == 3
    assert "PRIVATE KEY" not in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, tls: tuple[Path, Path]) -> Iterator[tuple[str, ssl.SSLContext, Path]]:
    cert, key = tls
    env = {**os.environ, "DATACOMPACT_HOME": str(tmp_path / "home")}
    env.pop("DATACOMPACT_DATABASE_URL", None)
    port = _free_port()
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "datacompact",
                "serve",
                "--port",
                str(port),
                "--certfile",
                str(cert),
                "--keyfile",
                str(key),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        yield f"https://127.0.0.1:{port}", trusted, stderr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(url: str, verify: ssl.SSLContext) -> httpx.Response:
    """The first 200 answer of ``url``: the server is up and has loaded the platform."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = httpx.get(url, verify=verify, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.ConnectError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within 60 s")
        time.sleep(0.2)


@pytest.mark.slow
def test_serve_speaks_https_with_the_given_certificate(
    server: tuple[str, ssl.SSLContext, Path],
) -> None:
    base, trusted, stderr = server
    _wait(f"{base}/readyz", trusted)
    response = httpx.get(f"{base}/healthz", verify=trusted, timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.headers["X-Request-ID"]
    # The certificate is the one given: a client that does not trust it refuses it.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", verify=ssl.create_default_context(), timeout=5)
    # No plain HTTP on the TLS port.
    with pytest.raises(httpx.HTTPError):
        httpx.get(base.replace("https://", "http://") + "/healthz", timeout=5)
    # The access log goes to stderr, one JSON line per request.
    deadline = time.monotonic() + 10
    lines: list[dict[str, object]] = []
    while not lines and time.monotonic() < deadline:
        lines = [
            json.loads(text)
            for text in stderr.read_text().splitlines()
            if text.startswith("{") and '"route":"/healthz"' in text
        ]
        time.sleep(0.1)
    assert lines
    assert lines[0]["status"] == 200

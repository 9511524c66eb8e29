"""The remote CLI's parts: profiles, the API client's errors, the upload, where a command acts."""

from __future__ import annotations

import ast
import hashlib
import http.server
import json
import os
import ssl
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from python_multipart.multipart import MultipartParser, parse_options_header
from typer.testing import CliRunner

from datacompact import __version__
from datacompact.cli import _context, _profiles, app
from datacompact.cli._remote import ApiClient, normalized_url
from datacompact.errors import (
    ConfigurationError,
    Conflict,
    DataCompactError,
    InvalidInput,
    NoPlatform,
    NotAPlatform,
    NotFound,
    PayloadTooLarge,
    PlatformUnreachable,
    RateLimited,
    RemoteError,
    TlsVerificationFailed,
    TokenExpired,
)

from .test_serve_tls import self_signed

CLI = Path(_context.__file__).resolve().parent
URL = "https://platform.example.gov.cn"


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user with their own config folder, in a folder with no platform home."""
    for name in list(os.environ):
        if name.startswith("DATACOMPACT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DATACOMPACT_HOME", str(tmp_path / "no-platform-here"))
    from datacompact.config import get_settings

    get_settings.cache_clear()
    _context.choose(url=None, profile=None)
    yield tmp_path
    get_settings.cache_clear()
    _context.choose(url=None, profile=None)


# -- profiles ---------------------------------------------------------------


def test_a_profile_is_stored_private_and_read_back() -> None:
    profile = _profiles.Profile(
        url=URL,
        token='dc_"quoted"\\token',
        user="张三.analyst",
        token_id=7,
        expires_at="2027-01-01",
    )
    path = _profiles.save("default", profile)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert _profiles.load("default") == profile
    _profiles.save("staging", _profiles.Profile(url="http://127.0.0.1:8000", token="dc_2"))
    assert set(_profiles.load_all()) == {"default", "staging"}
    assert _profiles.remove("default") == profile
    assert set(_profiles.load_all()) == {"staging"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_profiles_file_others_may_read_is_refused() -> None:
    path = _profiles.save("default", _profiles.Profile(url=URL, token="dc_1"))
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        _profiles.load_all()


def test_an_unknown_profile_or_a_bad_name_says_what_to_do() -> None:
    with pytest.raises(NotFound, match="datacompact login"):
        _profiles.load("nobody")
    with pytest.raises(InvalidInput, match="profile name"):
        _profiles.load("../etc")


def test_a_broken_profiles_file_is_a_configuration_error() -> None:
    path = _profiles.profiles_path()
    path.parent.mkdir(parents=True)
    path.write_text("[profiles.default\nurl = ", encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError, match="TOML"):
        _profiles.load_all()


# -- the client's answers ---------------------------------------------------


def _client(
    handler: Callable[[httpx.Request], httpx.Response] | httpx.BaseTransport, token: str = "dc_t"
) -> ApiClient:
    if isinstance(handler, httpx.BaseTransport):
        return ApiClient(URL, token, transport=handler)
    return ApiClient(URL, token, transport=httpx.MockTransport(handler))


def _envelope(status: int, code: str, message: str = "消息 / message") -> httpx.Response:
    body = {"error": {"code": code, "message": message, "details": {"field": "x"}}}
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "code", "expected", "exit_code"),
    [
        (404, "not_found", NotFound, 6),
        (401, "token_expired", TokenExpired, 4),
        (413, "payload_too_large", PayloadTooLarge, 2),
        (429, "rate_limited", RateLimited, 11),
        (409, "a_code_this_client_does_not_know", Conflict, 7),
    ],
)
def test_an_error_envelope_becomes_the_local_error(
    status: int, code: str, expected: type[DataCompactError], exit_code: int
) -> None:
    with _client(lambda r: _envelope(status, code)) as api, pytest.raises(expected) as raised:
        api.data("/resources")
    assert raised.value.exit_code == exit_code
    assert raised.value.details == {"field": "x"}
    assert raised.value.message.startswith("消息 / message")


def test_a_refused_token_asks_to_log_in_again() -> None:
    refused = _client(lambda r: _envelope(401, "token_expired"))
    with refused as api, pytest.raises(TokenExpired, match="datacompact login"):
        api.data("/me")


def test_the_token_goes_in_the_bearer_header_and_the_path_under_the_api() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": 1, "nested": {"a": 2}}]})

    with _client(handler, token="dc_secret") as api:
        rows = api.data("/resources", q="人口", holder_id=None)
    assert rows == [{"id": 1, "nested": {"a": 2}}]
    assert rows[0].nested.a == 2
    assert seen[0].headers["Authorization"] == "Bearer dc_secret"
    assert seen[0].url.path == "/api/v1/resources"
    assert dict(seen[0].url.params) == {"q": "人口"}


def test_a_change_comes_back_shaped_like_a_local_recorded() -> None:
    body = {"data": {"id": 3, "name": "x"}, "receipt": {"log_index": 41}}
    with _client(lambda r: httpx.Response(201, json=body)) as api:
        done = api.change("POST", "/resources", {"name": "x"})
    assert done.log_index == 41
    assert done.value.model_dump(mode="json") == {"id": 3, "name": "x"}


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, html="<html><body>welcome</body></html>"),
        httpx.Response(404, html="<html>not found</html>"),
        httpx.Response(404, json={"detail": "Not Found"}),
        httpx.Response(200, json={"items": []}),
        httpx.Response(502, text="bad gateway"),
    ],
    ids=["html-page", "html-404", "other-json-404", "json-without-data", "proxy-error"],
)
def test_a_server_that_is_not_the_platform_is_named_so(response: httpx.Response) -> None:
    with _client(lambda r: response) as api, pytest.raises(NotAPlatform) as raised:
        api.data("/resources")
    assert raised.value.exit_code == 14
    assert "--url" in raised.value.message


def test_a_token_sent_in_clear_to_another_machine_is_warned_about(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ApiClient("http://127.0.0.1:8000", "dc_t").close()
    ApiClient("http://localhost:8000", "dc_t").close()
    ApiClient("http://platform.example.gov.cn", None).close()
    assert capsys.readouterr().err == ""
    ApiClient("http://platform.example.gov.cn", "dc_t").close()
    assert "https://" in capsys.readouterr().err


def test_no_answer_is_an_unreachable_platform() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with _client(refuse) as api, pytest.raises(PlatformUnreachable) as raised:
        api.data("/resources")
    assert raised.value.exit_code == 13
    assert "Errno" not in raised.value.message


def test_an_unknown_host_is_an_unreachable_platform() -> None:
    nowhere = ApiClient("http://no-such-host.invalid", "dc_t", timeout=5)
    with nowhere as api, pytest.raises(PlatformUnreachable):
        api.data("/resources")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://platform.example.gov.cn/", URL),
        ("https://platform.example.gov.cn/api/v1/", URL),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        (" https://host/prefix/ ", "https://host/prefix"),
    ],
)
def test_urls_are_normalized(given: str, expected: str) -> None:
    assert normalized_url(given) == expected


@pytest.mark.parametrize(
    "given",
    ["platform.example.gov.cn", "ftp://host", "https://", "https://u:p@host", "http://h?q=1"],
)
def test_a_malformed_url_is_invalid_input(given: str) -> None:
    with pytest.raises(InvalidInput, match="--url"):
        normalized_url(given)


# -- TLS ----------------------------------------------------------------------


class _Json(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def test_an_untrusted_certificate_fails_verification_and_a_given_ca_passes(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = https_server
    with ApiClient(url, "dc_t") as api, pytest.raises(TlsVerificationFailed) as raised:
        api.data("/resources")
    assert raised.value.exit_code == 15
    assert "DATACOMPACT_CA_BUNDLE" in raised.value.message
    monkeypatch.setenv("DATACOMPACT_CA_BUNDLE", str(cert))
    with ApiClient(url, "dc_t") as api:
        assert api.data("/resources") == []


def test_an_unreadable_ca_bundle_is_invalid_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATACOMPACT_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(InvalidInput, match="DATACOMPACT_CA_BUNDLE"):
        ApiClient("https://127.0.0.1:1", "dc_t")


# -- upload -------------------------------------------------------------------


class _UploadRoute(httpx.BaseTransport):
    """The upload route's contract: multipart, one field ``file``, 201 ``{name, size, sha256}``."""

    def __init__(self, answer: Callable[[bytes, str], httpx.Response] | None = None) -> None:
        self.received: dict[str, Any] = {}
        self.answer = answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/uploads"
        # The body comes as a stream of pieces, never read into one bytes object first.
        assert not isinstance(request.stream, httpx.ByteStream)
        assert isinstance(request.stream, httpx.SyncByteStream)
        chunks = list(request.stream)
        raw = b"".join(chunks)
        assert int(request.headers["Content-Length"]) == len(raw)
        _, options = parse_options_header(request.headers["Content-Type"])
        parts: dict[str, bytes] = {}
        headers: list[bytes] = []
        current: list[bytes] = []

        def on_header_value(data: bytes, start: int, end: int) -> None:
            headers.append(data[start:end])

        def on_part_data(data: bytes, start: int, end: int) -> None:
            current.append(data[start:end])

        def on_part_end() -> None:
            parts[headers[0].decode()] = b"".join(current)
            headers.clear()
            current.clear()

        parser = MultipartParser(
            options[b"boundary"],
            {
                "on_header_value": on_header_value,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
            },
        )
        parser.write(raw)
        parser.finalize()
        [(disposition, content)] = parts.items()
        self.received = {"disposition": disposition, "content": content, "chunks": len(chunks)}
        if self.answer is not None:
            return self.answer(content, disposition)
        body = {
            "name": "stored.csv",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        return httpx.Response(201, json=body)


def test_an_upload_streams_the_file_as_one_multipart_field(tmp_path: Path) -> None:
    data = tmp_path / '人口 "2024".csv'
    content = b"a,b\n" + b"1,2\n" * 200_000  # several chunks
    data.write_bytes(content)
    route = _UploadRoute()
    with _client(route) as api:
        stored = api.upload(data, progress=True)
    assert stored == {
        "name": "stored.csv",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    assert route.received["content"] == content
    assert route.received["chunks"] > 3
    disposition = route.received["disposition"]
    assert 'name="file"' in disposition
    assert 'filename="人口 \\"2024\\".csv"' in disposition


def test_an_upload_refused_for_size_or_type_gives_the_local_errors(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    data.write_bytes(b"x" * 1000)
    too_large = _UploadRoute(lambda c, d: _envelope(413, "payload_too_large"))
    with _client(too_large) as api, pytest.raises(PayloadTooLarge):
        api.upload(data, progress=False)
    wrong_type = _UploadRoute(lambda c, d: _envelope(415, "unsupported_media_type"))
    with _client(wrong_type) as api, pytest.raises(DataCompactError) as raised:
        api.upload(data, progress=False)
    assert raised.value.message.startswith("消息 / message")


def test_a_name_already_in_the_inbox_is_uploaded_again_under_another(tmp_path: Path) -> None:
    data = tmp_path / "人口.csv"
    data.write_bytes(b"a,b\n1,2\n")
    names: list[str] = []

    def answer(content: bytes, disposition: str) -> httpx.Response:
        name = disposition.split('filename="', 1)[1].rstrip('"')
        names.append(name)
        if len(names) == 1:
            return _envelope(409, "conflict")
        digest = hashlib.sha256(content).hexdigest()
        return httpx.Response(201, json={"name": name, "size": len(content), "sha256": digest})

    with _client(_UploadRoute(answer)) as api:
        stored = api.upload(data, progress=False)
    assert names[0] == "人口.csv"
    assert names[1] != names[0]
    assert names[1].startswith("人口-")
    assert names[1].endswith(".csv")
    assert stored["name"] == names[1]


def test_an_upload_stored_with_another_digest_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "a.csv"
    data.write_bytes(b"a,b\n1,2\n")
    other = _UploadRoute(
        lambda c, d: httpx.Response(201, json={"name": "a.csv", "size": 8, "sha256": "0" * 64})
    )
    with _client(other) as api, pytest.raises(DataCompactError, match="SHA-256"):
        api.upload(data, progress=False)


def test_a_missing_file_is_named_before_anything_is_sent(tmp_path: Path) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with _client(never) as api, pytest.raises(InvalidInput, match="--file"):
        api.upload(tmp_path / "missing.csv", progress=False)


# -- where a command acts ---------------------------------------------------


def test_outside_a_platform_home_a_call_names_both_ways(tmp_path: Path) -> None:
    with pytest.raises(NoPlatform) as raised:
        _context.call(lambda on: None, who="dc_t", remote=lambda api: None)
    assert raised.value.exit_code == 12
    for hint in ("DATACOMPACT_HOME", "--url", "datacompact login", "datacompact init"):
        assert hint in raised.value.message
    assert not (tmp_path / "no-platform-here").exists()


def test_the_default_profile_is_used_outside_a_platform_home() -> None:
    _profiles.save("default", _profiles.Profile(url="http://127.0.0.1:9", token="dc_p"))
    seen: list[tuple[str, str | None]] = []

    def remote(api: ApiClient) -> str:
        seen.append((api.url, api.token))
        return "remote"

    assert _context.call(lambda on: "local", who=None, remote=remote) == "remote"
    # The command's own token wins over the profile's.
    assert _context.call(lambda on: "local", who="dc_own", remote=remote) == "remote"
    assert seen == [("http://127.0.0.1:9", "dc_p"), ("http://127.0.0.1:9", "dc_own")]


def test_a_url_without_a_token_asks_for_one() -> None:
    from datacompact.errors import Unauthenticated

    _context.choose(url="http://127.0.0.1:9", profile=None)
    with pytest.raises(Unauthenticated, match="datacompact login"):
        _context.call(lambda on: None, who=None, remote=lambda api: None)


def test_a_command_without_a_route_fails_remotely_with_its_own_code() -> None:
    _context.choose(url="http://127.0.0.1:9", profile=None)
    with pytest.raises(RemoteError) as raised:
        _context.call(lambda on: None, who="dc_t")
    assert raised.value.code == "remote_error"
    assert raised.value.exit_code == 12
    assert "no API route" in raised.value.message


def test_a_profile_given_another_url_does_not_send_its_token_there() -> None:
    _profiles.save("work", _profiles.Profile(url=URL, token="dc_work"))
    _context.choose(url="http://127.0.0.1:9", profile="work")
    assert _context.explicit_remote() == _context.Remote("http://127.0.0.1:9", None, "work")
    _context.choose(url=None, profile="work")
    assert _context.explicit_remote() == _context.Remote(URL, "dc_work", "work")


def test_a_url_alone_uses_the_login_stored_for_that_very_url() -> None:
    _profiles.save("work", _profiles.Profile(url=URL, token="dc_work"))
    _profiles.save(_profiles.DEFAULT_PROFILE, _profiles.Profile(url=URL, token="dc_default"))
    _profiles.save("other", _profiles.Profile(url="http://127.0.0.1:9", token="dc_other"))
    # The same platform, written with a trailing slash: the default login's token.
    _context.choose(url=URL + "/", profile=None)
    assert _context.explicit_remote() == _context.Remote(URL + "/", "dc_default", "default")
    # Another platform gets only its own login's token, and an unknown one none.
    _context.choose(url="http://127.0.0.1:9", profile=None)
    assert _context.explicit_remote() == _context.Remote("http://127.0.0.1:9", "dc_other", "other")
    _context.choose(url="http://127.0.0.1:10", profile=None)
    assert _context.explicit_remote() == _context.Remote("http://127.0.0.1:10")


@pytest.mark.parametrize(
    "args",
    [
        ["--url", URL, "init"],
        ["--url", URL, "ledger", "check"],
        ["--url", URL, "backup", "--out", "b"],
        ["--url", URL, "restore", "b"],
        ["--url", URL, "serve"],
    ],
)
def test_server_side_commands_refuse_a_remote_platform(args: list[str]) -> None:
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 12, done.output
    assert "server" in done.output


def test_version_option_and_a_remote_login_without_url() -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["--version"])
    assert done.exit_code == 0
    assert done.output.strip() == __version__
    done = runner.invoke(app, ["login", "--user", "a", "--password-stdin"], input="pw\n")
    assert done.exit_code == 2
    assert "--url" in done.output


def _run_calls_without_remote(source: str) -> list[str]:
    """Functions of a CLI module that call ``run(...)`` without a ``remote=``."""
    tree = ast.parse(source)
    imports_run = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "datacompact.cli._context"
        and any(alias.name == "run" for alias in node.names)
        for node in ast.walk(tree)
    )
    if not imports_run:
        return []  # another ``run`` (the anonymizer's), or none
    missing = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id == "run"
                and not any(k.arg == "remote" for k in inner.keywords)
                and "no API route" not in (ast.get_docstring(node) or "")
            ):
                missing.append(node.name)
    return missing


def test_every_command_has_a_remote_call_or_says_it_has_no_route() -> None:
    for module in sorted(CLI.glob("_*.py")):
        if module.name == "_context.py":
            continue
        assert _run_calls_without_remote(module.read_text(encoding="utf-8")) == [], module.name

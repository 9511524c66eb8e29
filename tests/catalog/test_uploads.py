"""Uploads into a participant's inbox over HTTP, and registering what was uploaded.

Each test runs on SQLite and on PostgreSQL (the ``world`` fixture): the route
authenticates against the store, and the registration that follows writes to it.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn

from datacompact.api import create_app
from datacompact.catalog.inbox import UPLOADS_DIR, inbox_folder
from datacompact.catalog.schemas import ResourceBase

from ..api._served import Served, serving
from ..api.conftest import ApiClient, bearer
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World

STEWARD = "department.data_steward"
URL = "/api/v1/uploads"
ROSTER = "部门,人数\n综合处,12\n财务处,8\n信息处,15\n".encode()
META = ResourceBase(
    name="部门人员名册",
    description="测试用名册",
    tags=["名册"],
    update_frequency="monthly",
    share_type="conditional",
    open_type="not_open",
).model_dump(mode="json")


@pytest.fixture
def served(world: World) -> Iterator[Served]:
    yield from serving(world)


def _inbox(world: World, who: str = "department") -> Path:
    return inbox_folder(world.platform.settings.home, world.ids[who])


def _left(world: World) -> dict[str, list[str]]:
    """What the inbox and its staging folder hold (missing folders hold nothing)."""
    folder = _inbox(world)
    staging = folder / UPLOADS_DIR
    return {
        "inbox": sorted(p.name for p in folder.iterdir() if p.name != UPLOADS_DIR)
        if folder.exists()
        else [],
        "staging": sorted(p.name for p in staging.iterdir()) if staging.exists() else [],
    }


def _post(
    client: ApiClient, world: World, name: str, content: bytes, who: str = STEWARD
) -> httpx.Response:
    return client.post(
        URL, files={"file": (name, content, "application/octet-stream")}, headers=bearer(world, who)
    )


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


def _parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"部门": ["综合处", "财务处"], "人数": [12, 8]}), sink)
    return sink.getvalue()


# --- success ---------------------------------------------------------------------------------


def test_an_upload_lands_in_the_inbox_and_registers_by_name(
    world: World, client: ApiClient
) -> None:
    response = _post(client, world, "名册 2026.csv", ROSTER)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "name": "名册 2026.csv",
        "size": len(ROSTER),
        "sha256": hashlib.sha256(ROSTER).hexdigest(),
    }
    path = _inbox(world) / "名册 2026.csv"
    assert path.read_bytes() == ROSTER
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_nlink == 1
    for folder in (_inbox(world), _inbox(world) / UPLOADS_DIR, _inbox(world).parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert _left(world) == {"inbox": ["名册 2026.csv"], "staging": []}

    registered = client.post(
        "/api/v1/resources",
        json={**META, "inbox_file": "名册 2026.csv"},
        headers=bearer(world, STEWARD),
    )
    assert registered.status_code == 201, registered.text
    latest = registered.json()["data"]["latest"]
    assert latest["source_sha256"] == response.json()["sha256"]


def test_an_inbox_the_operator_made_keeps_its_mode(world: World, client: ApiClient) -> None:
    folder = _inbox(world)
    folder.mkdir(parents=True)
    folder.chmod(0o770)  # an SFTP account writes here through its group
    assert _post(client, world, "r.csv", ROSTER).status_code == 201
    assert stat.S_IMODE(folder.stat().st_mode) == 0o770
    assert stat.S_IMODE((folder / UPLOADS_DIR).stat().st_mode) == 0o700


def test_a_symlinked_inbox_is_refused(world: World, client: ApiClient, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _inbox(world).parent.mkdir(parents=True, exist_ok=True)
    _inbox(world).symlink_to(elsewhere)
    error = _error(_post(client, world, "r.csv", ROSTER), 400, "invalid_input")
    assert error["details"]["reason"] == "symlink"
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("t.parquet", _parquet()),
        ("r.tsv", b"a\tb\n1\t2\n"),
        ("r.jsonl", b'{"a": 1}\n{"a": 2}\n'),
        ("R.CSV", "编号,城市\n1,杭州\n".encode("gbk")),
    ],
)
def test_every_format_the_readers_take_is_accepted(
    world: World, client: ApiClient, name: str, content: bytes
) -> None:
    response = _post(client, world, name, content)
    assert response.status_code == 201, response.text
    assert (_inbox(world) / name).read_bytes() == content


def test_a_large_upload_streams_in_pieces(world: World, client: ApiClient) -> None:
    content = b"n,v\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(400_000))
    assert len(content) > 3 * 1024 * 1024  # more than one trip to the thread pool
    response = _post(client, world, "big.csv", content)
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert (_inbox(world) / "big.csv").stat().st_size == len(content)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../escape.csv", "path"),
        ("/etc/passwd.csv", "path"),
        ("sub/dir.csv", "path"),
        ("..\\escape.csv", "path"),
        ("C:\\Users\\a.csv", "path"),
        ("..", "path"),
        (".hidden.csv", "hidden"),
        (".uploads", "hidden"),
        (" padded.csv", "whitespace"),
        ("x" * 252 + ".csv", "too_long"),
    ],
)
def test_names_that_leave_or_hide_in_the_inbox_are_refused(
    world: World, client: ApiClient, name: str, reason: str
) -> None:
    error = _error(_post(client, world, name, ROSTER), 400, "invalid_input")
    assert error["details"] == {"field": "file", "reason": reason}
    assert _left(world)["inbox"] == []
    assert not (world.platform.settings.home / "escape.csv").exists()
    assert not (_inbox(world).parent / "escape.csv").exists()


@pytest.mark.parametrize("name", ["a\x00.csv", "a\nb.csv", "a\x7f.csv"])
def test_control_characters_in_a_name_are_refused(
    world: World, client: ApiClient, name: str
) -> None:
    # Built by hand: an HTTP client would refuse to send a NUL in a header.
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
        ).encode()
        + ROSTER
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        URL,
        content=body,
        headers={
            **bearer(world, STEWARD),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    error = _error(response, 422, "invalid_character")
    assert error["details"] == {"field": "file", "reason": "character"}
    assert _left(world)["inbox"] == []


def test_an_rfc_5987_name_is_read_as_utf_8(world: World, client: ApiClient) -> None:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f"filename*=UTF-8''%E5%90%8D%E5%86%8C.csv\r\n\r\n"
        ).encode()
        + ROSTER
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client.post(
        URL,
        content=body,
        headers={
            **bearer(world, STEWARD),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "名册.csv"


def test_an_existing_name_is_never_replaced(world: World, client: ApiClient) -> None:
    assert _post(client, world, "r.csv", ROSTER).status_code == 201
    error = _error(_post(client, world, "r.csv", b"a,b\n9,9\n"), 409, "conflict")
    assert error["details"] == {"field": "file", "reason": "exists"}
    assert (_inbox(world) / "r.csv").read_bytes() == ROSTER
    assert _left(world) == {"inbox": ["r.csv"], "staging": []}


def test_part_files_a_killed_upload_left_are_swept_by_the_next_one(
    world: World, client: ApiClient
) -> None:
    assert _post(client, world, "first.csv", ROSTER).status_code == 201
    staging = _inbox(world) / UPLOADS_DIR
    old, recent = staging / "0123.part", staging / "4567.part"
    for path in (old, recent):
        path.write_bytes(b"half a file")
    os.utime(old, (1, 1))
    assert _post(client, world, "second.csv", ROSTER).status_code == 201
    assert _left(world)["staging"] == ["4567.part"]  # maybe still being written


def test_an_empty_file_is_refused(world: World, client: ApiClient) -> None:
    error = _error(_post(client, world, "empty.csv", b""), 400, "malformed_input")
    assert error["details"]["got"] == "empty"
    assert _left(world) == {"inbox": [], "staging": []}


# --- types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "got"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n....", "suffix"),
        ("report.pdf", b"%PDF-1.7\n", "suffix"),
        ("noext", ROSTER, "suffix"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "suffix"),
        ("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "xls"),
        ("fake.xlsx", ROSTER, "not_xlsx"),
        ("fake.parquet", ROSTER, "not_parquet"),
        ("zipped.csv", b"PK\x03\x04" + b"\x00" * 64, "xlsx"),
        ("table.csv", _parquet(), "parquet"),
        ("paper.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "pdf"),
        ("archive.csv", b"\x1f\x8b\x08\x00" + b"\x00" * 32, "gzip"),
        ("wide.csv", "a,b\n1,2\n".encode("utf-16-le"), "binary"),
    ],
)
def test_a_file_the_readers_cannot_take_is_refused(
    world: World, client: ApiClient, name: str, content: bytes, got: str
) -> None:
    error = _error(_post(client, world, name, content), 415, "unsupported_media_type")
    assert error["details"]["got"] == got
    assert ".csv" in error["details"]["expected"]
    assert _left(world)["inbox"] == []
    assert _left(world)["staging"] == []


def test_a_wrong_type_found_in_the_first_bytes_of_a_long_file_stops_it(
    world: World, client: ApiClient
) -> None:
    content = b"PAR1" + os.urandom(3 * 1024 * 1024)
    _error(_post(client, world, "long.csv", content), 415, "unsupported_media_type")
    assert _left(world) == {"inbox": [], "staging": []}


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/csv", "multipart/form-data", None]
)
def test_a_body_that_is_not_multipart_is_refused(
    world: World, client: ApiClient, content_type: str | None
) -> None:
    headers = bearer(world, STEWARD)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post(URL, content=ROSTER, headers=headers)
    _error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("files", "data"),
    [
        ({"other": ("r.csv", ROSTER)}, None),
        ({"file": ("r.csv", ROSTER)}, {"note": "x"}),
        ([("file", ("r.csv", ROSTER)), ("file", ("s.csv", ROSTER))], None),
    ],
)
def test_other_fields_or_a_second_file_are_refused(
    world: World, client: ApiClient, files: Any, data: Any
) -> None:
    response = client.post(URL, files=files, data=data, headers=bearer(world, STEWARD))
    _error(response, 400, "invalid_input")
    assert _left(world) == {"inbox": [], "staging": []}


def test_a_truncated_body_leaves_nothing(world: World, client: ApiClient) -> None:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n\r\n'
    ).encode() + ROSTER  # no closing boundary
    response = client.post(
        URL,
        content=body,
        headers={
            **bearer(world, STEWARD),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    _error(response, 400, "malformed_input")
    assert _left(world) == {"inbox": [], "staging": []}


# --- limits ----------------------------------------------------------------------------------


def _chunks(pieces: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b"n,v\n"
    line = b"1,2\n" * (size // 4)
    for _ in range(pieces):
        yield line


def test_an_oversized_upload_is_cut_before_the_limit_reaches_the_disk(
    world: World, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 1024 * 1024
    api = served(upload_max_bytes=limit)
    written: list[int] = []
    real_write = os.write

    def counting(fd: int, data: Any) -> int:
        count = real_write(fd, data)
        written.append(count)
        return count

    monkeypatch.setattr(os, "write", counting)

    async def body() -> AsyncIterator[bytes]:
        # Chunked (no Content-Length), so only the streaming count can stop it.
        boundary = b"b0undary"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        yield b'filename="big.csv"\r\n\r\n'
        for chunk in _chunks(16):
            yield chunk
        yield b"\r\n--" + boundary + b"--\r\n"

    response = api.post(
        URL,
        content=body(),
        headers={
            **bearer(world, STEWARD),
            "Content-Type": "multipart/form-data; boundary=b0undary",
        },
    )
    error = _error(response, 413, "payload_too_large")
    assert error["details"]["limit"] == limit
    assert sum(written) <= limit
    assert _left(world) == {"inbox": [], "staging": []}


def test_a_declared_length_over_the_limit_is_refused_at_once(world: World, served: Served) -> None:
    api = served(upload_max_bytes=1024)
    response = api.post(
        URL,
        files={"file": ("big.csv", b"a,b\n" + b"1,2\n" * 100_000)},
        headers=bearer(world, STEWARD),
    )
    _error(response, 413, "payload_too_large")
    assert _left(world) == {"inbox": [], "staging": []}


def test_the_upload_limit_replaces_the_request_limit_on_its_route_only(
    world: World, served: Served
) -> None:
    api = served(max_request_bytes=1024, upload_max_bytes=1024 * 1024)
    content = b"a,b\n" + b"1,2\n" * 10_000
    response = api.post(URL, files={"file": ("ok.csv", content)}, headers=bearer(world, STEWARD))
    assert response.status_code == 201, response.text
    other = api.post(
        "/api/v1/resources",
        json={**META, "inbox_file": "ok.csv", "description": "x" * 2000},
        headers=bearer(world, STEWARD),
    )
    _error(other, 413, "payload_too_large")


def test_uploads_are_rate_limited_per_token(world: World, served: Served) -> None:
    api = served(rate_limit_uploads_per_credential="2/minute")
    for n in range(2):
        ok = api.post(URL, files={"file": (f"r{n}.csv", ROSTER)}, headers=bearer(world, STEWARD))
        assert ok.status_code == 201, ok.text
    refused = api.post(URL, files={"file": ("r9.csv", ROSTER)}, headers=bearer(world, STEWARD))
    error = _error(refused, 429, "rate_limited")
    assert error["details"]["rule"] == "uploads.credential"
    assert "Retry-After" in refused.headers
    assert _left(world)["inbox"] == ["r0.csv", "r1.csv"]
    # Another member's token has its own count.
    other = api.post(
        URL, files={"file": ("r9.csv", ROSTER)}, headers=bearer(world, "department.admin")
    )
    assert other.status_code == 201, other.text


# --- interruption ----------------------------------------------------------------------------


def test_a_client_that_goes_away_mid_body_leaves_nothing(world: World, client: ApiClient) -> None:
    """The ASGI server reports ``http.disconnect`` halfway through the file."""
    app = client.app
    boundary = b"b0undary"
    head = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; '
        b'filename="cut.csv"\r\n\r\n'
    )
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": head, "more_body": True},
        *(
            {"type": "http.request", "body": chunk, "more_body": True}
            for chunk in _chunks(40)  # 2.5 MiB: some of it reaches the disk first
        ),
        {"type": "http.disconnect"},
    ]
    seen_partial: list[list[str]] = []
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if len(messages) == 1:  # about to disconnect: the partial file exists now
            seen_partial.append(_left(world)["staging"])
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    token = world.tokens[STEWARD]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"multipart/form-data; boundary=" + boundary),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        await app(scope, receive, send)

    anyio.run(run)
    assert len(seen_partial) == 1
    assert len(seen_partial[0]) == 1  # the partial file was being written
    assert sent[0]["status"] == 400  # an answer nobody reads, and no error logged
    assert _left(world) == {"inbox": [], "staging": []}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def uvicorn_server(world: World) -> Iterator[int]:
    """The app served by uvicorn on a local port, in a thread; yields the port."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(world.platform), host="127.0.0.1", port=port, lifespan="off", log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(timeout=20)


def test_a_socket_closed_mid_body_leaves_nothing(world: World, uvicorn_server: int) -> None:
    """A real client over TCP announces 4 MiB, sends 1.5 MiB, and hangs up."""
    body_head = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n\r\n'
    )
    sent = b"n,v\n" + b"1,2\n" * (1536 * 256)
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {world.tokens[STEWARD]}\r\n"
        "Content-Type: multipart/form-data; boundary=b0undary\r\n"
        f"Content-Length: {4 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", uvicorn_server)) as conn:
        conn.sendall(request + body_head + sent)
        staging = _inbox(world) / UPLOADS_DIR
        deadline = time.monotonic() + 20
        while not (staging.exists() and any(p.stat().st_size > 0 for p in staging.iterdir())):
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.02)
    deadline = time.monotonic() + 20
    while _left(world) != {"inbox": [], "staging": []}:
        assert time.monotonic() < deadline, _left(world)
        time.sleep(0.05)


def test_a_body_stream_that_fails_midway_leaves_nothing(world: World, client: ApiClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
        for chunk in _chunks(20):
            yield chunk
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        client.post(
            URL,
            content=body(),
            headers={
                **bearer(world, STEWARD),
                "Content-Type": "multipart/form-data; boundary=b0undary",
            },
        )
    assert _left(world) == {"inbox": [], "staging": []}


# --- who may upload --------------------------------------------------------------------------


def test_without_a_token_nothing_is_read_or_written(world: World, client: ApiClient) -> None:
    response = client.post(URL, files={"file": ("r.csv", ROSTER)})
    _error(response, 401, "unauthenticated")
    assert not _inbox(world).exists()


@pytest.mark.parametrize("role", ["analyst", "reviewer", "auditor"])
def test_only_stewards_and_admins_upload(world: World, client: ApiClient, role: str) -> None:
    error = _error(_post(client, world, "r.csv", ROSTER, f"department.{role}"), 403, "forbidden")
    assert error["details"]["action"] == "inbox.upload"
    assert _left(world) == {"inbox": [], "staging": []}


def test_each_participant_uploads_into_its_own_inbox(world: World, client: ApiClient) -> None:
    assert _post(client, world, "r.csv", ROSTER, "enterprise.admin").status_code == 201
    assert (_inbox(world, "enterprise") / "r.csv").exists()
    assert not (_inbox(world) / "r.csv").exists()
    # And the department cannot register the enterprise's file by its name.
    response = client.post(
        "/api/v1/resources", json={**META, "inbox_file": "r.csv"}, headers=bearer(world, STEWARD)
    )
    _error(response, 404, "not_found")


# --- the inbox error -------------------------------------------------------------------------


def test_a_missing_inbox_file_names_the_inbox_and_the_upload_route(
    world: World, client: ApiClient
) -> None:
    response = client.post(
        "/api/v1/resources",
        json={**META, "inbox_file": "absent.csv"},
        headers=bearer(world, STEWARD),
    )
    error = _error(response, 404, "not_found")
    inbox = f"inbox/{world.ids['department']}/"
    assert error["details"] == {
        "field": "inbox_file",
        "inbox": inbox,
        "upload": "POST /api/v1/uploads",
    }
    assert inbox in error["message"]
    assert "POST /api/v1/uploads" in error["message"]
    # The server's own layout stays out of it.
    assert str(world.platform.settings.home) not in response.text

"""The console's upload forms: streamed, limited, typed and checked as the API's upload is."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from markupsafe import escape
from starlette.types import Message, Scope

from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import ResourceBase
from datacompact.console._web import half
from datacompact.errors import DataCompactError

from .conftest import HOSTILE_NAME, Browser, Web, csrf_of, with_password
from .test_steward import GBK_CSV, steward, upload

BOUNDARY = "----dcboundary"


def _leftovers(web: Web) -> list[str]:
    """Every file under the inboxes: committed ones and part files of unfinished uploads."""
    inbox = web.platform.settings.home / "inbox"
    return sorted(str(p.relative_to(inbox)) for p in inbox.rglob("*") if p.is_file())


def _multipart(fields: dict[str, str], name: str, parts: Iterator[bytes]) -> Iterator[bytes]:
    for key, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    yield from parts
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def test_an_oversized_upload_is_refused_while_it_streams_and_leaves_nothing(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web.platform.settings, "upload_max_bytes", 64 * 1024)
    browser = steward(web, lang="en")
    token = csrf_of(browser.get("/steward").text)
    before = _leftovers(web)
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b"a,b\n"
        for _ in range(400):  # 400 × 16 KiB = 6.4 MiB, a hundred times the limit
            sent.append(1)
            yield b"1,2\n" * 4096

    async def body() -> AsyncIterator[bytes]:
        # httpx's async client (the in-process transport) streams an async body only.
        for piece in _multipart({"csrf": token, "name": "big"}, "big.csv", chunks()):
            yield piece

    answer = browser.client.post(
        "/steward/resources",
        content=body(),
        headers={
            **browser._headers(None),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert answer.status_code == 413
    assert "Too large" in answer.text
    assert len(sent) < 400  # refused before the body ended
    assert _leftovers(web) == before


def test_a_form_without_its_token_writes_no_byte(web: Web) -> None:
    browser = steward(web)
    before = _leftovers(web)
    for token in ("", "forged-token"):
        answer = upload(browser, "/steward/resources", {"name": "x"}, "x.csv", b"a\n1\n", token)
        assert answer.status_code == 403
        assert "表单已失效" in answer.text
    # Another session's token is refused too.
    with_password(web, "department.admin")
    other = Browser(web.client)
    other.sign_in("department.admin")
    theirs = csrf_of(other.get("/steward").text)
    answer = upload(browser, "/steward/resources", {"name": "x"}, "x.csv", b"a\n1\n", theirs)
    assert answer.status_code == 403
    assert _leftovers(web) == before


def test_a_wrong_type_gets_the_message_of_the_cli(web: Web) -> None:
    browser = steward(web, lang="en")
    before = _leftovers(web)
    answer = upload(browser, "/steward/resources", {"name": "x"}, "report.exe", b"MZ\x90\x00")
    assert answer.status_code == 415
    assert "expected a file named .csv" in answer.text
    assert _leftovers(web) == before


def test_a_wrong_encoding_gets_the_message_of_the_cli(web: Web, tmp_path: Path) -> None:
    """The registration refuses a GBK file read as UTF-8 with the reader's own message."""
    source = tmp_path / "gbk.csv"
    source.write_bytes(GBK_CSV.encode("gbk"))
    with pytest.raises(DataCompactError) as cli:
        catalog.register_resource(
            db=web.platform.db,
            home=web.platform.settings.home,
            actor=web.world.principal("department.data_steward"),
            data=ResourceBase.model_validate({"name": "x"}),
            file=source,
            encoding="utf-8",
        )
    browser = steward(web, lang="en")
    before = _leftovers(web)
    answer = upload(
        browser,
        "/steward/resources",
        {"name": "x", "encoding": "utf-8"},
        "gbk.csv",
        GBK_CSV.encode("gbk"),
    )
    assert answer.status_code == cli.value.status
    assert str(escape(half("en", cli.value.message))) in answer.text
    # The refused file left the inbox again: the same name can be sent once fixed.
    assert _leftovers(web) == before
    fixed = upload(
        browser,
        "/steward/resources",
        {"name": "x", "encoding": "gbk"},
        "gbk.csv",
        GBK_CSV.encode("gbk"),
    )
    assert fixed.status_code == 303


def test_an_empty_or_missing_file_is_refused(web: Web) -> None:
    browser = steward(web, lang="en")
    before = _leftovers(web)
    empty = upload(browser, "/steward/resources", {"name": "x"}, "empty.csv", b"")
    assert empty.status_code == 400
    token = csrf_of(browser.get("/steward").text)
    no_file = browser.client.post(
        "/steward/resources",
        data={"csrf": token, "name": "x"},
        headers=browser._headers(None),
    )
    assert no_file.status_code == 415  # a form without a file is not multipart
    assert _leftovers(web) == before


def test_hostile_names_columns_and_sql_are_inert(web: Web) -> None:
    browser = steward(web)
    hostile_csv = f'"{HOSTILE_NAME}",b\n1,2\n'.encode()
    answer = upload(
        browser,
        "/steward/resources",
        {"name": HOSTILE_NAME, "description": "javascript:alert(1)"},
        "hostile.csv",
        hostile_csv,
    )
    assert answer.status_code == 303, answer.text
    page = browser.get(answer.headers["location"])
    assert HOSTILE_NAME not in page.text
    assert "<script>alert" not in page.text
    assert str(escape(HOSTILE_NAME)) in page.text
    listing = browser.get("/steward")
    assert "<script>alert" not in listing.text
    # The hostile column name on the analyst's form, once the grade is confirmed.
    rid = int(answer.headers["location"].split("?")[0].rsplit("/", 1)[1])
    confirmed = browser.post(
        f"/steward/resources/{rid}/grade", {"csrf": csrf_of(page.text), "decision": "confirm"}
    )
    assert confirmed.status_code == 303
    with_password(web, "enterprise.analyst")
    analyst = Browser(web.client)
    analyst.sign_in("enterprise.analyst")
    form = analyst.get(f"/analyst/apply/{rid}")
    assert form.status_code == 200
    assert "<script>alert" not in form.text
    assert str(escape(HOSTILE_NAME)) in form.text


def test_a_fixed_part_order_is_required(web: Web) -> None:
    """Fields after the file are refused: the token must come before any byte is written."""
    browser = steward(web)
    token = csrf_of(browser.get("/steward").text)
    before = _leftovers(web)
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        f'a\n1\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
        f"--{BOUNDARY}--\r\n"
    ).encode()
    answer = browser.client.post(
        "/steward/resources",
        content=io.BytesIO(body).read(),
        headers={
            **browser._headers(None),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert answer.status_code == 403
    assert _leftovers(web) == before


def test_an_interrupted_upload_leaves_nothing(web: Web) -> None:
    """The browser goes away mid-file (``http.disconnect``): the partial file goes too."""
    browser = steward(web)
    token = csrf_of(browser.get("/steward").text)
    before = _leftovers(web)
    parts = list(_multipart({"csrf": token, "name": "cut"}, "cut.csv", iter([b"a,b\n" * 50_000])))
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": piece, "more_body": True} for piece in parts[:-1]
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(dict(message))

    headers = {
        **browser._headers(None),
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/steward/resources",
        "raw_path": b"/steward/resources",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    anyio.run(web.client.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400  # "the upload was interrupted", to nobody
    assert _leftovers(web) == before


@pytest.mark.parametrize(
    "path",
    [
        "/steward/resources/{rid}/grade",
        "/steward/resources/{rid}/dictionary",
        "/analyst/apply/{rid}",
        "/analyst/grants/1/queries",
    ],
)
def test_every_new_form_needs_its_token(web: Web, path: str) -> None:
    from .conftest import resource_id

    with_password(web, "department.admin")
    browser = Browser(web.client, lang="en")
    browser.sign_in("department.admin")
    for token in ({}, {"csrf": "forged"}):
        answer = browser.post(path.format(rid=resource_id(web, "social")), token)
        assert answer.status_code == 403
        assert "The form has expired" in answer.text

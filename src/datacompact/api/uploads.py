"""The inbox upload: ``POST /api/v1/uploads``, one multipart field ``file``, streamed to disk.

Starlette's form parser spools a whole file before the route sees it, which
would put an oversized upload on disk before its size is known. This route
reads ``request.stream()`` through python-multipart's streaming parser
instead, and hands each piece of the file to the catalog's
:class:`~datacompact.catalog.inbox.InboxUpload`, which counts it against
``upload_max_bytes`` before writing it and checks the type on the first bytes.
Whatever ends the request early (an error, a client that goes away) leaves no
file behind: the upload is aborted on the way out.

The parser and the file writes run in the thread pool, a quarter of a megabyte at a time;
a cancelled request waits for the running piece to finish before the upload
is aborted, so no descriptor is closed under a write.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from fastapi import APIRouter, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from datacompact.api._deps import Credentials, authenticated, platform_of
from datacompact.api._errors import AUTHENTICATED, documented
from datacompact.catalog.inbox import InboxUpload, begin_upload
from datacompact.catalog.schemas import UploadPublic
from datacompact.errors import InvalidInput, MalformedInput, UnsupportedMediaType
from datacompact.permissions import Principal

router = APIRouter(tags=["catalog"], responses=documented(*AUTHENTICATED))

#: Bytes handed to the parser per trip to the thread pool.
_BATCH = 256 * 1024
#: What an upload's body may hold beyond its file: the multipart framing, and
#: the batch received but not yet counted by the upload. The request's own
#: body limit is the file's limit plus this, so the file's limit, with its
#: clearer answer, is always reached first.
MULTIPART_OVERHEAD = _BATCH + 64 * 1024
_FIELD = "file"
_PARAM = re.compile(rb';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')

_BODY_SCHEMA = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [_FIELD],
                "properties": {
                    _FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": (
                            "文件；文件名即收件箱中的名称 / the file; its filename is its "
                            "name in the inbox (CSV, TSV, XLSX, Parquet, JSON Lines)"
                        ),
                    }
                },
            }
        }
    },
}


def _disposition(value: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """A ``Content-Disposition`` header: its type and parameters, quoted strings unquoted.

    Only ``\\"`` is unescaped: a backslash anywhere else stays, so that a
    Windows path is refused as a path instead of being cut to its last part.
    """
    kind, _, rest = value.partition(b";")
    params: dict[bytes, bytes] = {}
    for match in _PARAM.finditer(b";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
            raw = raw[1:-1].replace(b'\\"', b'"')
        params[key] = raw
    return kind.strip().lower(), params


def _filename(params: dict[bytes, bytes]) -> str:
    """The part's file name: ``filename*`` (RFC 5987, UTF-8) first, then ``filename`` as UTF-8."""
    try:
        extended = params.get(b"filename*")
        if extended is not None:
            charset, _, encoded = extended.decode("ascii").partition("''")
            if charset.lower() != "utf-8":
                raise UnicodeError(charset)
            return unquote(encoded, encoding="utf-8", errors="strict")
        plain = params.get(b"filename")
        if plain is None:
            raise InvalidInput(
                "缺少文件名 / expected the file part to carry a filename, got none",
                details={"field": _FIELD, "reason": "no_filename"},
            )
        return plain.decode("utf-8")
    except UnicodeError as exc:
        raise InvalidInput(
            "文件名须为 UTF-8 / expected a UTF-8 file name, got other bytes",
            details={"field": _FIELD, "reason": "encoding"},
        ) from exc


class _Receiver:
    """The parser's callbacks: one part, named ``file``, streamed into one upload."""

    def __init__(self, *, request: Request, actor: Principal, boundary: bytes) -> None:
        settings = platform_of(request).settings
        self.home = settings.home
        self.max_bytes = settings.upload_max_bytes
        self.actor = actor
        self.upload: InboxUpload | None = None
        self.parts = 0
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self.parts += 1
        self._headers = {}
        if self.parts > 1:
            raise InvalidInput(
                "只能上传一个文件 / expected one multipart field 'file', got more parts",
                details={"field": _FIELD, "reason": "parts"},
            )

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        kind, params = _disposition(self._headers.get(b"content-disposition", b""))
        if kind != b"form-data" or params.get(b"name") != _FIELD.encode():
            raise InvalidInput(
                "只接受字段 file / expected one multipart field named 'file', got another field",
                details={"field": _FIELD, "reason": "field"},
            )
        self.upload = begin_upload(
            home=self.home, actor=self.actor, name=_filename(params), max_bytes=self.max_bytes
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.upload is None:  # data before the part's headers end cannot happen
            raise MalformedInput("multipart 格式错误 / expected part headers before data")
        self.upload.write(data[start:end])

    def _end(self) -> None:
        self.ended = True

    def feed(self, data: bytes) -> None:
        try:
            self.parser.write(data)
        except MultipartParseError as exc:
            raise MalformedInput(
                "multipart 格式错误 / expected a multipart/form-data body, got malformed framing",
                details={"field": _FIELD, "reason": "multipart"},
            ) from exc

    def finish(self) -> UploadPublic:
        if not self.ended or self.upload is None:
            raise MalformedInput(
                "multipart 请求体不完整 / expected a complete multipart body with the field "
                "'file', got an incomplete one",
                details={"field": _FIELD, "reason": "incomplete"},
            )
        done = self.upload.commit()
        return UploadPublic(name=done.name, size=done.size, sha256=done.sha256)

    def close(self) -> None:
        if self.upload is not None:
            self.upload.abort()


def _boundary(content_type: str | None) -> bytes:
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if mime != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaType(
            "请以 multipart/form-data 上传 / expected a multipart/form-data body with the "
            "field 'file', got another content type",
            details={"expected": "multipart/form-data"},
        )
    return boundary


@router.post(
    "/uploads",
    status_code=201,
    summary="上传文件到本方收件箱 / upload a file into your inbox",
    description=(
        "以 multipart/form-data 流式上传一个字段 file；文件名即收件箱中的名称，同名文件不会被覆盖 "
        "(409)。/ Streams one multipart field, file, into the caller's inbox under its "
        "filename, for POST /resources and POST /resources/{id}/versions to register by "
        "name. The size (upload_max_bytes, 413) and the type (the suffix and the first "
        "bytes, 415) are checked while it streams; an existing name is refused (409), never "
        "replaced. A failed or interrupted upload leaves no file behind."
    ),
    response_model=UploadPublic,
    responses=documented(409, 413, 415),
    openapi_extra={"requestBody": _BODY_SCHEMA},
)
async def upload(request: Request, credentials: Credentials) -> UploadPublic:
    # Authenticated before a byte of the body is read.
    actor = await run_in_threadpool(authenticated, request, credentials)
    receiver = _Receiver(
        request=request, actor=actor, boundary=_boundary(request.headers.get("content-type"))
    )
    try:
        pending: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            pending.append(chunk)
            size += len(chunk)
            if size >= _BATCH:
                await run_in_threadpool(receiver.feed, b"".join(pending))
                pending, size = [], 0
        await run_in_threadpool(receiver.feed, b"".join(pending))
        return await run_in_threadpool(receiver.finish)
    except ClientDisconnect as exc:
        # Nobody reads this answer; it keeps a routine event out of the error log.
        raise InvalidInput(
            "上传中断 / the upload was interrupted before its end; nothing was kept",
            details={"field": _FIELD, "reason": "disconnected"},
        ) from exc
    finally:
        receiver.close()

"""A browser's file upload, streamed into the participant's inbox as ``POST /api/v1/uploads`` does.

A console form posts ``multipart/form-data``: its small text fields first
(the CSRF token, then the registration's fields, in the order of the form),
its file last. The body is parsed as it arrives with python-multipart's
streaming parser, never spooled: the text fields are kept (each at most
:data:`MAX_FIELD_BYTES`), and when the file's part begins the CSRF token is
checked, before a byte of the file is written. The file then goes piece by
piece into the catalog's :class:`~datacompact.catalog.inbox.InboxUpload`,
which counts it against ``upload_max_bytes`` and checks its type on its first
bytes, exactly as for the API. Whatever ends the request early leaves no
file behind: the upload is aborted on the way out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from datacompact.catalog.inbox import InboxUpload, Uploaded, begin_upload
from datacompact.errors import InvalidInput, MalformedInput, UnsupportedMediaType
from datacompact.permissions import Principal

FILE_FIELD = "file"
#: A text field of an upload form (a name, a description) is small.
MAX_FIELD_BYTES = 8 * 1024
MAX_FIELDS = 20


@dataclass
class Received:
    """The form's text fields and the file now in the inbox."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Uploaded | None = None


class UploadForm:
    """The parser's callbacks for one upload form; ``before_file`` runs when the file begins."""

    def __init__(
        self,
        *,
        content_type: str | None,
        home: object,
        actor: Principal,
        max_bytes: int,
        before_file: Callable[[dict[str, str]], None],
    ) -> None:
        mime, params = parse_options_header(content_type)
        boundary = params.get(b"boundary", b"")
        if mime != b"multipart/form-data" or not boundary:
            raise UnsupportedMediaType(
                "请以 multipart/form-data 上传 / expected a multipart/form-data body with the "
                "field 'file', got another content type",
                details={"expected": "multipart/form-data"},
            )
        self.home = home
        self.actor = actor
        self.max_bytes = max_bytes
        self.before_file = before_file
        self.received = Received()
        self.upload: InboxUpload | None = None
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._value = bytearray()
        self._parts = 0
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_val,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_FIELDS or self.upload is not None:
            raise InvalidInput(
                "表单字段过多或文件后还有字段 / expected the form's fields, then one file last",
                details={"field": FILE_FIELD, "reason": "parts"},
            )
        self._headers = {}
        self._name = ""
        self._value = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        kind, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        try:
            name = params.get(b"name", b"").decode("utf-8")
        except UnicodeDecodeError:
            name = ""
        if kind != b"form-data" or not name:
            raise MalformedInput(
                "multipart 格式错误 / expected form-data parts with a name",
                details={"field": FILE_FIELD, "reason": "multipart"},
            )
        self._name = name
        if name != FILE_FIELD:
            return
        # The token (and every field) arrived before the file: refuse a forged
        # form before a byte of its file is written anywhere.
        self.before_file(self.received.fields)
        raw = params.get(b"filename")
        if not raw:
            raise InvalidInput(
                "请选择要上传的文件 / choose a file to upload",
                details={"field": FILE_FIELD, "reason": "no_filename"},
            )
        try:
            filename = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                "文件名须为 UTF-8 / expected a UTF-8 file name, got other bytes",
                details={"field": FILE_FIELD, "reason": "encoding"},
            ) from exc
        self.upload = begin_upload(
            home=self.home,  # type: ignore[arg-type]
            actor=self.actor,
            name=filename,
            max_bytes=self.max_bytes,
        )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == FILE_FIELD:
            if self.upload is None:
                raise MalformedInput("multipart 格式错误 / expected part headers before data")
            self.upload.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > MAX_FIELD_BYTES:
            raise InvalidInput(
                f"字段 {self._name} 过长 / the field {self._name} is too long",
                details={"field": self._name, "reason": "too_long"},
            )

    def _part_end(self) -> None:
        if self._name == FILE_FIELD or not self._name:
            return
        try:
            text = self._value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                "表单须为 UTF-8 / expected UTF-8 form fields", details={"field": self._name}
            ) from exc
        # The form's line breaks arrive as CRLF; the services keep LF.
        self.received.fields[self._name] = text.replace("\r\n", "\n")

    def _end(self) -> None:
        self.ended = True

    def feed(self, chunks: Iterable[bytes]) -> Received:
        """Parse the whole body; the file is in the inbox when this returns."""
        try:
            for chunk in chunks:
                self.parser.write(chunk)
        except MultipartParseError as exc:
            raise MalformedInput(
                "multipart 格式错误 / expected a multipart/form-data body, got malformed framing",
                details={"field": FILE_FIELD, "reason": "multipart"},
            ) from exc
        if not self.ended or self.upload is None:
            raise MalformedInput(
                "请选择要上传的文件 / expected a complete form with its file, got an incomplete one",
                details={"field": FILE_FIELD, "reason": "incomplete"},
            )
        self.received.file = self.upload.commit()
        return self.received

    def close(self) -> None:
        if self.upload is not None:
            self.upload.abort()

"""Open a data file of any supported format as a stream of Arrow record batches.

:func:`open_source` looks at the content first (a ZIP archive is a workbook,
``PAR1`` is Parquet, a leading ``{`` is JSON Lines) and at the suffix second,
so a file with the wrong suffix is still read right, and a binary file named
``.csv`` is refused with a clear error. The returned :class:`Source` says what
was detected and never holds the whole file in memory.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "a.csv").write_bytes("编号,城市\\n1,杭州\\n2,宁波\\n".encode("gbk"))
>>> with open_source(folder / "a.csv") as source:
...     source.format, source.encoding, source.columns
('csv', 'gbk', ('编号', '城市'))
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from datacompact.config import IngestLimits
from datacompact.errors import InvalidInput, MalformedInput, UnsupportedMediaType
from datacompact.ingest._columnar import JsonLinesReader, ParquetReader
from datacompact.ingest._common import (
    FORMATS,
    Format,
    IngestWarning,
    Reader,
)
from datacompact.ingest._csv import CsvReader
from datacompact.ingest._encoding import detect_encoding, normalize_encoding, read_sample
from datacompact.ingest._xlsx import XlsxReader, list_sheets
from datacompact.ingest.pinned import PinnedFile, pin

__all__ = [
    "UPLOAD_HEAD_BYTES",
    "UPLOAD_SUFFIXES",
    "PinnedFile",
    "Source",
    "check_upload_type",
    "detect_format",
    "list_sheets",
    "open_source",
    "pin",
    "text_encoding",
]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0"  # Excel 97-2003 .xls and other compound files
_PARQUET = b"PAR1"

#: The suffixes an uploaded file may have: those :func:`open_source` reads.
UPLOAD_SUFFIXES = tuple(sorted(_SUFFIXES))
#: How many leading bytes :func:`check_upload_type` looks at.
UPLOAD_HEAD_BYTES = 4096
#: Signatures of binary files that are no table, refused when named as text.
_FOREIGN = (
    (b"%PDF-", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!", "rar"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x7fELF", "executable"),
)


@dataclass
class Source:
    """An opened data file: what was detected about it, and its record batches.

    Use it as a context manager; :meth:`batches` may be called again for a
    fresh pass (the stager does so after relaxing a column's type).
    """

    path: Path
    format: Format
    columns: tuple[str, ...]
    size_bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    header_rows: int | None = None
    total_rows: int | None = None
    _reader: Reader | None = field(default=None, repr=False)
    _warnings: list[IngestWarning] = field(default_factory=list, repr=False)
    #: The file opened by :func:`open_source` itself, closed with the source.
    _pinned: PinnedFile | None = field(default=None, repr=False)

    @property
    def warnings(self) -> tuple[IngestWarning, ...]:
        """What the reader fixed or noticed so far (more may come while streaming)."""
        return tuple(self._warnings)

    def add_warning(self, warning: IngestWarning) -> None:
        self._warnings.append(warning)

    def batches(self) -> Iterator[Any]:
        """Arrow record batches (``pyarrow.RecordBatch``) in file order."""
        if self._reader is None:
            raise InvalidInput("数据源已关闭 / the source is closed")
        return self._reader.batches()

    @property
    def digest(self) -> str | None:
        """SHA-256 of the file if the reader computed it on the way (after a full pass)."""
        return self._reader.digest if self._reader is not None else None

    def relax(self, column: str) -> None:
        """Read ``column`` as text on the next pass."""
        if self._reader is not None:
            self._reader.relax(column)

    def describe(self) -> dict[str, Any]:
        """What was detected, as JSON-ready data (for events and the CLI)."""
        return {
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "sheets": list(self.sheets),
            "header_rows": self.header_rows,
            "columns": list(self.columns),
            "size_bytes": self.size_bytes,
            "warnings": [w.to_dict() for w in self._warnings],
        }

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._pinned is not None:
            self._pinned.close()
            self._pinned = None

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def detect_format(path: Path, head: bytes) -> Format:
    """The format of a file from its first bytes, then its suffix.

    >>> from pathlib import Path
    >>> detect_format(Path("x.csv"), b"PAR1..."), detect_format(Path("x.txt"), b'{"a": 1}')
    ('parquet', 'jsonl')
    """
    if head.startswith(_ZIP):
        return "xlsx"
    if head.startswith(_PARQUET):
        return "parquet"
    if head.startswith(_OLE):
        raise MalformedInput(
            "不支持旧版 Excel (.xls) 文件，请另存为 .xlsx / expected XLSX, got an Excel 97-2003 "
            "(.xls) file; save it as .xlsx",
            details={"expected": "xlsx", "got": "xls"},
        )
    suffix = path.suffix.lower()
    by_suffix = _SUFFIXES.get(suffix)
    if suffix != ".txt" and by_suffix in ("csv", "tsv", "jsonl"):
        return by_suffix
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return "jsonl"
    return "csv"


def _unsupported(zh: str, en: str, got: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{zh} / {en}", details={"expected": list(UPLOAD_SUFFIXES), "got": got}
    )


def check_upload_type(name: str, head: bytes | None = None) -> Format:
    """The format an upload called ``name`` is read as, or :class:`UnsupportedMediaType`.

    ``head`` is the file's first :data:`UPLOAD_HEAD_BYTES` bytes (all of it
    when shorter); without it only the suffix is checked. Unlike
    :func:`detect_format`, which reads a mislabelled file by its content, an
    upload's name and content must agree: a workbook is a ZIP archive, a
    Parquet file starts with ``PAR1``, and text holds no NUL byte and no
    signature of a binary format.

    >>> check_upload_type("roster.CSV", b"a,b\\n1,2\\n"), check_upload_type("t.parquet", b"PAR1....")
    ('csv', 'parquet')
    >>> check_upload_type("photo.png")
    Traceback (most recent call last):
    ...
    datacompact.errors.UnsupportedMediaType: 不支持的文件类型 / expected a file named .csv, .json, .jsonl, .ndjson, .parquet, .pq, .tab, .tsv, .txt, .xlsm or .xlsx, got another suffix
    """
    expected = _SUFFIXES.get(Path(name).suffix.lower())
    if expected is None:
        raise _unsupported(
            "不支持的文件类型",
            f"expected a file named {', '.join(UPLOAD_SUFFIXES[:-1])} or {UPLOAD_SUFFIXES[-1]}, "
            "got another suffix",
            "suffix",
        )
    if head is None:
        return expected
    if head.startswith(_OLE):
        raise _unsupported(
            "不支持旧版 Excel (.xls) 文件，请另存为 .xlsx",
            "expected XLSX, got an Excel 97-2003 (.xls) file; save it as .xlsx",
            "xls",
        )
    if expected == "xlsx":
        if not head.startswith(_ZIP):
            raise _unsupported(
                "文件内容不是 XLSX 工作簿",
                "expected an XLSX workbook (a ZIP archive), got other bytes",
                "not_xlsx",
            )
        return expected
    if expected == "parquet":
        if not head.startswith(_PARQUET):
            raise _unsupported(
                "文件内容不是 Parquet",
                "expected a Parquet file (starting with PAR1), got other bytes",
                "not_parquet",
            )
        return expected
    binary = next((kind for magic, kind in _FOREIGN if head.startswith(magic)), None)
    if head.startswith(_ZIP):
        binary = "xlsx"
    elif head.startswith(_PARQUET):
        binary = "parquet"
    elif binary is None and b"\x00" in head:
        binary = "binary"
    if binary is not None:
        raise _unsupported(
            f"文件内容是 {binary}，不是文本",
            f"expected {expected} text, got a {binary} file; name it after what it holds",
            binary,
        )
    return expected


def open_source(
    file: Path | str | PinnedFile,
    *,
    format: Format | None = None,
    encoding: str | None = None,
    sheet: str | int | None = None,
    header_rows: int | None = None,
    delimiter: str | None = None,
    limits: IngestLimits | None = None,
    workdir: Path | None = None,
) -> Source:
    """Open ``file`` for ingestion, detecting what is not given.

    ``file`` is a path (opened here, once) or a :class:`PinnedFile` already
    opened by the caller (an inbox file); either way every reader reads that
    one open file, never the name again. ``encoding`` (CSV/TSV only) forces
    one of utf-8, utf-8-sig, gbk, gb18030; ``sheet`` picks an XLSX sheet by
    name or 0-based index (default: the first); ``header_rows`` is the number
    of header rows (default: 1, or for XLSX the depth of the merged header);
    ``limits`` bounds what the file may cost (default: :class:`IngestLimits`);
    ``workdir`` is a private folder for the readers' scratch files (default:
    the system's temporary folder).
    Raises :class:`~datacompact.errors.NotFound`,
    :class:`~datacompact.errors.MalformedInput`,
    :class:`~datacompact.errors.PayloadTooLarge` or
    :class:`~datacompact.errors.InvalidInput`.
    """
    owned = not isinstance(file, PinnedFile)
    pinned = pin(file) if not isinstance(file, PinnedFile) else file
    try:
        source = _open_pinned(
            pinned,
            format=format,
            encoding=encoding,
            sheet=sheet,
            header_rows=header_rows,
            delimiter=delimiter,
            limits=limits or IngestLimits(),
            workdir=workdir,
        )
    except BaseException:
        if owned:
            pinned.close()
        raise
    if owned:
        source._pinned = pinned
    return source


def _open_pinned(
    pinned: PinnedFile,
    *,
    format: Format | None,
    encoding: str | None,
    sheet: str | int | None,
    header_rows: int | None,
    delimiter: str | None,
    limits: IngestLimits,
    workdir: Path | None,
) -> Source:
    path, size = pinned.path, pinned.size
    try:
        head = os.pread(pinned.fd, 8, 0)
    except OSError as exc:
        raise InvalidInput("无法读取文件 / the file cannot be read") from exc
    if size == 0:
        raise MalformedInput(
            "文件为空 / expected data, got an empty file", details={"got": "empty"}
        )
    if format is not None and format not in FORMATS:
        raise InvalidInput(
            f"不支持的格式 / unsupported format; expected one of {', '.join(FORMATS)}",
            details={"expected": list(FORMATS)},
        )
    if header_rows is not None and not 0 <= header_rows <= 10:
        raise InvalidInput("表头行数应在 0 到 10 之间 / header_rows must be between 0 and 10")
    detected = detect_format(Path(pinned.name), head)
    chosen = format or detected
    if chosen in ("csv", "tsv", "jsonl") and detected in ("xlsx", "parquet"):
        raise MalformedInput(
            f"文件内容是 {detected}，不是文本 / expected {chosen} text, got a {detected} file",
            details={"expected": chosen, "got": detected},
        )
    forced = normalize_encoding(encoding) if encoding else None
    max_columns = limits.max_columns
    reader: Any
    if chosen in ("csv", "tsv"):
        if chosen == "tsv" and delimiter is None:
            delimiter = "\t"
        if delimiter is not None and (len(delimiter) != 1 or delimiter in '"\r\n'):
            raise InvalidInput("分隔符必须是单个字符 / the delimiter must be one character")
        reader = CsvReader(
            path,
            encoding=forced,
            delimiter=delimiter,
            header_rows=header_rows,
            max_columns=max_columns,
            workdir=workdir,
        )
        if delimiter is None and reader.delimiter == "\t":
            chosen = "tsv"
        return Source(
            path=path,
            format=chosen,
            columns=reader.columns,
            size_bytes=size,
            encoding=reader.encoding,
            delimiter=reader.delimiter,
            header_rows=reader.header_rows,
            _reader=reader,
            _warnings=list(reader.warnings),
        )
    if chosen == "xlsx":
        reader = XlsxReader(path, sheet=sheet, header_rows=header_rows, limits=limits)
        return Source(
            path=path,
            format="xlsx",
            columns=reader.columns,
            size_bytes=size,
            sheet=reader.sheet,
            sheets=reader.sheets,
            header_rows=reader.header_rows,
            total_rows=reader.total_rows,
            _reader=reader,
            _warnings=list(reader.warnings),
        )
    if chosen == "parquet":
        reader = ParquetReader(path, max_columns=max_columns)
    else:
        reader = JsonLinesReader(path, max_columns=max_columns)
    return Source(
        path=path,
        format=chosen,
        columns=reader.columns,
        size_bytes=size,
        total_rows=reader.total_rows,
        _reader=reader,
        _warnings=list(reader.warnings),
    )


def text_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding of a text file as ingestion reads it: ``encoding`` checked, or detected.

    The same rules as registration: UTF-8 (with or without BOM), GBK or
    GB 18030, detected with charset-normalizer when not given.
    """
    if encoding is not None:
        return normalize_encoding(encoding)
    try:
        chunks = read_sample(path)
    except OSError as exc:
        raise InvalidInput(
            f"无法读取文件 / cannot read the file {path}", details={"path": str(path)}
        ) from exc
    if not chunks or not chunks[0][1]:
        raise MalformedInput(
            f"文件为空 / expected text, got an empty file: {path}", details={"path": str(path)}
        )
    return detect_encoding(path, chunks)

"""Text encodings of CSV files: detection on a sample, and streaming transcoding.

Government CSV files come in UTF-8, UTF-8 with a BOM, GBK (Windows code page
936, what Excel writes on a Chinese Windows) and GB 18030. DuckDB reads only
UTF-8 without its ``encodings`` extension, which an air-gapped host cannot
install, so GBK and GB 18030 are transcoded to UTF-8 as a stream: the file is
decoded in 1 MiB chunks (GBK by the C library's ``iconv`` off the GIL when it
agrees with Python's codec, see :mod:`._iconv`; otherwise, and for GB 18030, by
Python's incremental decoder) and the UTF-8 bytes are written to a pipe that
DuckDB reads (see :mod:`datacompact.ingest._csv`). Memory stays flat whatever
the file size.
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import charset_normalizer

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest._iconv import IconvError, gbk_converter

#: Encodings the readers accept, by the name reported in ``Source.encoding``.
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")
_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf_8": "utf-8",
    "ascii": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf_8_sig": "utf-8-sig",
    "utf8-bom": "utf-8-sig",
    "utf-8-bom": "utf-8-sig",
    "gbk": "gbk",
    "cp936": "gbk",
    "gb2312": "gbk",  # GBK is a superset of GB 2312
    "gb18030": "gb18030",
}
CHUNK = 1 << 20
_SAMPLE_CHUNK = 256 << 10
_SAMPLE_POINTS = 4
# A line that decodes as UTF-8 and holds this many non-ASCII characters is
# UTF-8: GBK text of that length validates as UTF-8 with odds below 1e-8.
_UTF8_LINE_MIN_CHARS = 4


def normalize_encoding(name: str) -> str:
    """The canonical name of a supported encoding, or :class:`InvalidInput`.

    >>> normalize_encoding("GB2312"), normalize_encoding("UTF8")
    ('gbk', 'utf-8')
    """
    key = name.strip().lower()
    if key not in _ALIASES:
        raise InvalidInput(
            f"不支持的编码；可选 {', '.join(ENCODINGS)} / unsupported encoding; "
            f"expected one of {', '.join(ENCODINGS)}",
            details={"expected": list(ENCODINGS)},
        )
    return _ALIASES[key]


def read_sample(path: Path) -> list[tuple[int, bytes]]:
    """A few ``(offset, bytes)`` chunks spread over the file (head first), cut at line ends."""
    size = path.stat().st_size
    chunks: list[tuple[int, bytes]] = []
    with path.open("rb") as f:
        head = f.read(_SAMPLE_CHUNK)
        if len(head) == _SAMPLE_CHUNK and b"\n" in head:
            head = head[: head.rindex(b"\n") + 1]
        chunks.append((0, head))
        if size > _SAMPLE_CHUNK * (_SAMPLE_POINTS + 1):
            for i in range(1, _SAMPLE_POINTS):
                offset = size * i // _SAMPLE_POINTS
                f.seek(offset)
                raw = f.read(_SAMPLE_CHUNK)
                if b"\n" not in raw:
                    continue
                start = raw.index(b"\n") + 1
                end = raw.rindex(b"\n") + 1
                chunks.append((offset + start, raw[start:end]))
    return chunks


def _line_at(path: Path, offset: int) -> int:
    """The 1-based line number of byte ``offset`` (only on the error path)."""
    lines = 0
    with path.open("rb") as f:
        remaining = offset
        while remaining > 0 and (chunk := f.read(min(CHUNK * 4, remaining))):
            lines += chunk.count(b"\n")
            remaining -= len(chunk)
    return lines + 1


def _first_mixed_line(path: Path, chunks: list[tuple[int, bytes]]) -> int | None:
    """The line of the first UTF-8 line in a file whose other lines are not UTF-8."""
    utf8_at: int | None = None
    other = False
    for offset, chunk in chunks:
        position = offset
        for line in chunk.split(b"\n"):
            if not line.isascii():
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    other = True
                else:
                    if (
                        utf8_at is None
                        and sum(not c.isascii() for c in text) >= _UTF8_LINE_MIN_CHARS
                    ):
                        utf8_at = position
            position += len(line) + 1
    if other and utf8_at is not None:
        return _line_at(path, utf8_at)
    return None


def _strict(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path, chunks: list[tuple[int, bytes]]) -> str:
    """Guess the encoding of a file from :func:`read_sample` chunks.

    UTF-8 is checked strictly first (it almost never validates by accident);
    otherwise charset-normalizer chooses among the Chinese national encodings
    and GBK is preferred when it suffices (GB 18030 is its superset).

    >>> from pathlib import Path
    >>> detect_encoding(Path("-"), [(0, "姓名,城市\\n张三,杭州\\n".encode("gbk") * 20)])
    'gbk'
    >>> detect_encoding(Path("-"), [(0, b"\\xef\\xbb\\xbfid\\n1\\n")])
    'utf-8-sig'
    """
    head = chunks[0][1]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MalformedInput(
            "文件是 UTF-16 编码，请另存为 UTF-8 / expected UTF-8, GBK or GB18030 text, "
            "got UTF-16; save the file as UTF-8",
            details={"expected": list(ENCODINGS), "got": "utf-16"},
        )
    if any(b"\x00" in chunk for _, chunk in chunks):
        raise MalformedInput(
            "文件含有二进制内容，不是文本 / expected text, got binary content",
            details={"expected": "text", "got": "binary"},
        )
    if all(_strict(chunk, "utf-8") for _, chunk in chunks):
        return "utf-8"
    if (line := _first_mixed_line(path, chunks)) is not None:
        raise decode_failure_error(DecodeFailure(line, "mixed"), "gbk/gb18030")
    sample = b"".join(chunk for _, chunk in chunks)
    best = charset_normalizer.from_bytes(
        sample, cp_isolation=["utf_8", "gb18030", "gbk"], explain=False
    ).best()
    if best is None:
        raise MalformedInput(
            "无法识别文件编码，可能是二进制文件；请指定编码 / expected text in UTF-8, GBK or "
            "GB18030, got bytes that are neither (binary?); force an encoding if it is text",
            details={"expected": list(ENCODINGS), "got": "unknown"},
        )
    if best.encoding == "utf_8":
        raise MalformedInput(
            "文件大部分是 UTF-8 但有无法解码的字节 / expected UTF-8 text, got bytes that do not "
            "decode; force an encoding if the file uses another one",
            details={"expected": "utf-8"},
        )
    return "gbk" if _strict(sample, "gbk") else "gb18030"


class DecodeFailure(Exception):
    """Internal: bytes that do not decode; ``line`` is the 1-based physical line."""

    def __init__(self, line: int, kind: str) -> None:
        super().__init__(kind)
        self.line = line
        self.kind = kind


def transcode(
    src: Path,
    write: Callable[[bytes], object],
    *,
    encoding: str,
    hasher: hashlib._Hash | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Stream ``src`` decoded from ``encoding`` into ``write`` as UTF-8; return bytes read.

    Strict: an undecodable byte raises :class:`DecodeFailure` with its line
    number (UTF-8 lines inside a GBK file are caught on the sample, by
    :func:`detect_encoding`). ``hasher`` sees the
    original bytes, so the SHA-256 of the source costs no second read.
    """
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    fast = gbk_converter() if encoding == "gbk" else None
    lines = 0
    total = 0
    try:
        with src.open("rb") as f:
            while chunk := f.read(CHUNK):
                if stop():
                    return total
                if hasher is not None:
                    hasher.update(chunk)
                total += len(chunk)
                if fast is not None:
                    try:
                        write(fast.convert(chunk))
                    except IconvError:
                        # Python's codec decides, and names the line (see ._iconv).
                        # The pending bytes are an incomplete character: a GBK lead
                        # byte (0x81-0xFE; trail bytes are 0x40-0xFE, GB 18030-2005
                        # §5.2 table 1), never a newline, so the line count holds.
                        chunk = fast.pending + chunk
                        fast.close()
                        fast = None
                    else:
                        lines += chunk.count(b"\n")
                        continue
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise DecodeFailure(
                        lines + chunk.count(b"\n", 0, exc.start) + 1, "invalid"
                    ) from exc
                lines += chunk.count(b"\n")
                write(text.encode("utf-8"))
            if fast is not None and fast.pending:
                raise DecodeFailure(lines + 1, "truncated")
            try:
                write(decoder.decode(b"", final=True).encode("utf-8"))
            except UnicodeDecodeError as exc:
                raise DecodeFailure(lines + 1, "truncated") from exc
    finally:
        if fast is not None:
            fast.close()
    return total


def decode_failure_error(failure: DecodeFailure, encoding: str) -> MalformedInput:
    """The user-facing error for a :class:`DecodeFailure`."""
    if failure.kind == "mixed":
        return MalformedInput(
            f"第 {failure.line} 行的编码与文件其余部分不同（混用了 UTF-8） / line {failure.line}: "
            f"expected {encoding} text, got UTF-8 (mixed encodings)",
            details={"line": failure.line, "expected": encoding, "got": "mixed"},
        )
    return MalformedInput(
        f"第 {failure.line} 行不是 {encoding} 编码；可指定其他编码 / line {failure.line}: "
        f"expected {encoding} text, got bytes that do not decode; force another encoding",
        details={"line": failure.line, "expected": encoding},
    )


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in chunks (hashlib releases the GIL on large buffers)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK * 4):
            h.update(chunk)
    return h.hexdigest()


def fifo_supported() -> bool:
    return hasattr(os, "mkfifo")

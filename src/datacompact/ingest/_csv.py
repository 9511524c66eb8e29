"""CSV and TSV: dialect and header from a sample, then a streaming DuckDB read.

The header is parsed here, not by DuckDB, so that empty and duplicate names
become warnings and multi-row headers can be flattened. Column types are
sniffed by DuckDB on the decoded sample; the full read then runs with
``auto_detect=false`` and explicit columns, which makes DuckDB report ragged
rows with their line number instead of guessing another dialect. GBK and
GB 18030 files reach DuckDB through a pipe fed by a transcoding thread
(:mod:`._encoding`), so no UTF-8 copy of the file is ever written.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.ingest._common import (
    BATCH_ROWS,
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    IngestWarning,
    TypeMismatch,
    connect,
    flatten_header,
    normalize_names,
    sql_string,
)
from datacompact.ingest._encoding import (
    DecodeFailure,
    decode_failure_error,
    detect_encoding,
    fifo_supported,
    read_sample,
    transcode,
)

_DELIMITERS = (",", "\t", ";", "|")
_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CONVERT = re.compile(r'converting column "((?:[^"]|"")*)"')
_MAX_LINE_BYTES = 4 * MAX_CELL_BYTES
# Integers this long are identifiers (phones, cards, IDs), not quantities: keep them as text.
_ID_DIGITS = 11
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT"}


def _guess_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvReader:
    """A CSV/TSV file read in record batches by DuckDB."""

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None,
        delimiter: str | None,
        header_rows: int | None,
        max_columns: int = MAX_COLUMNS,
        workdir: Path | None = None,
    ) -> None:
        self.path = path
        self.total_rows: int | None = None
        self.warnings: list[IngestWarning] = []
        self.digest: str | None = None
        chunks = read_sample(path)
        self.encoding = encoding or detect_encoding(path, chunks)
        head = chunks[0][1]
        try:
            text = head.decode(self.encoding)
        except UnicodeDecodeError as exc:
            line = head.count(b"\n", 0, exc.start) + 1
            raise decode_failure_error(DecodeFailure(line, "invalid"), self.encoding) from exc
        text = text.removeprefix("\ufeff")
        if not text.strip() and len(head) == path.stat().st_size:
            # Blank lines only: no header, so no columns; refused like a 0-byte file.
            raise MalformedInput(
                "文件为空 / expected data, got an empty file", details={"got": "empty"}
            )
        self.delimiter = delimiter or _guess_delimiter(text.split("\n", 1)[0])
        self.header_rows = 1 if header_rows is None else header_rows
        rows = list(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        header = rows[: self.header_rows]
        if self.header_rows == 0:
            raw: list[str | None] = [None] * (len(rows[0]) if rows else 0)
        else:
            raw = flatten_header(header)
        self.columns, name_warnings = normalize_names(raw, max_columns=max_columns)
        if self.header_rows == 0:
            name_warnings = []  # generated names are expected without a header
        self.warnings.extend(name_warnings)
        # The decoded sample (and the transcoding pipe) hold the file's data:
        # in the caller's private staging folder when it gives one, so that a
        # killed process leaves them where the start-up sweep removes them.
        self._tmp = tempfile.TemporaryDirectory(prefix="datacompact-csv-", dir=workdir)
        self.types, self._formats = self._sniff(text)

    def _sniff(self, text: str) -> tuple[dict[str, str], dict[str, str]]:
        """DuckDB types of each column, guessed on the decoded sample."""
        text_types = dict.fromkeys(self.columns, "VARCHAR")
        sample = Path(self._tmp.name) / "sample.csv"
        sample.write_text(text, encoding="utf-8")
        con = connect(memory_limit="256MB", threads=1)
        try:
            row = con.execute(
                "SELECT Columns, DateFormat, TimestampFormat FROM sniff_csv(?, delim=?, "
                "quote='\"', escape='\"', header=false, skip=?, sample_size=-1, "
                "ignore_errors=false, null_padding=false)",
                [str(sample), self.delimiter, self.header_rows],
            ).fetchone()
            if row is None or len(row[0]) != len(self.columns):
                return text_types, {}
            types = {name: col["type"] for name, col in zip(self.columns, row[0], strict=True)}
            formats = {}
            if row[1]:
                formats["dateformat"] = row[1]
            if row[2]:
                formats["timestampformat"] = row[2]
            ints = [name for name, t in types.items() if t in _INTEGER_TYPES]
            if ints:
                source = self._read_sql(str(sample), types, formats)
                lengths = ", ".join(
                    f"max(length(CAST(#{self.columns.index(n) + 1} AS VARCHAR)))" for n in ints
                )
                got = con.execute(f"SELECT {lengths} FROM {source}").fetchone() or ()  # noqa: S608 - names and options literal-escaped
                for name, length in zip(ints, got, strict=True):
                    if length is not None and length >= _ID_DIGITS:
                        types[name] = "VARCHAR"
            return types, formats
        except duckdb.Error:
            # A sample that does not sniff (ragged, odd quoting) is read as text;
            # the full read then reports the offending line precisely.
            return text_types, {}
        finally:
            con.close()

    def _read_sql(self, path: str, types: dict[str, str], formats: dict[str, str]) -> str:
        columns = ", ".join(f"{sql_string(n)}: {sql_string(t)}" for n, t in types.items())
        options = [
            "auto_detect=false",
            f"delim={sql_string(self.delimiter)}",
            "quote='\"'",
            "escape='\"'",
            "header=false",
            f"skip={int(self.header_rows)}",
            f"columns={{{columns}}}",
            f"max_line_size={_MAX_LINE_BYTES}",
            "strict_mode=true",
            "null_padding=false",
        ]
        options += [f"{k}={sql_string(v)}" for k, v in formats.items()]
        return f"read_csv({sql_string(path)}, {', '.join(options)})"

    def relax(self, column: str) -> None:
        self.types[column] = "VARCHAR"

    def close(self) -> None:
        self._tmp.cleanup()

    def batches(self) -> Iterator[Any]:
        if self.encoding in ("utf-8", "utf-8-sig"):
            yield from self._stream(str(self.path), None)
            return
        if fifo_supported():
            pipe = Path(self._tmp.name) / "utf8.pipe"
            with contextlib.suppress(FileNotFoundError):
                pipe.unlink()
            os.mkfifo(pipe)
            feeder = _Feeder(self.path, pipe, self.encoding)
            feeder.start()
            yield from self._stream(str(pipe), feeder)
        else:  # pragma: no cover - platforms without named pipes
            copy = Path(self._tmp.name) / "utf8.csv"
            hasher = hashlib.sha256()
            try:
                with copy.open("wb") as out:
                    transcode(self.path, out.write, encoding=self.encoding, hasher=hasher)
            except DecodeFailure as exc:
                raise decode_failure_error(exc, self.encoding) from exc
            self.digest = hasher.hexdigest()
            try:
                yield from self._stream(str(copy), None)
            finally:
                copy.unlink(missing_ok=True)

    def _stream(self, path: str, feeder: _Feeder | None) -> Iterator[Any]:
        con = connect()
        completed = False
        try:
            reader = con.sql(f"SELECT * FROM {self._read_sql(path, self.types, self._formats)}")  # noqa: S608 - names and options literal-escaped
            batches = reader.to_arrow_reader(BATCH_ROWS)
            while True:
                try:
                    batch = batches.read_next_batch()
                except StopIteration:
                    break
                yield batch
            completed = True
        except (duckdb.Error, OSError, ValueError) as exc:
            # The Arrow stream re-raises DuckDB's errors as OSError/ArrowInvalid.
            if feeder is not None:
                feeder.finish()
                feeder.raise_failure()
            raise self._translate(exc) from exc
        finally:
            con.close()
            if feeder is not None and not completed:
                feeder.finish()
        if feeder is not None:
            feeder.join()
            feeder.raise_failure()
            self.digest = feeder.digest

    def _translate(self, exc: Exception) -> Exception:
        """A DuckDB CSV error as our error; DuckDB's text (which quotes the line) is dropped."""
        message = str(exc)
        match = _LINE.search(message)
        line = int(match.group(1)) if match else None
        where = f"第 {line} 行 / line {line}: " if line else ""
        if (conv := _CONVERT.search(message)) is not None:
            column = conv.group(1).replace('""', '"')
            if column in self.types:
                return TypeMismatch(column, line)
        if "Expected Number of Columns" in message:
            found = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
            expected, got = (found.group(1), found.group(2)) if found else ("?", "?")
            return MalformedInput(
                f"{where}列数不一致，应为 {expected} 列，实际 {got} 列 / expected {expected} "
                f"fields, got {got} (ragged row)",
                details={"line": line, "expected": expected, "got": got},
            )
        if "line size" in message.lower() or "maximum_line_size" in message.lower():
            return PayloadTooLarge(
                f"{where}该行超过 {_MAX_LINE_BYTES} 字节 / a row is longer than "
                f"{_MAX_LINE_BYTES} bytes",
                details={"line": line, "limit": _MAX_LINE_BYTES},
            )
        if "unicode" in message.lower():
            return MalformedInput(
                f"{where}不是 UTF-8 编码；可指定编码 / expected UTF-8 text, got bytes that do not "
                "decode; force the file's encoding",
                details={"line": line, "expected": "utf-8"},
            )
        return MalformedInput(
            f"{where}无法解析 CSV / expected well-formed CSV, got text that does not parse "
            "(unbalanced quotes?)",
            details={"line": line},
        )


class _Feeder(threading.Thread):
    """Transcodes the source into a named pipe that DuckDB reads."""

    def __init__(self, src: Path, pipe: Path, encoding: str) -> None:
        super().__init__(name="datacompact-transcode", daemon=True)
        self.src, self.pipe, self.encoding = src, pipe, encoding
        self.failure: DecodeFailure | OSError | None = None
        self.digest: str | None = None
        self._stop_flag = threading.Event()

    def run(self) -> None:
        hasher = hashlib.sha256()
        try:
            # Opening for writing first, before anything can fail, so that the
            # reader's open() always returns and sees end-of-file on failure.
            with open(self.pipe, "wb", buffering=0) as out:
                transcode(
                    self.src,
                    out.write,
                    encoding=self.encoding,
                    hasher=hasher,
                    stop=self._stop_flag.is_set,
                )
            if not self._stop_flag.is_set():
                self.digest = hasher.hexdigest()
        except BrokenPipeError:
            pass  # the reader stopped early; its own error (or interrupt) wins
        except (DecodeFailure, OSError) as exc:
            self.failure = exc

    def finish(self) -> None:
        """Stop feeding and wait; unblocks a writer whose reader never opened or left."""
        if not self.is_alive():
            return
        self._stop_flag.set()
        with contextlib.suppress(OSError):
            fd = os.open(self.pipe, os.O_RDONLY | os.O_NONBLOCK)
            try:
                while self.is_alive():
                    with contextlib.suppress(BlockingIOError):
                        if not os.read(fd, 1 << 20):
                            break
                    self.join(0.01)
            finally:
                os.close(fd)
        self.join()

    def raise_failure(self) -> None:
        if isinstance(self.failure, DecodeFailure):
            raise decode_failure_error(self.failure, self.encoding) from self.failure
        if self.failure is not None:
            raise MalformedInput(
                "读取文件失败 / could not read the file", details={"kind": "os_error"}
            ) from self.failure

"""Parquet and JSON Lines: both already carry typed records.

Parquet is read by pyarrow, row group by row group. JSON Lines is read by
DuckDB's ``read_json`` (newline-delimited, types guessed on a sample); a value
that later contradicts the guess makes the stager re-read that key as JSON text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.ingest._common import (
    BATCH_ROWS,
    MAX_CELL_BYTES,
    MAX_COLUMNS,
    IngestWarning,
    TypeMismatch,
    connect,
    normalize_names,
    sql_ident,
    sql_string,
)

_LINE = re.compile(r"line (\d+)", re.IGNORECASE)
_BLANK_PROBE = 1 << 20


class ParquetReader:
    """A Parquet file, batch by batch; columns are renamed if their names are unusable."""

    def __init__(self, path: Path, *, max_columns: int = MAX_COLUMNS) -> None:
        self.path = path
        self.warnings: list[IngestWarning] = []
        self.digest: str | None = None
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedInput(
                "不是有效的 Parquet 文件 / expected a Parquet file, got one that does not open",
                details={"expected": "parquet"},
            ) from exc
        schema = self._file.schema_arrow
        self.columns, self.warnings = normalize_names(schema.names, max_columns=max_columns)
        self.total_rows: int | None = self._file.metadata.num_rows

    def relax(self, column: str) -> None:  # pragma: no cover - Parquet types are declared
        raise TypeMismatch(column, None)

    def close(self) -> None:
        self._file.close()

    def batches(self) -> Iterator[Any]:
        try:
            empty = True
            for batch in self._file.iter_batches(batch_size=BATCH_ROWS):
                empty = False
                yield pa.RecordBatch.from_arrays(batch.columns, names=list(self.columns))
            if empty:
                # No row group: one empty batch keeps the declared column types.
                schema = self._file.schema_arrow
                yield pa.RecordBatch.from_arrays(
                    [pa.array([], type=f.type) for f in schema], names=list(self.columns)
                )
        except (pa.ArrowInvalid, OSError) as exc:
            raise MalformedInput(
                "Parquet 文件内容损坏 / expected readable Parquet pages, got damaged ones",
                details={"expected": "parquet"},
            ) from exc


class JsonLinesReader:
    """Newline-delimited JSON objects, one record per line, read by DuckDB."""

    def __init__(self, path: Path, *, max_columns: int = MAX_COLUMNS) -> None:
        self.path = path
        self.warnings: list[IngestWarning] = []
        self.digest: str | None = None
        self.total_rows: int | None = None
        con = connect(memory_limit="512MB")
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {self._sql({})}").fetchall()  # noqa: S608 - names quoted, path literal-escaped
        except duckdb.Error as exc:
            if _blank(path):
                raise MalformedInput(
                    "文件为空 / expected data, got an empty file", details={"got": "empty"}
                ) from exc
            raise _translate(exc) from exc
        finally:
            con.close()
        self._keys = [row[0] for row in described]
        self._types: dict[str, str] = {row[0]: row[1] for row in described}
        self.columns, self.warnings = normalize_names(self._keys, max_columns=max_columns)

    def _sql(self, types: dict[str, str]) -> str:
        options = [
            "format='newline_delimited'",
            "records=true",
            f"maximum_object_size={4 * MAX_CELL_BYTES}",
        ]
        if types:
            columns = ", ".join(f"{sql_string(k)}: {sql_string(t)}" for k, t in types.items())
            options.append(f"columns={{{columns}}}")
        return f"read_json({sql_string(str(self.path))}, {', '.join(options)})"

    def relax(self, column: str) -> None:
        key = self._keys[self.columns.index(column)]
        self._types[key] = "JSON"

    def close(self) -> None:
        pass

    def batches(self) -> Iterator[Any]:
        con = connect()
        try:
            select = ", ".join(
                f"{sql_ident(k)}::VARCHAR" if self._types[k] == "JSON" else sql_ident(k)
                for k in self._keys
            )
            reader = con.sql(f"SELECT {select} FROM {self._sql(self._types)}").to_arrow_reader(  # noqa: S608 - names quoted, path literal-escaped
                BATCH_ROWS
            )
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                yield pa.RecordBatch.from_arrays(batch.columns, names=list(self.columns))
        except (duckdb.Error, OSError, ValueError) as exc:
            # The Arrow stream re-raises DuckDB's errors as OSError/ArrowInvalid.
            message = str(exc)
            if "onver" in message:  # "Conversion Error", "Could not convert"
                for key, name in zip(self._keys, self.columns, strict=True):
                    if f'"{key}"' in message or f"'{key}'" in message:
                        raise TypeMismatch(name, None) from exc
            raise _translate(exc) from exc
        finally:
            con.close()


def _blank(path: Path) -> bool:
    """Whether a small file holds nothing but white space (JSON Lines has no header)."""
    with path.open("rb") as f:
        head = f.read(_BLANK_PROBE + 1)
    return len(head) <= _BLANK_PROBE and not head.removeprefix(b"\xef\xbb\xbf").strip()


def _translate(exc: Exception) -> Exception:
    message = str(exc)
    match = _LINE.search(message)
    line = int(match.group(1)) if match else None
    where = f"第 {line} 行 / line {line}: " if line else ""
    if "maximum_object_size" in message or "maximum object size" in message.lower():
        return PayloadTooLarge(
            f"{where}JSON 对象过大 / a JSON object is larger than {4 * MAX_CELL_BYTES} bytes",
            details={"line": line, "limit": 4 * MAX_CELL_BYTES},
        )
    if "empty" in message.lower() and "file" in message.lower():
        return MalformedInput("文件为空 / expected JSON Lines, got an empty file")
    return MalformedInput(
        f"{where}不是有效的 JSON Lines / expected one JSON object per line, got text that "
        "does not parse",
        details={"line": line, "expected": "jsonl"},
    )
